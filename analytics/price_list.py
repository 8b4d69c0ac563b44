"""Providers' list prices in US dollars, as published for 2026. Edit or add rows in the admin
(Analytics → Prices); a newer effective date takes over from that day on without repricing older calls.

The data migration seeds these; ``seed_list_prices`` adds any that are missing (seed_demo runs it).
"""

import datetime
from decimal import Decimal

EFFECTIVE = datetime.date(2026, 1, 1)

# (component, provider, model, unit, amount, note)
LIST_PRICES = [
    # Language models, per million tokens
    ("llm_input", "flow", "", "1m_tokens", "0", "The built-in flow engine runs locally: no provider is paid."),
    ("llm_output", "flow", "", "1m_tokens", "0", "The built-in flow engine runs locally: no provider is paid."),
    ("llm_input", "openai", "gpt-4o-mini", "1m_tokens", "0.15", ""),
    ("llm_output", "openai", "gpt-4o-mini", "1m_tokens", "0.60", ""),
    ("llm_input", "openai", "gpt-4o", "1m_tokens", "2.50", ""),
    ("llm_output", "openai", "gpt-4o", "1m_tokens", "10.00", ""),
    ("llm_input", "openai", "gpt-4.1", "1m_tokens", "2.00", ""),
    ("llm_output", "openai", "gpt-4.1", "1m_tokens", "8.00", ""),
    ("llm_input", "openai", "gpt-4.1-mini", "1m_tokens", "0.40", ""),
    ("llm_output", "openai", "gpt-4.1-mini", "1m_tokens", "1.60", ""),
    ("llm_input", "openai", "gpt-4.1-nano", "1m_tokens", "0.10", ""),
    ("llm_output", "openai", "gpt-4.1-nano", "1m_tokens", "0.40", ""),
    # Speech-to-text, per minute of callee audio
    ("stt", "openai", "gpt-4o-mini-transcribe", "minute", "0.003", ""),
    ("stt", "openai", "gpt-4o-transcribe", "minute", "0.006", ""),
    ("stt", "openai", "whisper-1", "minute", "0.006", ""),
    ("stt", "deepgram", "nova-3", "minute", "0.0077", "Streaming, pay as you go"),
    ("stt", "deepgram", "nova-2", "minute", "0.0058", "Streaming, pay as you go"),
    ("stt", "cartesia", "ink-whisper", "minute", "0.0022", ""),
    ("stt", "elevenlabs", "", "minute", "0.0067", "Scribe"),
    ("stt", "local", "", "minute", "0.00", "Recognition on this machine: no provider charge"),
    # Text-to-speech
    ("tts", "openai", "gpt-4o-mini-tts", "minute", "0.015", "Per minute of generated audio"),
    ("tts", "openai", "tts-1", "1m_characters", "15.00", ""),
    ("tts", "openai", "tts-1-hd", "1m_characters", "30.00", ""),
    ("tts", "deepgram", "aura-2", "1m_characters", "30.00", ""),
    ("tts", "deepgram", "aura", "1m_characters", "15.00", ""),
    ("tts", "cartesia", "sonic-2", "1m_characters", "38.00", "Scale plan, per character"),
    ("tts", "elevenlabs", "eleven_flash_v2_5", "1m_characters", "50.00", ""),
    ("tts", "elevenlabs", "eleven_multilingual_v2", "1m_characters", "100.00", ""),
    ("tts", "local", "", "1m_characters", "0.00", "Voices on this machine: no provider charge"),
    # Telephony, per connected minute
    ("telephony", "livekit", "sip", "minute", "0.01", "LiveKit SIP minutes with a typical carrier trunk"),
]


def seed_list_prices(price_model=None) -> int:
    """Add the list prices that are not in the table yet; returns how many were added."""
    if price_model is None:
        from analytics.models import Price as price_model
    existing = set(price_model.objects.filter(organization=None, effective_from=EFFECTIVE).values_list("component", "provider", "model"))
    rows = [
        price_model(component=c, provider=p, model=m, unit=u, amount=Decimal(a), currency="USD", effective_from=EFFECTIVE, note=n)
        for c, p, m, u, a, n in LIST_PRICES
        if (c, p, m) not in existing
    ]
    price_model.objects.bulk_create(rows)
    return len(rows)
