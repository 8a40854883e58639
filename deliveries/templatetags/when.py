"""Times that say their zone: ``{{ moment|when }}`` and ``{{ moment|when:"short" }}``.

Renders ``<time datetime="…Z" data-when>Dec 1, 19:37:38 UTC</time>`` in the server's
``TIME_ZONE``, with the year when it is not this year. The dashboard's script rewrites these in
the browser's own zone when the person chooses local time (the top bar's switch).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()


def when_text(moment: datetime, *, short: bool = False) -> str:
    local = timezone.localtime(moment)
    day = "M j" if local.year == timezone.localdate().year else "M j Y"
    clock = "H:i" if short else "H:i:s"
    return date_format(local, f"{day}, {clock} T")


@register.filter
def when(moment: datetime | None, style: str = "") -> SafeString | str:
    if moment is None:
        return ""
    iso = moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    short = style == "short"
    return format_html(
        '<time datetime="{}" data-when="{}">{}</time>',
        iso,
        "short" if short else "long",
        when_text(moment, short=short),
    )


@register.filter
def sentence(text: str) -> str:
    """``text`` closing a sentence: a full stop added unless it ends in one already
    ("Acme Inc." stays "Acme Inc.", never "Acme Inc..")."""
    text = str(text)
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."
