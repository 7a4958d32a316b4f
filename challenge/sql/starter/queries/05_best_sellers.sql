-- 5. Best seller per category
--
-- For every category that sold anything: the product that sold the most units in revenue
-- orders. If products tie, the one with the lower id wins.
--
-- Columns: category, product_id, product_name, units_sold
-- Order: category A→Z.

-- Write your query below: one SELECT statement (WITH … is welcome).
