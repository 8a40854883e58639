"""How a receiver verifies our signatures, with libraries it can install.

Standard Webhooks' own libraries for the ``standard`` format (``webhook-*`` headers); Svix's for
the ``svix`` format (``svix-*`` headers, which Standard Webhooks' libraries do not read). Each
snippet reads the secret from ``WEBHOOK_SECRET`` (the ``whsec_…`` value of the endpoint page;
every library accepts it with its prefix) and verifies the raw body: a body parsed and
serialised again no longer matches its signature. The GitHub, Stripe and Twilio styles get
those senders' own verifiers (Python and Node), keyed with the same secret string (Twilio's
also take the full URL called, whose ``bodySHA256`` covers the body); Ed25519 a
public-key check with ``cryptography`` and ``node:crypto``. The Python
snippets are run against real deliveries in the test suite.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Snippet:
    language: str
    install: str
    code: str


_STANDARD = (
    Snippet(
        "Python",
        "pip install standardwebhooks",
        '''import os

from standardwebhooks import Webhook

wh = Webhook(os.environ["WEBHOOK_SECRET"])


def handle(body: bytes, headers: dict[str, str]) -> dict:
    """body: the raw request body; headers: the request's headers."""
    return wh.verify(body, headers)  # raises on a bad signature or an old timestamp
''',
    ),
    Snippet(
        "Node",
        "npm install standardwebhooks",
        """import { Webhook } from "standardwebhooks";

const wh = new Webhook(process.env.WEBHOOK_SECRET);

// Express: app.post("/webhooks", express.raw({ type: "application/json" }), handle)
function handle(req, res) {
  try {
    const event = wh.verify(req.body, req.headers); // throws on a bad signature
    res.sendStatus(204);
  } catch (err) {
    res.sendStatus(400);
  }
}
""",
    ),
    Snippet(
        "Go",
        "go get github.com/standard-webhooks/standard-webhooks/libraries",
        """import (
	"io"
	"net/http"
	"os"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func handle(w http.ResponseWriter, r *http.Request) {
	wh, err := standardwebhooks.NewWebhook(os.Getenv("WEBHOOK_SECRET"))
	if err != nil {
		http.Error(w, "bad secret", http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := wh.Verify(body, r.Header); err != nil {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
""",
    ),
    Snippet(
        "Ruby",
        "gem install standardwebhooks",
        """require "standardwebhooks"

wh = StandardWebhooks::Webhook.new(ENV.fetch("WEBHOOK_SECRET"))

# Rails: payload = request.raw_post, headers = request.headers
event = wh.verify(payload, headers) # raises StandardWebhooks::WebhookVerificationError
""",
    ),
    Snippet(
        "PHP",
        "composer require standard-webhooks/standard-webhooks",
        """<?php
$wh = new \\StandardWebhooks\\Webhook(getenv("WEBHOOK_SECRET"));

$payload = file_get_contents("php://input");
$headers = array_change_key_case(getallheaders(), CASE_LOWER);
$event = $wh->verify($payload, $headers); // throws on a bad signature
""",
    ),
)

_SVIX = (
    Snippet(
        "Python",
        "pip install svix",
        '''import json
import os

from svix.webhooks import Webhook

wh = Webhook(os.environ["WEBHOOK_SECRET"])


def handle(body: bytes, headers: dict[str, str]) -> dict:
    """body: the raw request body; headers: the request's headers."""
    wh.verify(body, headers)  # raises WebhookVerificationError on a bad signature
    return json.loads(body)
''',
    ),
    Snippet(
        "Node",
        "npm install svix",
        """import { Webhook } from "svix";

const wh = new Webhook(process.env.WEBHOOK_SECRET);

// Express: app.post("/webhooks", express.raw({ type: "application/json" }), handle)
function handle(req, res) {
  try {
    const event = wh.verify(req.body, req.headers); // throws on a bad signature
    res.sendStatus(204);
  } catch (err) {
    res.sendStatus(400);
  }
}
""",
    ),
    Snippet(
        "Go",
        "go get github.com/svix/svix-webhooks/go",
        """import (
	"io"
	"net/http"
	"os"

	svix "github.com/svix/svix-webhooks/go"
)

func handle(w http.ResponseWriter, r *http.Request) {
	wh, err := svix.NewWebhook(os.Getenv("WEBHOOK_SECRET"))
	if err != nil {
		http.Error(w, "bad secret", http.StatusInternalServerError)
		return
	}
	body, _ := io.ReadAll(r.Body)
	if err := wh.Verify(body, r.Header); err != nil {
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
""",
    ),
    Snippet(
        "Ruby",
        "gem install svix",
        """require "svix"

wh = Svix::Webhook.new(ENV.fetch("WEBHOOK_SECRET"))

# Rails: payload = request.raw_post, headers = request.headers
event = wh.verify(payload, headers) # raises Svix::WebhookVerificationError
""",
    ),
    Snippet(
        "PHP",
        "composer require svix/svix",
        """<?php
$wh = new \\Svix\\Webhook(getenv("WEBHOOK_SECRET"));

$payload = file_get_contents("php://input");
$headers = array_change_key_case(getallheaders(), CASE_LOWER);
$event = $wh->verify($payload, $headers); // throws on a bad signature
""",
    ),
)


_GITHUB = (
    Snippet(
        "Python",
        "(the standard library)",
        '''import hashlib
import hmac
import json
import os

SECRET = os.environ["WEBHOOK_SECRET"].encode()


def handle(body: bytes, headers: dict[str, str]) -> dict:
    """body: the raw request body; headers: the request's headers."""
    sent = {k.lower(): v for k, v in headers.items()}.get("x-hub-signature-256", "")
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(sent, expected):
        raise ValueError("bad signature")
    return json.loads(body)
''',
    ),
    Snippet(
        "Node",
        "npm install @octokit/webhooks-methods",
        """import { verify } from "@octokit/webhooks-methods";

// Express: app.post("/webhooks", express.text({ type: "application/json" }), handle)
async function handle(req, res) {
  const ok = await verify(
    process.env.WEBHOOK_SECRET, req.body, req.get("x-hub-signature-256"),
  );
  res.sendStatus(ok ? 204 : 400);
}
""",
    ),
)

_STRIPE = (
    Snippet(
        "Python",
        "pip install stripe",
        '''import os

import stripe


def handle(body: bytes, headers: dict[str, str]):
    """body: the raw request body; headers: the request's headers."""
    signature = {k.lower(): v for k, v in headers.items()}.get("stripe-signature", "")
    # raises stripe.SignatureVerificationError on a bad signature or an old timestamp
    return stripe.Webhook.construct_event(body.decode(), signature, os.environ["WEBHOOK_SECRET"])
''',
    ),
    Snippet(
        "Node",
        "npm install stripe",
        """import Stripe from "stripe";

const stripe = new Stripe("unused: verifying needs no API key");

// Express: app.post("/webhooks", express.raw({ type: "application/json" }), handle)
function handle(req, res) {
  try {
    const event = stripe.webhooks.constructEvent(
      req.body, req.get("stripe-signature"), process.env.WEBHOOK_SECRET,
    ); // throws on a bad signature or an old timestamp
    res.sendStatus(204);
  } catch (err) {
    res.sendStatus(400);
  }
}
""",
    ),
)

_TWILIO = (
    Snippet(
        "Python",
        "pip install twilio",
        '''import json
import os

from twilio.request_validator import RequestValidator

VALIDATOR = RequestValidator(os.environ["WEBHOOK_SECRET"])


def handle(url: str, body: bytes, headers: dict[str, str]) -> dict:
    """url: the full URL the request came to, query (bodySHA256=...) included, as the
    endpoint's URL has it (behind a proxy, the public URL); body: the raw request body;
    headers: the request's headers."""
    signature = {k.lower(): v for k, v in headers.items()}.get("x-twilio-signature", "")
    # checks the signature of the URL and that bodySHA256 in it is the body's
    if not VALIDATOR.validate(url, body.decode(), signature):
        raise ValueError("bad signature")
    return json.loads(body)
''',
    ),
    Snippet(
        "Node",
        "npm install twilio",
        """import twilio from "twilio";

// Express: app.post("/webhooks", express.text({ type: "application/json" }), handle)
function handle(req, res) {
  // The URL as called, query (bodySHA256=...) included: the endpoint's URL as registered.
  const url = `https://${req.get("host")}${req.originalUrl}`;
  const ok = twilio.validateRequestWithBody(
    process.env.WEBHOOK_SECRET, req.get("x-twilio-signature"), url, req.body,
  );
  res.sendStatus(ok ? 204 : 400);
}
""",
    ),
)


_ED25519 = (
    Snippet(
        "Python",
        "pip install cryptography",
        '''import base64
import json
import os
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

KEY = Ed25519PublicKey.from_public_bytes(
    base64.b64decode(os.environ["WEBHOOK_PUBLIC_KEY"].removeprefix("whpk_"))
)


def handle(body: bytes, headers: dict[str, str]) -> dict:
    """body: the raw request body; headers: the request's headers."""
    h = {k.lower().replace("svix-", "webhook-"): v for k, v in headers.items()}
    timestamp = int(h["webhook-timestamp"])
    if abs(time.time() - timestamp) > 300:
        raise ValueError("signature timestamp is too old or too new")
    signed = f"{h['webhook-id']}.{timestamp}.".encode() + body
    for candidate in h["webhook-signature"].split():
        version, _, value = candidate.partition(",")
        if version == "v1a":
            try:
                KEY.verify(base64.b64decode(value), signed)
                return json.loads(body)
            except InvalidSignature:
                pass
    raise ValueError("no valid v1a signature")
''',
    ),
    Snippet(
        "Node",
        "(node:crypto, built in)",
        """import { createPublicKey, verify } from "node:crypto";

// An Ed25519 public key in SPKI form: a fixed 12-byte prefix, then the 32 raw bytes.
const KEY = createPublicKey({
  key: Buffer.concat([
    Buffer.from("302a300506032b6570032100", "hex"),
    Buffer.from(process.env.WEBHOOK_PUBLIC_KEY.replace(/^whpk_/, ""), "base64"),
  ]),
  format: "der",
  type: "spki",
});

// Express: app.post("/webhooks", express.raw({ type: "application/json" }), handle)
function handle(req, res) {
  const id = req.get("webhook-id"), ts = req.get("webhook-timestamp");
  const fresh = Math.abs(Date.now() / 1000 - Number(ts)) <= 300;
  const signed = Buffer.concat([Buffer.from(`${id}.${ts}.`), req.body]);
  const ok = fresh && req.get("webhook-signature").split(" ").some((s) => {
    const [version, value] = s.split(",");
    return version === "v1a" && verify(null, signed, KEY, Buffer.from(value, "base64"));
  });
  res.sendStatus(ok ? 204 : 400);
}
""",
    ),
)


def verify_snippets(message_format: str, style: str = "standard") -> tuple[Snippet, ...]:
    """The snippets for an endpoint's signature style and its tenant's message format
    (``standard`` or ``svix``: an event on the Svix format is signed under ``svix-*`` names)."""
    if style == "github":
        return _GITHUB
    if style == "stripe":
        return _STRIPE
    if style == "twilio":
        return _TWILIO
    if style == "ed25519":
        return _ED25519
    return _SVIX if style == "svix" or message_format == "svix" else _STANDARD
