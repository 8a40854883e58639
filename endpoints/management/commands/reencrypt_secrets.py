from typing import Any

from django.core.management.base import BaseCommand

from endpoints.services import secrets_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt every stored signing secret under the newest WEBHOOKS_ENCRYPTION_KEYS key."

    def handle(self, *args: Any, **options: Any) -> None:
        count = secrets_reencrypt()
        self.stdout.write(f"Re-encrypted {count} secrets.")
