-- 4. Time to second order
--
-- For every customer with at least two revenue orders: when they first ordered, when they
-- ordered the second time, and how many days lay between the two. "First" and "second" are by
-- ordered_at (order ids are NOT in time order); if two orders have the same ordered_at, the
-- lower id comes first.
--
-- Columns:
--   customer_id
--   first_order_on    the date ('YYYY-MM-DD') of the first revenue order
--   second_order_on   the date of the second revenue order
--   days_between      whole days from the first date to the second (an integer, 0 if the same day)
-- Order: days_between, smallest first; ties by customer_id.

WITH ranked AS (
    SELECT customer_id,
           ordered_at,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ordered_at, id) AS n
    FROM orders
    WHERE status IN ('paid', 'shipped')
)
SELECT first.customer_id                                       AS customer_id,
       date(first.ordered_at)                                  AS first_order_on,
       date(second.ordered_at)                                 AS second_order_on,
       CAST(julianday(date(second.ordered_at)) - julianday(date(first.ordered_at)) AS INTEGER)
                                                               AS days_between
FROM ranked AS first
JOIN ranked AS second ON second.customer_id = first.customer_id AND second.n = 2
WHERE first.n = 1
ORDER BY days_between, customer_id;
