"""The ``livekit`` dialer: a real phone call through a LiveKit server and its SIP trunk.

It creates the call's room, dispatches the voice agent into it with the call id, then dials with
``CreateSIPParticipant`` and waits for the answer. Once answered, the agent job owns the call and
its lease; a call that is not answered ends here with the outcome its SIP status means, and its
room is deleted so the agent job waiting in it ends too.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from livekit import api

from campaigns.actions import finish_call
from campaigns.dialers import Dialer
from campaigns.leases import Lease
from campaigns.models import Call, Outcome
from skillbases.schemas import ConfigError
from voiceagent.providers import missing_keys

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds any request may take; the dial may take this much longer than the ringing. We bound them
# ourselves: livekit-api 1.2.2 sends each request with ``timeout=None``, which turns off the session's.
REQUEST_TIMEOUT = 10
# An empty room outlives the ringing by this much, so the agent has time to join it.
ROOM_GRACE_SECONDS = 30

# What a SIP final response to the INVITE says about the contact. Any other code is a failure.
SIP_OUTCOMES: dict[int, str] = {
    486: Outcome.BUSY,  # Busy Here
    600: Outcome.BUSY,  # Busy Everywhere
    480: Outcome.NO_ANSWER,  # Temporarily Unavailable: switched off, out of coverage
    408: Outcome.NO_ANSWER,  # Request Timeout
    603: Outcome.DECLINED,  # Decline
    403: Outcome.DECLINED,  # Forbidden
    607: Outcome.DECLINED,  # Unwanted
    608: Outcome.DECLINED,  # Rejected
    404: Outcome.INVALID_NUMBER,  # Not Found
    484: Outcome.INVALID_NUMBER,  # Address Incomplete
    410: Outcome.INVALID_NUMBER,  # Gone: the number is no longer in service
    604: Outcome.INVALID_NUMBER,  # Does Not Exist Anywhere
}


@dataclass(frozen=True)
class Ending:
    """How a dial that got no conversation ends the call."""

    outcome: str
    error: str
    sip_status_code: int | None = None


def agent_lease(call_id: int) -> Lease:
    """The agent job's hold on an answered call: the dialer hands the lease over to this owner."""
    return Lease(call_id, f"agent:{call_id}")


@contextlib.asynccontextmanager
async def keep_lease(lease: Lease) -> AsyncIterator[None]:
    """Renew ``lease`` in the background for as long as the block runs."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease.seconds / 3)
            if not await sync_to_async(lease.renew)():
                logger.info("Call %s is not held by %s (yet, or any more)", lease.call_id, lease.owner)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def sip_ending(exc: api.ServerError, *, ringing_timeout: int) -> Ending | None:
    """The ending a failed ``CreateSIPParticipant`` means, or None when the error is not the call's."""
    if isinstance(exc, api.SipCallError) and exc.sip_status_code:
        code = exc.sip_status_code
        return Ending(SIP_OUTCOMES.get(code, Outcome.FAILED), str(exc), code)
    # Ringing timed out: the server cancels the INVITE and answers without any SIP status.
    if exc.code in ("canceled", "failed_precondition") and "sip_status_code" not in exc.metadata:
        return Ending(Outcome.NO_ANSWER, f"No answer within {ringing_timeout} s ({exc.code}: {exc.message}).")
    return None


def server_ending(exc: Exception, url: str) -> Ending:
    """A failure of the LiveKit server itself: unreachable, or refusing our requests."""
    if isinstance(exc, api.ServerError):
        hint = " Check LIVEKIT_API_KEY and LIVEKIT_API_SECRET." if exc.code in ("unauthenticated", "permission_denied") else ""
        return Ending(Outcome.FAILED, f"LiveKit at {url} refused the request ({exc.code}, HTTP {exc.status}): {exc.message}.{hint}")
    reason = str(exc) or "the server did not respond in time"
    return Ending(Outcome.FAILED, f"Could not reach LiveKit at {url}: {reason}.")


class LiveKitDialer(Dialer):
    name = "livekit"

    def problems(self, campaign) -> list[str]:
        problems = []
        if not settings.LIVEKIT_URL:
            problems.append(_("Set LIVEKIT_URL to the address of the LiveKit server (wss://…)."))
        if not settings.LIVEKIT_API_KEY:
            problems.append(_("Set LIVEKIT_API_KEY to an API key of the LiveKit server."))
        if not settings.LIVEKIT_API_SECRET:
            problems.append(_("Set LIVEKIT_API_SECRET to the secret of that API key."))
        if not campaign.sip_trunk_id:
            problems.append(_("Set the campaign's SIP trunk id to an outbound trunk of the LiveKit server (ST_…)."))
        try:
            names = missing_keys(campaign.skillbase.parsed_config(), voice=True)
        except ConfigError:
            names = []  # the campaign's own start check reports the configuration
        if names:
            # The agent workers need these too; checked here so a campaign never starts to fail on every call.
            problems.append(
                _("The skillbase's speech and language providers need %(names)s in the environment.") % {"names": ", ".join(names)}
            )
        return problems

    def place(self, call: Call, lease: Lease) -> None:
        if problems := self.problems(call.campaign):
            finish_call(call.pk, outcome=Outcome.FAILED, error=" ".join(problems))
            return
        call.room_name = f"call-{call.pk}"
        Call.objects.filter(pk=call.pk).update(room_name=call.room_name)
        # async_to_sync, not asyncio.run: the ORM calls inside then run on this thread and its connection.
        ending = async_to_sync(self._dial)(call, lease)
        if ending is not None:
            finish_call(call.pk, outcome=ending.outcome, error=ending.error, sip_status_code=ending.sip_status_code)

    def hang_up(self, call: Call) -> None:
        """Delete the call's room: the callee's line closes and so does any agent job left in it."""
        if call.room_name and settings.LIVEKIT_URL:
            async_to_sync(self._hang_up)(call.room_name)

    async def _hang_up(self, room: str) -> None:
        async with api.LiveKitAPI(settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET) as lk:
            await _delete_room(lk, room)

    async def _dial(self, call: Call, lease: Lease) -> Ending | None:
        """Dial and wait for the answer; None when answered (or the call is no longer ours)."""
        url, ringing = settings.LIVEKIT_URL, settings.NEWVOICE_RINGING_TIMEOUT
        async with api.LiveKitAPI(url, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET) as lk:
            try:
                await _within(REQUEST_TIMEOUT, lk.room.create_room(self._room_request(call)))
            except (api.ServerError, aiohttp.ClientError, TimeoutError) as exc:
                return server_ending(exc, url)
            answered = False
            try:
                await _within(REQUEST_TIMEOUT, lk.agent_dispatch.create_dispatch(self._dispatch_request(call)))
                try:
                    async with keep_lease(lease):  # ringing can outlast the lease
                        participant = await _within(ringing + REQUEST_TIMEOUT, lk.sip.create_sip_participant(self._sip_request(call)))
                except api.ServerError as exc:
                    if ending := sip_ending(exc, ringing_timeout=ringing):
                        return ending
                    raise
                answered = await sync_to_async(self._hand_over)(call, participant.sip_call_id)
                return None
            except (api.ServerError, aiohttp.ClientError, TimeoutError) as exc:
                return server_ending(exc, url)
            finally:
                if not answered:
                    await _delete_room(lk, call.room_name)

    @staticmethod
    def _hand_over(call: Call, sip_call_id: str) -> bool:
        """Give the answered call to the agent job, with a fresh lease; False when it ended meanwhile."""
        lease = agent_lease(call.pk)
        expires = timezone.now() + dt.timedelta(seconds=lease.seconds)
        return Call.objects.mark_answered(call.pk, sip_call_id=sip_call_id, lease_owner=lease.owner, lease_expires_at=expires)

    @staticmethod
    def _room_request(call: Call) -> api.CreateRoomRequest:
        return api.CreateRoomRequest(
            name=call.room_name,
            empty_timeout=settings.NEWVOICE_RINGING_TIMEOUT + ROOM_GRACE_SECONDS,
            metadata=json.dumps({"call_id": call.pk}),
        )

    @staticmethod
    def _dispatch_request(call: Call) -> api.CreateAgentDispatchRequest:
        return api.CreateAgentDispatchRequest(
            agent_name=settings.LIVEKIT_AGENT_NAME, room=call.room_name, metadata=json.dumps({"call_id": call.pk})
        )

    @staticmethod
    def _sip_request(call: Call) -> api.CreateSIPParticipantRequest:
        request = api.CreateSIPParticipantRequest(
            sip_trunk_id=call.campaign.sip_trunk_id,
            sip_call_to=call.phone,
            sip_number=call.campaign.caller_id,
            room_name=call.room_name,
            participant_identity=call.phone,  # the agent waits for exactly this identity
            participant_name=call.task.name or call.phone,
            wait_until_answered=True,
            krisp_enabled=True,
        )
        request.ringing_timeout.seconds = settings.NEWVOICE_RINGING_TIMEOUT
        request.max_call_duration.seconds = settings.MAX_CALL_DURATION
        return request


async def _delete_room(lk: api.LiveKitAPI, room: str) -> None:
    """Hang up and end the agent job waiting in the room; best effort, the room also empties out."""
    try:
        await _within(REQUEST_TIMEOUT, lk.room.delete_room(api.DeleteRoomRequest(room=room)))
    except (api.ServerError, aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("Could not delete LiveKit room %s: %s", room, exc)


async def _within(seconds: float, request: Awaitable[T]) -> T:
    async with asyncio.timeout(seconds):
        return await request
