"""Django's PostgreSQL backend with a health check that costs no round trip (base.py),
and the session limits every connection must run with (limits.py)."""
