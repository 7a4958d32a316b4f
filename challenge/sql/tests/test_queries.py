"""Hidden tests: each query file runs on the sample data and on the sample data plus
extra_seed.sql (ties, gaps, refunds), and must return exactly what an independent Python
computation over the same rows returns."""

import math
import sqlite3
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REVENUE = {"paid", "shipped"}
DATASETS = ["sample", "sample+extra"]


def database(workspace: Path, dataset: str) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.executescript((workspace / "schema.sql").read_text(encoding="utf-8"))
    db.executescript((workspace / "seed.sql").read_text(encoding="utf-8"))
    if dataset == "sample+extra":
        db.executescript((HERE / "extra_seed.sql").read_text(encoding="utf-8"))
    return db


def run_query(db: sqlite3.Connection, workspace: Path, name: str):
    text = (workspace / "queries" / name).read_text(encoding="utf-8")
    try:
        cursor = db.execute(text)
    except sqlite3.Warning as error:  # more than one statement
        pytest.fail(f"{name}: {error}")
    except sqlite3.Error as error:
        pytest.fail(f"{name}: the query fails: {error}")
    if cursor.description is None:
        pytest.fail(f"{name}: no SELECT statement yet")
    return [d[0] for d in cursor.description], cursor.fetchall()


class Shop:
    """The tables as Python rows, for computing the expected answers."""

    def __init__(self, db: sqlite3.Connection):
        self.customers = {r[0]: r for r in db.execute("SELECT id, name FROM customers")}
        self.products = {r[0]: r for r in db.execute("SELECT id, name, category FROM products")}
        self.orders = {
            r[0]: r for r in db.execute("SELECT id, customer_id, ordered_at, status FROM orders")
            if r[3] in REVENUE
        }
        self.items = [r for r in db.execute("SELECT order_id, product_id, quantity, unit_price_cents FROM order_items")
                      if r[0] in self.orders]

    def order_revenue(self):
        totals = defaultdict(int)
        for order_id, _, quantity, price in self.items:
            totals[order_id] += quantity * price
        return totals


def expect_top_customers(shop: Shop):
    revenue, orders = defaultdict(int), defaultdict(int)
    for order_id, total in shop.order_revenue().items():
        customer = shop.orders[order_id][1]
        revenue[customer] += total
        orders[customer] += 1
    ranked = sorted(revenue, key=lambda c: (-revenue[c], c))[:5]
    return [(c, shop.customers[c][1], orders[c], revenue[c]) for c in ranked]


def expect_monthly_revenue(shop: Shop):
    revenue, orders = defaultdict(int), defaultdict(int)
    for order_id, total in shop.order_revenue().items():
        month = shop.orders[order_id][2][:7]
        revenue[month] += total
        orders[month] += 1
    rows, running = [], 0
    for month in sorted(revenue):
        running += revenue[month]
        rows.append((month, orders[month], revenue[month], running))
    return rows


def expect_category_share(shop: Shop):
    revenue = {category: 0 for _, _, category in shop.products.values()}
    for _, product_id, quantity, price in shop.items:
        revenue[shop.products[product_id][2]] += quantity * price
    total = sum(revenue.values())
    ranked = sorted(revenue, key=lambda c: (-revenue[c], c))
    return [(c, revenue[c], round(100 * revenue[c] / total, 1)) for c in ranked]


def expect_repeat_customers(shop: Shop):
    by_customer = defaultdict(list)
    for order_id, customer, ordered_at, _ in shop.orders.values():
        by_customer[customer].append((ordered_at, order_id))
    rows = []
    for customer, placed in by_customer.items():
        if len(placed) < 2:
            continue
        (first, _), (second, _) = sorted(placed)[:2]
        days = (date.fromisoformat(second[:10]) - date.fromisoformat(first[:10])).days
        rows.append((customer, first[:10], second[:10], days))
    return sorted(rows, key=lambda r: (r[3], r[0]))


def expect_best_sellers(shop: Shop):
    units = defaultdict(int)
    for _, product_id, quantity, _ in shop.items:
        units[product_id] += quantity
    best = {}
    for product_id, sold in units.items():
        category = shop.products[product_id][2]
        if category not in best or (-sold, product_id) < (-best[category][1], best[category][0]):
            best[category] = (product_id, sold)
    return [(c, p, shop.products[p][1], n) for c, (p, n) in sorted(best.items())]


QUESTIONS = {
    "01_top_customers.sql": (["customer_id", "name", "orders", "revenue_cents"], expect_top_customers),
    "02_monthly_revenue.sql": (["month", "orders", "revenue_cents", "running_revenue_cents"], expect_monthly_revenue),
    "03_category_share.sql": (["category", "revenue_cents", "share_pct"], expect_category_share),
    "04_repeat_customers.sql": (["customer_id", "first_order_on", "second_order_on", "days_between"],
                                expect_repeat_customers),
    "05_best_sellers.sql": (["category", "product_id", "product_name", "units_sold"], expect_best_sellers),
}


def same(got, want) -> bool:
    if isinstance(want, float):
        return isinstance(got, (int, float)) and math.isclose(got, want, abs_tol=0.05)
    return got == want


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_query_returns_the_expected_rows(workspace, name, dataset):
    columns, expect = QUESTIONS[name]
    db = database(workspace, dataset)
    got_columns, got_rows = run_query(db, workspace, name)
    assert [c.lower() for c in got_columns] == columns, f"{name}: columns"
    want_rows = expect(Shop(db))
    assert len(got_rows) == len(want_rows), f"{name}: {len(got_rows)} rows, expected {len(want_rows)}"
    for i, (got, want) in enumerate(zip(got_rows, want_rows)):
        assert len(got) == len(want) and all(same(g, w) for g, w in zip(got, want)), (
            f"{name}: row {i + 1} is {got}, expected {want}")


def test_the_extra_data_has_the_traps_it_claims(workspace):
    """Guards the hidden data itself: ties and same-day orders really are there."""
    shop = Shop(database(workspace, "sample+extra"))
    top = expect_top_customers(shop)
    assert [row[0] for row in top[:2]] == [1001, 1002] and top[0][3] == top[1][3]
    repeat = {row[0]: row for row in expect_repeat_customers(shop)}
    assert repeat[1001][3] == 0 and repeat[1002][3] == 0
    assert dict((row[0], row[1]) for row in expect_best_sellers(shop))["Books"] == 1001
    assert ("Books", 400000) in [(row[0], row[1]) for row in expect_category_share(shop)]
    assert "2024-07" not in [row[0] for row in expect_monthly_revenue(shop)]
