"""Simulated calls by voice: a persona that speaks and listens, on a line to the real voice pipeline.

The callee's lines are synthesised with a local voice and played into the agent's session at real
time; the agent hears them through its own STT (the skillbase's voice config). The callee hears the
bot's audio as played, recognises it with its own local STT, works out from what it heard where the
call is (``Callee.locate``) and answers that, as a person would; what it did not make out it asks
again. The ``interrupt`` persona talks over the bot mid-sentence, and the session's real VAD and
interruption handling cut the bot off. Everything runs at real time: text mode
(``simulated_callee``) stays what makes 10,000-call campaigns fast.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livekit import rtc

from skillbases.outcomes import Outcome
from skillbases.schemas import SkillbaseConfig
from voiceagent.agent import CallHooks
from voiceagent.phone_line import SAMPLE_RATE, to_line_rate
from voiceagent.simulated_audio import SimulatedClock
from voiceagent.simulated_callee import (
    MAX_BARGE_INS,
    PERSONAS,
    RINGING_TIMEOUT,
    UNANSWERED,
    Callee,
    SimulatedCall,
    TranscriptLine,
    _ring_seconds,
    _rng,
)
from voiceagent.voice_session import VoiceConversation

logger = logging.getLogger(__name__)

LOUD = 300  # RMS of 16-bit samples above which the line carries speech
END_OF_TURN = 0.9  # seconds of quiet after the bot's speech before the callee answers
REACTION = 0.3  # a person's pause before answering
HANG_UP_AFTER = 2.0  # seconds of quiet after the bot's goodbye before the callee hangs up
ASK_AGAIN = {"ru": "Простите, я не расслышала. Повторите, пожалуйста?", "en": "Sorry, I didn't catch that. Could you say it again?"}


def rms(pcm: bytes) -> float:
    import numpy as np

    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0


def resample(pcm: bytes, rate: int) -> bytes:
    return to_line_rate(pcm, rate)


def voice_problems(config: SkillbaseConfig) -> list[str]:
    """What a call by voice in this process lacks: the callee's local voice and recogniser in the
    skillbase's language, and the agent's own where its voice config is local."""
    from voiceagent.local_speech import local_speech_problems

    voice = config.voice
    problems = [f"Simulated callees speak and listen locally: {problem}" for problem in local_speech_problems(config.language)]
    agent = local_speech_problems(
        config.language, recognition=voice.stt_provider == "local", voice=voice.tts_provider == "local", engine=voice.tts_voice
    )
    problems += [f"The skillbase's local speech: {problem}" for problem in agent if problem not in " ".join(problems)]
    return problems


class CalleeVoice:
    """The callee's mouth and ear: a local voice and a local recogniser in its language."""

    def __init__(self, language: str) -> None:
        from voiceagent.local_speech import LocalSTT, local_voice

        self.language = language
        self._voice = local_voice(language)
        self._ear = LocalSTT(language=language)

    async def speak(self, text: str) -> bytes:
        from voiceagent.speech_text import speakable

        pcm = await asyncio.to_thread(self._voice.synthesize, speakable(text, self.language))
        return resample(pcm, self._voice.sample_rate)

    async def hear(self, pcm: bytes) -> str:
        if not pcm:
            return ""
        event = await self._ear.recognize([rtc.AudioFrame(pcm, SAMPLE_RATE, 1, len(pcm) // 2)])
        return event.alternatives[0].text if event.alternatives else ""


@dataclass
class HeardTurn:
    """What the callee made of one of the bot's utterances."""

    heard: str
    located: str | None
    said: str
    barged_in: bool = False


async def simulate_voice_call(
    config: SkillbaseConfig,
    variables: dict[str, Any],
    persona: str,
    *,
    timezone: str,
    hooks: CallHooks | None = None,
    rng_seed: Any = 0,
    ring_speed: float = 1.0,
    ringing_timeout: float = RINGING_TIMEOUT,
    recording_path: Path | None = None,
    words: dict[str, str] | None = None,
) -> SimulatedCall:
    """Ring the simulated callee (the ring at ``ring_speed``) and, if they answer, hold the call by
    voice. Durations are real seconds. ``words`` replaces some of what the callee says in its own
    words (``simulated_callee.WORDS``), e.g. ``{"booking_time": "завтра в пятнадцать тридцать"}``."""
    if persona not in PERSONAS:
        raise ValueError(f"Unknown persona '{persona}'. Personas: {', '.join(PERSONAS)}.")
    rng = _rng("call", rng_seed, persona)
    clock = SimulatedClock(ring_speed)
    ring = _ring_seconds(persona, rng, ringing_timeout)
    if persona not in UNANSWERED:
        # While the line rings, load this language's voices and recognisers (once per process), so the
        # greeting and the first answer pay for nothing.
        from voiceagent.local_speech import warm_local_speech

        await asyncio.gather(clock.wait(ring), asyncio.to_thread(warm_local_speech, [config.language]))
    else:
        await clock.wait(ring)
    if persona in UNANSWERED:
        return SimulatedCall(persona, UNANSWERED[persona], answered=False, ring_seconds=ring, slept_seconds=clock.slept)
    if hooks is not None:
        await hooks.event("answered", data={"persona": persona, "ring_seconds": ring, "mode": "audio"})
    voice = CalleeVoice(config.language)
    talk = VoiceConversation(config, variables, timezone=timezone, hooks=hooks, recording_path=recording_path)
    if hasattr(hooks, "listen_to"):
        hooks.listen_to(talk.line)
    callee = Callee(persona, talk.conversation, rng)
    callee.words = {**callee.words, **(words or {})}
    answered = time.monotonic()
    heard: list[HeardTurn] = []
    try:
        await talk.start()
        guard = config.flow.limits.max_duration_seconds + 30
        try:
            async with asyncio.timeout(guard):
                await _converse(talk, callee, voice, heard)
        except TimeoutError:
            logger.warning("A simulated %s voice call did not finish within %.0f s; abandoning it.", persona, guard)
        transcript = [
            TranscriptLine(item.role, item.text_content or "", bool(item.interrupted))
            for item in talk.session.history.items
            if item.type == "message" and item.role in ("user", "assistant")
        ]
    finally:
        await talk.aclose()
    state = talk.state
    outcome = state.outcome if state.ended or state.outcome else Outcome.FAILED
    return SimulatedCall(
        persona, outcome, answered=True, ring_seconds=ring, talk_seconds=round(time.monotonic() - answered, 2),
        transcript=transcript, state=state, slept_seconds=clock.slept, heard=heard, line=talk.line.log,
        recording_started_at=talk.recording.started_at if talk.recording else None,
    )  # fmt: skip


async def _converse(talk: VoiceConversation, callee: Callee, voice: CalleeVoice, turns: list[HeardTurn]) -> None:
    line = talk.line
    lang = callee.lang
    buffer = bytearray()
    spoken = quiet = 0.0  # seconds of the bot's speech in the buffer, and of quiet since it
    barge_at: float | None = None  # seconds into the bot's current line to talk over it (once a line)
    hung_up_at: float | None = None
    if callee.persona == "voicemail":
        # A mailbox plays its greeting as soon as it picks up, over whatever the bot says.
        reply = callee.reply()
        turns.append(HeardTurn("", None, reply))
        line.say(await voice.speak(reply))
    while not talk.closed.is_set():  # the session closes after the bot's last words have played
        if talk.state.ended and not line.bot_talking and not line.talking:
            # The bot has said goodbye (its last words may still be on their way): a person hangs
            # up once the line has been quiet a moment. The session usually closes first.
            hung_up_at = hung_up_at or time.monotonic() + HANG_UP_AFTER
            if time.monotonic() >= hung_up_at:
                return
        else:
            hung_up_at = None
        chunk = await line.listen(timeout=0.5)
        if chunk is None:
            continue
        seconds = len(chunk) / 2 / SAMPLE_RATE
        if rms(chunk) > LOUD:
            if not spoken and callee.persona == "interrupt" and callee.barge_ins < MAX_BARGE_INS:
                barge_at = callee.rng.uniform(1.5, 3.0)
            spoken, quiet = spoken + seconds, 0.0
            buffer += chunk
        elif spoken:
            quiet += seconds
            buffer += chunk
        if not spoken or line.talking:
            continue
        barging = barge_at is not None and spoken >= barge_at and quiet == 0.0
        if not barging and quiet < END_OF_TURN:
            continue
        text = await voice.hear(bytes(buffer))
        located = callee.locate(text)
        if barging:
            barge_at = None  # one try per line; what was heard stays, for the end of the line
            if located is None or callee.map.steps[located].end or talk.state.ended:
                continue  # not sure what it is about, or a goodbye: nothing to gain from talking over it
            callee.barge_ins += 1
        else:
            buffer.clear()
            spoken = quiet = 0.0
            barge_at = None
            if talk.state.ended:
                continue
            await asyncio.sleep(REACTION)
        if callee.asked_again(text) and turns:
            reply = callee.reply(at=callee.believed)  # the bot did not catch it: answer again, in other words
        elif located is not None:
            reply = callee.reply(at=located)
        elif text.strip():
            reply = ASK_AGAIN.get(lang, ASK_AGAIN["en"])
        else:
            continue  # noise, or nothing said: keep listening
        turns.append(HeardTurn(text, located, reply, barged_in=barging))
        if reply:
            line.say(await voice.speak(reply))
            await line.said()
            # What the bot said while the callee talked (the rest of a line it talked over) is not
            # something a person answers.
            while line.heard_nowait() is not None:
                pass
            buffer.clear()
            spoken = quiet = 0.0
            barge_at = None
        # A silent callee says nothing: the agent's own silence timeout takes it from here.
