"""django-q2 tasks of the campaigns app: they take ids, and running one twice is harmless. (The
background contact import is ``campaigns.contacts.importing.run_contact_import``.)"""

import logging

from campaigns.actions import finish_call
from campaigns.contacts.importing import run_contact_import  # noqa: F401 (imports queued before it moved)
from campaigns.dialers import get_dialer
from campaigns.leases import Lease, lease_seconds, worker_name
from campaigns.models import Call, Outcome

logger = logging.getLogger(__name__)


def place_call(call_id: int) -> None:
    """Dial one call. Runs at most once per call, however often django-q2 delivers the task:
    only the worker that moves the call from queued to dialing places it."""
    call = Call.objects.select_related("campaign", "task").filter(pk=call_id).first()
    if call is None:
        return
    owner = worker_name()
    if not Call.objects.claim_for_dialing(call_id, owner, lease_seconds()):
        return
    try:
        get_dialer(call.dialer).place(call, Lease(call_id, owner))
    except Exception as exc:  # any failure of the dialer ends the call as failed, never leaves it live
        logger.exception("Placing call %s failed", call_id)
        finish_call(call_id, outcome=Outcome.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
