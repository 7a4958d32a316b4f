-- The shop's database (SQLite). Money is in integer cents; times are UTC text.

CREATE TABLE customers (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    email         TEXT    NOT NULL UNIQUE,
    country       TEXT    NOT NULL,          -- ISO 3166 code: 'DE', 'GB', 'US', ...
    signed_up_at  TEXT    NOT NULL           -- 'YYYY-MM-DD'
);

CREATE TABLE products (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    category     TEXT    NOT NULL,
    price_cents  INTEGER NOT NULL            -- today's list price
);

CREATE TABLE orders (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers (id),
    ordered_at   TEXT    NOT NULL,           -- 'YYYY-MM-DD HH:MM:SS'
    status       TEXT    NOT NULL CHECK (status IN ('paid', 'shipped', 'refunded', 'cancelled'))
);

CREATE TABLE order_items (
    order_id          INTEGER NOT NULL REFERENCES orders (id),
    product_id        INTEGER NOT NULL REFERENCES products (id),
    quantity          INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents  INTEGER NOT NULL,      -- the price actually charged, per unit
    PRIMARY KEY (order_id, product_id)
);
