"""The admin's "Try this bot": a text conversation with a skillbase over a WebSocket.

The conversation lives as long as the socket, in the process that holds it, so every message goes
to the same agent session. Only members of the skillbase's organization may connect.
"""

from __future__ import annotations

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
        """A message that is not a JSON object gets an error message; the socket stays open."""
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
        if kind == "start":
            await self._start(variables, timezone)
        elif kind == "say" and self.chat is not None:
            text = str(content.get("text", ""))[:MAX_MESSAGE]
            await self._reply(await self.chat.send(text))
        else:
            await self.send_json({"type": "error", "message": "Send {'type': 'start'} first, then {'type': 'say', 'text': ...}."})

    async def _start(self, variables: dict, timezone: str) -> None:
        from voiceagent.text import TextConversation

        if isinstance(self.config, ConfigError):
            await self.send_json({"type": "error", "message": f"The skillbase's configuration is invalid: {self.config}"})
            return
        await self._close_chat()
        try:
            validate_timezone(timezone)
        except ValidationError:
            await self.send_json({"type": "error", "message": f"'{timezone}' is not a time zone; use a name like Europe/Moscow."})
            return
        clean = {str(k)[:64]: str(v)[:500] for k, v in variables.items() if isinstance(k, str)}
        try:
            self.chat = TextConversation(self.config, clean, timezone=timezone)
        except ProviderKeyMissing as exc:
            await self.send_json({"type": "error", "message": str(exc)})
            return
        await self._reply(await self.chat.start())

    async def _reply(self, lines) -> None:
        state = self.chat.state
        await self.send_json(
            {
                "type": "lines",
                "lines": [asdict(line) for line in lines],
                "state": {
                    "step": state.step, "steps": state.steps_reached, "collected": state.collected, "outcome": state.outcome,
                    "ended": state.ended, "callback_at": state.callback_at.isoformat() if state.callback_at else None,
                },
            }
        )  # fmt: skip

    async def _close_chat(self) -> None:
        if self.chat is not None:
            await self.chat.aclose()
            self.chat = None

    async def disconnect(self, code):
        await self._close_chat()
