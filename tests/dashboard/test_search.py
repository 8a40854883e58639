"""The search box, the event page and the log's response filter."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deliveries.models import Delivery, Event
from endpoints.services import endpoint_create

from .conftest import make_delivery

pytestmark = pytest.mark.django_db


def find(client, query: str):  # type: ignore[no-untyped-def]
    return client.get(reverse("search"), {"q": query})


def test_an_event_id_or_idempotency_key_opens_the_event_with_every_delivery(
    client_for, member, endpoint, tenant, invoice_paid
):
    other, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/second")
    first = make_delivery(endpoint, invoice_paid, status=Delivery.Status.SUCCEEDED)
    event = first.event
    Event.objects.filter(pk=event.pk).update(idempotency_key="order-42-paid")
    Delivery.objects.create(
        event=event, endpoint=other, tenant=tenant, event_type=invoice_paid, status="pending"
    )
    client = client_for(member)

    by_id = find(client, event.pk)
    by_key = find(client, " order-42-paid ")
    page = client.get(by_id["Location"])

    assert by_id.status_code == by_key.status_code == 302
    assert by_id["Location"] == by_key["Location"] == reverse("event-detail", args=[event.pk])
    html = page.content.decode()
    assert page.status_code == 200
    assert "order-42-paid" in html
    assert reverse("delivery-detail", args=[first.pk]) in html
    assert "http://127.0.0.1:9/second" in html
    assert "http://127.0.0.1:9/hook" in html
    detail = client.get(reverse("delivery-detail", args=[first.pk])).content.decode()
    assert reverse("event-detail", args=[event.pk]) in detail  # the delivery links its event


def test_an_endpoint_id_or_uid_and_a_delivery_number_open_their_pages(
    client_for, member, endpoint, failed_delivery
):
    from endpoints.models import Endpoint

    Endpoint.objects.filter(pk=endpoint.pk).update(uid="billing-hook")
    client = client_for(member)

    assert find(client, endpoint.pk)["Location"] == reverse("endpoint-detail", args=[endpoint.pk])
    assert find(client, "billing-hook")["Location"] == reverse(
        "endpoint-detail", args=[endpoint.pk]
    )
    assert find(client, f"#{failed_delivery.pk}")["Location"] == reverse(
        "delivery-detail", args=[failed_delivery.pk]
    )


def test_another_tenants_ids_find_nothing(client_for, member, other_delivery):
    client = client_for(member)

    for query in (other_delivery.event_id, other_delivery.endpoint_id, str(other_delivery.pk)):
        response = find(client, query)
        # A miss is a page that says so, not an error.
        assert response.status_code == 200
        assert "Nothing in" in response.content.decode()
        assert not response.context["results"].found
    assert client.get(reverse("event-detail", args=[other_delivery.event_id])).status_code == 404


def test_the_start_of_an_id_key_uid_or_url_lists_what_begins_with_it(
    client_for, member, endpoint, failed_delivery, other_delivery
):
    from endpoints.models import Endpoint

    Event.objects.filter(pk=failed_delivery.event_id).update(idempotency_key="order-42-paid")
    Endpoint.objects.filter(pk=endpoint.pk).update(uid="billing-hook")
    client = client_for(member)
    event_id = failed_delivery.event_id

    by_id = find(client, event_id[:12])
    by_id_lower = find(client, event_id[:12].lower())
    by_key = find(client, "order-42")
    by_uid = find(client, "billing")
    by_url = find(client, "http://127.0.0.1:9/ho")

    for response in (by_id, by_id_lower, by_key):
        assert response.status_code == 200
        assert [e.pk for e in response.context["results"].events] == [event_id]
        assert reverse("event-detail", args=[event_id]) in response.content.decode()
    for response in (by_uid, by_url):
        assert [e.pk for e in response.context["results"].endpoints] == [endpoint.pk]
    # Another tenant's event starts the same way ("msg_" + its time): never listed.
    assert other_delivery.event_id not in by_id.content.decode()
    assert other_delivery.event_id not in find(client, "msg_").content.decode()


def test_a_prefix_too_short_says_so(client_for, member, endpoint):
    response = find(client_for(member), "ms")
    assert not response.context["results"].found
    assert "3 characters at least" in response.content.decode()


def test_nonsense_is_answered_not_a_500(client_for, member, endpoint):
    client = client_for(member)

    for query in ("\x00", "x" * 5000, "<script>alert(1)</script>", "#99999999999999999999999"):
        response = find(client, query)
        assert response.status_code in (200, 400)  # 400: a NUL is refused before the view
        assert b"<script>alert(1)</script>" not in response.content


def test_the_log_filters_by_the_last_response_class(client_for, member, endpoint, invoice_paid):
    ok = make_delivery(endpoint, invoice_paid, status="succeeded", response_status=204)
    server_error = make_delivery(endpoint, invoice_paid, response_status=503)
    no_answer = make_delivery(endpoint, invoice_paid, response_status=0)
    untried = make_delivery(endpoint, invoice_paid, status="pending", response_status=None)
    client = client_for(member)

    def listed(response_class: str) -> set[int]:
        page = client.get(reverse("delivery-log"), {"response": response_class})
        return {d.pk for d in page.context["items"]}

    assert listed("2xx") == {ok.pk}
    assert listed("5xx") == {server_error.pk}
    assert listed("none") == {no_answer.pk}
    assert listed("untried") == {untried.pk}
    assert listed("") == {ok.pk, server_error.pk, no_answer.pk, untried.pk}
