-- 2. Monthly revenue with a running total
--
-- One row per calendar month that has at least one revenue order.
--
-- Columns:
--   month                   'YYYY-MM'
--   orders                  revenue orders placed in the month
--   revenue_cents           the month's revenue
--   running_revenue_cents   revenue of this month and every earlier month
-- Order: month, oldest first.

WITH monthly AS (
    SELECT strftime('%Y-%m', o.ordered_at)            AS month,
           COUNT(DISTINCT o.id)                       AS orders,
           SUM(oi.quantity * oi.unit_price_cents)     AS revenue_cents
    FROM orders AS o
    JOIN order_items AS oi ON oi.order_id = o.id
    WHERE o.status IN ('paid', 'shipped')
    GROUP BY month
)
SELECT month,
       orders,
       revenue_cents,
       SUM(revenue_cents) OVER (ORDER BY month ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
           AS running_revenue_cents
FROM monthly
ORDER BY month;
