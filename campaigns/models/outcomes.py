"""How a call ended: one enumeration, used by the call, its contact, metrics and reports."""

from django.db import models
from django.utils.translation import gettext_lazy as _


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
