"""Speech and language providers built from a skillbase, and the keys they need (no network)."""

import json
from pathlib import Path

import pytest

from skillbases.schemas import validate_config
from voiceagent import providers
from voiceagent.flow.conversation import Conversation

DEMO = Path(__file__).resolve().parent.parent / "newvoice" / "demo"
KEYS = ("OPENAI_API_KEY", "DEEPGRAM_API_KEY", "CARTESIA_API_KEY", "ELEVEN_API_KEY")
MODELS = {
    "openai": ("gpt-4o-mini-transcribe", "gpt-4o-mini-tts"),
    "deepgram": ("nova-3", "aura-2-thalia-en"),
    "cartesia": ("ink-whisper", "sonic-2"),
    "elevenlabs": ("scribe_v1", "eleven_turbo_v2_5"),
}


def config_with(provider: str, llm: dict | None = None):
    raw = json.loads((DEMO / "salon_ru.json").read_text(encoding="utf-8"))
    stt_model, tts_model = MODELS[provider]
    raw["voice"].update(stt_provider=provider, tts_provider=provider, stt_model=stt_model, tts_model=tts_model, tts_voice="")
    if llm:
        raw["llm"] = llm
    return validate_config({k: raw[k] for k in ("context", "flow", "voice", "llm")})


@pytest.fixture
def no_keys(monkeypatch):
    for name in (*KEYS, "NV_LLM_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("provider", list(MODELS))
def test_each_speech_provider_is_built_from_the_config(provider, no_keys):
    no_keys.setenv(providers.KEY_ENV[provider], "test-key")
    config = config_with(provider)
    assert providers.missing_keys(config) == []
    assert type(providers.build_stt(config)).__module__ == f"livekit.plugins.{provider}.stt"
    assert type(providers.build_tts(config)).__module__ == f"livekit.plugins.{provider}.tts"


@pytest.mark.parametrize("provider", list(MODELS))
def test_a_missing_speech_key_is_named_before_anything_starts(provider, no_keys):
    config = config_with(provider)
    assert providers.missing_keys(config) == [providers.KEY_ENV[provider]]
    assert providers.missing_keys(config, voice=False) == []  # text mode needs no speech
    with pytest.raises(providers.ProviderKeyMissing, match=providers.KEY_ENV[provider]):
        providers.require_keys(config)


def test_the_llm_key_comes_from_the_variable_the_skillbase_names(no_keys):
    config = config_with("openai", llm={"provider": "openai", "model": "gpt-4o-mini", "api_key_env": "NV_LLM_KEY"})
    assert providers.missing_keys(config, voice=False) == ["NV_LLM_KEY"]
    no_keys.setenv("NV_LLM_KEY", "test-key")
    llm = providers.build_llm(config, Conversation(config, {}, timezone="Europe/Moscow"))
    assert type(llm).__module__ == "livekit.plugins.openai.llm" and llm.model == "gpt-4o-mini"


def test_the_flow_llm_needs_no_key(no_keys):
    config = config_with("openai")
    llm = providers.build_llm(config, Conversation(config, {}, timezone="Europe/Moscow"))
    assert (llm.provider, llm.model) == ("newvoice", "flow")


def test_vad_and_turn_detection_load_offline():
    assert type(providers.build_vad()).__name__ == "VAD"
    assert providers.build_turn_detector().model == "turn-detector-v1-mini"


def test_turn_handling_follows_the_voice_settings():
    config = config_with("openai")
    handling = providers.turn_handling(config)
    assert handling["endpointing"] == {"min_delay": 0.5, "max_delay": 3.0}
    assert handling["interruption"]["enabled"] is True
