"""Database plumbing on Django's own PostgreSQL backend: session limits, batches."""
