"""``manage.py chat`` and ``manage.py run_agent`` as a person runs them."""

import io
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

DEMO = Path(__file__).resolve().parent.parent / "newvoice" / "demo"
pytestmark = pytest.mark.django_db(transaction=True)


def chat(monkeypatch, *args, stdin: str) -> str:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("chat", *args, stdout=out)
    return out.getvalue()


def test_chat_walks_the_script_from_stdin(monkeypatch, salon):
    out = chat(monkeypatch, "Лилия", "--var", "name=Анна", "--var", "service=маникюр", stdin="да\nдавайте\nзавтра в 12\nнет\n")
    assert "bot> Здравствуйте, Анна!" in out
    # The engine records what it understood: tomorrow at noon, on the callee's clock.
    assert re.search(r"\[record_field\(field='slot', value='\d{4}-\d\d-\d\dT12:00:00\+03:00'\)\]", out), out
    assert "[ended: outcome success, steps greeting > offer > pick_time > booked > farewell]" in out


def test_chat_by_id_ends_on_eof_and_can_hide_tools(monkeypatch, salon):
    out = chat(monkeypatch, str(salon.pk), "--quiet-tools", stdin="не знаю\n")
    assert "goto_step" not in out
    assert "Простите, не совсем поняла. Повторите, пожалуйста?" in out
    assert "[ended: outcome -, steps greeting]" in out


def test_chat_opt_out(monkeypatch, salon):
    out = chat(monkeypatch, "Лилия", stdin="не звоните мне больше\n")
    assert "[opt_out()]" in out and "outcome opted_out" in out


def test_chat_errors_are_clear(monkeypatch, salon):
    with pytest.raises(CommandError, match="No single skillbase with id or name 'Nope'"):
        chat(monkeypatch, "Nope", stdin="")
    with pytest.raises(CommandError, match="--var takes KEY=VALUE"):
        chat(monkeypatch, "Лилия", "--var", "oops", stdin="")
    with pytest.raises(CommandError, match="--timezone: 'Moscow' is not a time zone"):
        chat(monkeypatch, "Лилия", "--timezone", "Moscow", stdin="")


def test_chat_refuses_a_provider_without_its_key(monkeypatch, salon):
    monkeypatch.delenv("NV_CHAT_KEY", raising=False)
    salon.llm = {"provider": "openai", "model": "gpt-4o-mini", "api_key_env": "NV_CHAT_KEY"}
    salon.save()
    with pytest.raises(CommandError, match="NV_CHAT_KEY"):
        chat(monkeypatch, "Лилия", stdin="да\n")


def test_run_agent_names_the_missing_livekit_settings(settings):
    settings.LIVEKIT_URL = ""
    settings.LIVEKIT_API_SECRET = ""
    with pytest.raises(CommandError, match="LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET"):
        call_command("run_agent")
