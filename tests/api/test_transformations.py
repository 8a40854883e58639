"""The native API of transformations: GET, PUT, PATCH and simulate, tenant-isolated."""

from __future__ import annotations

import pytest

from endpoints.models import AuditEntry

pytestmark = pytest.mark.django_db

CODE = "function handler(w) { w.url = w.url + '/' + w.eventType; return w; }"


def _url(endpoint, tail=""):  # type: ignore[no-untyped-def]
    return f"/api/v1/tenants/{endpoint.tenant.slug}/endpoints/{endpoint.pk}/transformation/{tail}"


def test_put_saves_a_version_and_patch_disables_it_keeping_the_code(api_a, endpoint_a):
    put = api_a.put(_url(endpoint_a), {"code": CODE, "enabled": True}, format="json")
    patched = api_a.patch(_url(endpoint_a), {"enabled": False}, format="json")
    newer = api_a.patch(_url(endpoint_a), {"code": CODE + "\n"}, format="json")

    assert put.status_code == 200
    assert (put.data["enabled"], put.data["version"], put.data["code"]) == (True, 1, CODE)
    assert (patched.data["enabled"], patched.data["code"]) == (False, CODE)
    assert [v["version"] for v in newer.data["versions"]] == [2, 1]
    actions = AuditEntry.objects.filter(action="endpoint.transformation_update")
    assert [e.details for e in actions.order_by("id")] == [
        {"version": 1, "enabled": True},
        {"enabled": False},
        {"version": 2},
    ]


def test_enabling_without_code_is_a_400(api_a, endpoint_a):
    response = api_a.patch(_url(endpoint_a), {"enabled": True}, format="json")

    assert response.status_code == 400
    assert "Save some code before enabling it." in str(response.data)


def test_code_without_a_handler_is_a_400_naming_it(api_a, endpoint_a):
    response = api_a.put(_url(endpoint_a), {"code": "var x = 1;"}, format="json")

    assert response.status_code == 400
    assert "the code defines no function handler(webhook)" in str(response.data)


def test_simulate_runs_code_on_a_sample_and_sends_nothing(api_a, endpoint_a):
    response = api_a.post(
        _url(endpoint_a, "simulate/"),
        {"code": CODE, "event_type": "invoice.paid", "payload": {"data": {"a": 1}}},
        format="json",
    )

    assert response.status_code == 200
    assert response.data["error"] is None
    assert response.data["output"]["url"] == endpoint_a.url + "/invoice.paid"
    assert response.data["output"]["body"] == '{"data":{"a":1}}'
    assert not endpoint_a.transformations.exists()


def test_simulate_reports_a_hostile_script(api_a, endpoint_a):
    response = api_a.post(
        _url(endpoint_a, "simulate/"),
        {"code": "function handler(w) { return fetch(w.url); }", "event_type": "e", "payload": {}},
        format="json",
    )

    assert response.status_code == 200
    assert response.data["output"] is None
    assert response.data["error"] == "transformation threw ReferenceError: 'fetch' is not defined"


def test_another_tenants_endpoint_is_a_404(api_a, endpoint_b):
    assert api_a.get(_url(endpoint_b)).status_code == 404
    assert api_a.put(_url(endpoint_b), {"code": CODE}, format="json").status_code == 404
