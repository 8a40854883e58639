"""The endpoint form of the dashboard: what it takes, how it reads, what it hands the services."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from platform_core.dashboard import validation_messages

from . import destinations, payload_filter, retry_schedule, selectors, services
from .models import Endpoint


class EndpointForm(forms.Form):
    # On creation only: push (POSTed to the URL) or poll (read from its feed; no URL).
    kind = forms.ChoiceField(
        choices=destinations.kind_choices, initial=Endpoint.Kind.PUSH, required=False
    )
    url = forms.CharField(label="URL", max_length=2048, required=False)
    description = forms.CharField(max_length=500, required=False)
    event_types = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    headers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "X-Api-Key: abc123"}),
        help_text="One per line, as Name: value. Sent with every request.",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    ordered = forms.BooleanField(required=False, initial=False)
    rate_limit = forms.IntegerField(required=False, min_value=1, max_value=10_000)
    # Not sent (an older page, a script): unchanged on edit, standard on creation.
    signature_style = forms.ChoiceField(
        choices=Endpoint.SignatureStyle.choices,
        initial=Endpoint.SignatureStyle.STANDARD,
        required=False,
    )
    channels = forms.CharField(required=False, max_length=1400)
    # JSON; empty: every event. Not sent at all (an older page, a script): unchanged on edit.
    filter = forms.CharField(
        required=False,
        max_length=payload_filter.MAX_BYTES * 2,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    # Durations ("5s, 5m, 2h"); empty: the event type's or the platform's; "none": one try.
    # Not sent at all (an older page, a script): unchanged on edit.
    retry_schedule = forms.CharField(
        required=False,
        max_length=400,
        help_text="Delays between tries, such as 10s, 5m, 1h, 1d. Empty: the platform's "
        "schedule; none: a single try.",
    )
    # A destination's options as JSON (its kind's); secret ones read [redacted], which keeps them.
    # Not sent at all (a push endpoint's page): unchanged.
    destination = forms.CharField(
        required=False, max_length=20_000, widget=forms.Textarea(attrs={"rows": 5})
    )
    # On creation only: a test event once the endpoint exists (GitHub's ping).
    ping = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args: Any, subscribed: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Archived types stay on offer where the endpoint already subscribes to them, so saving
        # the form does not silently drop that subscription.
        keep = set(subscribed)
        self.catalogue = [
            t
            for t in selectors.event_types_list(include_archived=True)
            if not t.archived or t.name in keep
        ]
        self.fields["event_types"].choices = [(t.name, t.name) for t in self.catalogue]

    def clean_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["headers"].splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise ValidationError(f"Line {number} is not in the form Name: value.")
            headers[name.strip()] = value.strip()
        return headers

    def clean_filter(self) -> dict[str, Any] | None:
        text = self.cleaned_data["filter"].strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"Not JSON: {exc}.") from exc
        try:
            return payload_filter.filter_validate(value)
        except payload_filter.FilterError as exc:
            raise ValidationError(str(exc)) from exc

    def clean_retry_schedule(self) -> list[float] | None:
        try:
            return retry_schedule.schedule_parse(self.cleaned_data["retry_schedule"])
        except retry_schedule.ScheduleError as exc:
            raise ValidationError(str(exc)) from exc

    def clean_channels(self) -> list[str]:
        return [c.strip() for c in self.cleaned_data["channels"].split(",") if c.strip()]

    def clean_destination(self) -> dict[str, Any] | None:
        text = self.cleaned_data["destination"].strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"Not valid JSON: {exc}.") from exc
        if not isinstance(value, dict):
            raise ValidationError('Give an object of options, e.g. {"url": "amqp://host/"}.')
        return value

    def add_service_errors(self, exc: ValidationError) -> None:
        for key, msgs in validation_messages(exc).items():
            for msg in msgs:
                if key.startswith("destination."):  # an option of the destination: name it
                    key, msg = "destination", f"{key.removeprefix('destination.')}: {msg}"
                self.add_error(key if key in self.fields else None, msg)


def service_kwargs(form: EndpointForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "url": data["url"],
        "description": data["description"],
        "event_types": data["event_types"],
        "headers": data["headers"],
        "enabled": data["enabled"],
        # A checkbox is absent when unticked: only a form that offers it may change it.
        **({"ordered": data["ordered"]} if "ordered_shown" in form.data else {}),
        "rate_limit": data["rate_limit"],
        "signature_style": data["signature_style"] or None,
        "channels": data["channels"],
        **({"payload_filter": data["filter"]} if "filter" in form.data else {}),
        **({"retry_schedule": data["retry_schedule"]} if "retry_schedule" in form.data else {}),
        **({"destination": data["destination"]} if data.get("destination") is not None else {}),
    }


def endpoint_form_initial(endpoint: Endpoint) -> dict[str, Any]:
    """The edit form's values for ``endpoint``; credential header values are never shown
    back: "[redacted]" saved as is keeps them."""
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": [t.name for t in endpoint.event_types.all()],
        "headers": "\n".join(
            f"{k}: {v}" for k, v in services.headers_redacted(endpoint.headers or {}).items()
        ),
        "enabled": endpoint.enabled,
        "ordered": endpoint.ordered,
        "rate_limit": endpoint.rate_limit,
        "signature_style": endpoint.signature_style,
        "channels": ", ".join(endpoint.channels or []),
        "filter": json.dumps(endpoint.payload_filter, indent=2) if endpoint.payload_filter else "",
        "retry_schedule": retry_schedule.schedule_text(endpoint.retry_schedule),
        "destination": (
            json.dumps(destinations.config_redacted(endpoint.kind, endpoint.destination), indent=2)
            if destinations.is_destination(endpoint.kind)
            else ""
        ),
    }
