import ipaddress

import pytest

from endpoints import url_safety

ALLOW_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.2.3", "private address"),
        ("172.16.0.1", "private address"),
        ("192.168.1.1", "private address"),
        ("127.0.0.1", "loopback address"),
        ("169.254.169.254", "link-local address"),
        ("100.64.0.1", "shared (CGNAT) address"),
        ("224.0.0.1", "multicast address"),
        ("0.0.0.0", "unspecified address"),
        ("240.0.0.1", "reserved address"),
        ("198.18.0.1", "private address"),
        ("::1", "loopback address"),
        ("fe80::1", "link-local address"),
        ("fc00::1", "private address"),
        ("ff02::1", "multicast address"),
        ("::", "unspecified address"),
        ("::ffff:10.0.0.1", "private address"),
        ("::ffff:127.0.0.1", "loopback address"),
        ("64:ff9b::a9fe:a9fe", "link-local address"),
        ("2002:0a00:0001::1", "private address"),
    ],
)
def test_blocked_ranges(address, reason):
    assert url_safety.blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
def test_public_addresses_pass(address):
    assert url_safety.blocked_reason(ipaddress.ip_address(address)) is None


def test_allow_list_opens_a_range():
    assert url_safety.address_allowed(ipaddress.ip_address("127.0.0.5"), ALLOW_LOOPBACK) is None
    assert url_safety.address_allowed(ipaddress.ip_address("10.0.0.1"), ALLOW_LOOPBACK) == (
        "private address"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("ftp://example.test/", "scheme must be http or https"),
        ("http://user:pw@example.test/", "credentials"),
        ("http:///nohost", "no host"),
        ("http://example.test:99999/", "malformed"),
        ("http://exa mple.test/", "whitespace"),
        ("http://example.test/" + "a" * 2100, "longer than"),
    ],
)
def test_bad_url_shapes(url, message):
    with pytest.raises(url_safety.UnsafeURL, match=message):
        url_safety.check_url_shape(url, require_https=False)


def test_https_required_in_production_mode():
    with pytest.raises(url_safety.UnsafeURL, match="must be https"):
        url_safety.check_url_shape("http://example.test/", require_https=True)
    assert url_safety.check_url_shape("https://example.test/x", require_https=True) == (
        "https",
        "example.test",
        443,
    )


def test_every_resolved_address_is_checked(dns):
    dns["mixed.test"] = ["93.184.215.14", "10.0.0.7"]
    with pytest.raises(url_safety.BlockedAddress, match=r"mixed.test resolves to a private"):
        url_safety.check_url("https://mixed.test/", allowed=(), require_https=False)


def test_unresolvable_host_is_accepted_at_save(dns):
    url_safety.check_url("https://not-yet.test/", allowed=(), require_https=False)


def test_ip_literal_is_checked_without_resolving():
    with pytest.raises(url_safety.BlockedAddress, match=r"^10.0.0.1 is a private address$"):
        url_safety.check_url("http://10.0.0.1/", allowed=(), require_https=False)
    with pytest.raises(url_safety.BlockedAddress, match="loopback"):
        url_safety.check_url("http://[::1]:8080/", allowed=(), require_https=False)
