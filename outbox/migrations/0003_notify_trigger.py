"""Every INSERT into the outbox wakes the relay, in the inserting transaction.

A statement-level trigger sends `NOTIFY outbox` instead of each writer sending
`SELECT pg_notify(...)` itself: one round trip less per event written, and a writer that
is not this app (a script, another service, psql) wakes the relay too. NOTIFY is still
queued by the writing transaction and delivered only when it commits, and PostgreSQL
folds identical notifications of one transaction into one.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
"""

DROP = """
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0002_relay_indexes"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
