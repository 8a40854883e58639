"""Payload filters: what each operator matches, and what is refused on save."""

from __future__ import annotations

import pytest

from endpoints.payload_filter import (
    MAX_PATTERNS,
    MAX_PROGRAM,
    MAX_REGEX_INPUT,
    FilterError,
    FilterOverBudget,
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
    assert filter_matches(spec, {"s": "a" * 16_000 + "!"}) is False


def test_a_filter_holds_only_so_many_patterns_and_the_error_names_the_first_too_many():
    many = {f"data.f{n}": {"$regex": "x"} for n in range(MAX_PATTERNS + 2)}
    nested = {"$or": [{f"data.f{n}": {"$regex": "x"}} for n in range(MAX_PATTERNS + 1)]}

    with pytest.raises(FilterError) as flat:
        filter_validate(many)
    with pytest.raises(FilterError) as deep:
        filter_validate(nested)

    assert str(flat.value) == (
        f"filter.data.f{MAX_PATTERNS}.$regex: a filter holds at most {MAX_PATTERNS} $regex "
        f"patterns ({MAX_PATTERNS + 2} given)"
    )
    assert str(deep.value).startswith(f"filter.$or[{MAX_PATTERNS}].data.f{MAX_PATTERNS}.$regex:")
    assert filter_validate(dict(list(many.items())[:MAX_PATTERNS])) is not None


@pytest.mark.parametrize("pattern", ["\\pL{380}\\pN", ".{1000}x", "\\pL{2}\\pN"])
def test_a_pattern_whose_program_is_too_large_is_refused_on_save(pattern):
    with pytest.raises(FilterError) as caught:
        filter_validate({"data.note": {"$regex": pattern}})
    assert str(caught.value).startswith(
        f"filter.data.note.$regex: the pattern is too complex (its RE2 program is over "
        f"{MAX_PROGRAM} instructions, at most {MAX_PROGRAM})"
    )


@pytest.mark.parametrize("pattern", ["\\pL+\\pN", ".{200}x", "[a-z0-9._%+-]+@example\\.com"])
def test_a_pattern_of_reasonable_size_is_kept(pattern):
    spec = {"data.note": {"$regex": pattern}}
    assert filter_validate(spec) == spec


def test_a_regex_on_a_string_over_the_input_limit_is_over_budget_not_searched():
    spec = {"data.note": {"$regex": "needle"}}
    near = {"data": {"note": "x" * (MAX_REGEX_INPUT - 6) + "needle"}}
    over = {"data": {"note": "x" * MAX_REGEX_INPUT + "needle"}}
    wide = {"data": {"note": "é" * (MAX_REGEX_INPUT // 2 + 1)}}  # few characters, many bytes

    assert filter_matches(spec, near) is True
    with pytest.raises(FilterOverBudget, match="at most 16384 bytes"):
        filter_matches(spec, over)
    with pytest.raises(FilterOverBudget, match="the body has 16386"):
        filter_matches(spec, wide)


def test_a_stored_pathological_filter_over_a_large_event_is_over_budget():
    """A filter saved before the limits (48 heavy patterns) on a 250 KB event: refused to run,
    whatever the patterns, instead of searching 250 KB 48 times."""
    heavy = "\\pL{380}\\pN"
    spec = {f"data.f{n}": {"$regex": heavy} for n in range(48)}
    body = {"data": {f"f{n}": "é" * 5000 for n in range(48)}}  # about 480 KB in all
    small = {"data": {f"f{n}": "é1" for n in range(48)}}

    with pytest.raises(FilterOverBudget, match="too complex to run"):
        filter_matches(spec, body)
    with pytest.raises(FilterOverBudget):
        filter_matches(spec, small)


def test_the_work_of_all_patterns_of_one_evaluation_is_summed():
    """Each string is within the input limit, but ten patterns of near the largest program on
    ten 16 KB strings are more work than one evaluation may do (two are not): the budget says
    so before the first search that would cross it."""
    pattern = ".{250}x"  # about 2,000 instructions
    spec = {f"data.f{n}": {"$regex": pattern} for n in range(MAX_PATTERNS)}
    body = {"data": {f"f{n}": "y" * (MAX_REGEX_INPUT - 1) + "x" for n in range(MAX_PATTERNS)}}
    two = {"data.f0": {"$regex": pattern}, "data.f1": {"$regex": pattern}}

    assert filter_validate(spec) == spec
    assert filter_matches(two, body) is True
    with pytest.raises(FilterOverBudget, match="over the evaluation budget"):
        filter_matches(spec, body)


@pytest.mark.parametrize(
    ("value", "place"),
    [
        ({"data.note": "a\x00b"}, "filter.data.note: a NUL character"),
        ({"data.note": {"$in": ["ok", "\x00"]}}, "filter.data.note.$in[1]: a NUL character"),
        ({"$or": [{"data.n\x00": 1}]}, "filter.$or[0]: the key 'data.n\\x00' holds a NUL"),
        ({"data.note": {"$regex": "a\x00"}}, "filter.data.note.$regex: a NUL character"),
    ],
)
def test_a_nul_anywhere_in_a_filter_is_refused_with_its_place(value, place):
    with pytest.raises(FilterError) as caught:
        filter_validate(value)
    assert str(caught.value).startswith(place)
