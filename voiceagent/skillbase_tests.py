"""A skillbase's test conversations, held by the production agent in text mode (as ``manage.py
chat`` holds one): each callee line is a turn, an empty line a silent one. The runner that
``settings.SKILLBASE_TEST_RUNNER`` names."""

from __future__ import annotations

import asyncio

from skillbases.schemas import SkillbaseConfig
from skillbases.testing import ConversationTest, Run
from voiceagent.flow.conversation import Conversation
from voiceagent.text import TextConversation


def run_conversations(config: SkillbaseConfig, tests: list[ConversationTest], *, default_timezone: str) -> list[Run]:
    """What each test conversation produced, in order. Runs in a thread of its own when called
    from async code (an admin view under ASGI)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_all(config, tests, default_timezone))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _all(config, tests, default_timezone)).result()


async def _all(config: SkillbaseConfig, tests: list[ConversationTest], default_timezone: str) -> list[Run]:
    return [await run_conversation(config, test, default_timezone=default_timezone) for test in tests]


async def run_conversation(config: SkillbaseConfig, test: ConversationTest, *, default_timezone: str) -> Run:
    zone = test.zone(config, default_timezone)
    conversation = Conversation(config, dict(test.variables), timezone=zone, now=test.moment(zone))
    talk = TextConversation(config, dict(test.variables), timezone=zone, conversation=conversation)
    transcript: list[dict[str, str]] = []

    def bot(lines) -> None:
        transcript.extend({"role": "bot", "text": line.text} for line in lines if line.kind == "say" and line.text)

    try:
        bot(await talk.start())
        for line in test.lines:
            if talk.ended:
                break
            transcript.append({"role": "callee", "text": line})
            bot(await talk.send(line))
    finally:
        await talk.aclose()
    state = talk.state
    return Run(
        outcome=state.outcome if state.ended else "",
        ended=state.ended,
        steps=list(state.steps_reached),
        collected=dict(state.collected),
        shown=dict(state.shown),
        transcript=transcript,
    )
