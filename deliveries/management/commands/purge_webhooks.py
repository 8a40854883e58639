"""Run the retention purge by hand: ``python manage.py purge_webhooks [--dry-run]``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from deliveries.services.retention import retention_purge
from platform_core.conf import webhooks_settings


class Command(BaseCommand):
    help = (
        "Delete finished deliveries, attempts and events older than WEBHOOKS_RETENTION_DAYS and "
        "blank payloads older than WEBHOOKS_PAYLOAD_RETENTION_DAYS; pending deliveries stay."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go; change nothing."
        )
        parser.add_argument("--batch-size", type=int, default=None, help="Rows per statement.")

    def handle(self, *args: Any, **options: Any) -> None:
        ws = webhooks_settings()
        report = retention_purge(dry_run=options["dry_run"], batch_size=options["batch_size"])
        verb = "would be" if report.dry_run else "were"
        self.stdout.write(
            f"retention {ws.retention_days:g} days, payloads {ws.payload_retention_days:g} days"
            f"{' (dry run)' if report.dry_run else ''}"
        )
        self.stdout.write(f"events deleted: {report.events_deleted}")
        self.stdout.write(f"deliveries deleted: {report.deliveries_deleted}")
        self.stdout.write(f"attempts deleted: {report.attempts_deleted}")
        if report.attempt_partitions_dropped:
            self.stdout.write(f"attempt partitions dropped: {report.attempt_partitions_dropped}")
        self.stdout.write(f"response bodies blanked: {report.response_bodies_blanked}")
        self.stdout.write(f"event bodies blanked: {report.event_bodies_blanked}")
        self.stdout.write(f"ended portal links deleted: {report.portal_links_deleted}")
        total = (
            report.events_deleted
            + report.deliveries_deleted
            + report.attempts_deleted
            + report.response_bodies_blanked
            + report.event_bodies_blanked
            + report.portal_links_deleted
        )
        self.stdout.write(self.style.SUCCESS(f"{total} rows {verb} changed."))
