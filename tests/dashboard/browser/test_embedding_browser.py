"""The portal inside the product's own page: an iframe on another origin of the same site
(``localhost`` on another port), which the tenant lists; a page on an origin it does not list
gets nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from endpoints.portal import portal_link
from endpoints.services import endpoint_create

pytestmark = pytest.mark.django_db(transaction=True)


class ProductSite:
    """The product's page: ``/?src=<link>`` shows the link in an iframe."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                from urllib.parse import parse_qs, urlsplit

                src = parse_qs(urlsplit(self.path).query).get("src", [""])[0]
                body = (
                    "<!doctype html><title>Product</title><h1>Your webhooks</h1>"
                    f'<iframe id="portal" src="{src}" width="1000" height="700"></iframe>'
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://localhost:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def product() -> Iterator[ProductSite]:
    site = ProductSite()
    yield site
    site.close()


def test_the_product_embeds_the_portal_with_the_tenants_look(
    page, shot, live_server, product, tenant
):
    from urllib.parse import quote

    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hook")
    tenant.portal_embed_origins = [product.origin]
    tenant.portal_theme = "dark"
    tenant.portal_accent_color = "#ffe033"
    tenant.save()
    link = portal_link(tenant, base_url=live_server.url.replace("127.0.0.1", "localhost"))

    page.goto(f"{product.origin}/?src={quote(link, safe='')}")

    portal = page.frame_locator("#portal")
    expect(portal.locator("#endpoints")).to_contain_text(endpoint.url)  # no click needed
    expect(portal.locator("[data-testid=tenant-name]")).to_have_text("Acme")
    expect(portal.locator("html")).to_have_attribute("data-theme", "dark")
    shot("portal-embedded-dark")


def test_a_page_the_tenant_does_not_list_gets_no_portal(page, live_server, product, tenant):
    from urllib.parse import quote

    endpoint, _ = endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hook")
    tenant.portal_embed_origins = ["https://app.example.com"]  # not the product page's origin
    tenant.save()
    link = portal_link(tenant, base_url=live_server.url.replace("127.0.0.1", "localhost"))

    page.goto(f"{product.origin}/?src={quote(link, safe='')}")
    page.wait_for_timeout(1500)

    portal = page.frame_locator("#portal")
    expect(portal.locator("#endpoints")).to_have_count(0)
    assert all(endpoint.url not in frame.content() for frame in page.frames[1:] if frame.url)
