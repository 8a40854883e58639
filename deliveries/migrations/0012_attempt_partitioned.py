"""Partition attempts by ``started_at`` on PostgreSQL, converting the table in place.

The existing table becomes the first partition (``deliveries_attempt_legacy``, from MINVALUE to a
boundary an hour past the conversion); week partitions follow it. Nothing is copied. What each
step locks (docs/operations.md, "Partitioned history"):

1. ``CREATE UNIQUE INDEX CONCURRENTLY`` on (id, started_at): reads the whole table, blocks no
   reads or writes.
2. ``CHECK (started_at < boundary) NOT VALID`` then ``VALIDATE``: the validation reads the whole
   table under SHARE UPDATE EXCLUSIVE, which blocks no reads or writes.
3. One transaction under ACCESS EXCLUSIVE on the table, catalog changes only (the primary key
   swapped to the index of step 1, rename, the partitioned parent, the attach proven by the
   CHECK of step 2, the parent's indexes and foreign keys adopting the table's own, a sequence):
   milliseconds, plus the wait for transactions already using the table.

SQLite (and any other backend) is left as it is: the model state does not change.
"""

from datetime import UTC, timedelta

from django.db import migrations, transaction

TABLE = "deliveries_attempt"
LEGACY = "deliveries_attempt_legacy"
INDEX = "deliveries_attempt_id_started_uniq"
CHECK = "deliveries_attempt_legacy_bound"
INDEXES = {
    "attempt_delivery_idx": "(delivery_id, number)",
    "attempt_endpoint_log_idx": "(endpoint_id, id DESC)",
    "attempt_endpoint_started_idx": "(endpoint_id, started_at)",
}
FOREIGN_KEYS = {
    "delivery_id": "deliveries_delivery",
    "endpoint_id": "endpoints_endpoint",
}


def _partitioned(cursor):
    cursor.execute(
        "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [TABLE]
    )
    return cursor.fetchone() is not None


def _boundary(cursor):
    cursor.execute("SELECT now()")
    return cursor.fetchone()[0].astimezone(UTC).replace(microsecond=0) + timedelta(hours=1)


def forwards(apps, schema_editor):
    conn = schema_editor.connection
    if conn.vendor != "postgresql":
        return
    with conn.cursor() as cursor:
        if _partitioned(cursor):
            return
        boundary = _boundary(cursor)
        # 1 and 2: long reads that block nobody (each its own autocommit statement).
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")
        cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {INDEX} ON {TABLE} (id, started_at)")
        cursor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {CHECK}")
        cursor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {CHECK} CHECK (started_at < %s) NOT VALID",
            [boundary],
        )
        cursor.execute(f"ALTER TABLE {TABLE} VALIDATE CONSTRAINT {CHECK}")
    # 3: the swap, in one short transaction.
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        _swap(cursor, boundary)
    from deliveries.services.partitions import partitions_ensure

    partitions_ensure(conn=conn)


def _swap(cursor, boundary):
    cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
        [TABLE],
    )
    (pkey,) = cursor.fetchone()
    cursor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {pkey}")
    cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {LEGACY}_pkey PRIMARY KEY USING INDEX {INDEX}")
    # The id sequence: the identity's last value moves to a sequence the parent owns.
    cursor.execute(f"SELECT pg_get_serial_sequence('{TABLE}', 'id')")
    (old_sequence,) = cursor.fetchone()
    cursor.execute(f"SELECT last_value, is_called FROM {old_sequence}")
    last_value, is_called = cursor.fetchone()
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {TABLE}")
    (max_id,) = cursor.fetchone()
    cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id DROP IDENTITY")
    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {LEGACY}")
    for name in INDEXES:
        cursor.execute(f"ALTER INDEX {name} RENAME TO {LEGACY}_{name.removeprefix('attempt_')}")
    cursor.execute(
        f"CREATE TABLE {TABLE} (LIKE {LEGACY} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        "PARTITION BY RANGE (started_at)"
    )
    cursor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT {CHECK}")
    cursor.execute(f"CREATE SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id")
    cursor.execute(
        "SELECT setval(%s, %s, %s)",
        [f"{TABLE}_id_seq", max(last_value, max_id, 1), bool(is_called or max_id)],
    )
    cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id SET DEFAULT nextval('{TABLE}_id_seq')")
    cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, started_at)")
    cursor.execute(
        f"ALTER TABLE {TABLE} ATTACH PARTITION {LEGACY} FOR VALUES FROM (MINVALUE) TO (%s)",
        [boundary],
    )
    cursor.execute(f"ALTER TABLE {LEGACY} DROP CONSTRAINT {CHECK}")
    for name, columns in INDEXES.items():
        cursor.execute(f"CREATE INDEX {name} ON {TABLE} {columns}")  # adopts the legacy index
    for column, target in FOREIGN_KEYS.items():
        cursor.execute(
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_{column}_fk FOREIGN KEY ({column}) "
            f"REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED"
        )


def backwards(apps, schema_editor):
    """Back to one plain table: a full copy (the one step here that costs its size)."""
    conn = schema_editor.connection
    if conn.vendor != "postgresql":
        return
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        if not _partitioned(cursor):
            return
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"CREATE TABLE {TABLE}_plain (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(f"ALTER TABLE {TABLE}_plain ALTER COLUMN id DROP DEFAULT")
        cursor.execute(f"INSERT INTO {TABLE}_plain SELECT * FROM {TABLE}")
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {TABLE}")
        (max_id,) = cursor.fetchone()
        cursor.execute(f"DROP TABLE {TABLE} CASCADE")
        cursor.execute(f"ALTER TABLE {TABLE}_plain RENAME TO {TABLE}")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY")
        if max_id:
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), %s)", [max_id])
        for name, columns in INDEXES.items():
            cursor.execute(f"CREATE INDEX {name} ON {TABLE} {columns}")
        for column, target in FOREIGN_KEYS.items():
            cursor.execute(
                f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_{column}_fk FOREIGN KEY ({column}) "
                f"REFERENCES {target} (id) DEFERRABLE INITIALLY DEFERRED"
            )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("deliveries", "0011_delivery_transformed"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
