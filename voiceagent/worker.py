"""The LiveKit agent worker's job: one call, from the call id in the dispatch metadata to its end.

On a real call the session gets speech in and out through the LiveKit room, and answering-machine
detection decides between conversation and voicemail. In text mode (tests, ``script``) the same
job runs the same agent, telemetry and ending, fed with the callee's lines.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import tempfile
import uuid
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from livekit.agents import AgentSession, JobContext

from campaigns.actions import finish_call
from campaigns.models import Outcome
from campaigns.recordings import keep_recording, recording_enabled
from voiceagent.agent import SkillbaseAgent
from voiceagent.calls import CallSetup, load_call_setup
from voiceagent.dialers.livekit import agent_lease, keep_lease
from voiceagent.flow.conversation import Conversation
from voiceagent.greeting_classifier import GreetingClassifier
from voiceagent.local_speech import VoiceMissing
from voiceagent.providers import (
    ProviderKeyMissing,
    build_llm,
    build_stt,
    build_tts,
    build_vad,
    require_keys,
    voice_turn_handling,
)
from voiceagent.telemetry import CallTelemetry
from voiceagent.text import TextConversation
from voiceagent.voice_session import Recording, recording_seconds

logger = logging.getLogger(__name__)


class BadJob(ValueError):
    pass


def call_id_from(metadata: str) -> int:
    try:
        call_id = json.loads(metadata or "{}")["call_id"]
        return int(call_id)
    except (ValueError, KeyError, TypeError):
        raise BadJob(f"The job's metadata has no call id: {metadata[:200]!r}") from None


async def run_call_job(ctx: JobContext, *, script: list[str] | None = None) -> None:
    setup = await sync_to_async(load_call_setup)(call_id_from(ctx.job.metadata))
    telemetry = CallTelemetry(setup.call, hang_up=lambda: _delete_room(ctx))
    conversation = Conversation(setup.config, setup.variables, timezone=setup.timezone)
    recordings: list[Recording] = []
    error = ""
    try:
        require_keys(setup.config, voice=script is None)
        await telemetry.event("call_started", data={"mode": "text" if script is not None else "voice"})
        if script is None:
            async with keep_lease(agent_lease(setup.call_id)):  # the dialer handed the answered call's lease over
                await _converse_by_voice(ctx, setup, conversation, telemetry, recordings)
        else:
            await _converse_by_text(setup, conversation, telemetry, script)
    except (ProviderKeyMissing, VoiceMissing) as exc:
        error = str(exc)
        await telemetry.event("error", text=error)
    finally:
        state = conversation.state
        outcome = state.outcome if state.ended or state.outcome else Outcome.FAILED
        if not state.ended and not error:
            error = "The conversation stopped before the script ended."
        await telemetry.flush()
        for recording in recordings:
            await _keep(setup.call_id, recording)
        await sync_to_async(finish_call)(
            setup.call_id, outcome=outcome, collected=state.collected, callback_at=state.callback_at,
            last_step=state.step, error=error,
        )  # fmt: skip


async def _keep(call_id: int, recording: Recording) -> None:
    """Close the call's recording and store it; a recording that fails must not lose the call's end."""
    try:
        await recording.aclose()
        if recording.started_at is not None:
            started = dt.datetime.fromtimestamp(recording.started_at, tz=dt.UTC)
            seconds = await asyncio.to_thread(recording_seconds, recording.path)
            await sync_to_async(keep_recording)(call_id, recording.path, started_at=started, seconds=seconds)
    except Exception:
        logger.exception("Could not keep the recording of call %s", call_id)
    finally:
        recording.path.unlink(missing_ok=True)


async def _delete_room(ctx: JobContext) -> None:
    result = ctx.delete_room()
    if asyncio.isfuture(result) or asyncio.iscoroutine(result):
        await result


async def _converse_by_text(setup: CallSetup, conversation: Conversation, telemetry: CallTelemetry, script: list[str]) -> None:
    chat = TextConversation(setup.config, setup.variables, timezone=setup.timezone, hooks=telemetry, conversation=conversation)
    try:
        await chat.start()
        for line in script:
            if chat.ended:
                break
            await chat.send(line)
    finally:
        await chat.aclose()


async def _converse_by_voice(
    ctx: JobContext, setup: CallSetup, conversation: Conversation, telemetry: CallTelemetry, recordings: list[Recording]
) -> None:
    from livekit.agents import AMD, room_io

    config = setup.config
    session = AgentSession(
        stt=build_stt(config),
        tts=build_tts(config),
        vad=ctx.proc.userdata.get("vad") or build_vad(),
        llm=build_llm(config, conversation),
        turn_handling=voice_turn_handling(config),
        user_away_timeout=config.flow.limits.silence_timeout_seconds,
    )
    telemetry.attach(session)
    audio_path_ready = asyncio.Event()
    agent = SkillbaseAgent(conversation, hooks=telemetry, ready=audio_path_ready, voicemail_by_amd=True)
    closed = asyncio.Event()
    session.on("close", lambda _ev: closed.set())
    await ctx.connect()
    identity = setup.call.phone  # the dialer gives the SIP participant this identity
    # Its own classifier: left without one, AMD would put the greeting to the session's LLM, the
    # flow script, which would take it for the callee's answer.
    detector = AMD(session, participant_identity=identity, llm=GreetingClassifier(), suppress_compatibility_warning=True)
    async with detector as amd:
        await ctx.wait_for_participant(identity=identity)
        await telemetry.event("answered")
        await session.start(
            agent, room=ctx.room, room_options=room_io.RoomOptions(participant_identity=identity, delete_room_on_close=True)
        )
        if recording_enabled():
            # Between the session and the room's audio, both ways: the callee left, the bot right.
            recording = Recording(session, Path(tempfile.gettempdir()) / f"newvoice-call-{setup.call_id}-{uuid.uuid4().hex[:8]}.ogg")
            recording.wrap(session)
            await recording.start()
            recordings.append(recording)
        audio_path_ready.set()
        verdict = await amd.execute()
    if verdict.is_machine or conversation.state.voicemail:
        await telemetry.event("state", data={"amd": verdict.category, "script_heard_voicemail": conversation.state.voicemail})
        message = conversation.handle_voicemail()
        if message:
            await session.say(message, allow_interruptions=False).wait_for_playout()
        conversation.state.ended = True
        await _delete_room(ctx)
        return
    try:
        async with asyncio.timeout(min(config.flow.limits.max_duration_seconds, settings.MAX_CALL_DURATION)):
            await closed.wait()
    except TimeoutError:
        await telemetry.event("error", text="The call reached its maximum duration.")
        await _delete_room(ctx)
