-- Hidden extra rows, loaded after seed.sql: ties, gaps and traps the sample data lacks.
INSERT INTO customers VALUES
    (1001, 'Tie Alpha', 'tie.alpha@example.net', 'FR', '2024-06-01'),
    (1002, 'Tie Beta',  'tie.beta@example.net',  'FR', '2024-06-01'),
    (1003, 'Refund Rita', 'rita@example.net', 'IT', '2024-06-02'),
    (1004, 'Never Ordered', 'never@example.net', 'ES', '2024-06-03');

INSERT INTO products VALUES
    (1001, 'Field guide', 'Books', 2500),
    (1002, 'Cookbook', 'Books', 3000),
    (1003, 'Unsold novel', 'Books', 1500),
    (1004, 'Unsold lamp', 'Home', 9999);

INSERT INTO orders VALUES
    -- same revenue for 1001 and 1002 (tie broken by id); 1001's two orders are on one day and
    -- the later one has the lower id
    (1010, 1001, '2024-08-02 18:00:00', 'paid'),
    (1009, 1001, '2024-08-02 09:30:00', 'shipped'),
    (1011, 1002, '2024-08-20 12:00:00', 'paid'),
    -- a huge refunded and a huge cancelled order: must not count anywhere
    (1012, 1003, '2024-08-05 10:00:00', 'refunded'),
    (1013, 1003, '2024-09-01 10:00:00', 'cancelled'),
    -- a second order of 1002 at the very same time as its first: the lower id comes first
    (1008, 1002, '2024-08-20 12:00:00', 'shipped');

INSERT INTO order_items VALUES
    (1009, 1001, 100, 2000),   -- Books: 100 units of the field guide, charged below list price
    (1010, 6,      1, 100000),
    (1011, 1002, 100, 2000),   -- Books: 100 units of the cookbook: a tie with the field guide
    (1008, 6,      1, 100000),
    (1012, 4,    500, 12900),
    (1013, 9,   1000, 399);
