"""How a tenant's portal looks and where it may be embedded.

Set by the product (a platform API key, or the admin), never by the tenant's own members: the
origins allowed to frame the portal decide who may show it inside their pages.

- ``embed_origins``: the origins (``https://app.example.com``) whose pages may show the portal
  in an iframe. They go into the ``frame-ancestors`` of pages seen through a portal link of the
  tenant; signed-in members' pages are never framed.
- ``logo_url``: shown in the top bar beside the tenant's name.
- ``accent_color``: ``#rrggbb`` for buttons, links and focus rings; the text on it is black or
  white, whichever reads better, and links fall back to the theme's colour where the accent
  would be too faint on the page.
- ``theme``: ``auto`` (the browser's preference), ``light`` or ``dark``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

MAX_EMBED_ORIGINS = 10
MAX_LOGO_URL = 500
THEMES = ("auto", "light", "dark")
_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\]")

# The stylesheet's page backgrounds, to judge an accent's contrast as a link colour.
_PANEL = {"light": "#ffffff", "dark": "#181b24"}
# WCAG 2.1 AA for normal text.
_MIN_CONTRAST = 4.5


def origin_validate(value: Any) -> str:
    """``scheme://host[:port]``, http or https, nothing after it; returned lower-cased."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("An origin is a string such as https://app.example.com.")
    text = value.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValidationError(f"{value[:100]!r} is not an origin: {exc}.") from exc
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address, which the URL writes in brackets
        try:
            host = f"[{ipaddress.IPv6Address(host)}]"
        except ValueError:
            host = ""
    if (
        parts.scheme.lower() not in ("http", "https")
        or not _HOST.fullmatch(host)
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
        or parts.password is not None
    ):
        raise ValidationError(
            f"{value[:100]!r} is not an origin: write scheme://host[:port], e.g. "
            "https://app.example.com, with no path."
        )
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")


def portal_look_validate(look: Mapping[str, Any]) -> dict[str, Any]:
    """The given keys of a portal's look, checked and normalised; unknown keys are an error."""
    if not isinstance(look, Mapping):
        raise ValidationError({"portal": "portal must be an object."})
    unknown = set(look) - {"embed_origins", "logo_url", "accent_color", "theme"}
    if unknown:
        raise ValidationError({"portal": f"Unknown portal settings: {', '.join(sorted(unknown))}."})
    out: dict[str, Any] = {}
    if "embed_origins" in look:
        origins = look["embed_origins"]
        if not isinstance(origins, list | tuple) or len(origins) > MAX_EMBED_ORIGINS:
            raise ValidationError(
                {"portal": f"embed_origins is a list of at most {MAX_EMBED_ORIGINS} origins."}
            )
        try:
            out["embed_origins"] = list(dict.fromkeys(origin_validate(o) for o in origins))
        except ValidationError as exc:
            raise ValidationError({"portal": f"embed_origins: {exc.messages[0]}"}) from exc
    if "logo_url" in look:
        out["logo_url"] = _logo_url_validate(look["logo_url"])
    if "accent_color" in look:
        color = look["accent_color"] or ""
        if color and (not isinstance(color, str) or not _HEX.fullmatch(color)):
            raise ValidationError({"portal": "accent_color is a colour such as #4f46e5."})
        out["accent_color"] = color.lower()
    if "theme" in look:
        if look["theme"] not in THEMES:
            raise ValidationError({"portal": f"theme is one of {', '.join(THEMES)}."})
        out["theme"] = look["theme"]
    return out


def _logo_url_validate(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > MAX_LOGO_URL or any(c.isspace() for c in value):
        raise ValidationError({"portal": f"logo_url is an http(s) URL of at most {MAX_LOGO_URL}."})
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
        raise ValidationError({"portal": "logo_url is an http(s) URL such as https://…/logo.svg."})
    return value


def logo_origin(url: str) -> str | None:
    """The origin a logo loads from, for the page's ``img-src``."""
    if not url:
        return None
    parts = urlsplit(url)
    return origin_validate(f"{parts.scheme}://{parts.netloc}")


def _luminance(color: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def accent_style(color: str) -> str:
    """CSS custom properties for an accent colour (``""`` when none is set): the accent, the
    text that reads on it, and the link colour for each theme where the accent reads on its
    page (else the theme's own)."""
    if not color or not _HEX.fullmatch(color):
        return ""
    on = "#ffffff" if contrast(color, "#ffffff") >= contrast(color, "#111111") else "#111111"
    props = [f"--brand: {color}", f"--brand-dark: {color}", f"--on-brand: {on}"]
    for theme, panel in _PANEL.items():
        if contrast(color, panel) >= _MIN_CONTRAST:
            props.append(f"--link-{theme}: {color}")
    return "; ".join(props)
