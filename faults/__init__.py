"""Black-box fault suite: the real stack (gunicorn workers on PostgreSQL) under load,
crashes and hostile input. Run by `make test-faults`; see docs/RELIABILITY.md."""
