"""Which address a request came from, behind the proxies the deployment says it has.

Each proxy appends the address it saw to ``X-Forwarded-For``; whatever the client sent in that
header comes first. Behind ``n`` trusted proxies the client is therefore the ``n``-th entry from
the right (the first proxy's peer), and everything left of it is the client's own claim, never
trusted. ``deploy/nginx/webhooks.conf`` sets the header to its peer rather than appending, so
behind it alone the header holds one entry; counting from the right is what keeps a proxy that
appends (or a second one in front) from letting a forged entry through.
"""

from __future__ import annotations

from typing import Any


def client_ip_settings(*, trusted_proxies: int) -> dict[str, Any]:
    """django-axes' address settings (through django-ipware) for ``trusted_proxies`` proxies in
    front of the web server (0: none, the peer's address is the client's)."""
    if trusted_proxies <= 0:
        return {
            "AXES_IPWARE_PROXY_COUNT": None,
            "AXES_IPWARE_META_PRECEDENCE_ORDER": ["REMOTE_ADDR"],
        }
    # ipware counts the proxies listed in the header, after the client: the nearest proxy is
    # the peer (REMOTE_ADDR), not an entry.
    return {
        "AXES_IPWARE_PROXY_COUNT": trusted_proxies - 1,
        "AXES_IPWARE_META_PRECEDENCE_ORDER": ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"],
    }
