"""An endpoint's transformation: saving versions, enabling and disabling, and simulating a run.

The engine runs the newest version of an enabled transformation on each new delivery
(``deliveries.engine.transform``); this module owns what is stored and what a run on a sample
answers, for both APIs and the dashboard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from platform_core.conf import webhooks_settings

from .. import transformation
from ..models import Endpoint, Transformation
from .keys import audit_record


@dataclass(frozen=True)
class TransformationState:
    enabled: bool
    current: Transformation | None  # the newest version, the one that runs


def transformation_get(*, endpoint: Endpoint) -> TransformationState:
    current = endpoint.transformations.order_by("-version").first()
    return TransformationState(enabled=endpoint.transformation_enabled, current=current)


def limits() -> transformation.Limits:
    ws = webhooks_settings()
    return transformation.Limits(
        time_ms=ws.transform_time_limit_ms, memory_mb=ws.transform_memory_limit_mb
    )


def transformation_code_validate(code: Any) -> str:
    """The code, or a ``ValidationError`` on ``code`` saying why it cannot be saved."""
    if not isinstance(code, str):
        raise ValidationError({"code": "Code must be a string of JavaScript."})
    try:
        transformation.code_check(code, limits=limits())
    except transformation.TransformationError as exc:
        raise ValidationError({"code": f"Code cannot be saved: {exc}."}) from None
    return code


def transformation_update(
    *,
    endpoint: Endpoint,
    code: str | None = None,
    enabled: bool | None = None,
    actor: Any = None,
    api_key: Any = None,
    via: str = "",
) -> TransformationState:
    """Save ``code`` as a new version (when it differs from the newest) and/or enable or
    disable; disabling keeps every version. Audited as ``endpoint.transformation_update``."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        state = transformation_get(endpoint=endpoint)
        details: dict[str, Any] = {}
        if code is not None and (state.current is None or code != state.current.code):
            transformation_code_validate(code)
            version = 1 if state.current is None else state.current.version + 1
            state = TransformationState(
                enabled=state.enabled,
                current=Transformation.objects.create(
                    endpoint=endpoint, version=version, code=code
                ),
            )
            details["version"] = version
        if enabled is not None and enabled != endpoint.transformation_enabled:
            if enabled and state.current is None:
                raise ValidationError({"enabled": "Save some code before enabling it."})
            endpoint.transformation_enabled = enabled
            endpoint.save(update_fields=["transformation_enabled", "updated_at"])
            details["enabled"] = enabled
        if details:
            if via:
                details["via"] = via
            audit_record(
                action="endpoint.transformation_update",
                actor=actor,
                api_key=api_key,
                tenant=endpoint.tenant,
                target=endpoint,
                details=details,
            )
        return TransformationState(enabled=endpoint.transformation_enabled, current=state.current)


def transformation_simulate(
    *, code: str, payload: Any, event_type: str, url: str, method: str = "POST"
) -> dict[str, Any]:
    """Run ``code`` on a sample, sending nothing: ``{"input", "output", "error"}``, where
    ``output`` is the request it would send (``method``, ``url``, ``payload``, ``body``) or
    ``{"cancel": true}``, and ``error`` says why there is none."""
    ws = webhooks_settings()
    webhook = {"method": method, "url": url, "payload": payload, "eventType": event_type}
    if not isinstance(code, str) or not code.strip():
        return {"input": webhook, "output": None, "error": "the code is empty"}
    if len(code.encode("utf-8")) > transformation.MAX_CODE_BYTES:
        return {"input": webhook, "output": None, "error": "the code is over 64 KiB"}
    try:
        answer = transformation.sandbox(ws.transform_processes).run(
            key=f"simulate:{hash(code)}", code=code, webhook=webhook, limits=limits()
        )
        shaped = transformation.shaped(
            answer, require_https=ws.require_https, max_body_bytes=ws.max_payload_bytes
        )
    except transformation.TransformationError as exc:
        return {"input": webhook, "output": None, "error": str(exc)}
    if shaped.cancelled:
        return {"input": webhook, "output": {"cancel": True}, "error": None}
    output = {
        "method": shaped.method,
        "url": shaped.url,
        "payload": shaped.payload,
        "body": shaped.body,
    }
    return {"input": webhook, "output": output, "error": None}


def sample_payload(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body
