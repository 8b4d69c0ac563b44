"""A campaign: whom it calls with which skillbase, when, how fast, and its lifecycle."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.dialers import get_dialer
from campaigns.models.outcomes import FAILURE_OUTCOMES
from campaigns.policy import parse_retry_policy
from skillbases.models import Skillbase
from skillbases.tasks import failing_tests
from tenancy import audit
from tenancy.models import AuditEntry, Role
from tenancy.scoping import OwnedModel, has_role
from tenancy.validators import validate_region, validate_timezone

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
        "no_response": {"retry": True, "delay_minutes": 180},
    }


# What a campaign's audit entry shows of a transition, and the action each new status is.
TRANSITION_FIELDS = ["status", "status_reason", "started_at", "finished_at"]
TRANSITION_ACTIONS = {
    "running": AuditEntry.Action.CAMPAIGN_STARTED,
    "paused": AuditEntry.Action.CAMPAIGN_PAUSED,
    "cancelled": AuditEntry.Action.CAMPAIGN_CANCELLED,
    "completed": AuditEntry.Action.CAMPAIGN_COMPLETED,
}


# Dates a campaign may start or end at: beyond these the calling-window arithmetic overflows.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _weekdays(days) -> bool:
    """A non-empty list of ISO weekday numbers (whole numbers, not true/false)."""
    return (
        isinstance(days, list) and bool(days) and all(isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 7 for day in days)
    )


def _persona_mix(mix) -> bool:
    """{persona name: weight} with weights of 0 or more (the dialer checks the names it knows)."""
    return isinstance(mix, dict) and all(
        isinstance(name, str) and isinstance(weight, int | float) and not isinstance(weight, bool) and 0 <= weight < 1e9
        for name, weight in mix.items()
    )


class Campaign(OwnedModel):
    # What an operator can do to a campaign, and how each door says it did not happen.
    CONTROLS = {
        "start": _("The campaign cannot start."),
        "pause": _("The campaign cannot be paused."),
        "resume": _("The campaign cannot resume."),
        "cancel": _("The campaign cannot be cancelled."),
    }

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
    budget_cap = models.DecimalField(
        _("budget cap"), max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0.01"))]
    )
    spent = models.DecimalField(
        _("spent"), max_digits=14, decimal_places=6, default=0, editable=False, help_text=_("Cost of the calls so far.")
    )
    failure_threshold = models.FloatField(
        _("failure threshold"),
        default=0.5,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("Pause when this share of the last calls failed (0-1)."),
    )
    failure_window = models.PositiveIntegerField(
        _("failure window"), default=20, validators=[MinValueValidator(1)], help_text=_("How many last calls count.")
    )

    # Telephony
    caller_id = models.CharField(_("caller id"), max_length=16, blank=True, validators=[e164_validator])
    sip_trunk_id = models.CharField(_("SIP trunk id"), max_length=100, blank=True)

    # Simulator: persona mix {persona: weight} and its seed, for reproducible demo campaigns
    simulator_personas = models.JSONField(_("simulated personas"), default=dict, blank=True)
    simulator_seed = models.PositiveIntegerField(_("simulator seed"), default=0)
    simulator_audio = models.BooleanField(
        _("simulated calls speak"),
        default=False,
        help_text=_(
            "Simulated callees talk to the bot by voice, at real time, through the skillbase's speech providers, and each "
            "call is recorded. Off: text, as fast as the simulator speed allows."
        ),
    )

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
        """Every rule a campaign's settings must keep, for every door (the admin's form, the API's
        serializer, ``start``): each problem under its field's name."""
        problems = {}
        if self.skillbase_id and self.organization_id and self.skillbase.organization_id != self.organization_id:
            problems["skillbase"] = _("The skillbase belongs to another organization.")
        if self.calling_window_start and self.calling_window_end and self.calling_window_start >= self.calling_window_end:
            problems["calling_window_end"] = _("The calling window must end after it starts, on the same day.")
        if not _weekdays(self.calling_days):
            problems["calling_days"] = _("List ISO weekdays from 1 (Monday) to 7 (Sunday), e.g. [1, 2, 3, 4, 5].")
        try:
            parse_retry_policy(self.retry_policy)
        except ValueError as exc:
            problems["retry_policy"] = str(exc)
        if not _persona_mix(self.simulator_personas):
            problems["simulator_personas"] = _('Give each simulated persona a weight of 0 or more, e.g. {"agree": 3, "refuse": 1}.')
        for name in ("starts_at", "ends_at"):
            moment = getattr(self, name)
            if moment is not None and not FIRST_YEAR <= moment.year <= LAST_YEAR:
                problems[name] = _("Give a date between %(first)d and %(last)d.") % {
                    "first": FIRST_YEAR,
                    "last": LAST_YEAR,
                }
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at and "ends_at" not in problems:
            problems["ends_at"] = _("The campaign must end after it starts.")
        if problems:
            raise ValidationError(problems)

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
                AuditEntry.objects.record(action, self, actor=user, before=changed_before, after=changed_after, reason=self.status_reason)
        return moved

    def start_problems(self, *, tests: bool = True) -> list[str]:
        """Why the campaign cannot start (empty when it can). ``tests``: the skillbase version's
        test conversations must pass (run now if they have not run yet)."""
        problems = []
        try:
            self.clean()
        except ValidationError as exc:
            problems += [f"{name}: {message}" for name, messages in exc.message_dict.items() for message in messages]
        if self.ends_at and self.ends_at <= timezone.now():
            problems.append(_("The campaign's end date has passed: set a later one."))
        try:
            self.skillbase.parsed_config()
        except ValueError as exc:
            problems.append(_("The skillbase's configuration is invalid: %(error)s") % {"error": exc})
        version = self.skillbase.current_version
        if version is None:
            problems.append(_("The skillbase has no saved version."))
        elif tests and not problems:
            problems += failing_tests(version)
        if not self.tasks.pending().exists():
            problems.append(_("There is nobody to call: import contacts first."))
        try:
            problems += get_dialer(self.dialer or None).problems(self)
        except ValueError as exc:
            problems.append(str(exc))
        return problems

    def start(self, *, user=None, override_tests: bool = False) -> list[str]:
        """Start a draft (or resume a paused) campaign; returns the problems that prevented it.
        ``override_tests``: an organization's admin starts it although the skillbase version's
        test conversations fail; the failures go to the audit log."""
        if self.status not in (self.Status.DRAFT, self.Status.PAUSED):
            return [self._refusal(_("Only a draft or paused campaign can start; this one is %(status)s."))]
        problems = self.start_problems(tests=not override_tests)
        if problems:
            return problems
        failing = failing_tests(self.skillbase.current_version) if override_tests else []
        if failing and not has_role(user, self.organization_id, Role.ADMIN):
            return [str(_("Only an admin of the organization may start a campaign whose test conversations fail.")), *failing]
        now = timezone.now()
        started = self._move(
            (self.Status.DRAFT, self.Status.PAUSED), self.Status.RUNNING, user=user, started_at=self.started_at or now, rate_updated_at=now
        )
        if not started:  # another door moved it first: nothing was changed here
            self.refresh_from_db(fields=TRANSITION_FIELDS)
            return [self._refusal(_("Only a draft or paused campaign can start; this one is %(status)s."))]
        if failing:
            version = self.skillbase.current_version
            AuditEntry.objects.record(
                AuditEntry.Action.TESTS_OVERRIDDEN,
                self,
                actor=user,
                after={"skillbase": self.skillbase_id, "version": version.version, "failures": [str(line) for line in failing]},
                reason=str(failing[0]),
            )
        return []

    def pause(self, reason: str = "", *, user=None) -> bool:
        """Stop new dials at once; calls in progress finish."""
        return self._move((self.Status.RUNNING,), self.Status.PAUSED, reason or str(_("Paused by an operator.")), user=user)

    def resume(self, *, user=None, override_tests: bool = False) -> list[str]:
        if self.status != self.Status.PAUSED:
            return [self._refusal(_("Only a paused campaign can resume; this one is %(status)s."))]
        return self.start(user=user, override_tests=override_tests)

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
                self.tasks.cancel_pending()
        return moved

    def control(self, verb: str, *, user=None, override_tests: bool = False) -> list[str]:
        """Start, pause, resume or cancel (``CONTROLS``) as an operator asked, through any door;
        returns why it did not happen (empty when it did)."""
        if verb not in self.CONTROLS:
            raise ValueError(f"Unknown campaign control '{verb}'; known: {', '.join(self.CONTROLS)}.")
        if verb in ("start", "resume"):
            moved = (
                self.start(user=user, override_tests=override_tests)
                if verb == "start"
                else self.resume(user=user, override_tests=override_tests)
            )
            return [str(problem) for problem in moved]
        if self.pause(user=user) if verb == "pause" else self.cancel(user=user):
            return []
        self.refresh_from_db(fields=TRANSITION_FIELDS)
        if verb == "pause":
            return [self._refusal(_("Only a running campaign can be paused; this one is %(status)s."))]
        return [self._refusal(_("Only a draft, running or paused campaign can be cancelled; this one is %(status)s."))]

    def _refusal(self, message) -> str:
        return str(message % {"status": self.get_status_display()})

    def _broken_policy(self) -> str:
        try:
            parse_retry_policy(self.retry_policy)
        except ValueError as exc:
            return _("Paused automatically: the retry policy is invalid (%(error)s). Fix it, then resume.") % {"error": exc}
        return ""

    def retry_rules(self) -> dict:
        """The retry policy by outcome. A policy that does not parse (written before every door
        checked it) gives the default one, so a call still ends and its contact moves on; the
        safety rails pause the campaign until someone fixes it."""
        try:
            return parse_retry_policy(self.retry_policy)
        except ValueError:
            return parse_retry_policy(default_retry_policy())

    def deletion_problem(self) -> str:
        """Why the campaign cannot be deleted ("" when it can). Every door that deletes asks this first."""
        if self.status == self.Status.RUNNING:
            return str(_("A running campaign cannot be deleted: pause or cancel it first."))
        return ""

    def add_spend(self, amount: Decimal) -> str:
        """Add what a call cost to the campaign's spend, then apply the safety rails right away, in
        the caller's transaction; returns why the campaign paused, if it did. Only this writes the spend."""
        if amount:
            Campaign.objects.filter(pk=self.pk).update(spent=models.F("spent") + amount)
        self.refresh_from_db(fields=["status", "spent"])
        return self.apply_safety_rails()

    @property
    def budget_spent(self) -> bool:
        return self.budget_cap is not None and self.spent >= self.budget_cap

    def apply_safety_rails(self) -> str:
        """Pause a running campaign whose retry policy is broken, whose recent calls mostly fail, or
        that spent its budget; returns why."""
        if self.status != self.Status.RUNNING:
            return ""
        reason = self._broken_policy()
        if not reason and self.budget_spent:
            reason = _("Paused automatically: the budget of %(cap)s is spent (%(spent)s).") % {
                "cap": self.budget_cap,
                "spent": round(self.spent, 2),
            }
        elif not reason:
            recent = list(self.calls.ended().order_by("-id").values_list("outcome", flat=True)[: self.failure_window])
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
        if self.tasks.open().exists():
            return False
        return self.complete(str(_("Every contact is done.")))
