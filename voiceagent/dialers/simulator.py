"""The simulator dialer: simulated callees talking to the production agent in text mode.

Busy, no answer and invalid numbers end after a realistic ring; people and voicemail greetings
hold a real conversation with ``SkillbaseAgent``. Time runs at ``NEWVOICE_SIMULATOR_SPEED``
(1 = real time, 0 = no waiting), so a demo campaign can be watched and a test runs instantly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import tempfile
import uuid
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from campaigns.actions import finish_call
from campaigns.dialers import Dialer
from campaigns.leases import Lease
from campaigns.models import Call
from campaigns.recordings import keep_recording, recording_enabled
from skillbases.schemas import ConfigError
from voiceagent.calls import CallSetup, load_call_setup
from voiceagent.local_speech import warm_local_speech
from voiceagent.providers import missing_keys, preload_plugins, shared_vad
from voiceagent.simulated_callee import PERSONAS, choose_persona, simulate_call
from voiceagent.simulated_voice import simulate_voice_call, voice_problems
from voiceagent.telemetry import CallTelemetry
from voiceagent.voice_session import recording_seconds

LEASE_RENEW_SECONDS = 20


class _SimulatedLine(CallTelemetry):
    """Telemetry that also moves the call to "in progress" when the simulated callee picks up."""

    async def event(self, kind: str, *, role: str = "", text: str = "", data: dict[str, Any] | None = None) -> None:
        if kind == "answered":
            await sync_to_async(Call.objects.mark_answered)(self.call.pk)
        await super().event(kind, role=role, text=text, data=data)


class SimulatorDialer(Dialer):
    name = "simulator"
    simulated = True

    def problems(self, campaign) -> list[str]:
        problems = []
        unknown = sorted(set(campaign.simulator_personas or {}) - set(PERSONAS)) if isinstance(campaign.simulator_personas, dict) else []
        if unknown:
            problems.append(f"Unknown simulated personas: {', '.join(unknown)}. Known: {', '.join(PERSONAS)}.")
        try:
            config = campaign.skillbase.parsed_config()
        except ConfigError:
            return problems  # the configuration is reported by the campaign's own start check
        names = missing_keys(config, voice=campaign.simulator_audio)
        if names:
            what = "speech and language providers need" if campaign.simulator_audio else "language model needs"
            problems.append(f"The skillbase's {what} {', '.join(names)} in the environment.")
        if campaign.simulator_audio:
            problems += voice_problems(config)
        return problems

    def prepare(self, campaign) -> None:
        """By voice: livekit's plugins register themselves on import and only on the main thread;
        import them (and load this language's local speech) here, not in a worker thread."""
        if not campaign.simulator_audio:
            return
        try:
            config = campaign.skillbase.parsed_config()
        except ConfigError:
            return
        preload_plugins(config)
        shared_vad()
        warm_local_speech([config.language])

    def place(self, call: Call, lease: Lease) -> None:
        setup = load_call_setup(call.pk)
        task, campaign = setup.call.task, setup.call.campaign
        persona = choose_persona(task.variables, campaign.simulator_personas, campaign.simulator_seed, task.pk)
        Call.objects.filter(pk=call.pk).update(persona=persona, is_simulated=True)
        audio = campaign.simulator_audio
        recording = None
        if audio and recording_enabled():
            recording = Path(tempfile.gettempdir()) / f"newvoice-call-{call.pk}-{uuid.uuid4().hex[:8]}.ogg"
        try:
            speed = settings.NEWVOICE_SIMULATOR_SPEED
            result = asyncio.run(self._simulate(setup, persona, lease, speed=speed, audio=audio, recording=recording))
            if recording is not None and result.recording_started_at is not None:
                started = dt.datetime.fromtimestamp(result.recording_started_at, tz=dt.UTC)
                keep_recording(call.pk, recording, started_at=started, seconds=recording_seconds(recording))
        finally:
            if recording is not None:
                recording.unlink(missing_ok=True)
        state = result.state
        finish_call(
            call.pk,
            outcome=result.outcome,
            collected=result.collected,
            callback_at=result.callback_at,
            last_step=state.step if state else "",
            details={"ring_seconds": result.ring_seconds, "talk_seconds": result.talk_seconds},
        )

    async def _simulate(
        self, setup: CallSetup, persona: str, lease: Lease, *, speed: float, audio: bool = False, recording: Path | None = None
    ):
        telemetry = _SimulatedLine(setup.call)
        renewing = asyncio.get_running_loop().create_task(_keep_lease(lease))
        try:
            await telemetry.event("call_started", data={"persona": persona, "mode": "simulated audio" if audio else "simulated"})
            if audio:
                # By voice the conversation runs at real time; only the ring follows the simulator's speed.
                return await simulate_voice_call(
                    setup.config, setup.variables, persona, timezone=setup.timezone, hooks=telemetry, rng_seed=setup.call.pk,
                    ring_speed=speed, recording_path=recording,
                )  # fmt: skip
            result = await simulate_call(
                setup.config, setup.variables, persona, timezone=setup.timezone, speed=speed, hooks=telemetry, rng_seed=setup.call.pk
            )
            return result
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await telemetry.flush()
            # The call's ORM work ran in asgiref's shared thread (no outer async_to_sync here), where
            # nothing else ever closes a connection: a broken one would fail every later call in this
            # process, and an idle one keeps the database open.
            await sync_to_async(connections.close_all)()


async def _keep_lease(lease: Lease) -> None:
    while True:
        await asyncio.sleep(LEASE_RENEW_SECONDS)
        await sync_to_async(lease.renew)()
