"""``SkillbaseAgent``: the bot a skillbase describes, as a livekit-agents ``Agent``.

The same agent runs on a real phone call (audio through LiveKit) and in text mode (tests, the
simulator, ``manage.py chat``, the admin's "Try this bot"). Its tools are the same for every LLM
provider; what they do to the conversation lives in ``Conversation``, what they do to the outside
world (do-not-call list, call log, hanging up) goes through ``CallHooks``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from typing import Any, Protocol

from livekit.agents import Agent, ModelSettings, RunContext, function_tool
from livekit.agents.llm import StopResponse
from livekit.agents.llm import ToolError as LLMToolError

from voiceagent.flow.conversation import Conversation, ToolError

logger = logging.getLogger(__name__)


class CallHooks(Protocol):
    """What the agent tells the world. The default does nothing; a real call persists it."""

    async def event(self, kind: str, *, role: str = "", text: str = "", data: dict[str, Any] | None = None) -> None: ...
    async def opted_out(self) -> None: ...
    async def hang_up(self) -> None: ...


class NoHooks:
    async def event(self, kind: str, *, role: str = "", text: str = "", data: dict[str, Any] | None = None) -> None:
        return None

    async def opted_out(self) -> None:
        return None

    async def hang_up(self) -> None:
        return None


def instructions_for(conversation: Conversation) -> str:
    config = conversation.config
    context = config.context
    engine = conversation.engine
    lines = [
        f"You are {context.agent_name or 'an assistant'}, {context.role} at {context.company}, on an outbound phone call.",
        f"Your goal: {context.goal}",
        f"Tone: {context.tone}. Speak {config.language} only. Keep every reply to one or two short sentences.",
        "Follow the script step by step: when the callee's answer moves the conversation on, call goto_step; record what "
        "you collect with record_field; if they ask to be called back, call schedule_callback with the time they said; if "
        "they ask not to be called again, call opt_out; if you reach an answering machine, call handle_voicemail; on the "
        "last step, say it and call end_call with its outcome.",
        # The same off-script behaviour the offline engine has.
        "Off script: if the callee asks a question the facts answer, answer it in one short sentence from the facts, then "
        "ask the current step's question again; a question the facts do not answer: say you cannot tell and ask the "
        "step's question again; never invent an answer. If asked whether you are a robot or a real person, say honestly "
        "that you are a virtual assistant, then go on. If they ask for a person, do not take it as a yes: offer that a "
        "person calls them back, and if they accept, end_call with outcome 'human_requested'. If it is the wrong person "
        "or number, apologise and end_call with 'wrong_number'. If they are busy or driving, schedule_callback (at the "
        "time they give, if any). If they speak another language than yours, say one sentence in theirs if you can, "
        "then end_call with 'other_language'. After repeated silence, end_call with 'no_response'. An answer that gives "
        "a day and time instead of a yes is a yes with that value: record it. Never say you did not hear a line you heard.",
    ]
    facts = [engine.render(fact, conversation.state) for fact in context.facts]
    if facts:
        lines.append("Facts you may use: " + " ".join(f"- {fact}" for fact in facts))
    if engine.hours.known:
        lines.append(
            f"Opening hours ({engine.hours.zone.key}): {engine.hours.describe('en')}. Book visits only within them and not "
            "in the past; for a time outside them, say when you are open and offer the nearest open time."
        )
    if context.rules:
        lines.append("Rules: " + " ".join(f"- {rule}" for rule in context.rules))
    return "\n".join(lines)


class SkillbaseAgent(Agent):
    def __init__(
        self,
        conversation: Conversation,
        *,
        hooks: CallHooks | None = None,
        ready: asyncio.Event | None = None,
        voicemail_by_amd: bool = False,
        **kwargs: Any,
    ) -> None:
        self.conversation = conversation
        # On a real call answering-machine detection leaves the message, after the greeting and its
        # beep: the script noticing a mailbox first only marks the call for it.
        self._voicemail_by_amd = voicemail_by_amd
        # Set when the session's audio path is complete (a recorder put between it and the room after
        # the session started): the greeting must not start on the path that is being replaced.
        self._ready = ready
        self.hooks = hooks or NoHooks()
        self.base_instructions = instructions_for(conversation)
        self._utterance = ""  # all the bot meant to say in its latest utterance
        self._hook_tasks: set[asyncio.Task] = set()
        super().__init__(instructions=self._current_instructions(), **kwargs)

    def _current_instructions(self) -> str:
        return f"{self.base_instructions}\n\n{self.conversation.step_brief()}"

    async def on_enter(self) -> None:
        self.session.on("conversation_item_added", self._on_item_added)
        if self.session.input.audio is not None:
            # On a line, a callee who says nothing is a turn too: the script's "silence".
            self.session.on("user_state_changed", self._on_user_state)
        # The bot speaks first, with the start step's text, without waiting on any model.
        await self.hooks.event("step", data={"step": self.conversation.state.step})
        if self._ready is not None:
            await self._ready.wait()
        # Wait for the greeting to be played, so it precedes the callee's first words in the history.
        greeting = self.session.say(self.conversation.greeting())
        await greeting.wait_for_playout()
        if greeting.interrupted and not self._bot_was_heard():
            self.conversation.greeting_not_heard()

    def _bot_was_heard(self) -> bool:
        return any(
            getattr(item, "role", None) == "assistant" and (item.text_content or "").strip()
            for item in self.session.history.items
            if getattr(item, "type", None) == "message"
        )

    async def on_exit(self) -> None:
        self.session.off("conversation_item_added", self._on_item_added)
        if self.session.input.audio is not None:
            self.session.off("user_state_changed", self._on_user_state)
        if self._hook_tasks:
            await asyncio.gather(*self._hook_tasks, return_exceptions=True)

    async def transcription_node(self, text: AsyncIterable[str], model_settings: ModelSettings) -> AsyncIterable[str]:
        # Every utterance passes through here whole, before playback can cut it short.
        self._utterance = ""
        async for delta in Agent.default.transcription_node(self, text, model_settings):
            self._utterance += delta
            yield delta

    def _on_user_state(self, event: Any) -> None:
        """The callee stayed silent for the script's ``silence_timeout_seconds`` after the bot spoke."""
        if event.new_state != "away" or self.conversation.state.ended:
            return
        self.session.generate_reply(user_input="")
        self.session.reset_away_timer()  # the next silence counts from the bot's next words

    def _on_item_added(self, event: Any) -> None:
        # When the callee barges in, livekit stores the reply as the words played so far, with
        # interrupted=True; the event keeps both versions.
        item = event.item
        if getattr(item, "role", None) != "assistant" or not item.interrupted:
            return
        heard = item.text_content or ""
        data = {"heard": heard, "full": self._utterance or heard, "step": self.conversation.state.step}
        task = asyncio.get_running_loop().create_task(self.hooks.event("interruption", role="assistant", text=heard, data=data))
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    async def _tool(self, name: str, result: Any, data: dict[str, Any]) -> None:
        await self.hooks.event("tool_call", data={"tool": name, **data, "result": result})

    @function_tool()
    async def goto_step(self, context: RunContext, step: str) -> str:
        """Move the conversation to another step of the script.

        Args:
            step: the id of the step to move to, one of the next steps the current step lists.
        """
        brief = await self._run_tool("goto_step", self.conversation.goto_step, step=step)
        await self.hooks.event("step", data={"step": step})
        return brief

    @function_tool()
    async def record_field(self, context: RunContext, field: str, value: str) -> str:
        """Record a value the callee gave for a field the current step collects.

        Args:
            field: the field name, as listed under "Collect".
            value: what the callee said, e.g. "tomorrow at 5 pm" for a time.
        """
        return await self._run_tool("record_field", self.conversation.record_field, field=field, value=value)

    @function_tool()
    async def schedule_callback(self, context: RunContext, when: str) -> str:
        """Schedule a call back at the time the callee asked for.

        Args:
            when: the time as the callee said it, e.g. "tomorrow after five" or "в пятницу утром".
        """
        return await self._run_tool("schedule_callback", self.conversation.schedule_callback, when=when)

    @function_tool()
    async def opt_out(self, context: RunContext) -> str:
        """The callee asked never to be called again: put the number on the do-not-call list."""
        result = await self._run_tool("opt_out", self.conversation.opt_out)
        await self.hooks.opted_out()
        return result

    @function_tool()
    async def handle_voicemail(self, context: RunContext) -> None:
        """An answering machine or voicemail greeting answered: leave the script's message or hang up."""
        message = self.conversation.handle_voicemail()
        await self._tool("handle_voicemail", message, {})
        if self._voicemail_by_amd:
            return
        if not message:
            await self._finish("voicemail")
            return
        # Said after this turn; the call ends once it has been played (awaiting it here, inside the
        # turn it is queued behind, would never return).
        handle = self.session.say(message, allow_interruptions=False)
        task = asyncio.get_running_loop().create_task(self._finish_after(handle, "voicemail"))
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    async def _finish_after(self, handle, outcome: str) -> None:
        await handle.wait_for_playout()
        await self._finish(outcome)

    @function_tool()
    async def end_call(self, context: RunContext, outcome: str) -> None:
        """End the call after the last words, with the outcome of the conversation.

        Args:
            outcome: one of success, refusal, callback_requested, opted_out, voicemail, failed.
        """
        await self._run_tool("end_call", self.conversation.end_call, outcome=outcome)
        await context.wait_for_playout()
        await self._finish(outcome)

    async def _run_tool(self, name: str, method, **arguments: Any) -> str:
        try:
            result = method(**arguments)
        except ToolError as exc:
            await self._tool(name, str(exc), {**arguments, "error": True})
            raise LLMToolError(str(exc)) from None
        # The step brief shows collected values ("booked for {slot}"): a model that moved to the
        # step before recording the value must read the line with it, not the one goto_step rendered.
        await self.update_instructions(self._current_instructions())
        await self._tool(name, result, arguments)
        return result

    async def on_user_turn_completed(self, turn_ctx, new_message) -> None:
        if await self.enforce_limits() is not None:
            raise StopResponse

    async def enforce_limits(self) -> str | None:
        """Count a callee turn and end the call past the script's turn or time limit; returns the
        goodbye said. The flow engine keeps these limits itself; for a real LLM the agent does."""
        state, limits = self.conversation.state, self.conversation.config.flow.limits
        if self.conversation.config.llm.provider == "flow" or state.ended:
            return None
        state.turns += 1
        if state.turns <= limits.max_turns and state.elapsed <= limits.max_duration_seconds:
            return None
        await self.hooks.event("error", text="The call reached the script's turn or time limit.")
        self.conversation.end_call("failed")
        goodbye = self.conversation.engine.goodbye("failed")
        await self.session.say(goodbye, allow_interruptions=False).wait_for_playout()
        await self._finish("failed")
        return goodbye

    async def _finish(self, outcome: str) -> None:
        self.conversation.state.ended = True
        self.conversation.state.outcome = outcome
        await self.hooks.hang_up()
        # Let the tool's own response settle before the session goes away.
        asyncio.get_running_loop().call_soon(self.session.shutdown)
