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


def load_rates(path: str | Path = DATA / "fx_rates.csv") -> pd.DataFrame:
    """Provided: the exchange rates, columns month ('YYYY-MM'), currency, usd_per_unit."""
    return pd.read_csv(path, dtype={"month": str, "currency": str, "usd_per_unit": float})


def load_orders(path: str | Path = DATA / "orders.csv") -> pd.DataFrame:
    """Part 1: read the export and give every column one type and one spelling.

    Returns one row per line of the file, in file order, with the columns ORDER_COLUMNS:
    order_id (str), order_date (datetime64, time of day dropped), customer_email (lowercase str,
    or None when blank), region (one of REGIONS), amount (float, NaN when blank),
    currency (upper-case code), status (lowercase).
    """
    # TODO: Part 1
    raise NotImplementedError("Part 1: load_orders")


def clean_orders(orders: pd.DataFrame) -> pd.DataFrame:
    """Part 2: one row per order (its last version), revenue orders only, complete rows only.

    Keeps the same columns; the index is 0..n-1.
    """
    # TODO: Part 2
    raise NotImplementedError("Part 2: clean_orders")


def add_usd(orders: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """Part 3: a copy of orders with a new column amount_usd (rounded to cents).

    Raises ValueError naming every missing rate as "<CURRENCY> <YYYY-MM>".
    """
    # TODO: Part 3
    raise NotImplementedError("Part 3: add_usd")


def monthly_revenue(orders_usd: pd.DataFrame) -> pd.DataFrame:
    """Part 4: USD revenue per month (rows) and region (columns), plus a Total column."""
    # TODO: Part 4
    raise NotImplementedError("Part 4: monthly_revenue")


def top_customers(orders_usd: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """Part 5: the n customers with the most USD revenue: customer_email, orders, revenue_usd."""
    # TODO: Part 5
    raise NotImplementedError("Part 5: top_customers")


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
