"""Sign-in throttling (hardening issue, item 15): wrong passwords lock the account and the
address for a while, right password or not, on the dashboard and the admin alike."""

import pytest

from platform_core.proxies import client_ip_settings

from .conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = 3


def _sign_in(client, username, password, *, ip="10.1.1.1", path="/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_wrong_passwords_lock_the_account_even_for_the_right_one(client, tenant):
    make_user("alice", tenants=(tenant,))
    for _ in range(2):
        assert _sign_in(client, "alice", "wrong").status_code == 200  # the form again
    assert _sign_in(client, "alice", "wrong").status_code == 429  # the third locks

    locked = _sign_in(client, "alice", PASSWORD, ip="10.9.9.9")

    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_one_address_trying_many_accounts_is_locked(client, tenant):
    for name in ("bob", "carol", "dave"):
        make_user(name, tenants=(tenant,))
        _sign_in(client, name, "wrong", ip="10.2.2.2")
    make_user("erin", tenants=(tenant,))

    assert _sign_in(client, "erin", PASSWORD, ip="10.2.2.2").status_code == 429
    assert _sign_in(client, "erin", PASSWORD, ip="10.3.3.3").status_code == 302


def test_the_admin_sign_in_is_throttled_too(client, db):
    make_user("root", is_staff=True, is_superuser=True)
    for _ in range(3):
        _sign_in(client, "root", "wrong", path="/admin/login/")

    assert (
        _sign_in(client, "root", PASSWORD, path="/admin/login/", ip="10.4.4.4").status_code == 429
    )


def test_a_success_before_the_limit_resets_the_count(client, tenant):
    make_user("fay", tenants=(tenant,))
    for _ in range(2):
        _sign_in(client, "fay", "wrong")
    assert _sign_in(client, "fay", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        _sign_in(client, "fay", "wrong")
    assert _sign_in(client, "fay", PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "forwarded",
    [
        "203.0.113.7",  # the shipped nginx: it sets the header to its peer
        "198.51.100.{n}, 203.0.113.7",  # a proxy that appends to what the client sent
    ],
)
def test_a_forged_forwarded_for_does_not_escape_the_address_lock(
    client, tenant, settings, forwarded
):
    # given one proxy in front (WEBHOOKS_TRUSTED_PROXY_COUNT=1), its peer 203.0.113.7
    for name, value in client_ip_settings(trusted_proxies=1).items():
        setattr(settings, name, value)
    for n in range(3):
        make_user(f"user{n}", tenants=(tenant,))
        client.post(
            "/login/",
            {"username": f"user{n}", "password": "wrong"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=forwarded.format(n=n),
        )
    make_user("victim", tenants=(tenant,))

    refused = client.post(
        "/login/",
        {"username": "victim", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR=forwarded.format(n=99),
    )

    assert refused.status_code == 429
