"""How a call ended: the one enumeration of outcomes, used by a flow's end steps, the call, its
contact, the retry policy, metrics, reports and the simulator. It lives in the lowest app that
needs it (a skillbase's flow names the outcomes its end steps report)."""

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
    # The callee answered but gave nothing the bot could use (silence, or nothing understood):
    # retried by the policy, never counted as a failure of the engine.
    NO_RESPONSE = "no_response", _("No response")
    WRONG_NUMBER = "wrong_number", _("Wrong number")
    HUMAN_REQUESTED = "human_requested", _("Asked for a person")
    OTHER_LANGUAGE = "other_language", _("Speaks another language")
    FAILED = "failed", _("Failed")
    LOST = "lost", _("Lost")


# What a flow's end step may report; the rest come from the line (unanswered) or the engine (lost).
FLOW_OUTCOMES = tuple(
    outcome.value
    for outcome in (
        Outcome.SUCCESS,
        Outcome.REFUSAL,
        Outcome.CALLBACK_REQUESTED,
        Outcome.OPTED_OUT,
        Outcome.VOICEMAIL,
        Outcome.NO_RESPONSE,
        Outcome.WRONG_NUMBER,
        Outcome.HUMAN_REQUESTED,
        Outcome.OTHER_LANGUAGE,
        Outcome.FAILED,
    )
)
# Outcomes that count against a campaign's failure threshold, and those that mean nobody was reached.
FAILURE_OUTCOMES = frozenset({Outcome.FAILED, Outcome.LOST, Outcome.INVALID_NUMBER})
UNREACHED_OUTCOMES = frozenset({Outcome.NO_ANSWER, Outcome.BUSY, Outcome.DECLINED, Outcome.INVALID_NUMBER, Outcome.FAILED, Outcome.LOST})
# A retry policy may retry these; the others are final (the contact answered, or cannot be reached).
RETRYABLE = tuple(
    outcome.value
    for outcome in (Outcome.NO_ANSWER, Outcome.BUSY, Outcome.FAILED, Outcome.LOST, Outcome.VOICEMAIL, Outcome.DECLINED, Outcome.NO_RESPONSE)
)

# One colour per outcome, wherever outcomes are drawn (the dashboard, the flow's graph).
OUTCOME_COLORS = {
    Outcome.SUCCESS: "#2e7d32",
    Outcome.CALLBACK_REQUESTED: "#1e88e5",
    Outcome.REFUSAL: "#e53935",
    Outcome.OPTED_OUT: "#ad1457",
    Outcome.VOICEMAIL: "#8e24aa",
    Outcome.NO_ANSWER: "#9e9e9e",
    Outcome.BUSY: "#fbc02d",
    Outcome.DECLINED: "#fb8c00",
    Outcome.INVALID_NUMBER: "#6d4c41",
    Outcome.NO_RESPONSE: "#bdbdbd",
    Outcome.WRONG_NUMBER: "#8d6e63",
    Outcome.HUMAN_REQUESTED: "#00897b",
    Outcome.OTHER_LANGUAGE: "#5c6bc0",
    Outcome.FAILED: "#b71c1c",
    Outcome.LOST: "#546e7a",
}
