"""Who may act and what they did: API keys, the audit log, stored idempotent responses and
portal links."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models

from platform_core.ids import new_portal_link_id

from .tenants import Tenant


class ApiKey(models.Model):
    """A bearer key for the REST API, stored hashed.

    Platform keys (no tenant) act on every tenant and manage the event catalogue; tenant keys act
    on one tenant. Keys carry 256 random bits, so a plain SHA-256 is a safe hash (no password
    stretching needed); ``prefix`` identifies a key in lists and logs without revealing it.
    """

    name = models.CharField(max_length=200, blank=True)
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    prefix = models.CharField(max_length=32, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    # Reads only: for dashboards, exporters and support tooling that must not change anything.
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        scope = self.tenant_id and f"tenant {self.tenant_id}" or "platform"
        return f"{self.prefix}… ({scope})"

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None


class AuditEntry(models.Model):
    """Who did what by hand: replays, rotations, enables and disables, bulk jobs."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_entries"
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["tenant", "-id"], name="audit_tenant_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target_type} {self.target_id}"


class IdempotentResponse(models.Model):
    """The first answer to a POST that carried an ``Idempotency-Key``, replayed to repeats.

    ``key_hash`` is SHA-256 of the API key's hash, the idempotency key and the full path with its
    query: a key only ever replays to the caller that sent it, for the same request.
    """

    key_hash = models.CharField(max_length=64, unique=True)
    status = models.PositiveSmallIntegerField()
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="idempotent_created_idx")]

    def __str__(self) -> str:
        return f"idempotent response {self.status} at {self.created_at}"


class PortalLink(models.Model):
    """A portal link as it was handed out: the token names this row, so a link can be revoked
    (and with it every session it opened) and can be read-only. The token itself is not stored:
    it is signed, and carries this row's id."""

    id = models.CharField(
        primary_key=True, max_length=40, default=new_portal_link_id, editable=False
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="portal_links")
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The caller's own name for the session (Svix's ``sessionId``), to expire links by it.
    session_id = models.CharField(max_length=256, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="portal_link_tenant_idx")]

    def __str__(self) -> str:
        return f"portal link {self.pk} ({self.tenant_id})"

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now
