-- Tables of the demo warehouse. Names and types are a contract with the
-- semantic layer and the evaluation questions: do not rename them.

CREATE TABLE dim_date (
    date_day DATE PRIMARY KEY
);

CREATE TABLE dim_branch (
    branch_id VARCHAR PRIMARY KEY,
    branch_name VARCHAR NOT NULL,
    district VARCHAR NOT NULL,
    opened_date DATE NOT NULL
);

CREATE TABLE dim_product (
    product_id VARCHAR PRIMARY KEY,
    product_name VARCHAR NOT NULL,
    product_category VARCHAR NOT NULL,
    term_type VARCHAR NOT NULL,
    term_months INTEGER NOT NULL,
    interest_rate DECIMAL(6, 4) NOT NULL,
    for_customer_type VARCHAR NOT NULL
);

CREATE TABLE dim_customer (
    customer_id VARCHAR PRIMARY KEY,
    customer_name VARCHAR NOT NULL,
    customer_type VARCHAR NOT NULL,
    customer_segment VARCHAR NOT NULL,
    industry VARCHAR,
    home_branch_id VARCHAR NOT NULL,
    is_rural BOOLEAN NOT NULL,
    open_date DATE NOT NULL
);

CREATE TABLE dim_account_manager (
    manager_id VARCHAR PRIMARY KEY,
    manager_name VARCHAR NOT NULL UNIQUE,
    branch_id VARCHAR NOT NULL
);

CREATE TABLE dim_account (
    account_id VARCHAR PRIMARY KEY,
    customer_id VARCHAR NOT NULL,
    product_id VARCHAR NOT NULL,
    branch_id VARCHAR NOT NULL,
    open_channel VARCHAR NOT NULL,
    open_date DATE NOT NULL,
    close_date DATE
);

CREATE TABLE bridge_account_manager (
    account_id VARCHAR NOT NULL,
    manager_id VARCHAR NOT NULL,
    share DECIMAL(5, 4) NOT NULL,
    PRIMARY KEY (account_id, manager_id)
);

-- No primary key on the fact table: an index over millions of rows would cost
-- more to build than the rest of the generation. The tests check the grain.
CREATE TABLE fact_deposit_daily (
    biz_date DATE NOT NULL,
    account_id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    product_id VARCHAR NOT NULL,
    branch_id VARCHAR NOT NULL,
    balance DECIMAL(18, 2) NOT NULL,
    interest_accrued DECIMAL(18, 2) NOT NULL
);
