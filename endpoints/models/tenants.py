"""Tenants and their members."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from platform_core.ids import new_app_id

# The platform's internal tenant whose endpoints are the operators' URLs (operational webhooks).
OPERATIONS_TENANT_SLUG = "_operations"


class Tenant(models.Model):
    """A customer of the product; owns endpoints and receives events."""

    class MessageFormat(models.TextChoices):
        # Body {"type", "timestamp", "data"}, headers webhook-id/-timestamp/-signature.
        STANDARD = "standard", "Standard Webhooks (envelope, webhook-* headers)"
        # Body = the payload as published, headers svix-id/-timestamp/-signature (what Svix sends).
        SVIX = "svix", "Svix (payload as the body, svix-* headers)"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    # The id of the Svix-compatible API (``app_…``) and the caller's own key for it.
    public_id = models.CharField(max_length=40, unique=True, default=new_app_id, editable=False)
    uid = models.CharField(max_length=256, null=True, blank=True, unique=True)  # noqa: DJ001  (NULL: no uid; unique only when set)
    metadata = models.JSONField(default=dict, blank=True)
    message_format = models.CharField(
        max_length=16, choices=MessageFormat.choices, default=MessageFormat.STANDARD
    )
    # The portal's look and where it may be embedded (endpoints.portal_look; set by the product).
    portal_embed_origins = models.JSONField(default=list, blank=True)
    portal_logo_url = models.CharField(max_length=500, blank=True, default="")
    portal_accent_color = models.CharField(max_length=7, blank=True, default="")
    portal_theme = models.CharField(
        max_length=8,
        default="auto",
        choices=[("auto", "Browser's choice"), ("light", "Light"), ("dark", "Dark")],
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_operations(self) -> bool:
        return self.slug == OPERATIONS_TENANT_SLUG


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_user_tenant_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.tenant_id}"
