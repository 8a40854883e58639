"""Every page of the portal and the console (``site_pages.PAGES``), with an endpoint of each kind
present, on a laptop (1366x900) and a phone (390x844): the page never scrolls sideways, no table
scrolls sideways inside it, every button is on screen and is the element a tap at its centre
lands on, no word breaks in its middle, nothing is cut short with an ellipsis, every button is
styled as one, chart text is legible, and axe-core finds nothing against WCAG 2.1 A/AA."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ..conftest import make_user
from .axe_check import violations
from .conftest import open_page
from .site_pages import build_scene, pages_for

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = {"laptop": (1366, 900), "phone": (390, 844)}
# A folder to save each page's first screen in (docs/screenshots/ holds a few of the phone's).
SHOTS = os.environ.get("PAGE_SCREENSHOTS", "")

# Problems of the page as a person sees it: sideways scrolling (of the page or of any box in
# it), and buttons that are off screen, too small to tap, or covered by something else.
LAYOUT_PROBLEMS = r"""() => {
  const problems = [];
  const root = document.documentElement;
  const width = root.clientWidth;
  if (root.scrollWidth > width) problems.push(`page is ${root.scrollWidth - width}px too wide`);
  for (const el of document.querySelectorAll("main *")) {
    const style = getComputedStyle(el);
    if (el.matches("pre, pre *, textarea, svg, svg *")) continue;
    if (["auto", "scroll"].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} scrolls sideways`);
    }
  }
  const buttons = document.querySelectorAll(
    "button, a.btn, input[type=submit], input[type=checkbox], select, summary");
  for (const el of buttons) {
    if (!el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
    const name = (el.innerText || el.getAttribute("aria-label") || el.name || el.tagName).trim();
    el.scrollIntoView({block: "center", inline: "nearest"});
    const box = el.getBoundingClientRect();
    if (box.left < 0 || box.right > width + 0.5) {
      problems.push(`"${name}" is off screen (${Math.round(box.left)}..${Math.round(box.right)})`);
      continue;
    }
    if (box.height < 20 || box.width < 20) {
      problems.push(`"${name}" is too small to tap (${box.width}x${box.height})`);
    }
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    const label = el.id && document.querySelector(`label[for="${el.id}"]`);
    if (!hit || !(el === hit || el.contains(hit) || (label && label.contains(hit)))) {
      const what = hit ? hit.tagName.toLowerCase() + "." + hit.className : "nothing";
      problems.push(`"${name}" is covered by ${what}`);
    }
  }
  // Words wrap between them, never inside ("admi n", "inv oic e"); long ids, URLs and code
  // (marked .url, .long, .mono.id or in a pre) may break anywhere.
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent.getClientRects().length) continue;
    if (parent.closest("pre, textarea, script, .url, .long, .mono.id, .sr-only")) continue;
    for (const word of node.data.matchAll(/[\p{L}\p{N}]+/gu)) {
      if (word[0].length < 2 || word[0].length > 24) continue;
      range.setStart(node, word.index);
      range.setEnd(node, word.index + word[0].length);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
        .map(r => Math.round(r.top)));
      if (tops.size > 1) {
        const where = parent.tagName.toLowerCase() + "." + parent.className;
        problems.push(`"${word[0]}" breaks mid-word in ${where}`);
      }
    }
  }
  // Nothing is cut short with an ellipsis: two URLs that differ at the end must read apart.
  for (const el of document.querySelectorAll("main *")) {
    if (getComputedStyle(el).textOverflow === "ellipsis" && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`"${el.textContent.trim().slice(0, 40)}" is cut short`);
    }
  }
  // Chart text is drawn at a size people read.
  for (const el of document.querySelectorAll("main svg text")) {
    const height = el.getBoundingClientRect().height;
    if (height < 11) problems.push(`chart text "${el.textContent}" is ${height.toFixed(1)}px`);
  }
  // Every button looks like one.
  for (const el of document.querySelectorAll("button:not(.btn):not(.linkish)")) {
    problems.push(`"${el.innerText.trim()}" is an unstyled button`);
  }
  window.scrollTo(0, 0);
  return problems;
}"""


@pytest.fixture
def page(browser, live_server):  # type: ignore[no-untyped-def]
    """axe's script is injected past the CSP, which stays on for the pages under test."""
    yield from open_page(browser, live_server, bypass_csp=True)


@pytest.fixture
def scene(tenant, invoice_paid):  # type: ignore[no-untyped-def]
    return build_scene(tenant, invoice_paid, make_user("sam", is_staff=True))


def _walk(page: Any, axe_js: Any, scene: Any, audience: str, size: str) -> dict[str, list[str]]:
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    failures: dict[str, list[str]] = {}
    for site_page in pages_for(audience):
        path = site_page.url(scene)
        response = page.goto(path)
        assert response is not None
        found = [] if response.status == site_page.status else [f"HTTP {response.status}"]
        found += page.evaluate(LAYOUT_PROBLEMS) + violations(page, axe_js)
        if SHOTS:
            page.screenshot(path=str(Path(SHOTS) / f"{size}-{site_page.name}.png"))
        if found:
            failures[f"{site_page.name} {path}"] = found
    return failures


def _report(failures: dict[str, list[str]]) -> str:
    return "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in failures.items())


@pytest.mark.parametrize("size", SIZES)
def test_every_portal_page_fits_and_passes_axe(page, sign_in, tenant, scene, axe_js, size):
    make_user("alice", tenants=(tenant,))
    sign_in("alice")

    failures = _walk(page, axe_js, scene, "tenant", size)

    assert not failures, _report(failures)


@pytest.mark.parametrize("size", SIZES)
def test_every_console_page_fits_and_passes_axe(page, sign_in, scene, axe_js, size):
    failures = _walk(page, axe_js, scene, "public", size)
    sign_in("sam")

    failures |= _walk(page, axe_js, scene, "support", size)

    assert not failures, _report(failures)
