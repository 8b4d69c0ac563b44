"""A conversation with a skillbase by voice, without a room: the production agent and its real
voice pipeline (VAD → STT → LLM → TTS) on a ``PhoneLine``, recorded in two channels.

Used by the voice simulator (``simulated_voice``), ``manage.py chat --audio`` and the admin's
"Try this bot" by microphone. A call through LiveKit builds the same session in
``worker._converse_by_voice``, with the room in place of the line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from livekit.agents import AgentSession
from livekit.agents.voice.recorder_io import RecorderIO
from livekit.agents.voice.transcription.synchronizer import TranscriptSynchronizer

from skillbases.schemas import SkillbaseConfig
from voiceagent.agent import CallHooks, SkillbaseAgent
from voiceagent.flow.conversation import Conversation
from voiceagent.phone_line import SAMPLE_RATE, PhoneLine
from voiceagent.providers import build_llm, build_stt, build_tts, require_keys, shared_vad, voice_turn_handling

logger = logging.getLogger(__name__)


def voice_session(config: SkillbaseConfig, conversation: Conversation, *, vad: Any = None) -> tuple[AgentSession, Any]:
    """The session a skillbase's voice config describes, and its language model (to close)."""
    language_model = build_llm(config, conversation)
    session = AgentSession(
        stt=build_stt(config),
        tts=build_tts(config),
        vad=vad or shared_vad(),
        llm=language_model,
        turn_handling=voice_turn_handling(config),
        user_away_timeout=config.flow.limits.silence_timeout_seconds,
    )
    return session, language_model


class Recording:
    """Both sides of a session into one stereo Ogg/Opus file: callee left, bot right, on one
    timeline (livekit's ``RecorderIO``: the bot's audio where it was played, so a barge-in cuts it)."""

    def __init__(self, session: AgentSession, path: Path) -> None:
        self.path = path
        self.started_at: float | None = None
        self._recorder = RecorderIO(agent_session=session, sample_rate=SAMPLE_RATE)

    def wrap(self, session: AgentSession) -> None:
        """Put the recorder between the session and its current input and output."""
        session.input.audio = self._recorder.record_input(session.input.audio)
        session.output.audio = self._recorder.record_output(session.output.audio)

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await self._recorder.start(output_path=self.path)
        self.started_at = self._recorder.recording_started_at

    async def aclose(self) -> None:
        await self._recorder.aclose()


def recording_seconds(path: Path) -> float:
    """The length of a recording file, from its container."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / 1_000_000


class VoiceConversation:
    """The agent on a phone line in this process. ``line.say()`` speaks to it, ``line.listen()``
    hears it; ``recording_path`` keeps both channels."""

    def __init__(
        self,
        config: SkillbaseConfig,
        variables: dict[str, Any],
        *,
        timezone: str,
        hooks: CallHooks | None = None,
        conversation: Conversation | None = None,
        recording_path: Path | None = None,
    ) -> None:
        require_keys(config, voice=True)
        self.config = config
        self.conversation = conversation or Conversation(config, variables, timezone=timezone)
        self.agent = SkillbaseAgent(self.conversation, hooks=hooks)
        self.line = PhoneLine()
        self.session, self._llm = voice_session(config, self.conversation)
        # The transcript is paced against playback, so an interrupted reply keeps the words played.
        self._synchronizer = TranscriptSynchronizer(next_in_chain_audio=self.line.agent_output, next_in_chain_text=None)
        self.session.input.audio = self.line.agent_input
        self.session.output.audio = self._synchronizer.audio_output
        self.session.output.transcription = self._synchronizer.text_output
        self.recording = Recording(self.session, recording_path) if recording_path else None
        if self.recording:
            self.recording.wrap(self.session)
        self.closed = asyncio.Event()
        self.session.on("close", lambda _event: self.closed.set())
        if hasattr(hooks, "attach"):
            hooks.attach(self.session)
        self.started_at: float | None = None

    @property
    def state(self):
        return self.conversation.state

    @property
    def ended(self) -> bool:
        return self.conversation.state.ended or self.closed.is_set()

    async def start(self) -> None:
        if self.recording:
            await self.recording.start()
        self.started_at = time.time()
        await self.session.start(self.agent)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.session.aclose()
        if self.recording:
            await self.recording.aclose()
        await self._synchronizer.aclose()
        self.line.close()
        await self.line.agent_output.aclose()
        await self._llm.aclose()

    async def __aenter__(self) -> VoiceConversation:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
