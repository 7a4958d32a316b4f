-- 3. Revenue share per category
--
-- Every product category, including categories that sold nothing.
--
-- Columns:
--   category
--   revenue_cents   the category's revenue (0 if it sold nothing)
--   share_pct       the category's share of all revenue, in percent, rounded to 1 decimal
--                   (e.g. 62.0, 16.9)
-- Order: revenue_cents, highest first; ties by category A→Z.

WITH sold AS (
    SELECT oi.product_id, oi.quantity * oi.unit_price_cents AS cents
    FROM order_items AS oi
    JOIN orders AS o ON o.id = oi.order_id
    WHERE o.status IN ('paid', 'shipped')
),
by_category AS (
    SELECT p.category, COALESCE(SUM(s.cents), 0) AS revenue_cents
    FROM products AS p
    LEFT JOIN sold AS s ON s.product_id = p.id
    GROUP BY p.category
)
SELECT category,
       revenue_cents,
       ROUND(100.0 * revenue_cents / NULLIF(SUM(revenue_cents) OVER (), 0), 1) AS share_pct
FROM by_category
ORDER BY revenue_cents DESC, category;
