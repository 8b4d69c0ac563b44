import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.policy import parse_retry_policy
from newvoice import audit
from newvoice.models import AuditEntry
from newvoice.tenancy import OrganizationQuerySet, OwnedModel
from newvoice.validators import validate_region, validate_timezone
from skillbases.models import Skillbase, SkillbaseVersion

e164_validator = RegexValidator(r"^\+[1-9][0-9]{6,14}$", _("Enter a phone number in E.164 form, e.g. +79123456789."))


def default_calling_days() -> list[int]:
    return [1, 2, 3, 4, 5, 6]  # ISO weekdays, Monday = 1


def default_timezone() -> str:
    return settings.NEWVOICE_DEFAULT_TIMEZONE


def default_region() -> str:
    return settings.NEWVOICE_DEFAULT_REGION


def default_retry_policy() -> dict:
    # Which outcomes are tried again and after how many minutes; anything else is final.
    return {
        "no_answer": {"retry": True, "delay_minutes": 120},
        "busy": {"retry": True, "delay_minutes": 30},
        "failed": {"retry": True, "delay_minutes": 60},
        "lost": {"retry": True, "delay_minutes": 10},
        "voicemail": {"retry": True, "delay_minutes": 240},
    }


class Outcome(models.TextChoices):
    SUCCESS = "success", _("Success")
    REFUSAL = "refusal", _("Refusal")
    CALLBACK_REQUESTED = "callback_requested", _("Callback requested")
    VOICEMAIL = "voicemail", _("Voicemail")
    NO_ANSWER = "no_answer", _("No answer")
    BUSY = "busy", _("Busy")
    DECLINED = "declined", _("Declined")
    INVALID_NUMBER = "invalid_number", _("Invalid number")
    OPTED_OUT = "opted_out", _("Opted out")
    FAILED = "failed", _("Failed")
    LOST = "lost", _("Lost")


# Outcomes that count against a campaign's failure threshold, and those that mean nobody was reached.
FAILURE_OUTCOMES = frozenset({Outcome.FAILED, Outcome.LOST, Outcome.INVALID_NUMBER})
UNREACHED_OUTCOMES = frozenset({Outcome.NO_ANSWER, Outcome.BUSY, Outcome.DECLINED, Outcome.INVALID_NUMBER, Outcome.FAILED, Outcome.LOST})
# What a campaign's audit entry shows of a transition, and the action each new status is.
TRANSITION_FIELDS = ["status", "status_reason", "started_at", "finished_at"]
TRANSITION_ACTIONS = {
    "running": AuditEntry.Action.CAMPAIGN_STARTED,
    "paused": AuditEntry.Action.CAMPAIGN_PAUSED,
    "cancelled": AuditEntry.Action.CAMPAIGN_CANCELLED,
    "completed": AuditEntry.Action.CAMPAIGN_COMPLETED,
}
# A callee who asked to be called back is called back even past max_attempts, a couple of times.
CALLBACK_GRACE_ATTEMPTS = 2
DEFAULT_CALLBACK_DELAY = dt.timedelta(hours=2)


class Campaign(OwnedModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    name = models.CharField(_("name"), max_length=200)
    skillbase = models.ForeignKey(Skillbase, on_delete=models.RESTRICT, related_name="campaigns", verbose_name=_("skillbase"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    status_reason = models.CharField(
        _("status reason"), max_length=500, blank=True, help_text=_("Why the campaign last changed state, e.g. an automatic pause.")
    )
    dialer = models.CharField(_("dialer"), max_length=32, blank=True, help_text=_("Empty: the dialer configured for this installation."))

    # Pacing
    calls_per_minute = models.PositiveIntegerField(_("calls per minute"), default=10, validators=[MinValueValidator(1)])
    max_concurrent_calls = models.PositiveIntegerField(_("max concurrent calls"), default=5, validators=[MinValueValidator(1)])
    rate_tokens = models.FloatField(_("rate tokens"), default=0, editable=False)
    rate_updated_at = models.DateTimeField(_("rate refilled at"), null=True, blank=True, editable=False)

    # When calls may be placed, in each contact's local time
    calling_days = models.JSONField(_("calling days"), default=default_calling_days, help_text=_("ISO weekdays, Monday = 1."))
    calling_window_start = models.TimeField(_("calling window start"), default=dt.time(9, 0))
    calling_window_end = models.TimeField(_("calling window end"), default=dt.time(20, 0))
    default_timezone = models.CharField(
        _("default time zone"),
        max_length=64,
        default=default_timezone,
        validators=[validate_timezone],
        help_text=_("For contacts whose time zone cannot be told from the number."),
    )
    default_region = models.CharField(
        _("default region"),
        max_length=2,
        default=default_region,
        validators=[validate_region],
        help_text=_("Country for numbers written without a country code (ISO 3166, e.g. RU)."),
    )
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)

    # Retries and safety rails
    max_attempts = models.PositiveIntegerField(_("max attempts"), default=3, validators=[MinValueValidator(1)])
    retry_policy = models.JSONField(_("retry policy"), default=default_retry_policy, blank=True)
    budget_cap = models.DecimalField(_("budget cap"), max_digits=12, decimal_places=2, null=True, blank=True)
    spent = models.DecimalField(
        _("spent"), max_digits=14, decimal_places=6, default=0, editable=False, help_text=_("Cost of the calls so far.")
    )
    failure_threshold = models.FloatField(
        _("failure threshold"), default=0.5, help_text=_("Pause when this share of the last calls failed (0-1).")
    )
    failure_window = models.PositiveIntegerField(_("failure window"), default=20, help_text=_("How many last calls count."))

    # Telephony
    caller_id = models.CharField(_("caller id"), max_length=16, blank=True, validators=[e164_validator])
    sip_trunk_id = models.CharField(_("SIP trunk id"), max_length=100, blank=True)

    # Simulator: persona mix {persona: weight} and its seed, for reproducible demo campaigns
    simulator_personas = models.JSONField(_("simulated personas"), default=dict, blank=True)
    simulator_seed = models.PositiveIntegerField(_("simulator seed"), default=0)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("created by")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(failure_threshold__gte=0, failure_threshold__lte=1), name="campaign_failure_threshold_share"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True) | models.Q(starts_at__isnull=True) | models.Q(ends_at__gt=models.F("starts_at")),
                name="campaign_ends_after_start",
            ),
        ]
        indexes = [models.Index(fields=["status"], name="campaign_status_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.skillbase_id and self.organization_id and self.skillbase.organization_id != self.organization_id:
            raise ValidationError({"skillbase": _("The skillbase belongs to another organization.")})
        if self.calling_window_start and self.calling_window_end and self.calling_window_start >= self.calling_window_end:
            raise ValidationError({"calling_window_end": _("The calling window must end after it starts.")})
        if not set(self.calling_days or []) <= set(range(1, 8)) or not self.calling_days:
            raise ValidationError({"calling_days": _("List ISO weekdays from 1 (Monday) to 7 (Sunday).")})
        try:
            parse_retry_policy(self.retry_policy)
        except ValueError as exc:
            raise ValidationError({"retry_policy": str(exc)}) from None

    # Lifecycle. Each transition is one conditional UPDATE, so the admin, the API, the dispatcher
    # and the safety rails never overwrite each other's state change.

    def _move(self, allowed: tuple[str, ...], status: str, reason: str = "", *, user=None, **fields) -> bool:
        # As this copy knew it: the UPDATE stays conditional and unlocked, so the dispatcher is never kept waiting.
        before = {name: getattr(self, name) for name in TRANSITION_FIELDS}
        with transaction.atomic():
            moved = Campaign.objects.filter(pk=self.pk, status__in=allowed).update(status=status, status_reason=reason, **fields) == 1
            if moved:
                self.refresh_from_db(fields=TRANSITION_FIELDS)
                was_paused = before["status"] == self.Status.PAUSED and status == self.Status.RUNNING
                action = AuditEntry.Action.CAMPAIGN_RESUMED if was_paused else TRANSITION_ACTIONS[status]
                changed_before, changed_after = audit.changes(before, {name: getattr(self, name) for name in TRANSITION_FIELDS})
                audit.record(action, self, actor=user, before=changed_before, after=changed_after, reason=self.status_reason)
        return moved

    def start_problems(self) -> list[str]:
        """Why the campaign cannot start (empty when it can)."""
        from campaigns.dialing import get_dialer

        problems = []
        try:
            self.skillbase.parsed_config()
        except ValueError as exc:
            problems.append(_("The skillbase's configuration is invalid: %(error)s") % {"error": exc})
        if self.skillbase.current_version is None:
            problems.append(_("The skillbase has no saved version."))
        if not self.tasks.filter(status=CallTask.Status.PENDING).exists():
            problems.append(_("There is nobody to call: import contacts first."))
        try:
            problems += get_dialer(self.dialer or None).problems(self)
        except ValueError as exc:
            problems.append(str(exc))
        return problems

    def start(self, *, user=None) -> list[str]:
        """Start a draft (or resume a paused) campaign; returns the problems that prevented it."""
        if self.status not in (self.Status.DRAFT, self.Status.PAUSED):
            return [_("Only a draft or paused campaign can start; this one is %(status)s.") % {"status": self.get_status_display()}]
        problems = self.start_problems()
        if problems:
            return problems
        now = timezone.now()
        self._move(
            (self.Status.DRAFT, self.Status.PAUSED), self.Status.RUNNING, user=user, started_at=self.started_at or now, rate_updated_at=now
        )
        return []

    def pause(self, reason: str = "", *, user=None) -> bool:
        """Stop new dials at once; calls in progress finish."""
        return self._move((self.Status.RUNNING,), self.Status.PAUSED, reason or str(_("Paused by an operator.")), user=user)

    def resume(self, *, user=None) -> list[str]:
        if self.status != self.Status.PAUSED:
            return [_("Only a paused campaign can resume.")]
        return self.start(user=user)

    def cancel(self, *, user=None) -> bool:
        """Stop the campaign for good: pending contacts are cancelled; calls in progress finish."""
        with transaction.atomic():
            moved = self._move(
                (self.Status.DRAFT, self.Status.RUNNING, self.Status.PAUSED),
                self.Status.CANCELLED,
                str(_("Cancelled.")),
                user=user,
                finished_at=timezone.now(),
            )
            if moved:
                self.tasks.filter(status=CallTask.Status.PENDING).update(status=CallTask.Status.CANCELLED)
        return moved

    @property
    def budget_spent(self) -> bool:
        return self.budget_cap is not None and self.spent >= self.budget_cap

    def apply_safety_rails(self) -> str:
        """Pause a running campaign whose recent calls mostly fail, or that spent its budget; returns why."""
        if self.status != self.Status.RUNNING:
            return ""
        reason = ""
        if self.budget_spent:
            reason = _("Paused automatically: the budget of %(cap)s is spent (%(spent)s).") % {
                "cap": self.budget_cap,
                "spent": round(self.spent, 2),
            }
        else:
            recent = list(
                self.calls.filter(status=Call.Status.ENDED).order_by("-id").values_list("outcome", flat=True)[: self.failure_window]
            )
            bad = sum(outcome in FAILURE_OUTCOMES for outcome in recent)
            if recent and len(recent) == self.failure_window and bad / len(recent) > self.failure_threshold:
                reason = _(
                    "Paused automatically: %(bad)d of the last %(count)d calls failed, were lost or reached invalid numbers "
                    "(the limit is %(limit)d%%). Check the dialer and the contact list, then resume."
                ) % {"bad": bad, "count": len(recent), "limit": round(self.failure_threshold * 100)}
        if not reason:
            return ""
        # The system's own pause, even when the dialer runs inside a command or a request.
        with audit.door(AuditEntry.Source.SYSTEM):
            return str(reason) if self.pause(str(reason)) else ""

    def complete(self, reason: str) -> bool:
        """End a running (or paused) campaign; contacts still pending are left as they are."""
        with audit.door(AuditEntry.Source.SYSTEM):
            return self._move((self.Status.RUNNING, self.Status.PAUSED), self.Status.COMPLETED, reason, finished_at=timezone.now())

    def complete_if_done(self) -> bool:
        """Complete a running (or paused) campaign when nothing is left to call or in progress."""
        if self.tasks.filter(status__in=[CallTask.Status.PENDING, CallTask.Status.IN_PROGRESS]).exists():
            return False
        return self.complete(str(_("Every contact is done.")))


class CallTaskQuerySet(OrganizationQuerySet):
    def due(self, now: dt.datetime | None = None) -> "CallTaskQuerySet":
        return self.filter(status=CallTask.Status.PENDING, next_attempt_at__lte=now or timezone.now())


class CallTask(OwnedModel):
    """One contact of a campaign to reach; each dial attempt is a ``Call``."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tasks", verbose_name=_("campaign"))
    phone = models.CharField(_("phone"), max_length=16, validators=[e164_validator])
    name = models.CharField(_("name"), max_length=200, blank=True)
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    timezones = models.JSONField(
        _("time zones"),
        default=list,
        blank=True,
        help_text=_("Every zone the number may be in; calls happen when the window is open in all of them."),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    outcome = models.CharField(_("outcome"), max_length=24, choices=Outcome.choices, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True, help_text=_("Fields collected on the last answered call."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = CallTaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("call task")
        verbose_name_plural = _("call tasks")
        ordering = ["campaign", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "phone"], name="calltask_unique_phone")]
        indexes = [
            # Serves the dispatcher's "due pending tasks of a campaign, oldest first" and nothing else,
            # so it stays small: finished tasks drop out of it.
            models.Index(fields=["campaign", "next_attempt_at"], condition=models.Q(status="pending"), name="calltask_due_idx"),
            models.Index(fields=["campaign", "status"], name="calltask_campaign_status_idx"),
            models.Index(fields=["organization", "phone"], name="calltask_org_phone_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.phone} ({self.campaign_id})"

    def after_call(self, outcome: str, *, callback_at: dt.datetime | None, campaign: "Campaign", now: dt.datetime) -> None:
        """Move on after a call: call back when asked, retry by the campaign's policy, or finish."""
        rules = parse_retry_policy(campaign.retry_policy)
        self.outcome = outcome
        if outcome == Outcome.CALLBACK_REQUESTED and self.attempts < campaign.max_attempts + CALLBACK_GRACE_ATTEMPTS:
            self.status = self.Status.PENDING
            self.next_attempt_at = max(callback_at or now + DEFAULT_CALLBACK_DELAY, now)
        elif outcome in rules and rules[outcome].retry and self.attempts < campaign.max_attempts:
            self.status = self.Status.PENDING
            self.next_attempt_at = now + dt.timedelta(minutes=rules[outcome].delay_minutes)
        else:
            self.status = self.Status.FAILED if outcome in UNREACHED_OUTCOMES else self.Status.COMPLETED
        if self.status == self.Status.PENDING and campaign.status in (Campaign.Status.CANCELLED, Campaign.Status.COMPLETED):
            # The campaign ended while this call was live: no later attempt will ever be dialled.
            self.status = self.Status.CANCELLED


class CallQuerySet(OrganizationQuerySet):
    def live(self) -> "CallQuerySet":
        return self.filter(status__in=Call.LIVE_STATUSES)

    def claim_for_dialing(self, call_id: int, owner: str, lease_seconds: int) -> bool:
        """Take a queued call to dial it. Only one worker ever succeeds, however often the task runs."""
        now = timezone.now()
        claimed = self.filter(pk=call_id, status=Call.Status.QUEUED).update(
            status=Call.Status.DIALING, dial_started_at=now, lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=lease_seconds)
        )
        return claimed == 1

    def renew_lease(self, call_id: int, owner: str, seconds: int) -> bool:
        expires = timezone.now() + dt.timedelta(seconds=seconds)
        return self.live().filter(pk=call_id, lease_owner=owner).update(lease_expires_at=expires) == 1

    def mark_answered(self, call_id: int, **fields) -> bool:
        return (
            self.filter(pk=call_id, status=Call.Status.DIALING).update(status=Call.Status.IN_PROGRESS, answered_at=timezone.now(), **fields)
            == 1
        )


class Call(OwnedModel):
    """One dial attempt of a task. A task never has two live calls (a partial unique constraint)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        DIALING = "dialing", _("Dialing")
        IN_PROGRESS = "in_progress", _("In progress")
        ENDED = "ended", _("Ended")

    LIVE_STATUSES = (Status.QUEUED, Status.DIALING, Status.IN_PROGRESS)

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="calls", verbose_name=_("campaign"))
    task = models.ForeignKey(CallTask, on_delete=models.CASCADE, related_name="calls", verbose_name=_("task"))
    attempt = models.PositiveIntegerField(_("attempt"))
    skillbase_version = models.ForeignKey(
        SkillbaseVersion, on_delete=models.RESTRICT, related_name="calls", verbose_name=_("skillbase version")
    )
    phone = models.CharField(_("phone"), max_length=16)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    outcome = models.CharField(_("outcome"), max_length=24, choices=Outcome.choices, blank=True)
    dialer = models.CharField(_("dialer"), max_length=32)
    is_simulated = models.BooleanField(_("simulated"), default=False)
    persona = models.CharField(_("simulated persona"), max_length=32, blank=True)
    room_name = models.CharField(_("room"), max_length=128, blank=True)
    sip_call_id = models.CharField(_("SIP call id"), max_length=128, blank=True)
    sip_status_code = models.PositiveIntegerField(_("SIP status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    collected = models.JSONField(_("collected fields"), default=dict, blank=True)
    callback_at = models.DateTimeField(_("callback at"), null=True, blank=True)
    last_step = models.CharField(_("last step"), max_length=64, blank=True)
    lease_owner = models.CharField(_("lease owner"), max_length=128, blank=True)
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("queued"), auto_now_add=True)
    dial_started_at = models.DateTimeField(_("dialing since"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)

    objects = CallQuerySet.as_manager()

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["task", "attempt"], name="call_unique_attempt"),
            models.UniqueConstraint(
                fields=["task"], condition=models.Q(status__in=["queued", "dialing", "in_progress"]), name="call_one_live_per_task"
            ),
            models.CheckConstraint(condition=models.Q(status="ended") | models.Q(outcome=""), name="call_outcome_only_when_ended"),
        ]
        indexes = [
            # The reaper's scan: live calls by lease expiry; ended calls (almost all) are not indexed.
            models.Index(
                fields=["lease_expires_at"], condition=models.Q(status__in=["queued", "dialing", "in_progress"]), name="call_live_lease_idx"
            ),
            models.Index(fields=["campaign", "status"], name="call_campaign_status_idx"),
            models.Index(fields=["organization", "-created_at"], name="call_org_created_idx"),
            # The safety rail's "last N calls of the campaign".
            models.Index(fields=["campaign", "-id"], name="call_campaign_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"Call {self.pk} to {self.phone} (attempt {self.attempt})"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def duration(self) -> dt.timedelta | None:
        if self.answered_at and self.ended_at:
            return self.ended_at - self.answered_at
        return None


class DoNotCallEntry(OwnedModel):
    """A number the organization must never call."""

    class Source(models.TextChoices):
        MANUAL = "manual", _("Added by hand")
        IMPORT = "import", _("Imported")
        API = "api", _("API")
        OPT_OUT = "opt_out", _("Callee opted out")

    phone = models.CharField(_("phone"), max_length=16, validators=[e164_validator])
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("added by")
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("do-not-call entry")
        verbose_name_plural = _("do-not-call list")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["organization", "phone"], name="dnc_unique_phone")]

    def __str__(self) -> str:
        return self.phone


class ContactImport(OwnedModel):
    """A contact file imported in the background, with progress the admin and API show."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="imports", verbose_name=_("campaign"))
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    filename = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size, bytes"), default=0)
    region = models.CharField(_("region"), max_length=2, blank=True)
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_processed = models.PositiveIntegerField(_("rows processed"), default=0)
    bytes_processed = models.PositiveBigIntegerField(_("bytes processed"), default=0)
    report = models.JSONField(_("report"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("uploaded by")
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact import")
        verbose_name_plural = _("contact imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} → {self.campaign_id}"

    def claim(self) -> bool:
        """Take the import for this worker; False when another one has it or it is finished."""
        claimed = ContactImport.objects.filter(pk=self.pk, status=self.Status.QUEUED).update(
            status=self.Status.RUNNING, started_at=timezone.now()
        )
        return claimed == 1

    def record_progress(self, rows: int, bytes_read: int) -> None:
        ContactImport.objects.filter(pk=self.pk).update(rows_processed=rows, bytes_processed=bytes_read)

    def finish(self, report: dict) -> None:
        self.status = self.Status.FAILED if report.get("file_error") else self.Status.DONE
        self.report, self.rows_processed, self.finished_at = report, report.get("total", 0), timezone.now()
        self.save(update_fields=["status", "report", "rows_processed", "finished_at"])

    @property
    def progress(self) -> float:
        """Share of the file read, 0..1."""
        if self.status == self.Status.DONE:
            return 1.0
        return min(self.bytes_processed / self.size, 1.0) if self.size else 0.0
