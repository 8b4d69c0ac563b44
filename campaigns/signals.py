"""Signals other apps listen to (analytics measures a call without campaigns depending on it)."""

from django.dispatch import Signal

# Sent inside finish_call's transaction, once, when a call has ended: call=<Call>.
call_finished = Signal()
