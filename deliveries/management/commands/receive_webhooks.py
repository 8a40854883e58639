"""A small local receiver for demos and debugging: verifies signatures and prints what arrived."""

import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from deliveries import signing

from .seed_demo import demo_receiver_port


class Command(BaseCommand):
    help = "Listen on 127.0.0.1, verify each webhook's signature and print it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=demo_receiver_port(),
            help="port to listen on (default: the demo endpoint's, DEMO_RECEIVER_PORT or 9000)",
        )
        parser.add_argument(
            "--secret",
            action="append",
            default=[],
            help="whsec_ secret, or whpk_ public key of an ed25519 endpoint, to verify with "
            "(repeatable)",
        )
        parser.add_argument("--status", type=int, default=200, help="status code to answer with")

    def handle(self, *args: Any, **options: Any) -> None:
        secrets: list[str] = options["secret"]
        for secret in secrets:
            try:
                if secret.startswith(signing.PUBLIC_KEY_PREFIX):
                    signing.public_key_parse(secret)
                else:
                    signing.secret_key(secret)
            except signing.InvalidSecret as exc:
                raise CommandError(f"--secret: {exc}") from exc
        status: int = options["status"]
        out = self.stdout

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                verdict = "not checked (no --secret)"
                if secrets:
                    verdict = "INVALID"
                    for secret in secrets:
                        try:
                            signing.verify(
                                secret=secret,
                                msg_id=self.headers.get("webhook-id", ""),
                                timestamp=self.headers.get("webhook-timestamp", ""),
                                signature=self.headers.get("webhook-signature", ""),
                                body=body,
                                now=time.time(),
                            )
                        except signing.SignatureMismatch:
                            continue
                        verdict = "valid"
                        break
                try:
                    shown = json.dumps(json.loads(body), indent=2)
                except ValueError:
                    shown = body.decode("utf-8", "replace")
                out.write(
                    f"POST {self.path}  webhook-id={self.headers.get('webhook-id')}  "
                    f"signature {verdict}\n{shown}\n"
                )
                code = status if verdict != "INVALID" else 401
                self.send_response(code)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok\n" if code < 300 else b"rejected\n")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        server = ThreadingHTTPServer(("127.0.0.1", options["port"]), Handler)
        out.write(f"Listening on http://127.0.0.1:{server.server_port}/ (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
