"""Rebuild the daily figures reports read from, after changing NEWVOICE_REPORT_TIMEZONE or to backfill."""

import time

from django.core.management.base import BaseCommand

from analytics import rollups


class Command(BaseCommand):
    help = "Recompute the daily call and step figures from every call's metrics."

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", required=True, help="Delete and recompute every daily figure.")

    def handle(self, *args, **options):
        started = time.monotonic()
        calls, steps = rollups.rebuild()
        self.stdout.write(f"Rebuilt {calls} daily call rows and {steps} daily step rows in {time.monotonic() - started:.1f} s.")
