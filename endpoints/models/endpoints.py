"""Event types, endpoints, their signing secrets and their transformations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from endpoints.destinations import kind_choices
from platform_core.ids import new_endpoint_id

from .tenants import Tenant

EVENT_TYPE_NAME_RE = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"


class EventType(models.Model):
    """The global catalogue of event types, such as ``invoice.paid``."""

    name = models.CharField(
        max_length=128,
        unique=True,
        validators=[RegexValidator(EVENT_TYPE_NAME_RE, "Use dotted names such as invoice.paid.")],
    )
    description = models.TextField(blank=True)
    schema = models.JSONField(null=True, blank=True, help_text="JSON Schema for payloads")
    example = models.JSONField(null=True, blank=True, help_text="An example payload")
    archived = models.BooleanField(default=False)
    # The platform's own (the operational webhooks' types): not in any tenant's catalogue, and
    # only the operations tenant may subscribe to or publish them.
    internal = models.BooleanField(default=False)
    deprecated = models.BooleanField(default=False)
    feature_flag = models.CharField(max_length=256, blank=True)
    # Svix's versioned schemas ({"1": {...}}), stored and returned as given; not enforced.
    schemas = models.JSONField(null=True, blank=True)
    # Delays in seconds between tries of its deliveries (endpoints.retry_schedule); null: the
    # platform's. An endpoint's own schedule comes first.
    retry_schedule = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Endpoint(models.Model):
    """A URL of a tenant's that receives the event types it subscribes to (none means all)."""

    class SignatureStyle(models.TextChoices):
        # Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature (v1,<base64>).
        STANDARD = "standard", "Standard Webhooks (webhook-* headers)"
        # The same scheme under Svix's header names (svix-id, svix-timestamp, svix-signature).
        SVIX = "svix", "Svix (svix-* headers)"
        # X-Hub-Signature-256: sha256=<hex HMAC of the body>, X-GitHub-Event, X-GitHub-Delivery.
        GITHUB = "github", "GitHub (X-Hub-Signature-256)"
        # Stripe-Signature: t=<timestamp>,v1=<hex HMAC of "t.body">, one v1 per live secret.
        STRIPE = "stripe", "Stripe (Stripe-Signature)"
        # X-Twilio-Signature: base64 HMAC-SHA1 of the URL as sent, which carries bodySHA256 (the
        # hex SHA-256 of the body), as Twilio signs its JSON webhooks.
        TWILIO = "twilio", "Twilio (X-Twilio-Signature)"
        # Standard Webhooks' asymmetric scheme: v1a,<base64 Ed25519 signature>; the tenant sees
        # only the public key (whpk_), so a receiver holds nothing that could forge a message.
        ED25519 = "ed25519", "Ed25519 (Standard Webhooks v1a, public key)"

    class Kind(models.TextChoices):
        # The platform POSTs each event to the URL.
        PUSH = "push", "Push (the platform POSTs to a URL)"
        # Nothing is sent: the consumer fetches the endpoint's feed (deliveries.feed).
        POLL = "poll", "Poll (the consumer reads a feed)"

    id = models.CharField(primary_key=True, max_length=40, default=new_endpoint_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="endpoints")
    # push, poll, or a destination kind (endpoints.destinations; registered when Django starts,
    # so a new kind needs no migration).
    kind = models.CharField(max_length=16, choices=kind_choices, default=Kind.PUSH)
    # "" for a poll endpoint; for a destination, where it sends (no credentials).
    url = models.CharField(max_length=2048, blank=True)
    # A destination's options (endpoints.destinations), secret ones sealed; {} for push and poll.
    destination = models.JSONField(default=dict, blank=True)
    description = models.CharField(max_length=500, blank=True)
    # The caller's own key for the endpoint (Svix ``uid``), unique within the tenant.
    uid = models.CharField(max_length=256, null=True, blank=True)  # noqa: DJ001  (NULL: no uid)
    event_types = models.ManyToManyField(EventType, blank=True, related_name="endpoints")
    # An endpoint with channels receives only events that share one; none: not filtered.
    channels = models.JSONField(default=list, blank=True)
    # A filter on the body (endpoints.payload_filter), evaluated at fan-out; null: every event.
    payload_filter = models.JSONField(null=True, blank=True)
    # Its JavaScript transformation (``Transformation``, newest version) runs when enabled;
    # disabling keeps the code.
    transformation_enabled = models.BooleanField(default=False, db_default=False)
    metadata = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    # How requests are signed: the header names and scheme its receiver already verifies.
    signature_style = models.CharField(
        max_length=16, choices=SignatureStyle.choices, default=SignatureStyle.STANDARD
    )
    # First failure of the current run of failures; cleared by a success.
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # Circuit breaker: "closed" sends normally; "open" holds new deliveries back and lets one
    # probe through at a time until a success closes it again.
    circuit_state = models.CharField(max_length=8, default="closed")
    circuit_opened_at = models.DateTimeField(null=True, blank=True)
    # While open: when the next probe may go out (pushed ahead while a probe is in flight).
    circuit_next_probe_at = models.DateTimeField(null=True, blank=True)
    # While open: probes that failed since it opened; the next probe waits the retry schedule's
    # step of that number (other failures, such as requests in flight when it opened, do not
    # count). Zero when closed.
    circuit_failed_probes = models.PositiveIntegerField(default=0)
    # When the probe now in flight went out (None: none is): which result is the probe's.
    circuit_probe_at = models.DateTimeField(null=True, blank=True)
    # One delivery at a time, in publish order (event id order): later ones are held until the
    # one before succeeds, exhausts its schedule or is skipped (deliveries.ordering).
    ordered = models.BooleanField(default=False)
    # Delays in seconds between tries (endpoints.retry_schedule); null: its event type's, else
    # the platform's; []: a single try.
    retry_schedule = models.JSONField(null=True, blank=True)
    # A poll endpoint's feed: the last position given to an item, and the last one retention
    # removed (a cursor before it answers 410).
    feed_position = models.BigIntegerField(default=0)
    feed_trimmed_through = models.BigIntegerField(default=0)
    # Optional cap, in deliveries per second, enforced across workers.
    rate_limit = models.PositiveIntegerField(null=True, blank=True)
    # GCRA "theoretical arrival time" of the next request under the rate limit.
    rate_limit_tat = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "uid"],
                condition=Q(uid__isnull=False),
                name="endpoint_tenant_uid_uniq",
            )
        ]
        indexes = [
            models.Index(
                fields=["tenant", "enabled"],
                name="endpoint_fanout_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(fields=["tenant", "-created_at"], name="endpoint_tenant_list_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.url}"

    # Written only by the feed (deliveries.feed) and retention, with their own UPDATEs: saving
    # an endpoint loaded earlier must not wind them back.
    FEED_FIELDS = frozenset({"feed_position", "feed_trimmed_through"})

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in self.FEED_FIELDS
            ]
        super().save(*args, **kwargs)

    @property
    def address(self) -> str:
        """What the dashboard names it by: its URL, or for a poll endpoint (which has none) its
        feed, so that its links and rows are never empty."""
        return self.url or f"Poll feed {self.pk}"

    @property
    def circuit_probe_in_flight(self) -> bool:
        """An open circuit's probe is out now (its next is decided by its result)."""
        return (
            self.circuit_state == "open"
            and self.circuit_probe_at is not None
            and (self.circuit_next_probe_at is None or self.circuit_next_probe_at > timezone.now())
        )

    @property
    def circuit_probe_due_at(self) -> datetime | None:
        """When an open circuit's next probe goes; None: now (it is due)."""
        probe = self.circuit_next_probe_at
        return probe if probe is not None and probe > timezone.now() else None


class EndpointSecret(models.Model):
    """A signing secret, encrypted at rest. The current one has no expiry; rotated ones expire."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="secrets")
    encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["endpoint", "expires_at"], name="secret_live_idx"),
        ]

    def __str__(self) -> str:
        return f"secret of {self.endpoint_id} (expires {self.expires_at or 'never'})"


class Transformation(models.Model):
    """One saved version of an endpoint's transformation (endpoints.transformation).

    Versions are kept, so an attempt can say which one shaped its request; the newest runs."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="transformations")
    version = models.PositiveIntegerField()
    code = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "version"], name="transformation_endpoint_version_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_id} v{self.version}"
