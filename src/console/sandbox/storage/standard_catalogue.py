"""The sandbox's standard connection and hook catalogue, seeded into every new account.

Connections and hooks are read-only through the API, so each account starts with the
same believable set to build pipelines from.
"""

from __future__ import annotations

# (name, role, type)
STANDARD_CONNECTIONS: tuple[tuple[str, str, str], ...] = (
    ("Orders database (PostgreSQL)", "source", "postgres"),
    ("Shop backend (MySQL)", "source", "mysql"),
    ("CRM (Salesforce)", "source", "salesforce"),
    ("Billing (Stripe)", "source", "stripe"),
    ("Analytics warehouse (Snowflake)", "destination", "snowflake"),
    ("Reporting (BigQuery)", "destination", "bigquery"),
    ("Data lake (Amazon S3)", "destination", "s3"),
)

# (name, type)
STANDARD_HOOKS: tuple[tuple[str, str], ...] = (
    ("Slack #data-alerts", "slack"),
    ("PagerDuty data on-call", "pagerduty"),
    ("Ops webhook", "webhook"),
)
