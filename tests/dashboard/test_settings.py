"""The tenant's settings page: its ids and the message format of new events."""

import pytest
from django.urls import reverse

from deliveries import publish_event
from endpoints.models import AuditEntry, Membership, Tenant

from .conftest import make_user

pytestmark = pytest.mark.django_db


def test_an_admin_switches_new_events_to_the_svix_format(client_for, member, tenant, invoice_paid):
    client = client_for(member)
    page = client.get(reverse("tenant-settings")).content.decode()
    assert tenant.public_id in page
    assert 'value="svix"' in page

    response = client.post(reverse("tenant-settings-update"), {"message_format": "svix"})

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.message_format == Tenant.MessageFormat.SVIX
    assert AuditEntry.objects.filter(action="tenant.update", tenant=tenant).exists()
    event = publish_event(tenant, "invoice.paid", {"amount": 5})
    assert event.body == '{"amount":5}'
    assert event.payload == {"amount": 5}


def test_a_bad_format_changes_nothing_and_says_why(client_for, member, tenant):
    response = client_for(member).post(
        reverse("tenant-settings-update"), {"message_format": "xml"}, follow=True
    )

    assert "Use one of" in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.message_format == Tenant.MessageFormat.STANDARD


def test_a_viewer_sees_the_format_but_cannot_change_it(client_for, tenant):
    viewer = make_user("vera")
    Membership.objects.create(user=viewer, tenant=tenant, role=Membership.Role.VIEWER)
    client = client_for(viewer)

    assert "read-only" in client.get(reverse("tenant-settings")).content.decode()
    response = client.post(reverse("tenant-settings-update"), {"message_format": "svix"})
    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.message_format == Tenant.MessageFormat.STANDARD
