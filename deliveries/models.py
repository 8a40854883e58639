from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from endpoints.models import Endpoint, EventType, Tenant
from platform_core.ids import new_event_id


class Event(models.Model):
    """One published event. ``body`` holds the exact bytes that are signed and sent."""

    id = models.CharField(primary_key=True, max_length=40, default=new_event_id, editable=False)
    # Indexes: a foreign key's own index is left out where a composite index below starts with
    # it (every index is one more write per row).
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    event_type = models.ForeignKey(EventType, on_delete=models.PROTECT, related_name="events")
    body = models.TextField()
    # The body is the payload itself (the Svix message format), not {"type", "timestamp", "data"}.
    body_is_payload = models.BooleanField(default=False)
    # A test event (the dashboard's "send test event", the ping on creation): the envelope says
    # "test": true and every request carries ``x-webhook-test: true``. The database default
    # serves the raw INSERTs of the publish fast paths.
    is_test = models.BooleanField(default=False, db_default=False)
    channels = models.JSONField(default=list, blank=True)
    tags = models.JSONField(default=list, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001  (NULL: no key; unique only when set)
    # A test event goes to this endpoint only.
    only_endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Scheduled: its deliveries are created at once but wait until then for their first try.
    deliver_at = models.DateTimeField(null=True, blank=True)
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    # While set and in the future, a fan-out message for this event is believed queued.
    fanout_dispatched_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="event_tenant_idempotency_uniq",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="event_tenant_log_idx"),
            # A tenant's events waiting for fan-out, oldest first (the drain; the sweeper scans
            # it whole). Led by the tenant so that the drain reads it in order with its LIMIT.
            models.Index(
                fields=["tenant", "created_at"],
                condition=Q(fanned_out_at__isnull=True),
                name="event_fanout_waiting_idx",
            ),
            # Test events (rare): deleting an endpoint finds its own.
            models.Index(
                fields=["only_endpoint"],
                condition=Q(only_endpoint__isnull=False),
                name="event_only_endpoint_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def payload_purged(self) -> bool:
        """Retention blanks the body of old, finished events; their metadata stays."""
        return self.body == ""

    @property
    def payload(self) -> Any:
        if self.payload_purged:
            return None
        value = json.loads(self.body)
        return value if self.body_is_payload else value["data"]


class Delivery(models.Model):
    """One event to one endpoint: the unit that is retried, replayed and reported."""

    class Status(models.TextChoices):
        # An ordered endpoint's delivery waiting for the one before it (deliveries.ordering).
        HELD = "held", "Held"
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # No index of their own: each key leads a composite index below (event: the unique
    # event × endpoint; endpoint and tenant: the log indexes). A delivery row is written three
    # times in its life, and each index is one more write every time.
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    # Copied from the event so that the delivery log filters without a join.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    # The event's own key PROTECTs the type (a delivery never outlives its event), and the
    # database's foreign key backs it: no index, and no scan of deliveries when a type that
    # was never published is deleted.
    event_type = models.ForeignKey(
        EventType, on_delete=models.DO_NOTHING, related_name="+", db_index=False
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    # Tries taken from the automatic schedule; manual replays do not consume it.
    scheduled_attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    manual_requested = models.BooleanField(default=False)
    # A message for this delivery is believed to be in the broker until then.
    dispatched_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True)
    # What the endpoint's transformation made of the request, stored by its first run so every
    # try and replay sends the same bytes: {"version", "method", "url", "body"}, or
    # {"version", "error"} after a failed run (the next try runs it again).
    transformed = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="delivery_event_endpoint_uniq"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["held", "pending", "sending", "succeeded", "failed", "cancelled"]
                ),
                name="delivery_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="sending") | Q(lease_expires_at__isnull=False),
                name="delivery_sending_has_lease",
            ),
        ]
        indexes = [
            # The sweeper: pending deliveries whose time has come.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="delivery_due_idx",
            ),
            # The engine: each endpoint's due deliveries, oldest first (claim and discovery).
            models.Index(
                fields=["endpoint", "next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="delivery_endpoint_due_idx",
            ),
            # Ordered endpoints: the held delivery of each endpoint's earliest event, released
            # when the one before it finishes. Only held rows: no cost to any other delivery.
            models.Index(
                fields=["endpoint", "event"],
                condition=Q(status="held"),
                name="delivery_endpoint_held_idx",
            ),
            # The sweeper: leases of workers that died mid-attempt.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="sending"),
                name="delivery_lease_idx",
            ),
            # The delivery log, per tenant and per endpoint, newest first (keyset on id).
            models.Index(fields=["tenant", "-id"], name="delivery_tenant_log_idx"),
            models.Index(fields=["tenant", "status", "-id"], name="delivery_tenant_status_idx"),
            models.Index(fields=["endpoint", "-id"], name="delivery_endpoint_log_idx"),
            models.Index(fields=["endpoint", "status", "-id"], name="delivery_endpoint_status_idx"),
            # An endpoint's stats over a time window (its page, the API's stats route).
            models.Index(fields=["endpoint", "created_at"], name="delivery_endpoint_created_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of {self.event_id} to {self.endpoint_id}: {self.status}"


class Attempt(models.Model):
    """One try, automatic or manual, with what was sent and what came back."""

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        MANUAL = "manual", "Manual"

    class BodyEncoding(models.TextChoices):
        UTF8 = "utf-8", "UTF-8"
        BASE64 = "base64", "Base64"

    # Each key leads a composite index below, so neither has one of its own.
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempts", db_index=False
    )
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="attempts", db_index=False
    )
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    request_url = models.CharField(max_length=2048)
    request_headers = models.JSONField(default=dict)
    response_status = models.PositiveIntegerField(default=0)
    response_headers = models.JSONField(default=dict)
    response_body = models.TextField(blank=True)
    response_body_encoding = models.CharField(
        max_length=8, choices=BodyEncoding.choices, default=BodyEncoding.UTF8
    )
    error = models.CharField(max_length=500, blank=True)
    request_method = models.CharField(max_length=8, default="POST", db_default="POST")
    # The transformation version that shaped the request (None: none did).
    transformation_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]
        indexes = [
            models.Index(fields=["delivery", "number"], name="attempt_delivery_idx"),
            models.Index(fields=["endpoint", "-id"], name="attempt_endpoint_log_idx"),
            # An endpoint's attempt counts and charts over the last day / week: without it a
            # busy endpoint's every attempt is read and filtered (bench scenario 5).
            models.Index(fields=["endpoint", "started_at"], name="attempt_endpoint_started_idx"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.response_status}"

    @property
    def succeeded(self) -> bool:
        return 200 <= self.response_status < 300


class Job(models.Model):
    """A background bulk action (recover an endpoint, bulk replay) whose progress can be read."""

    class Kind(models.TextChoices):
        RECOVER = "recover", "Recover failed deliveries of an endpoint"
        BULK_REPLAY = "bulk_replay", "Replay deliveries matching a filter"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # None for a support-staff job that spans tenants.
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    endpoint = models.ForeignKey(
        Endpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    params = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A running job's worker writes this after every chunk; the sweeper resumes a job whose
    # heartbeat stopped (its worker died) from ``resume_after``, the last delivery id it finished.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    resume_after = models.BigIntegerField(null=True, blank=True)
    runs = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["tenant", "-id"], name="job_tenant_idx")]

    def __str__(self) -> str:
        return f"job {self.pk} {self.kind} {self.status} {self.done}/{self.total}"

    @property
    def progress(self) -> float:
        return 1.0 if self.total == 0 else min(1.0, self.done / self.total)


class FeedItem(models.Model):
    """An event in a poll endpoint's feed (the fan-out's delivery to it: nothing is sent).

    ``position`` is given when a read first sees the item, under the endpoint's row lock, in
    event id order: an item committed after a read gets a higher position than anything that
    read returned, so a consumer that keeps its cursor never misses one."""

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="feed_items", db_index=False
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+", db_index=False)
    position = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="feed_item_uniq"),
            models.UniqueConstraint(
                fields=["endpoint", "position"], name="feed_item_position_uniq"
            ),
        ]
        indexes = [
            # Items not yet given a position, in event order (read: sequenced first).
            models.Index(
                fields=["endpoint", "event"],
                condition=Q(position__isnull=True),
                name="feed_item_unplaced_idx",
            ),
            models.Index(fields=["created_at"], name="feed_item_created_idx"),
            # Is an event still in a feed (retention), and deleting an event finds its items.
            models.Index(fields=["event"], name="feed_item_event_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} in the feed of {self.endpoint_id} at {self.position}"


class FeedConsumer(models.Model):
    """A named reader of a poll endpoint's feed whose position the server keeps."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="consumers")
    name = models.CharField(max_length=128)
    position = models.BigIntegerField(default=0)  # everything up to it is acknowledged
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "name"], name="feed_consumer_uniq")
        ]

    def __str__(self) -> str:
        return f"consumer {self.name} of {self.endpoint_id} at {self.position}"


class FeedFetch(models.Model):
    """One read of a feed, recorded as an attempt is: who read, how many, from where."""

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="feed_fetches", db_index=False
    )
    consumer = models.CharField(max_length=128, blank=True)  # "" for a cursor read
    api_key_prefix = models.CharField(max_length=32, blank=True)
    after = models.BigIntegerField()
    count = models.PositiveIntegerField()
    last_position = models.BigIntegerField()
    waited_ms = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "-id"], name="feed_fetch_log_idx"),
            models.Index(fields=["at"], name="feed_fetch_at_idx"),  # retention
        ]

    def __str__(self) -> str:
        return f"{self.count} read from the feed of {self.endpoint_id} after {self.after}"
