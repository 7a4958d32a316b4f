-- 1. Top customers
--
-- The five customers who brought in the most revenue.
--
-- Columns:
--   customer_id, name
--   orders          how many revenue orders the customer placed
--   revenue_cents   the customer's total revenue
-- Order: revenue_cents, highest first; ties by customer_id.

WITH order_totals AS (
    SELECT o.id, o.customer_id, SUM(oi.quantity * oi.unit_price_cents) AS total_cents
    FROM orders AS o
    JOIN order_items AS oi ON oi.order_id = o.id
    WHERE o.status IN ('paid', 'shipped')
    GROUP BY o.id, o.customer_id
)
SELECT c.id                AS customer_id,
       c.name              AS name,
       COUNT(*)            AS orders,
       SUM(t.total_cents)  AS revenue_cents
FROM order_totals AS t
JOIN customers AS c ON c.id = t.customer_id
GROUP BY c.id, c.name
ORDER BY revenue_cents DESC, customer_id
LIMIT 5;
