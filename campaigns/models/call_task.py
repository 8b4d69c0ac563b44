"""A contact of a campaign to reach, and how it moves on after each call."""

import datetime as dt

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models.campaign import Campaign, e164_validator
from campaigns.models.outcomes import UNREACHED_OUTCOMES, Outcome
from tenancy.scoping import OrganizationQuerySet, OwnedModel

# A callee who asked to be called back is called back even past max_attempts, a couple of times.
CALLBACK_GRACE_ATTEMPTS = 2
DEFAULT_CALLBACK_DELAY = dt.timedelta(hours=2)


class CallTaskQuerySet(OrganizationQuerySet):
    def pending(self) -> "CallTaskQuerySet":
        return self.filter(status=CallTask.Status.PENDING)

    def open(self) -> "CallTaskQuerySet":
        """Contacts not done yet: waiting for a call, or on one."""
        return self.filter(status__in=[CallTask.Status.PENDING, CallTask.Status.IN_PROGRESS])

    def due(self, now: dt.datetime | None = None) -> "CallTaskQuerySet":
        return self.pending().filter(next_attempt_at__lte=now or timezone.now())

    def cancel_pending(self) -> int:
        """Cancel the contacts still waiting for a call (a call in progress finishes); returns how many."""
        return self.pending().update(status=CallTask.Status.CANCELLED, updated_at=timezone.now())


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
    # The contact's other numbers, best first (a CRM export's landline behind the mobile): an attempt
    # that does not reach the contact moves the next one to the number dialled.
    other_phones = models.JSONField(_("other numbers"), default=list, blank=True)
    dial_index = models.PositiveSmallIntegerField(_("number dialled next"), default=0, help_text=_("0 is the main number."))
    # Numbers where the callee said the contact is not to be reached there: never dialled again for them.
    wrong_phones = models.JSONField(_("wrong numbers"), default=list, blank=True)
    source_row = models.PositiveIntegerField(_("row of the contact file"), null=True, blank=True)
    imported_at = models.DateTimeField(_("imported"), null=True, blank=True)  # one time per import: which file a row came from
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

    @property
    def numbers(self) -> list[str]:
        return [self.phone, *self.other_phones]

    @property
    def number_to_dial(self) -> str:
        numbers = self.numbers
        return numbers[self.dial_index % len(numbers)]

    def _next_right_number(self) -> bool:
        """Move ``dial_index`` to the next number not known to be wrong; False when none is left."""
        numbers = self.numbers
        for step in range(1, len(numbers) + 1):
            index = (self.dial_index + step) % len(numbers)
            if numbers[index] not in self.wrong_phones:
                self.dial_index = index
                return True
        return False

    def after_call(self, outcome: str, *, callback_at: dt.datetime | None, campaign: "Campaign", now: dt.datetime) -> None:
        """Move on after a call: call back when asked, retry by the campaign's policy (on the contact's
        next number when this one did not reach them), or finish."""
        rules = campaign.retry_rules()
        self.outcome = outcome
        another_number = False
        if outcome == Outcome.WRONG_NUMBER:
            self.wrong_phones = [*self.wrong_phones, self.number_to_dial]
            another_number = self._next_right_number()
        elif outcome in UNREACHED_OUTCOMES and self.other_phones:
            self._next_right_number()
        if outcome == Outcome.WRONG_NUMBER:
            if another_number and self.attempts < campaign.max_attempts:
                self.status = self.Status.PENDING  # someone else's number: the contact's next one, straight away
                self.next_attempt_at = now
            else:
                self.status = self.Status.COMPLETED
        elif outcome == Outcome.CALLBACK_REQUESTED and self.attempts < campaign.max_attempts + CALLBACK_GRACE_ATTEMPTS:
            self.status = self.Status.PENDING
            self.next_attempt_at = max(callback_at or now + DEFAULT_CALLBACK_DELAY, now)
        elif outcome in rules and rules[outcome].retry and self.attempts < campaign.max_attempts:
            self.status = self.Status.PENDING
            self.next_attempt_at = now + dt.timedelta(minutes=rules[outcome].delay_minutes)
        elif outcome == Outcome.INVALID_NUMBER and self.other_phones and self.attempts < campaign.max_attempts:
            self.status = self.Status.PENDING  # that number does not exist: the next one, straight away
            self.next_attempt_at = now
        else:
            self.status = self.Status.FAILED if outcome in UNREACHED_OUTCOMES else self.Status.COMPLETED
        if self.status == self.Status.PENDING and campaign.status in (Campaign.Status.CANCELLED, Campaign.Status.COMPLETED):
            # The campaign ended while this call was live: no later attempt will ever be dialled.
            self.status = self.Status.CANCELLED
