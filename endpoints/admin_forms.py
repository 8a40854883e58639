"""The admin's forms: the same checks as the API and the dashboard, through the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from . import destinations, services
from .models import Endpoint, EventType, Tenant
from .portal_look import portal_look_validate


class TenantForm(forms.ModelForm):
    """The portal's look is checked as the API checks it (origins, colour, logo URL)."""

    class Meta:
        model = Tenant
        fields = "__all__"  # noqa: DJ007  (the admin shows every field of a tenant)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        look = {
            key: cleaned[f"portal_{key}"]
            for key in ("embed_origins", "logo_url", "accent_color", "theme")
            if f"portal_{key}" in cleaned
        }
        try:
            checked = portal_look_validate(look)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc
        cleaned.update({f"portal_{key}": value for key, value in checked.items()})
        return cleaned


def _retry_schedule_clean(value: Any) -> list[float] | None:
    try:
        return services.retry_schedule_validate(value)
    except ValidationError as exc:
        raise ValidationError(exc.messages) from exc


class EventTypeForm(forms.ModelForm):
    class Meta:
        model = EventType
        fields = [
            "name",
            "description",
            "schema",
            "example",
            "archived",
            "deprecated",
            "feature_flag",
            "retry_schedule",
        ]
        help_texts = {
            "retry_schedule": "Seconds between tries, e.g. [5, 300, 3600]; [] for a single try; "
            "empty for the platform's. An endpoint's own schedule comes first."
        }

    def clean_retry_schedule(self) -> list[float] | None:
        return _retry_schedule_clean(self.cleaned_data["retry_schedule"])


class EndpointForm(forms.ModelForm):
    """The same URL and header rules as the API and the dashboard."""

    class Meta:
        model = Endpoint
        fields = [
            "url",
            "description",
            "headers",
            "event_types",
            "rate_limit",
            "signature_style",
            "payload_filter",
            "retry_schedule",
            "ordered",
            "channels",
            "destination",
        ]
        help_texts = {
            "destination": "A destination's options (its kind's, see the README's Destinations); "
            "secret ones read [redacted], which keeps them.",
            "retry_schedule": "Seconds between tries, e.g. [5, 300, 3600]; [] for a single try; "
            "empty for its event type's or the platform's.",
        }

    def clean_retry_schedule(self) -> list[float] | None:
        return _retry_schedule_clean(self.cleaned_data["retry_schedule"])

    def _is_destination(self) -> bool:
        return destinations.is_destination(self.instance.kind)

    def clean_url(self) -> str:
        if self._is_destination():
            return self.instance.url  # follows the destination's options
        try:
            return services.endpoint_url_validate(self.cleaned_data["url"])
        except ValidationError as exc:
            # The services name the field; a form field wants the bare messages.
            raise ValidationError(exc.messages) from exc

    def clean_payload_filter(self) -> dict[str, Any] | None:
        try:
            return services.payload_filter_validate(self.cleaned_data["payload_filter"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Credential values are stored sealed and never shown: "[redacted]" kept as is keeps them.
        if self.instance.pk:
            self.initial["headers"] = services.headers_redacted(self.instance.headers or {})
        if self._is_destination():
            self.initial["destination"] = destinations.config_redacted(
                self.instance.kind, self.instance.destination
            )
            if "url" in self.fields:
                self.fields["url"].disabled = True
        else:
            self.fields.pop("destination", None)

    def clean_destination(self) -> dict[str, Any]:
        try:
            sealed, self._destination_url = services.destination_validate(
                kind=self.instance.kind,
                config=self.cleaned_data["destination"],
                stored=self.instance.destination or {},
                operations=self.instance.tenant.is_operations,
            )
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc
        return sealed

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if getattr(self, "_destination_url", None):
            cleaned["url"] = self._destination_url
        return cleaned

    def clean_headers(self) -> dict[str, str]:
        stored = self.instance.headers if self.instance.pk else {}
        try:
            clean = services.endpoint_headers_validate(self.cleaned_data["headers"])
            return services.headers_seal(clean, stored or {})
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc

    def clean_channels(self) -> list[str]:
        try:
            return services.channels_validate_field(self.cleaned_data["channels"])
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc
