import asyncio
import sys
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from skillbases.models import Skillbase
from skillbases.schemas import ConfigError
from tenancy.validators import validate_timezone
from voiceagent.providers import ProviderKeyMissing


class Command(BaseCommand):
    help = (
        "Talk to a skillbase's bot in the terminal: the same agent as on a call. Text mode by default; with --audio your "
        "lines are spoken by a local voice into the bot's real voice pipeline (its VAD and STT hear them, it answers by "
        "voice), at real time, and the terminal shows what it heard and said. Type /quit to leave."
    )

    def add_arguments(self, parser):
        parser.add_argument("skillbase", help="Skillbase id or name.")
        parser.add_argument("--var", action="append", default=[], metavar="KEY=VALUE", help="A contact variable, e.g. --var name=Anna.")
        parser.add_argument("--timezone", default=settings.NEWVOICE_DEFAULT_TIMEZONE, help="The callee's time zone.")
        parser.add_argument("--quiet-tools", action="store_true", help="Do not show the tools the bot calls.")
        parser.add_argument("--audio", action="store_true", help="Speak your lines to the bot through its voice pipeline.")
        parser.add_argument("--recording", metavar="FILE.ogg", help="With --audio: keep the conversation here (you left, the bot right).")

    def handle(
        self, *args, skillbase: str, var: list[str], timezone: str, quiet_tools: bool, audio: bool, recording: str | None, **options
    ):
        try:
            validate_timezone(timezone)
        except ValidationError:
            raise CommandError(f"--timezone: '{timezone}' is not a time zone; use a name like Europe/Moscow.") from None
        target = _find(skillbase)
        variables = dict(_pair(item) for item in var)
        try:
            config = target.parsed_config()
        except ConfigError as exc:
            raise CommandError(f"Skillbase '{target}' has an invalid configuration: {exc}") from None
        if recording and not audio:
            raise CommandError("--recording needs --audio.")
        try:
            if audio:
                self._check_voice(config)
                asyncio.run(self._chat_by_voice(config, variables, timezone, Path(recording) if recording else None))
            else:
                asyncio.run(self._chat(config, variables, timezone, show_tools=not quiet_tools))
        except ProviderKeyMissing as exc:
            raise CommandError(str(exc)) from None

    def _check_voice(self, config) -> None:
        from voiceagent.simulated_voice import voice_problems

        if problems := voice_problems(config):
            raise CommandError(" ".join(problems))

    async def _chat_by_voice(self, config, variables, timezone, recording: Path | None) -> None:
        from voiceagent.simulated_voice import CalleeVoice
        from voiceagent.voice_session import VoiceConversation

        talk = VoiceConversation(config, variables, timezone=timezone, recording_path=recording)
        mouth = CalleeVoice(config.language)

        def said(event) -> None:
            item = event.item
            if getattr(item, "type", "") != "message" or item.role not in ("user", "assistant"):
                return
            if item.role == "user":
                self.stdout.write(f"heard> {item.text_content or '(silence)'}")
            else:
                self.stdout.write(f"bot> {item.text_content}" + (" [interrupted]" if item.interrupted else ""))
            self.stdout.flush()

        talk.session.on("conversation_item_added", said)
        try:
            await talk.start()
            while not talk.closed.is_set():
                reading = asyncio.ensure_future(sync_to_async(sys.stdin.readline, thread_sensitive=False)())
                closed = asyncio.ensure_future(talk.closed.wait())
                done, _pending = await asyncio.wait({reading, closed}, return_when=asyncio.FIRST_COMPLETED)
                closed.cancel()
                if reading not in done:
                    break  # the bot ended the call (the terminal's line is left to the reader thread)
                line = reading.result()
                if not line or line.strip() in ("/quit", "/exit"):
                    break
                if line.strip():
                    talk.line.say(await mouth.speak(line.strip()))
            state = talk.state
            self.stdout.write(f"[ended: outcome {state.outcome or '-'}, steps {' > '.join(state.steps_reached)}]")
            if state.collected:
                self.stdout.write(f"[collected: {state.collected}]")
        finally:
            await talk.aclose()
        if recording is not None and recording.exists():
            self.stdout.write(f"[recording: {recording}]")

    async def _chat(self, config, variables, timezone, *, show_tools: bool) -> None:
        from voiceagent.text import TextConversation

        chat = TextConversation(config, variables, timezone=timezone)
        try:
            self._show(await chat.start(), show_tools)
            while not chat.ended:
                self.stdout.write("you> ", ending="")
                self.stdout.flush()
                line = await sync_to_async(sys.stdin.readline, thread_sensitive=False)()
                if not line or line.strip() in ("/quit", "/exit"):
                    break
                self._show(await chat.send(line.strip()), show_tools)
            state = chat.state
            self.stdout.write(f"[ended: outcome {state.outcome or '-'}, steps {' > '.join(state.steps_reached)}]")
            if state.collected:
                self.stdout.write(f"[collected: {state.collected}]")
        finally:
            await chat.aclose()

    def _show(self, lines, show_tools: bool) -> None:
        for line in lines:
            if line.kind == "say" and line.text:
                self.stdout.write(f"bot> {line.text}" + (" [interrupted]" if line.interrupted else ""))
            elif line.kind == "tool" and show_tools:
                arguments = ", ".join(f"{k}={v!r}" for k, v in line.arguments.items())
                self.stdout.write(self.style.NOTICE(f"     [{line.tool}({arguments})]"))


def _find(key: str) -> Skillbase:
    query = Skillbase.objects.filter(pk=int(key)) if key.isdigit() else Skillbase.objects.filter(name=key)
    found = list(query[:2])
    if not found:
        raise CommandError(f"No single skillbase with id or name '{key}'.")
    if len(found) > 1:
        raise CommandError(f"Several skillbases are named '{key}'; use the id.")
    return found[0]


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise CommandError(f"--var takes KEY=VALUE, not '{item}'.")
    return key.strip(), value
