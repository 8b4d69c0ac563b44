import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from campaigns.dispatch import tick


class Command(BaseCommand):
    help = "Run the dispatcher: every few seconds, end lost calls and start the calls running campaigns may make. Several may run."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between passes (default 1).")
        parser.add_argument("--once", action="store_true", help="Make one pass and exit.")

    def handle(self, *args, interval: float, once: bool, **options):
        self.running = True
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.stdout.write(f"Dispatcher running, a pass every {interval:g} s.")
        while self.running:
            # A database restart must not kill the loop: drop broken connections, try again next pass.
            close_old_connections()
            try:
                report = tick()
            except Exception as exc:  # the loop outlives any one failed pass
                self.stderr.write(f"Dispatch pass failed: {type(exc).__name__}: {exc}")
            else:
                if report.total or report.reaped or report.rescheduled:
                    placed = ", ".join(f"campaign {c}: {n}" for c, n in report.placed.items()) or "none"
                    self.stdout.write(f"calls started: {placed}; lost calls ended: {report.reaped}; rescheduled: {report.rescheduled}")
            if once:
                break
            time.sleep(interval)

    def _stop(self, *_args):
        self.running = False
