"""A tenant's portal look: what is accepted, and the colours derived from an accent."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from endpoints.portal_look import accent_style, contrast, origin_validate, portal_look_validate


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://App.Example.com/", "https://app.example.com"),
        ("http://localhost:8100", "http://localhost:8100"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_an_origin_is_normalised(given, kept):
    assert origin_validate(given) == kept


@pytest.mark.parametrize(
    "bad",
    [
        "app.example.com",
        "https://app.example.com/portal",
        "https://app.example.com?x=1",
        "javascript://x",
        "https://user:pw@app.example.com",
        "*",
        "https://exa mple.com",
        "https://app.example.com:99999",
        "",
        7,
    ],
)
def test_what_is_not_an_origin_is_refused_with_its_reason(bad):
    with pytest.raises(ValidationError, match="origin"):
        origin_validate(bad)


def test_the_look_is_checked_key_by_key():
    assert portal_look_validate(
        {"embed_origins": ["https://a.example", "https://A.example/"], "accent_color": "#AbCdEf"}
    ) == {"embed_origins": ["https://a.example"], "accent_color": "#abcdef"}
    assert portal_look_validate({"logo_url": "", "theme": "dark"}) == {
        "logo_url": "",
        "theme": "dark",
    }
    for bad, message in [
        ({"accent_color": "red"}, "accent_color"),
        ({"accent_color": "#abc"}, "accent_color"),
        ({"accent_color": "#abcdef; background: url(x)"}, "accent_color"),
        ({"theme": "neon"}, "theme"),
        ({"logo_url": "javascript:alert(1)"}, "logo_url"),
        ({"logo_url": "https://x.example/a b.png"}, "logo_url"),
        ({"embed_origins": ["https://x.example"] * 11}, "at most 10"),
        ({"embed_origins": "https://x.example"}, "list"),
        ({"font": "Comic Sans"}, "Unknown portal settings: font"),
    ]:
        with pytest.raises(ValidationError, match=message):
            portal_look_validate(bad)


def test_an_accent_gets_readable_text_and_links_only_where_they_read():
    dark_blue = accent_style("#1d4ed8")
    assert "--on-brand: #ffffff" in dark_blue
    assert "--link-light: #1d4ed8" in dark_blue  # 6.7:1 on white
    assert "--link-dark" not in dark_blue  # too faint on the dark panel

    yellow = accent_style("#ffe033")
    assert "--on-brand: #111111" in yellow
    assert "--link-light" not in yellow
    assert "--link-dark: #ffe033" in yellow
    assert accent_style("") == ""
    assert accent_style("#12345") == ""
    assert round(contrast("#ffffff", "#000000"), 1) == 21.0
