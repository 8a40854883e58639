"""The server-binding cursor the engine's bulk statements use on PostgreSQL."""

from __future__ import annotations

import datetime

import pytest
from django.db import IntegrityError, connection, transaction

from platform_core.db import bound_cursor

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL's binding"),
]


def test_binary_arrays_round_trip_with_nulls_and_aware_times():
    now = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)
    with bound_cursor() as cursor:
        cursor.execute(
            "SELECT * FROM unnest(%b::bigint[], %b::varchar[], %b::timestamptz[])",
            [[1, 2], ["a", None], [now, None]],
        )
        assert cursor.fetchall() == [(1, "a", now), (2, None, None)]


def test_it_takes_part_in_djangos_transaction():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE bound_probe (n integer PRIMARY KEY)")

    def insert_then_fail() -> None:
        with transaction.atomic():
            with bound_cursor() as cursor:
                cursor.execute("INSERT INTO bound_probe SELECT unnest(%b::integer[])", [[1, 2]])
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        insert_then_fail()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bound_probe")
        assert cursor.fetchone() == (0,)


def test_errors_arrive_as_djangos():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE bound_probe_unique (n integer PRIMARY KEY)")
    with pytest.raises(IntegrityError), bound_cursor() as cursor:
        cursor.execute("INSERT INTO bound_probe_unique SELECT unnest(%b::integer[])", [[1, 1]])


def test_its_statements_are_counted_as_djangos_are(django_assert_num_queries):
    with django_assert_num_queries(2) as captured, bound_cursor() as cursor:
        cursor.execute("SELECT unnest(%b::integer[])", [[1, 2]])
        assert cursor.fetchall() == [(1,), (2,)]
        cursor.execute("SELECT 1")
    assert "unnest" in captured.captured_queries[0]["sql"]
