import base64

import pytest
from standardwebhooks.webhooks import Webhook

from deliveries import signing

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_spec_vector():
    assert (
        signing.sign(secret=SPEC_SECRET, msg_id=SPEC_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY)
        == SPEC_SIGNATURE
    )


def test_header_has_one_signature_per_secret_newest_first():
    other = signing.secret_generate()
    header = signing.signature_header(
        secrets=[other, SPEC_SECRET], msg_id=SPEC_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY
    )
    parts = header.split(" ")
    assert len(parts) == 2
    assert parts[1] == SPEC_SIGNATURE
    assert parts[0].startswith("v1,")
    assert parts[0] != SPEC_SIGNATURE


def test_generated_secret_has_prefix_and_32_bytes():
    secret = signing.secret_generate()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[len("whsec_") :])) == 32


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with"),
        ("whsec_not base64!", "base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes"),
    ],
)
def test_bad_secrets_are_refused(secret, problem):
    with pytest.raises(signing.InvalidSecret, match=problem):
        signing.secret_key(secret)


def test_standardwebhooks_library_verifies_our_headers():
    secret = signing.secret_generate()
    body = b'{"type":"invoice.paid","data":{"id":1}}'
    import time

    ts = int(time.time())
    headers = signing.headers(secrets=[secret], msg_id="msg_1", timestamp=ts, body=body)
    assert Webhook(secret).verify(body, headers) == {"type": "invoice.paid", "data": {"id": 1}}


def test_verify_rejects_tampered_body_and_old_timestamp():
    secret = signing.secret_generate()
    sig = signing.sign(secret=secret, msg_id="msg_1", timestamp=1000, body=b"{}")
    signing.verify(
        secret=secret, msg_id="msg_1", timestamp="1000", signature=sig, body=b"{}", now=1000
    )
    with pytest.raises(signing.SignatureMismatch, match="no v1 signature"):
        signing.verify(
            secret=secret, msg_id="msg_1", timestamp="1000", signature=sig, body=b"[]", now=1000
        )
    with pytest.raises(signing.SignatureMismatch, match="tolerance"):
        signing.verify(
            secret=secret, msg_id="msg_1", timestamp="1000", signature=sig, body=b"{}", now=2000
        )
