"""The admin's "Try this bot": a conversation with a skillbase over a WebSocket, typed or spoken.

The conversation lives as long as the socket, in the process that holds it, so every message goes
to the same agent session. Only members of the skillbase's organization may connect.

By voice (``{"type": "start", "audio": true}``) the browser streams its microphone as binary
messages (16-bit mono PCM at 16 kHz, little-endian) onto a ``PhoneLine`` to the same agent with its
real voice pipeline, and gets the bot's audio back as binary messages of the same format, as it is
played, with the lines heard and said as JSON beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ValidationError

from skillbases.models import Skillbase
from skillbases.schemas import ConfigError
from tenancy.validators import validate_timezone
from voiceagent.providers import ProviderKeyMissing

MAX_MESSAGE = 1000
MAX_AUDIO_MESSAGE = 64 * 1024  # about 2 s of 16 kHz audio: a browser sends 0.1-0.3 s at a time
MAX_VOICE_SESSIONS = 4  # per server process: each runs a voice pipeline on its CPUs
_voice_sessions = 0


@database_sync_to_async
def _load(user, skillbase_id: int):
    skillbase = Skillbase.objects.for_user(user).filter(pk=skillbase_id).first()
    if skillbase is None:
        return None, None
    try:
        return skillbase, skillbase.parsed_config()
    except ConfigError as exc:
        return skillbase, exc


class TryBotConsumer(AsyncJsonWebsocketConsumer):
    chat = None
    voice = None
    _pump = None

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        skillbase, config = await _load(user, int(self.scope["url_route"]["kwargs"]["skillbase_id"]))
        if skillbase is None:
            await self.close(code=4404)  # another organization's skillbase looks like a missing one
            return
        self.config = config
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """A message that is not a JSON object gets an error message; the socket stays open. By voice,
        binary messages are the microphone."""
        if bytes_data is not None and self.voice is not None:
            if len(bytes_data) > MAX_AUDIO_MESSAGE or len(bytes_data) % 2:
                await self.send_json({"type": "error", "message": "Send the microphone as 16-bit PCM, at most 64 KiB a message."})
                return
            self.voice.line.say(bytes_data)
            return
        try:
            content = json.loads(text_data or bytes_data or "")
        except (ValueError, RecursionError):
            content = None
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "message": "Send a JSON object such as {'type': 'say', 'text': 'Hello'}."})
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type")
        variables, timezone = content.get("variables") or {}, content.get("timezone") or settings.NEWVOICE_DEFAULT_TIMEZONE
        if kind == "start" and (not isinstance(variables, dict) or not isinstance(timezone, str)):
            await self.send_json({"type": "error", "message": "'variables' must be an object and 'timezone' a name like Europe/Moscow."})
            return
        if kind == "start" and content.get("audio") is True:
            await self._start_voice(variables, timezone)
        elif kind == "start":
            await self._start(variables, timezone)
        elif kind == "say" and self.chat is not None:
            text = str(content.get("text", ""))[:MAX_MESSAGE]
            await self._reply(await self.chat.send(text))
        else:
            await self.send_json({"type": "error", "message": "Send {'type': 'start'} first, then {'type': 'say', 'text': ...}."})

    async def _start(self, variables: dict, timezone: str) -> None:
        from voiceagent.text import TextConversation

        clean = await self._checked(variables, timezone)
        if clean is None:
            return
        try:
            self.chat = TextConversation(self.config, clean, timezone=timezone)
        except ProviderKeyMissing as exc:
            await self.send_json({"type": "error", "message": str(exc)})
            return
        await self._reply(await self.chat.start())

    async def _start_voice(self, variables: dict, timezone: str) -> None:
        from voiceagent.phone_line import SAMPLE_RATE
        from voiceagent.simulated_voice import voice_problems
        from voiceagent.voice_session import VoiceConversation

        global _voice_sessions
        clean = await self._checked(variables, timezone)
        if clean is None:
            return
        if problems := await asyncio.to_thread(voice_problems, self.config):
            await self.send_json({"type": "error", "message": " ".join(problems)})
            return
        if _voice_sessions >= MAX_VOICE_SESSIONS:
            await self.send_json({"type": "error", "message": "Too many conversations by voice on this server now; try again shortly."})
            return
        try:
            voice = VoiceConversation(self.config, clean, timezone=timezone)
        except ProviderKeyMissing as exc:
            await self.send_json({"type": "error", "message": str(exc)})
            return
        _voice_sessions += 1
        self.voice = voice
        voice.session.on("conversation_item_added", self._voice_line)
        self._pump = asyncio.get_running_loop().create_task(self._play_to_browser(voice))
        await voice.start()
        await self.send_json({"type": "voice", "sample_rate": SAMPLE_RATE, "state": self._state(voice.state)})

    def _voice_line(self, event) -> None:
        item = event.item
        if getattr(item, "type", "") != "message" or item.role not in ("user", "assistant") or self.voice is None:
            return
        line = {"kind": "heard" if item.role == "user" else "say", "text": item.text_content or "", "interrupted": bool(item.interrupted)}
        message = {"type": "lines", "lines": [line], "state": self._state(self.voice.state)}
        asyncio.get_running_loop().create_task(self.send_json(message))

    async def _play_to_browser(self, voice) -> None:
        """The bot's audio as played, to the browser; then the end of the call."""
        while not voice.closed.is_set():
            chunk = await voice.line.listen(timeout=0.5)
            if chunk:
                await self.send(bytes_data=chunk)
        await self.send_json({"type": "lines", "lines": [], "state": {**self._state(voice.state), "ended": True}})

    async def _checked(self, variables: dict, timezone: str) -> dict | None:
        if isinstance(self.config, ConfigError):
            await self.send_json({"type": "error", "message": f"The skillbase's configuration is invalid: {self.config}"})
            return None
        await self._close_chat()
        try:
            validate_timezone(timezone)
        except ValidationError:
            await self.send_json({"type": "error", "message": f"'{timezone}' is not a time zone; use a name like Europe/Moscow."})
            return None
        return {str(k)[:64]: str(v)[:500] for k, v in variables.items() if isinstance(k, str)}

    @staticmethod
    def _state(state) -> dict:
        return {
            "step": state.step, "steps": state.steps_reached, "collected": state.collected, "outcome": state.outcome,
            "ended": state.ended, "callback_at": state.callback_at.isoformat() if state.callback_at else None,
        }  # fmt: skip

    async def _reply(self, lines) -> None:
        await self.send_json({"type": "lines", "lines": [asdict(line) for line in lines], "state": self._state(self.chat.state)})

    async def _close_chat(self) -> None:
        global _voice_sessions
        if self.chat is not None:
            await self.chat.aclose()
            self.chat = None
        if self.voice is not None:
            voice, self.voice = self.voice, None
            _voice_sessions -= 1
            await voice.aclose()
            if self._pump is not None:
                self._pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pump
                self._pump = None

    async def disconnect(self, code):
        await self._close_chat()
