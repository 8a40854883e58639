"""Payload filters: what each operator matches, and what is refused on save."""

from __future__ import annotations

import pytest

from endpoints.payload_filter import (
    FilterError,
    FilterUnevaluable,
    filter_matches,
    filter_validate,
)

BODY = {
    "type": "invoice.paid",
    "data": {
        "amount": 1250,
        "currency": "EUR",
        "customer": {"email": "a@example.com", "vip": True},
        "items": [{"sku": "A-1"}, {"sku": "B-2"}],
        "note": None,
    },
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"data.amount": 1250}, True),
        ({"data.amount": 1250.0}, True),
        ({"data.amount": 99}, False),
        ({"data.amount": {"$gte": 1000}}, True),
        ({"data.amount": {"$gt": 1250}}, False),
        ({"data.amount": {"$gte": 1000, "$lt": 2000}}, True),
        ({"data.amount": {"$lte": 1249}}, False),
        ({"data.currency": {"$in": ["EUR", "USD"]}}, True),
        ({"data.currency": {"$nin": ["EUR", "USD"]}}, False),
        ({"data.currency": {"$neq": "USD"}}, True),
        ({"data.currency": {"$eq": "USD"}}, False),
        ({"data.currency": {"$gt": "DKK"}}, True),
        ({"data.customer.vip": True}, True),
        ({"data.customer.vip": 1}, False),  # JSON: true is not 1
        ({"data.items.1.sku": "B-2"}, True),
        ({"data.items.7.sku": "B-2"}, False),
        ({"data.customer.email": {"$regex": "@example\\.com$"}}, True),
        ({"data.customer.email": {"$regex": "^b"}}, False),
        ({"data.note": None}, True),
        ({"data.note": {"$exist": True}}, True),
        ({"data.refund": {"$exist": False}}, True),
        ({"data.refund": {"$exist": True}}, False),
        # A missing field matches only $neq, $nin and $exist: false.
        ({"data.refund": {"$neq": 1}}, True),
        ({"data.refund": {"$nin": [1]}}, True),
        ({"data.refund": {"$gt": 1}}, False),
        ({"data.refund": None}, False),
        ({"$or": [{"data.currency": "USD"}, {"data.amount": {"$gt": 1000}}]}, True),
        ({"$or": [{"data.currency": "USD"}, {"data.amount": {"$gt": 5000}}]}, False),
        ({"$and": [{"data.currency": "EUR"}, {"type": "invoice.paid"}]}, True),
        ({"$and": [{"data.currency": "EUR"}, {"type": "invoice.voided"}]}, False),
        ({"data.customer": {"email": "a@example.com", "vip": True}}, True),
    ],
)
def test_what_a_filter_matches(spec, expected):
    assert filter_validate(spec) == spec
    assert filter_matches(spec, BODY) is expected


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"data.currency": {"$gt": 5}}, "needs a number to compare with, the body has a string"),
        ({"data.amount": {"$lt": "9"}}, "needs a string to compare with, the body has a number"),
        ({"data.customer": {"$gte": 1}}, "the body has an object"),
        ({"data.amount": {"$regex": "^1"}}, "$regex needs a string, the body has a number"),
    ],
)
def test_a_condition_that_cannot_be_evaluated_says_why(spec, reason):
    with pytest.raises(FilterUnevaluable) as caught:
        filter_matches(spec, BODY)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1], "a filter is a JSON object"),
        ("data.amount", "a filter is a JSON object"),
        ({"data.amount": {"$gtt": 1}}, "unknown operator '$gtt'"),
        ({"data.amount": {"$gt": True}}, "compare with a number or a string"),
        ({"data.amount": {"$gt": [1]}}, "compare with a number or a string"),
        ({"data.currency": {"$in": "EUR"}}, "give a list"),
        ({"data.currency": {"$in": list(range(300))}}, "at most 256 values"),
        ({"data.note": {"$exist": "yes"}}, "give true or false"),
        ({"data.email": {"$regex": "(a)\\1"}}, "not a valid RE2 pattern"),
        ({"data.email": {"$regex": ""}}, "give a pattern of 1 to 512 characters"),
        ({"$or": []}, "give a non-empty list of filters"),
        ({"$or": [{}]}, "a filter is a non-empty JSON object"),
        ({"$where": "1"}, "$where is not allowed here"),
        ({"data..amount": 1}, "is not a field path"),
        ({"x" * 300: 1}, "is not a field path"),
        ({"data.blob": "x" * 5000}, "at most 4096 bytes"),
        ({"a": {"$or": [{"b": 1}]}}, "unknown operator '$or'"),
    ],
)
def test_a_bad_filter_is_refused_with_what_is_wrong(value, message):
    with pytest.raises(FilterError) as caught:
        filter_validate(value)
    assert message in str(caught.value)


def test_filters_nest_only_so_deep():
    spec: dict = {"a": 1}
    for _ in range(8):
        spec = {"$and": [spec]}
    with pytest.raises(FilterError, match="nest at most 8 deep"):
        filter_validate(spec)


def test_no_filter_is_stored_as_none():
    assert filter_validate(None) is None
    assert filter_validate({}) is None


def test_a_pathological_pattern_runs_in_linear_time():
    """RE2 has no backtracking: the pattern that stalls Python's re for minutes returns."""
    spec = {"s": {"$regex": "^(a+)+$"}}
    assert filter_matches(spec, {"s": "a" * 50_000 + "!"}) is False
