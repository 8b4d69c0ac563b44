import datetime as dt
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connections
from django.db.models import Count
from django.utils import timezone

from campaigns.dialers import get_dialer
from campaigns.dispatch import dispatch_campaign, reap
from campaigns.models import CallTask, Campaign
from campaigns.tasks import place_call
from tenancy import audit
from tenancy.models import AuditEntry

ACTIONS = ("list", "start", "pause", "resume", "cancel", "status", "run")


class Command(BaseCommand):
    help = "Run campaigns from the terminal: list, start, pause, resume, cancel, status ID, or run ID to call everyone in-process."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=ACTIONS)
        parser.add_argument("campaign", nargs="?", type=int, help="Campaign id (all actions but list).")
        parser.add_argument("--speed", type=float, default=None, help="run: simulated time speed (0 = no waiting).")
        parser.add_argument("--workers", type=int, default=8, help="run: calls placed at once in this process.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--audio", dest="audio", action="store_true", default=None,
            help="run: simulated calls speak, at real time, and are recorded (saved as the campaign's setting).",
        )  # fmt: skip
        mode.add_argument("--text", dest="audio", action="store_false", help="run: simulated calls are text (the campaign's setting).")

    def handle(self, *args, action: str, campaign: int | None, speed: float | None, workers: int, audio: bool | None, **options):
        if action == "list":
            return self._list()
        if campaign is None:
            raise CommandError(f"'{action}' needs a campaign id.")
        target = Campaign.objects.filter(pk=campaign).first()
        if target is None:
            raise CommandError(f"No campaign with id {campaign}.")
        if action == "run":
            if audio is not None and audio != target.simulator_audio:
                with audit.door(AuditEntry.Source.COMMAND):
                    target.simulator_audio = audio
                    target.save(update_fields=["simulator_audio", "updated_at"])
            self._run(target, speed, workers)
        else:
            with audit.door(AuditEntry.Source.COMMAND):
                self._control(target, action)
        self._status(target)

    def _control(self, target: Campaign, action: str) -> None:
        if action in Campaign.CONTROLS and (problems := target.control(action)):
            raise CommandError(f"{Campaign.CONTROLS[action]} " + " ".join(problems))

    def _list(self) -> None:
        for campaign in Campaign.objects.select_related("organization").order_by("id"):
            self.stdout.write(f"{campaign.pk:>5}  {campaign.get_status_display():<10} {campaign.organization}: {campaign.name}")

    def _status(self, campaign: Campaign) -> None:
        campaign.refresh_from_db()
        counts = dict(campaign.tasks.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        outcomes = dict(campaign.tasks.exclude(outcome="").values_list("outcome").annotate(n=Count("id")).values_list("outcome", "n"))
        self.stdout.write(
            f"{campaign.name}: {campaign.get_status_display()}" + (f" ({campaign.status_reason})" if campaign.status_reason else "")
        )
        self.stdout.write("  contacts: " + ", ".join(f"{CallTask.Status(s).label.lower()} {n}" for s, n in sorted(counts.items())))
        if outcomes:
            self.stdout.write("  outcomes: " + ", ".join(f"{o} {n}" for o, n in sorted(outcomes.items())))

    def _run(self, campaign: Campaign, speed: float | None, workers: int) -> None:
        """Dispatch and place calls in this process until the campaign is done. With a simulated
        dialer the clock jumps to the next due contact whenever no call is live, so retries and
        callbacks scheduled hours ahead happen now (and still inside their calling windows)."""
        if speed is not None:
            settings.NEWVOICE_SIMULATOR_SPEED = speed
        if campaign.status != Campaign.Status.RUNNING:
            with audit.door(AuditEntry.Source.COMMAND):
                problems = campaign.control("start")
            if problems:
                raise CommandError(f"{Campaign.CONTROLS['start']} " + " ".join(problems))
        dialer = get_dialer(campaign.dialer or None)
        simulated = dialer.simulated
        dialer.prepare(campaign)  # the calls are placed from a pool of threads below
        # The run's clock is real time plus how far it has jumped ahead; it keeps moving with real
        # time, so the token bucket refills after a jump as it does before one.
        ahead = dt.timedelta(0)
        token = dt.timedelta(seconds=60 / campaign.calls_per_minute)
        pending = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while True:
                close_old_connections()
                clock = timezone.now() + ahead
                calls: list[int] = []
                reap(timezone.now())
                # This campaign only: the clock may run ahead of real time, which no other campaign's
                # calling windows and token bucket may see.
                dispatch_campaign(campaign.pk, clock, enqueue=calls.append)
                pending += [pool.submit(_place, call_id) for call_id in calls]
                pending = [f for f in pending if not f.done()]
                campaign.refresh_from_db(fields=["status"])
                if campaign.status != Campaign.Status.RUNNING and not pending:
                    break
                if simulated and not calls and not pending and not campaign.calls.live().exists():
                    upcoming = campaign.tasks.filter(status=CallTask.Status.PENDING).order_by("next_attempt_at").first()
                    if upcoming and upcoming.next_attempt_at > clock:
                        ahead += upcoming.next_attempt_at - clock
                        continue
                    if upcoming:
                        ahead += token  # due, and nothing is live: only the empty bucket holds it back
                if pending:
                    wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)  # a call that ends frees a slot: fill it at once
                else:
                    time.sleep(0.05 if calls else 0.2)


def _place(call_id: int) -> None:
    try:
        place_call(call_id)
    finally:
        # The pool's threads end with the run; their connections must not outlive them.
        connections.close_all()
