"""A destination from the dashboard: its options in the form, errors naming the option, and the
test event's attempt showing what the destination answered."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from deliveries.models import Attempt, Event
from deliveries.services.fanout import event_fan_out
from endpoints import destinations
from endpoints.models import Endpoint
from endpoints.services import endpoint_create
from tests.engine import deliver_due

from .conftest import make_delivery

pytestmark = pytest.mark.django_db


def test_a_redis_destination_is_created_and_its_test_event_shows_the_entry_id(
    client_for, member, tenant, invoice_paid, redis_stream, settings
):
    settings.WEBHOOKS_ATTEMPT_TIMEOUT = 15
    client = client_for(member)
    response = client.post(
        reverse("endpoint-create"),
        {
            "kind": "redis",
            "destination": json.dumps({"url": redis_stream.url, "stream": redis_stream.name}),
            "enabled": "on",
            "ping": "on",
        },
    )

    endpoint = Endpoint.objects.get(tenant=tenant)
    assert response.status_code == 302
    assert endpoint.kind == "redis"
    (test_event,) = Event.objects.filter(only_endpoint_id=endpoint.pk)
    event_fan_out(event_id=test_event.pk)
    deliver_due()
    ((entry_id, fields),) = redis_stream.entries()
    assert json.loads(fields["body"])["test"] is True
    attempt = Attempt.objects.get(endpoint=endpoint)
    page = client.get(reverse("attempt-detail", args=[attempt.pk])).content.decode()
    assert "message-id" in page
    assert entry_id in page


def test_a_bad_option_is_explained_next_to_the_options(client_for, member, tenant):
    response = client_for(member).post(
        reverse("endpoint-create"),
        {
            "kind": "rabbitmq",
            "destination": json.dumps({"url": "amqp://127.0.0.1/", "routing_key": "{what}"}),
        },
    )

    assert response.status_code == 200
    (error,) = response.context["form"].errors["destination"]
    assert error.startswith("routing_key: The template may use only")
    assert 'id="destination-errors"' in response.content.decode()
    assert not Endpoint.objects.exists()


def test_editing_keeps_the_redacted_password(client_for, member, tenant, invoice_paid):
    from endpoints.services import endpoint_create

    endpoint, _ = endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={"url": "amqp://app@127.0.0.1/", "password": "hunter2-long", "exchange": "a"},
    )
    client = client_for(member)
    form_page = client.get(reverse("endpoint-edit", args=[endpoint.pk])).content.decode()
    assert "hunter2-long" not in form_page
    assert "[redacted]" in form_page

    response = client.post(
        reverse("endpoint-edit", args=[endpoint.pk]),
        {
            "url": endpoint.url,
            "destination": json.dumps(
                {"url": "amqp://app@127.0.0.1/", "password": "[redacted]", "exchange": "b"}
            ),
            "enabled": "on",
        },
    )

    assert response.status_code == 302, response.context["form"].errors
    endpoint.refresh_from_db()
    assert endpoint.url.endswith("#b")
    assert destinations.config_open("rabbitmq", endpoint.destination)["password"] == "hunter2-long"


def test_a_destination_attempt_reads_accepted_not_an_http_status(
    client_for, member, tenant, invoice_paid
):
    """A broker answers no HTTP status: the log said "HTTP 202" for an accepted message and "no
    response" for a refused one. Every page that shows the answer says what happened instead."""
    queue, _ = endpoint_create(
        tenant=tenant,
        kind="rabbitmq",
        destination={"url": "amqp://127.0.0.1:5672/", "exchange": "billing"},
    )
    push, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hook")
    accepted = make_delivery(queue, invoice_paid, status="succeeded", response_status=202)
    refused = make_delivery(queue, invoice_paid, status="failed", response_status=0)
    webhook = make_delivery(push, invoice_paid, status="succeeded", response_status=202)
    client = client_for(member)

    def text(url: str) -> str:
        response = client.get(url)
        assert response.status_code == 200
        return " ".join(response.content.decode().split())

    for delivery, expected in ((accepted, ">accepted<"), (refused, ">not accepted<")):
        attempt = Attempt.objects.get(delivery=delivery)
        for page in (
            text(reverse("attempt-detail", args=[attempt.pk])),
            text(reverse("delivery-detail", args=[delivery.pk])),
            text(reverse("event-detail", args=[delivery.event_id])),
        ):
            assert expected in page
            assert "HTTP 202" not in page
            assert "no response" not in page
    log = text(reverse("endpoint-delivery-log", args=[queue.pk]))
    assert log.count(">accepted<") == 1
    assert log.count(">not accepted<") == 1
    webhook_attempt = Attempt.objects.get(delivery=webhook)
    assert "HTTP 202" in text(reverse("attempt-detail", args=[webhook_attempt.pk]))
