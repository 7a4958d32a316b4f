-- 5. Best seller per category
--
-- For every category that sold anything: the product that sold the most units in revenue
-- orders. If products tie, the one with the lower id wins.
--
-- Columns: category, product_id, product_name, units_sold
-- Order: category A→Z.

WITH units AS (
    SELECT p.category, p.id AS product_id, p.name AS product_name, SUM(oi.quantity) AS units_sold
    FROM order_items AS oi
    JOIN orders AS o ON o.id = oi.order_id
    JOIN products AS p ON p.id = oi.product_id
    WHERE o.status IN ('paid', 'shipped')
    GROUP BY p.category, p.id, p.name
),
ranked AS (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY category ORDER BY units_sold DESC, product_id) AS n
    FROM units
)
SELECT category, product_id, product_name, units_sold
FROM ranked
WHERE n = 1
ORDER BY category;
