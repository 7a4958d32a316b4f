"""Runs your queries against a fresh in-memory copy of the shop's database.

    python run.py                              # every file in queries/
    python run.py queries/02_monthly_revenue.sql

Each run loads schema.sql and seed.sql anew, so nothing you do can damage the data.
"""

import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def connect() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.executescript((HERE / "schema.sql").read_text(encoding="utf-8"))
    db.executescript((HERE / "seed.sql").read_text(encoding="utf-8"))
    return db


def show(path: Path) -> None:
    print(f"== {path.name}")
    db = connect()
    try:
        cursor = db.execute(path.read_text(encoding="utf-8"))
    except sqlite3.Error as error:
        print(f"error: {error}\n")
        return
    if cursor.description is None:
        print("(no query yet)\n")
        return
    header = [d[0] for d in cursor.description]
    rows = [[("NULL" if v is None else str(v)) for v in row] for row in cursor.fetchall()]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    print(f"({len(rows)} rows)\n")


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted((HERE / "queries").glob("*.sql"))
    for path in paths:
        show(path)


if __name__ == "__main__":
    main()
