"""Assertions shared by the API tests."""

from __future__ import annotations


def assert_error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    """The one error shape, with the expected status and code; returns the error object."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]
