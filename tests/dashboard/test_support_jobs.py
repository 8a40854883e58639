"""Support's list of jobs, and the tenant picker of its filters."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deliveries.models import Delivery, Job
from deliveries.services.jobs import job_bulk_replay_create
from endpoints.services import tenant_create

from .conftest import make_delivery

pytestmark = pytest.mark.django_db


def test_the_jobs_list_shows_each_jobs_scope_owner_and_progress(
    client_for, staff, tenant, endpoint, invoice_paid
):
    failed = make_delivery(endpoint, invoice_paid, status=Delivery.Status.FAILED)
    mine = job_bulk_replay_create(tenant=tenant, delivery_ids=[failed.pk], user=staff)
    other = job_bulk_replay_create(tenant=None, filters={"status": "failed"}, user=staff)
    Job.objects.filter(pk=other.pk).update(status=Job.Status.FAILED, error="database went away")
    client = client_for(staff)

    page = client.get(reverse("support-jobs"))
    failed_only = client.get(reverse("support-jobs"), {"status": "failed"})

    assert page.status_code == 200
    assert [j.pk for j in page.context["items"]] == [other.pk, mine.pk]
    text = page.content.decode()
    assert reverse("support-job", args=[mine.pk]) in text
    assert tenant.slug in text
    assert "all tenants" in text
    assert "database went away" in text
    assert staff.get_username() in text
    assert [j.pk for j in failed_only.context["items"]] == [other.pk]


def test_a_job_page_leads_back_to_the_list(client_for, staff, tenant, endpoint, invoice_paid):
    failed = make_delivery(endpoint, invoice_paid, status=Delivery.Status.FAILED)
    job = job_bulk_replay_create(tenant=tenant, delivery_ids=[failed.pk], user=staff)

    page = client_for(staff).get(reverse("support-job", args=[job.pk]))

    assert f'href="{reverse("support-jobs")}"'.encode() in page.content


@pytest.mark.parametrize("name", ["support-deliveries", "support-audit"])
def test_tenant_fields_suggest_every_tenant(client_for, staff, tenant, name):
    tenant_create(name="Globex Corp", slug="globex")

    page = client_for(staff).get(reverse(name))

    text = page.content.decode()
    assert 'list="tenant-choices"' in text
    assert '<datalist id="tenant-choices">' in text
    assert f'<option value="{tenant.slug}">' in text
    assert '<option value="globex">Globex Corp</option>' in text
