from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings

from deliveries import transport
from endpoints import url_safety
from endpoints.models import EventType, Tenant
from endpoints.selectors import event_type_retry_schedules_forget
from endpoints.services import event_type_create, tenant_create

from . import fake_dns
from .receiver import Receiver, start_receiver

# The brokers of the destination tests (Redis streams, RabbitMQ exchanges and nodes).
pytest_plugins = ["tests.destinations.brokers"]


@pytest.fixture(autouse=True)
def _platform_settings(settings):  # type: ignore[no-untyped-def]
    """Tests talk only to loopback; short timeouts keep failure tests quick."""
    settings.WEBHOOKS_ALLOWED_SUBNETS = ["127.0.0.0/8"]
    settings.WEBHOOKS_ATTEMPT_TIMEOUT = 2
    settings.WEBHOOKS_RETRY_JITTER = 0.2
    return settings


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle counters are per key id, and ids repeat across tests: each test starts at 0.
    So do event type ids: no test sees another's event type retry schedules."""
    from django.core.cache import cache

    cache.clear()
    event_type_retry_schedules_forget()


@pytest.fixture(autouse=True)
def _no_real_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Name resolution answers from this table only: no test may query a real DNS server.

    Both seams are patched (the blocking ``resolve`` and the transport's ``resolve_async``);
    processes started through ``tests.workers.worker_env`` get the same table. Names the
    sender remembers as failing are forgotten, so no test sees another's DNS failures.
    """
    table = fake_dns.default_table()
    fake_resolve, fake_resolve_async = fake_dns.resolvers(table)
    monkeypatch.setattr(url_safety, "resolve", fake_resolve)
    monkeypatch.setattr(url_safety, "resolve_async", fake_resolve_async)
    monkeypatch.setattr(fake_dns, "active_table", table)
    transport.sender().forget_dns_failures()
    return table


@pytest.fixture
def dns(_no_real_dns: dict[str, list[str]]) -> dict[str, list[str]]:
    """Add names to the test resolver: ``dns["evil.test"] = ["10.0.0.1"]``."""
    return _no_real_dns


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = start_receiver()
    yield r
    r.stop()


@pytest.fixture
def tenant(db) -> Tenant:  # type: ignore[no-untyped-def]
    return tenant_create(slug="acme", name="Acme")


@pytest.fixture
def other_tenant(db) -> Tenant:  # type: ignore[no-untyped-def]
    return tenant_create(slug="globex", name="Globex")


@pytest.fixture
def invoice_paid(db) -> EventType:  # type: ignore[no-untyped-def]
    return event_type_create(name="invoice.paid", description="An invoice was paid.")


@pytest.fixture
def user_created(db) -> EventType:  # type: ignore[no-untyped-def]
    return event_type_create(name="user.created", description="A user signed up.")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"database: {settings.DATABASES['default']['ENGINE']}",
        f"broker: {settings.CELERY_BROKER_URL.split('@')[-1]}",
    ]
