"""The campaigns app's models, one module per sub-domain."""

from campaigns.models.call import Call, CallLog, CallLogQuerySet, CallQuerySet
from campaigns.models.call_task import CALLBACK_GRACE_ATTEMPTS, DEFAULT_CALLBACK_DELAY, CallTask, CallTaskQuerySet
from campaigns.models.campaign import (
    TRANSITION_ACTIONS,
    TRANSITION_FIELDS,
    Campaign,
    default_calling_days,
    default_region,
    default_retry_policy,
    default_timezone,
    e164_validator,
)
from campaigns.models.contact_lists import ContactImport, DoNotCallEntry
from campaigns.models.outcomes import FAILURE_OUTCOMES, UNREACHED_OUTCOMES, Outcome
from campaigns.models.recording import CallRecording, CallRecordingQuerySet

__all__ = [
    "CALLBACK_GRACE_ATTEMPTS",
    "DEFAULT_CALLBACK_DELAY",
    "FAILURE_OUTCOMES",
    "TRANSITION_ACTIONS",
    "TRANSITION_FIELDS",
    "UNREACHED_OUTCOMES",
    "Call",
    "CallLog",
    "CallLogQuerySet",
    "CallQuerySet",
    "CallRecording",
    "CallRecordingQuerySet",
    "CallTask",
    "CallTaskQuerySet",
    "Campaign",
    "ContactImport",
    "DoNotCallEntry",
    "Outcome",
    "default_calling_days",
    "default_region",
    "default_retry_policy",
    "default_timezone",
    "e164_validator",
]
