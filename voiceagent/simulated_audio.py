"""Audio for simulated calls: speech that takes time, and a speaker the callee can talk over.

A text-mode ``AgentSession`` has no audio, so nothing the bot says can be cut short: livekit keeps
the whole reply. To let a simulated callee barge in the way a real one does, the simulator gives
the session what a phone call has: a TTS (``SilentTTS``: silent PCM, as long as the words take to
say) and an audio output (``SimulatedPlayout.audio_output``) that plays those frames out on a
``SimulatedClock`` and honours ``clear_buffer``. Everything between them is livekit's own: when the
callee interrupts, livekit stops forwarding, clears the buffer, asks the output how far playback
got, stores only the text heard so far on the assistant ``ChatMessage`` and marks it interrupted.

What the output reports back is the heard text (``PlaybackFinishedEvent.synchronized_transcript``),
the slot livekit reserves for it. On a real call livekit's ``TranscriptSynchronizer`` fills that slot
by pacing the words against the wall clock; here the words are paced against the playback position
instead, because the simulator runs faster than real time (``speed`` < 1, or 0 for no waiting at
all) and the same cut must give the same words at every speed.

The barge-in itself is ``AgentSession.interrupt()``, called by the callee's listener as playback
passes the point where it starts talking. On a real line livekit's voice activity detection makes
the same call on the speech handle; there is no callee audio here for it to detect.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from livekit import rtc
from livekit.agents import tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from livekit.agents.voice.io import AudioOutput, AudioOutputCapabilities, TextOutput

WORDS_PER_SECOND = 2.5  # an unhurried phone voice
SAMPLE_RATE = 8000  # narrowband telephony: the fewest bytes for the same durations
FRAME_MS = 200


def speaking_seconds(text: str) -> float:
    """How long saying ``text`` takes, by both sides of the call."""
    return len(text.split()) / WORDS_PER_SECOND


class SimulatedClock:
    """Simulated seconds, spent as ``seconds * speed`` real seconds (speed 0: not at all)."""

    def __init__(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must not be negative")
        self.speed = speed
        self.simulated = 0.0  # simulated seconds that went by
        self.slept = 0.0  # real seconds asked of asyncio.sleep

    async def wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.simulated += seconds
        if self.speed:
            self.slept += seconds * self.speed
            await asyncio.sleep(seconds * self.speed)
        else:
            # No waiting, but a turn of the event loop, as a real playout would give.
            await asyncio.sleep(0)


class SilentTTS(tts.TTS):
    """Silence as long as the words would take to say: real frames, no provider, no network."""

    def __init__(self) -> None:
        super().__init__(capabilities=tts.TTSCapabilities(streaming=False), sample_rate=SAMPLE_RATE, num_channels=1)

    @property
    def model(self) -> str:
        return "silent"

    @property
    def provider(self) -> str:
        return "simulator"

    def synthesize(self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS) -> tts.ChunkedStream:
        return _SilentStream(tts=self, input_text=text, conn_options=conn_options)


class _SilentStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=f"silent-{uuid.uuid4().hex[:12]}",
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
            frame_size_ms=FRAME_MS,
        )
        samples = round(speaking_seconds(self._input_text) * SAMPLE_RATE)
        if samples:
            output_emitter.push(b"\x00\x00" * samples)
        output_emitter.flush()


@dataclass
class Playback:
    """What the callee has heard of the bot's current utterance."""

    segment: int  # 1 for the first utterance of the call, 2 for the next...
    text: str  # all of it, as far as the bot has produced it
    position: float  # seconds played

    @property
    def heard(self) -> str:
        return heard_text(self.text, self.position)


def heard_text(text: str, position: float) -> str:
    """The words of ``text`` fully played after ``position`` seconds (``SilentTTS`` timing)."""
    words = text.split()
    # A hair of tolerance: sentence durations are sums of float frame lengths.
    count = min(len(words), math.floor(position * WORDS_PER_SECOND + 1e-6))
    return " ".join(words[:count])


# The callee's ear: called as playback advances; True means "I am talking now, stop" (the listener
# has interrupted the session), and playback then waits for livekit to clear the buffer.
Listener = Callable[[Playback], bool]


class SimulatedPlayout:
    """A loudspeaker at the callee's end, and the transcript that goes with what it plays."""

    def __init__(self, clock: SimulatedClock) -> None:
        self.clock = clock
        self.tts = SilentTTS()
        self.audio_output = _Speaker(self)
        self.text_output = _Transcript(self)
        self.listener: Listener | None = None
        self.segments = 0  # utterances started so far
        self.text = ""  # the current segment's text

    def _take_text(self) -> str:
        text, self.text = self.text, ""
        return text

    async def aclose(self) -> None:
        await self.audio_output.aclose()


class _Transcript(TextOutput):
    """Collects the text livekit forwards alongside the audio of the same utterance."""

    def __init__(self, playout: SimulatedPlayout) -> None:
        super().__init__(label="SimulatedTranscript", next_in_chain=None)
        self._playout = playout
        self._flushed = False

    async def capture_text(self, text: str) -> None:
        if self._flushed:
            # A new utterance. Text left over from the last one only remains if it made no sound.
            self._playout.text, self._flushed = "", False
        self._playout.text += str(text)

    def flush(self) -> None:
        self._flushed = True


_END = object()


class _Speaker(AudioOutput):
    """Plays captured frames on the simulated clock; ``clear_buffer`` stops it where it is."""

    def __init__(self, playout: SimulatedPlayout) -> None:
        super().__init__(label="SimulatedSpeaker", capabilities=AudioOutputCapabilities(pause=False))
        self._playout = playout
        self._queue: deque = deque()
        self._wake = asyncio.Event()
        self._cleared = asyncio.Event()
        self._open = False  # a segment has frames whose playback has not finished
        self._started = False
        self._position = 0.0
        self._task: asyncio.Task | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self._open:
            self._open, self._started, self._position = True, False, 0.0
            self._playout.segments += 1
        self._queue.append(frame.duration)
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._play(), name="SimulatedSpeaker.play")

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
        self._cleared.set()

    def _finish(self, *, interrupted: bool) -> None:
        self._open = False
        text = self._playout._take_text()
        self.on_playback_finished(
            playback_position=self._position,
            interrupted=interrupted,
            synchronized_transcript=heard_text(text, self._position) if interrupted else text,
        )

    async def _play(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            item = self._queue.popleft()
            if item is _END:
                self._finish(interrupted=False)
                continue
            if not self._started:
                self._started = True
                self.on_playback_started(created_at=time.time())
            segment = self._playout.segments
            await self._playout.clock.wait(item)
            if not self._open or segment != self._playout.segments:
                continue  # cleared while this frame played
            self._position += item
            await self._offer_to_listener(segment)

    async def _offer_to_listener(self, segment: int) -> None:
        listener = self._playout.listener
        if listener is None:
            return
        self._cleared.clear()
        if listener(Playback(segment, self._playout.text, self._position)):
            # The callee spoke: livekit cuts this segment now. Hold the position until it does;
            # the timeout only guards against a speech that turned out not to be interruptible.
            try:
                await asyncio.wait_for(self._cleared.wait(), timeout=5)
            except TimeoutError:
                pass

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
