"""Speech and language providers built from a skillbase's ``voice`` and ``llm`` sections.

Keys come from the environment only. ``missing_keys`` lets a campaign refuse to start, and a job
refuse to begin, when a provider it needs has no key, instead of failing in the middle of a call.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from skillbases import provider_rules
from skillbases.schemas import SkillbaseConfig

KEY_ENV = {"openai": "OPENAI_API_KEY", "deepgram": "DEEPGRAM_API_KEY", "cartesia": "CARTESIA_API_KEY", "elevenlabs": "ELEVEN_API_KEY"}


class ProviderKeyMissing(RuntimeError):
    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(f"Missing provider key(s) in the environment: {', '.join(names)}.")


def missing_keys(config: SkillbaseConfig, *, voice: bool = True) -> list[str]:
    """Environment variables the skillbase needs and that are not set (voice=False: text mode)."""
    needed = []
    if config.llm.provider != "flow":
        needed.append(config.llm.api_key_env)
    if voice:
        needed += [KEY_ENV.get(config.voice.stt_provider, ""), KEY_ENV.get(config.voice.tts_provider, "")]
    return sorted({name for name in needed if name and not os.environ.get(name)})


def require_keys(config: SkillbaseConfig, *, voice: bool = True) -> None:
    names = missing_keys(config, voice=voice)
    if names:
        raise ProviderKeyMissing(names)


def build_llm(config: SkillbaseConfig, conversation) -> Any:
    if config.llm.provider == "flow":
        from voiceagent.flow_llm import FlowLLM

        return FlowLLM(conversation)
    from livekit.plugins import openai

    kwargs: dict[str, Any] = {"model": config.llm.model, "temperature": config.llm.temperature}
    if config.llm.base_url:
        provider_rules.check_before_sending(config.llm.base_url)
        kwargs["base_url"] = config.llm.base_url
    return openai.LLM(api_key=os.environ[config.llm.api_key_env], **kwargs)


def build_stt(config: SkillbaseConfig) -> Any:
    voice, language = config.voice, config.language
    if voice.stt_provider == "local":
        from voiceagent.local_speech import LocalSTT

        return LocalSTT(language=language)
    if voice.stt_provider == "openai":
        from livekit.plugins import openai

        return openai.STT(model=voice.stt_model, language=language.split("-")[0])
    if voice.stt_provider == "deepgram":
        from livekit.plugins import deepgram

        return deepgram.STT(model=voice.stt_model, language=language)
    if voice.stt_provider == "cartesia":
        from livekit.plugins import cartesia

        return cartesia.STT(model=voice.stt_model, language=language.split("-")[0])
    from livekit.plugins import elevenlabs

    return elevenlabs.STT(language_code=language.split("-")[0])


def build_tts(config: SkillbaseConfig) -> Any:
    voice, language = config.voice, config.language
    if voice.tts_provider == "local":
        from voiceagent.local_speech import LocalTTS

        return LocalTTS(language=language, engine=voice.tts_voice)
    if voice.tts_provider == "openai":
        from livekit.plugins import openai

        return openai.TTS(model=voice.tts_model, voice=voice.tts_voice or "alloy")
    if voice.tts_provider == "deepgram":
        from livekit.plugins import deepgram

        return deepgram.TTS(model=voice.tts_model)
    if voice.tts_provider == "cartesia":
        from livekit.plugins import cartesia

        kwargs = {"voice": voice.tts_voice} if voice.tts_voice else {}
        return cartesia.TTS(model=voice.tts_model, language=language.split("-")[0], **kwargs)
    from livekit.plugins import elevenlabs

    kwargs = {"voice_id": voice.tts_voice} if voice.tts_voice else {}
    return elevenlabs.TTS(model=voice.tts_model, language=language.split("-")[0], **kwargs)


def preload_plugins(config: SkillbaseConfig) -> None:
    """Import the livekit plugins the skillbase's voice pipeline uses. A plugin registers itself on
    import and refuses to outside the main thread: a process placing calls from threads imports them first."""
    import importlib

    names = {"silero", *(p for p in (config.voice.stt_provider, config.voice.tts_provider) if p != "local")}
    if config.llm.provider != "flow":
        names.add("openai")
    for name in sorted(names):
        importlib.import_module(f"livekit.plugins.{name}")


def build_vad() -> Any:
    """Silero voice activity detection (the model ships inside the package: no download). The end of
    speech is called after ``NEWVOICE_VAD_MIN_SILENCE_SECONDS`` of silence: every reply waits for it."""
    from django.conf import settings
    from livekit.plugins import silero

    return silero.VAD.load(min_silence_duration=settings.NEWVOICE_VAD_MIN_SILENCE_SECONDS)


@cache
def shared_vad() -> Any:
    """One VAD model per process (each session runs its own stream on it)."""
    return build_vad()


def build_turn_detector() -> Any:
    """End-of-turn detection: livekit's local turn-detector model (bundled, no download) when
    there are no LiveKit Cloud credentials."""
    from livekit.agents import inference

    return inference.TurnDetector()


def voice_turn_handling(config: SkillbaseConfig) -> dict[str, Any]:
    """Turn handling on a line. Local recognition gives one final transcript per speech segment,
    so the end of the callee's turn is the VAD's end of speech; livekit's turn-detector model would
    wait up to ``max_endpointing_delay`` more on synthetic and telephone voices. Cloud STTs keep it."""
    detection = "vad" if config.voice.stt_provider == "local" else build_turn_detector()
    return {**turn_handling(config), "turn_detection": detection}


def turn_handling(config: SkillbaseConfig) -> dict[str, Any]:
    voice = config.voice
    return {
        "endpointing": {"min_delay": voice.min_endpointing_delay, "max_delay": voice.max_endpointing_delay},
        "interruption": {"enabled": voice.allow_interruptions, "min_duration": voice.min_interruption_seconds},
    }
