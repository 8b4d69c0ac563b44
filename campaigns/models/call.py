"""A call (one dial attempt of a contact) and its ordered event log, pushed live as it is written.

The call's end is written by ``campaigns.actions.finish_call`` only, with its ``call_ended`` event
in the same transaction, so a watcher never sees one without the other.
"""

import datetime as dt
from functools import partial

from django.db import IntegrityError, models, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns import push
from campaigns.models.call_task import CallTask
from campaigns.models.campaign import Campaign
from campaigns.models.outcomes import Outcome
from skillbases.models import SkillbaseVersion
from tenancy.scoping import OrganizationQuerySet, OwnedModel


class CallQuerySet(OrganizationQuerySet):
    def live(self) -> "CallQuerySet":
        return self.filter(status__in=Call.LIVE_STATUSES)

    def ended(self) -> "CallQuerySet":
        return self.filter(status=Call.Status.ENDED)

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
    unmeasured_reason = models.CharField(
        _("not measured because"), max_length=500, blank=True, help_text=_("Why the call's metrics and cost could not be recorded.")
    )
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
        return _("Call %(id)s to %(phone)s (attempt %(attempt)s)") % {"id": self.pk, "phone": self.phone, "attempt": self.attempt}

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    @property
    def duration(self) -> dt.timedelta | None:
        if self.answered_at and self.ended_at:
            return self.ended_at - self.answered_at
        return None


class CallLogQuerySet(OrganizationQuerySet):
    def append(self, call: Call, kind: str, *, role: str = "", text: str = "", data: dict | None = None) -> "CallLog":
        return self.append_many(call, [(kind, role, text, data or {})])[0]

    def append_many(self, call: Call, events: list[tuple[str, str, str, dict]]) -> list["CallLog"]:
        """Add the call's next events, numbered in order. The agent, the dialer and the reaper may
        all write to one call, so the sequence is taken optimistically and retried if another
        writer took a number first; one transaction for the whole batch."""
        offset = max(int((timezone.now() - call.created_at).total_seconds() * 1000), 0)
        for _attempt in range(5):
            top = self.filter(call=call).aggregate(top=Max("seq"))["top"] or 0
            rows = [
                CallLog(
                    organization_id=call.organization_id,
                    campaign_id=call.campaign_id,
                    call=call,
                    seq=top + i,
                    kind=kind,
                    role=role,
                    text=text,
                    data=data,
                    offset_ms=offset,
                )  # fmt: skip
                for i, (kind, role, text, data) in enumerate(events, start=1)
            ]
            try:
                with transaction.atomic():
                    created = self.bulk_create(rows)
            except IntegrityError:
                continue
            # Watchers of the call and its campaign get the events once they are committed.
            transaction.on_commit(partial(push.publish, created))
            return created
        raise RuntimeError(f"Could not append events to call {call.pk}: the sequence kept being taken.")


class CallLog(OwnedModel):
    """One event of a call, in order: transcript lines, state changes, tool calls, errors."""

    class Kind(models.TextChoices):
        CALL_STARTED = "call_started", _("Call started")
        ANSWERED = "answered", _("Answered")
        TRANSCRIPT = "transcript", _("Transcript")
        STATE = "state", _("State change")
        STEP = "step", _("Step change")
        TOOL_CALL = "tool_call", _("Tool call")
        INTERRUPTION = "interruption", _("Interruption")
        METRICS = "metrics", _("Turn metrics")
        ERROR = "error", _("Error")
        CALL_ENDED = "call_ended", _("Call ended")

    class Role(models.TextChoices):
        USER = "user", _("Callee")
        ASSISTANT = "assistant", _("Bot")
        SYSTEM = "system", _("System")

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="logs", verbose_name=_("call"))
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", verbose_name=_("campaign"))
    seq = models.PositiveIntegerField(_("sequence"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, blank=True)
    text = models.TextField(_("text"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    offset_ms = models.PositiveIntegerField(_("offset"), default=0, help_text=_("Milliseconds since the call was queued."))
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        # The table keeps the name it had when analytics owned the log: moving the model moved no rows.
        db_table = "analytics_calllog"
        verbose_name = _("call event")
        verbose_name_plural = _("call events")
        ordering = ["call", "seq"]
        constraints = [models.UniqueConstraint(fields=["call", "seq"], name="calllog_unique_seq")]
        # A campaign's live stream resumes "after event id N" of that campaign.
        indexes = [models.Index(fields=["campaign", "id"], name="calllog_campaign_id_idx")]

    objects = CallLogQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.call_id}#{self.seq} {self.kind}"
