"""Monthly revenue report for the shop's order ledger. See README.md for the task."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parent / "data"

#: The report's regions, in the column order the report uses.
REGIONS = ["East", "North", "South", "West"]

#: Statuses that count as revenue.
REVENUE_STATUSES = ["paid", "shipped"]

ORDER_COLUMNS = ["order_id", "order_date", "customer_email", "region", "amount", "currency", "status"]

_REGION_ALIASES = {"n": "North", "north": "North", "s": "South", "south": "South",
                   "e": "East", "east": "East", "w": "West", "west": "West"}
_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y"]


def load_rates(path: str | Path = DATA / "fx_rates.csv") -> pd.DataFrame:
    """Provided: the exchange rates, columns month ('YYYY-MM'), currency, usd_per_unit."""
    return pd.read_csv(path, dtype={"month": str, "currency": str, "usd_per_unit": float})


def _parse_dates(text: pd.Series) -> pd.Series:
    # Each format explicitly: letting pandas guess reads 07/01/2024 as July, and the export
    # means 7 January.
    text = text.str.strip()
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in _DATE_FORMATS:
        parsed = parsed.fillna(pd.to_datetime(text, format=fmt, errors="coerce"))
    if parsed.isna().any():
        bad = text[parsed.isna()].tolist()
        raise ValueError(f"unreadable order_date values: {bad}")
    return parsed.dt.normalize()


def _parse_amounts(text: pd.Series) -> pd.Series:
    cleaned = text.fillna("").astype(str).str.replace(r"[\s$€£,]", "", regex=True)
    return pd.to_numeric(cleaned.replace("", None), errors="raise").astype(float)


def load_orders(path: str | Path = DATA / "orders.csv") -> pd.DataFrame:
    """Part 1: read the export and give every column one type and one spelling."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    regions = raw["region"].str.strip().str.lower().map(_REGION_ALIASES)
    if regions.isna().any():
        raise ValueError(f"unknown regions: {sorted(set(raw['region'][regions.isna()]))}")
    emails = raw["customer_email"].str.strip().str.lower()
    return pd.DataFrame({
        "order_id": raw["order_id"].str.strip(),
        "order_date": _parse_dates(raw["order_date"]),
        "customer_email": emails.where(emails != "", None),
        "region": regions,
        "amount": _parse_amounts(raw["amount"]),
        "currency": raw["currency"].str.strip().str.upper(),
        "status": raw["status"].str.strip().str.lower(),
    })[ORDER_COLUMNS]


def clean_orders(orders: pd.DataFrame) -> pd.DataFrame:
    """Part 2: one row per order (its last version), revenue orders only, complete rows only."""
    latest = orders.drop_duplicates("order_id", keep="last")
    kept = latest[
        latest["status"].isin(REVENUE_STATUSES)
        & latest["amount"].notna()
        & latest["customer_email"].notna()
    ]
    return kept.reset_index(drop=True)


def add_usd(orders: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """Part 3: a copy with amount_usd, converted at the order month's rate."""
    out = orders.copy()
    month = out["order_date"].dt.strftime("%Y-%m")
    lookup = rates.set_index(["month", "currency"])["usd_per_unit"]
    keys = pd.MultiIndex.from_arrays([month, out["currency"]])
    rate = pd.Series(lookup.reindex(keys).to_numpy(), index=out.index)
    rate = rate.mask(out["currency"] == "USD", 1.0)
    missing = sorted({f"{c} {m}" for c, m, r in zip(out["currency"], month, rate) if pd.isna(r)})
    if missing:
        raise ValueError(f"no exchange rate for: {', '.join(missing)}")
    out["amount_usd"] = (out["amount"] * rate).round(2)
    return out


def monthly_revenue(orders_usd: pd.DataFrame) -> pd.DataFrame:
    """Part 4: USD revenue per month and region, every month from the first to the last."""
    month = orders_usd["order_date"].dt.to_period("M")
    table = orders_usd.pivot_table(index=month, columns="region", values="amount_usd",
                                   aggfunc="sum", fill_value=0.0)
    if len(month):
        months = pd.period_range(month.min(), month.max(), freq="M")
    else:
        months = pd.PeriodIndex([], freq="M")
    table = table.reindex(index=months, columns=REGIONS, fill_value=0.0).astype(float)
    table["Total"] = table[REGIONS].sum(axis=1)
    table.index = table.index.strftime("%Y-%m")
    table.index.name = "month"
    table.columns.name = None
    return table.round(2)


def top_customers(orders_usd: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """Part 5: the n customers with the most USD revenue (ties: email A→Z)."""
    grouped = (orders_usd.groupby("customer_email")
               .agg(orders=("order_id", "count"), revenue_usd=("amount_usd", "sum"))
               .reset_index())
    grouped["revenue_usd"] = grouped["revenue_usd"].round(2)
    grouped["orders"] = grouped["orders"].astype(int)
    ranked = grouped.sort_values(["revenue_usd", "customer_email"], ascending=[False, True])
    return ranked.head(n).reset_index(drop=True)[["customer_email", "orders", "revenue_usd"]]


def main(argv: list[str] | None = None) -> None:
    """Provided: prints the report for the files given (default: data/)."""
    args = sys.argv[1:] if argv is None else argv
    orders_path = args[0] if len(args) > 0 else DATA / "orders.csv"
    rates_path = args[1] if len(args) > 1 else DATA / "fx_rates.csv"
    orders = add_usd(clean_orders(load_orders(orders_path)), load_rates(rates_path))
    print("Monthly revenue (USD)")
    print(monthly_revenue(orders).to_string())
    print()
    print("Top customers")
    print(top_customers(orders).to_string(index=False))


if __name__ == "__main__":
    main()
