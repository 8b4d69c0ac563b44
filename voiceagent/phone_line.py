"""A phone line inside one process: the agent session's microphone and loudspeaker, at real time.

The voice simulator, ``chat --audio`` and the admin's "Try this bot" by microphone give the
production ``AgentSession`` what a call through LiveKit gives it: an ``AudioInput`` that delivers
the callee's audio frame by frame at the pace of the wall clock (silence when nobody talks), and an
``AudioOutput`` that plays the bot's frames at the same pace, reports how far playback got and stops
where it is when livekit clears it (a barge-in). Everything between them is livekit's own: the VAD,
the STT, the turn handling, the interruption, the transcript synchronised with what was played.

The far end (a simulated callee, a browser) puts speech on the line with ``say`` and hears the bot
through ``listen``; the line keeps when each side spoke, which the per-turn metrics read.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from livekit import rtc
from livekit.agents.voice.io import AudioInput, AudioOutput, AudioOutputCapabilities

SAMPLE_RATE = 16000  # what the local STT and VAD take, and wideband enough for the voices
FRAME_SECONDS = 0.02
FRAME_SAMPLES = int(SAMPLE_RATE * FRAME_SECONDS)
FRAME_BYTES = FRAME_SAMPLES * 2
SILENCE = b"\x00" * FRAME_BYTES


def to_line_rate(pcm: bytes, rate: int, channels: int = 1) -> bytes:
    """16-bit PCM at ``rate`` (interleaved ``channels``) as mono at ``SAMPLE_RATE``."""
    import numpy as np

    samples = np.frombuffer(pcm, dtype=np.int16)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if rate == SAMPLE_RATE:
        return samples.astype(np.int16).tobytes()
    if not len(samples):
        return b""
    positions = np.arange(0, len(samples), rate / SAMPLE_RATE)
    return np.interp(positions, np.arange(len(samples)), samples.astype(np.float32)).astype(np.int16).tobytes()


@dataclass
class Utterance:
    """One stretch of speech on the line (wall-clock seconds, ``time.time()``)."""

    started_at: float
    ended_at: float | None = None
    interrupted: bool = False
    played: float = 0.0  # seconds of it played (the bot's side)


@dataclass
class LineLog:
    callee: list[Utterance] = field(default_factory=list)
    bot: list[Utterance] = field(default_factory=list)


class PhoneLine:
    """Both ends of one simulated call. ``agent_input`` / ``agent_output`` go to the session."""

    def __init__(self) -> None:
        self.agent_input = _Microphone(self)
        self.agent_output = _Loudspeaker(self)
        self.log = LineLog()
        self._to_agent: deque[bytes] = deque()  # the callee's speech, in frames, not yet sent
        self._drained = asyncio.Event()
        self._drained.set()
        self._ear: asyncio.Queue[bytes | None] = asyncio.Queue()  # the bot's audio as the callee hears it
        self.closed = False

    # The far end

    def say(self, pcm: bytes) -> float:
        """Put 16-bit mono PCM at ``SAMPLE_RATE`` on the line after what is still being said; returns
        its duration. It reaches the agent at real time; ``said()`` waits for the last frame."""
        if len(pcm) % 2:
            pcm = pcm[:-1]
        if not pcm:
            return 0.0
        for start in range(0, len(pcm), FRAME_BYTES):
            self._to_agent.append(pcm[start : start + FRAME_BYTES].ljust(FRAME_BYTES, b"\x00"))
        self._drained.clear()
        return len(pcm) / 2 / SAMPLE_RATE

    @property
    def talking(self) -> bool:
        """The far end is still saying something."""
        return bool(self._to_agent)

    @property
    def bot_talking(self) -> bool:
        """The bot has audio playing or about to play."""
        return self.agent_output._open

    async def said(self) -> None:
        await self._drained.wait()

    async def listen(self, timeout: float | None = None) -> bytes | None:
        """The next stretch of the bot's audio as played (20 ms frames, silence included while the
        bot holds the line); None when the line is closed or nothing came within ``timeout``."""
        try:
            return await asyncio.wait_for(self._ear.get(), timeout)
        except TimeoutError:
            return None

    def heard_nowait(self) -> bytes | None:
        """The next stretch of the bot's audio already played, if any (None: nothing waiting)."""
        try:
            return self._ear.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        self.closed = True
        self._ear.put_nowait(None)

    # The agent's end

    def _next_frame(self) -> bytes:
        if not self._to_agent:
            return SILENCE
        frame = self._to_agent.popleft()
        now = time.time()
        if not self.log.callee or self.log.callee[-1].ended_at is not None:
            self.log.callee.append(Utterance(started_at=now - FRAME_SECONDS))
        if not self._to_agent:
            self.log.callee[-1].ended_at = now
            self._drained.set()
        return frame


class _Microphone(AudioInput):
    """The callee's audio as the agent receives it: one 20 ms frame per 20 ms of wall time."""

    def __init__(self, line: PhoneLine) -> None:
        super().__init__(label="PhoneLine")
        self._line = line
        self._deadline: float | None = None

    async def __anext__(self) -> rtc.AudioFrame:
        if self._line.closed:
            raise StopAsyncIteration
        now = time.monotonic()
        if self._deadline is None or now - self._deadline > 0.2:
            self._deadline = now  # first frame, or the loop fell behind: no burst to catch up
        self._deadline += FRAME_SECONDS
        delay = self._deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        return rtc.AudioFrame(self._line._next_frame(), SAMPLE_RATE, 1, FRAME_SAMPLES)


_END = object()


class _Loudspeaker(AudioOutput):
    """Plays the bot's frames at real time to the far end; ``clear_buffer`` stops it where it is."""

    def __init__(self, line: PhoneLine) -> None:
        # Any rate is taken and brought to the line's here, with numpy: livekit's resampler is native
        # code that cannot run in a process forked after it was used (a test's live server is).
        super().__init__(label="PhoneLine", capabilities=AudioOutputCapabilities(pause=False), sample_rate=None)
        self._line = line
        self._queue: deque = deque()
        self._wake = asyncio.Event()
        self._open = False  # a segment whose playback has not finished
        self._started = False
        self._position = 0.0
        self._segment = 0
        self._task: asyncio.Task | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self._open:
            self._open, self._started, self._position = True, False, 0.0
            self._segment += 1
        self._queue.append(to_line_rate(bytes(frame.data), frame.sample_rate, frame.num_channels))
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._play(), name="PhoneLine.play")

    def flush(self) -> None:
        super().flush()
        if self._open:
            self._queue.append(_END)
            self._wake.set()

    def clear_buffer(self) -> None:
        if not self._open:
            return
        self._queue.clear()
        self._finish(interrupted=True)

    def _finish(self, *, interrupted: bool) -> None:
        self._open = False
        if self._started and self._line.log.bot:
            spoken = self._line.log.bot[-1]
            spoken.ended_at, spoken.interrupted, spoken.played = time.time(), interrupted, self._position
        self.on_playback_finished(playback_position=self._position, interrupted=interrupted)

    async def _play(self) -> None:
        deadline = time.monotonic()
        while True:
            if not self._queue:
                # Between segments the line carries silence, so the far end hears the pauses.
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), FRAME_SECONDS * 5)
                except TimeoutError:
                    self._line._ear.put_nowait(SILENCE * 5)
                deadline = time.monotonic()
                continue
            item = self._queue.popleft()
            if item is _END:
                self._finish(interrupted=False)
                continue
            if not self._started:
                self._started = True
                self._line.log.bot.append(Utterance(started_at=time.time()))
                self.on_playback_started(created_at=time.time())
            segment, seconds = self._segment, len(item) / 2 / SAMPLE_RATE
            deadline = max(deadline, time.monotonic() - 0.2) + seconds
            await asyncio.sleep(max(deadline - time.monotonic(), 0))
            if not self._open or segment != self._segment:
                continue  # cleared while this frame played
            self._position += seconds
            self._line._ear.put_nowait(item)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
