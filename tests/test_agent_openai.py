"""The OpenAI-compatible LLM provider, end to end.

The production agent runs in text mode (``TextConversation``) with ``llm.provider = "openai"``: the
real livekit-plugins-openai client streams over HTTP from a local endpoint
(``tests/support/openai_server.py``) that answers the way a model would, from a per-test script.
Nothing of ours is mocked; the tests check both what the conversation ends up with and what the
model was sent (instructions with the current step, the six tools and their schemas, tool outputs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from livekit.agents import APIConnectionError, APIStatusError
from livekit.agents.metrics import LLMModelUsage

from newvoice.demo.seed import DATA_DIR
from skillbases.schemas import SkillbaseConfig, validate_config
from tests.support.openai_server import Answer, ChatRequest, HTTPError, OpenAIServer, Reply, Script, ToolCall, answers
from voiceagent.providers import ProviderKeyMissing, missing_keys
from voiceagent.text import Line, TextConversation

KEY_ENV = "TEST_OPENAI_KEY"
KEY = "sk-test-local-endpoint"
# A turn against the local endpoint takes milliseconds (or 4 s when the client retries a 500 three
# times); the bound only turns a hang into a failure.
TURN_TIMEOUT = 10
MOSCOW, NEW_YORK = "Europe/Moscow", "America/New_York"
ANNA = {"name": "Анна", "service": "маникюр", "phone": "+79990000001"}
JOHN = {"name": "John", "appointment_time": "Tuesday, March 3 at 10 AM", "doctor": "Dr. Patel", "phone": "+15550000001"}

TOOL_PARAMETERS = {
    "goto_step": ["step"],
    "record_field": ["field", "value"],
    "schedule_callback": ["when"],
    "opt_out": [],
    "handle_voicemail": [],
    "end_call": ["outcome"],
}

_STEP = re.compile(r"Current step: '([^']+)'")
_LINE = re.compile(r"Say \(in your own words if needed\): (.*?)(?= Instructions: | Collect: | Next steps: | This is the last step|$)", re.S)
_LAST_STEP = re.compile(r"call end_call with outcome '(\w+)'")


@pytest.fixture
async def openai_server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer(api_key=KEY) as server:
        yield server
    assert not server.script_errors, "the test's model script raised"


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)


def skillbase(filename: str, server: OpenAIServer) -> SkillbaseConfig:
    data = json.loads((DATA_DIR / filename).read_text(encoding="utf-8"))
    data["llm"] = {"provider": "openai", "model": "gpt-4o-mini", "base_url": server.url, "api_key_env": KEY_ENV}
    return validate_config(data)


@asynccontextmanager
async def call(config: SkillbaseConfig, variables: dict[str, Any], *, timezone: str, hooks=None) -> AsyncIterator[TextConversation]:
    conversation = TextConversation(config, variables, timezone=timezone, hooks=hooks)
    try:
        async with asyncio.timeout(TURN_TIMEOUT):
            conversation.greeting = await conversation.start()
        yield conversation
    finally:
        async with asyncio.timeout(TURN_TIMEOUT):
            await conversation.aclose()


async def say(conversation: TextConversation, text: str) -> list[Line]:
    async with asyncio.timeout(TURN_TIMEOUT):
        return await conversation.send(text)


# The model. It reads its instructions the way a good LLM does: answers the callee's words with the
# tool calls the current step asks for, and once its tools have run, says the current step's line
# from the system prompt, ending the call when the prompt says this is the last step.


def current_step(request: ChatRequest) -> str:
    return _STEP.search(request.system)[1]


def step_line(request: ChatRequest) -> Answer:
    line = _LINE.search(request.system)[1]
    last = _LAST_STEP.search(request.system)
    return Reply(line, [ToolCall("end_call", {"outcome": last[1]})]) if last else line


def good_model(moves: dict[str, Answer]) -> Script:
    def script(request: ChatRequest) -> Answer:
        if request.last["role"] == "user":
            return moves[request.user_texts[-1]]
        return step_line(request)

    return script


def said(lines: list[Line]) -> list[str]:
    return [line.text for line in lines if line.kind == "say"]


def tools_called(lines: list[Line]) -> list[tuple[str, dict[str, Any]]]:
    return [(line.tool, line.arguments) for line in lines if line.kind == "tool"]


def tomorrow_at(hour: int, timezone: str) -> dt.datetime:
    today = dt.datetime.now(ZoneInfo(timezone)).date()
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(hour), tzinfo=ZoneInfo(timezone))


def next_weekday_at(weekday: int, hour: int, timezone: str) -> dt.datetime:
    today = dt.datetime.now(ZoneInfo(timezone)).date()
    ahead = (weekday - today.weekday()) % 7 or 7
    return dt.datetime.combine(today + dt.timedelta(days=ahead), dt.time(hour), tzinfo=ZoneInfo(timezone))


class RecordingHooks:
    """What a real call would persist, kept in memory."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    async def event(self, kind: str, *, role: str = "", text: str = "", data: dict[str, Any] | None = None) -> None:
        self.log.append((kind, data or {}))

    async def opted_out(self) -> None:
        self.log.append(("opted_out", None))

    async def hang_up(self) -> None:
        self.log.append(("hang_up", None))


# Happy path: what the conversation ends with, and what the model was sent.


async def test_salon_booking_through_an_openai_compatible_endpoint(openai_server, api_key):
    openai_server.script = good_model(
        {
            "Да, расскажите": ToolCall("goto_step", {"step": "offer"}),
            "Да, записывайте": ToolCall("goto_step", {"step": "pick_time"}),
            "Завтра в три часа дня": [
                ToolCall("record_field", {"field": "slot", "value": "завтра в три часа дня"}),
                ToolCall("goto_step", {"step": "booked"}),
            ],
            "Нет, спасибо, я знаю, где вы": ToolCall("goto_step", {"step": "farewell"}),
        }
    )
    config = skillbase("salon_ru.json", openai_server)

    async with call(config, ANNA, timezone=MOSCOW) as conversation:
        assert said(conversation.greeting) == [config.flow.steps[0].say.format(**ANNA, agent_name="Алина")]
        offer = await say(conversation, "Да, расскажите")
        await say(conversation, "Да, записывайте")
        booked = await say(conversation, "Завтра в три часа дня")
        farewell = await say(conversation, "Нет, спасибо, я знаю, где вы")
        assert await say(conversation, "Алло?") == []  # the call is over: nothing more goes to the model

    state = conversation.state
    slot = tomorrow_at(15, MOSCOW)
    assert (state.ended, state.outcome) == (True, "success")
    assert state.steps_reached == ["greeting", "offer", "pick_time", "booked", "farewell"]
    assert state.collected == {"slot": slot.isoformat()}
    assert tools_called(offer) == [("goto_step", {"step": "offer"})]
    assert said(offer) == [
        "На этой неделе у наших мастеров есть свободные окна, "
        "а постоянным клиентам до конца месяца скидка 10 процентов на маникюр. Записать вас?"
    ]
    assert said(booked) == [f"Записала вас на {state.shown['slot']}. Накануне пришлём СМС-напоминание. Подсказать, как нас найти?"]
    assert tools_called(farewell)[-1] == ("end_call", {"outcome": "success"})
    assert said(farewell) == ["Спасибо, Анна! Ждём вас в «Лилии». Всего доброго!"]

    requests = openai_server.requests
    # Each turn: the callee's words, then the tool outputs; the last turn's end_call needs no reply.
    assert len(requests) == 8
    for request in requests:
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert request.body["model"] == "gpt-4o-mini"
        assert request.body["stream"] is True
        assert request.body["stream_options"] == {"include_usage": True}
        assert request.body["temperature"] == pytest.approx(0.3)
        assert "Салон красоты «Лилия»" in request.system
        assert "Пригласить клиента на процедуру и записать на удобные ему день и время." in request.system
        assert "Speak ru-RU only" in request.system
    # The instructions follow the conversation, including within a turn, right after goto_step.
    assert [current_step(r) for r in requests] == ["greeting", "offer", "offer", "pick_time", "pick_time", "booked", "booked", "farewell"]
    assert "Instructions: Узнай удобные клиенту день и время." in requests[3].system
    assert "Collect: slot (datetime) with record_field." in requests[3].system
    assert "Instructions:" not in requests[5].system
    assert "This is the last step: say it, then call end_call with outcome 'success'." in requests[7].system
    assert requests[-1].user_texts == ["Да, расскажите", "Да, записывайте", "Завтра в три часа дня", "Нет, спасибо, я знаю, где вы"]
    # The bot's own lines are in the history the model sees, the greeting first.
    assert requests[0].messages[1] == {"role": "assistant", "content": said(conversation.greeting)[0]}


async def test_every_request_offers_the_six_tools_with_their_schemas(openai_server, api_key):
    openai_server.script = answers(ToolCall("goto_step", {"step": "offer"}), "Записать вас?")
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        await say(conversation, "Да")

    for request in openai_server.requests:
        tools = request.tools
        assert set(tools) == set(TOOL_PARAMETERS)
        for name, arguments in TOOL_PARAMETERS.items():
            parameters = tools[name]["parameters"]
            assert (parameters["type"], parameters["additionalProperties"], tools[name]["strict"]) == ("object", False, True)
            assert sorted(parameters["properties"]) == sorted(arguments)
            assert sorted(parameters.get("required", [])) == sorted(arguments)
            assert all(parameters["properties"][a]["type"] == "string" for a in arguments)
            assert tools[name]["description"]
    tools = openai_server.requests[0].tools
    assert (
        "success, refusal, callback_requested, opted_out, voicemail, failed"
        in tools["end_call"]["parameters"]["properties"]["outcome"]["description"]
    )
    assert "answering machine" in tools["handle_voicemail"]["description"]


async def test_tool_outputs_flow_back_to_the_model(openai_server, api_key):
    openai_server.script = good_model(
        {
            "Да": ToolCall("goto_step", {"step": "offer"}),
            "Да, давайте": ToolCall("goto_step", {"step": "pick_time"}),
            "Завтра в три часа дня": [
                ToolCall("record_field", {"field": "slot", "value": "Завтра в три часа дня"}),
                ToolCall("goto_step", {"step": "booked"}),
            ],
        }
    )
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        for words in ("Да", "Да, давайте", "Завтра в три часа дня"):
            await say(conversation, words)

    after_goto = openai_server.requests[1].new_tool_results
    assert [(r["name"], r["arguments"]) for r in after_goto] == [("goto_step", {"step": "offer"})]
    assert after_goto[0]["output"].startswith("Current step: 'offer'.")
    assert "if the callee means 'yes' -> pick_time" in after_goto[0]["output"]
    shown = conversation.state.shown["slot"]
    record, goto = openai_server.requests[5].new_tool_results
    assert (record["name"], record["output"]) == ("record_field", f"Recorded slot = {shown}.")
    # Tools run in the order the model called them: the booked step's brief already has the slot.
    assert goto["name"] == "goto_step" and f"Записала вас на {shown}." in goto["output"]
    # Earlier results stay in the history.
    assert [r["name"] for r in openai_server.requests[5].tool_results] == ["goto_step", "goto_step", "record_field", "goto_step"]


async def test_the_instructions_show_a_value_recorded_after_moving_to_its_step(openai_server, api_key):
    # A model may move on first and record second; the line it is then told to say has the value.
    openai_server.script = answers(
        [ToolCall("goto_step", {"step": "booked"}), ToolCall("record_field", {"field": "slot", "value": "завтра в три часа дня"})],
        "Записала вас. Подсказать, как нас найти?",
    )
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        conversation.conversation.goto_step("offer")  # the earlier turns, through the tools' own code
        conversation.conversation.goto_step("pick_time")
        await say(conversation, "Запишите меня на завтра в три часа дня")

    shown = conversation.state.shown["slot"]
    assert f"Say (in your own words if needed): Записала вас на {shown}. Накануне" in openai_server.requests[1].system


# The other endings.


async def test_refusal(openai_server, api_key):
    openai_server.script = good_model({"Нет, спасибо, не интересно": ToolCall("goto_step", {"step": "refusal"})})
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        lines = await say(conversation, "Нет, спасибо, не интересно")

    assert tools_called(lines) == [("goto_step", {"step": "refusal"}), ("end_call", {"outcome": "refusal"})]
    assert said(lines) == ["Поняла вас, Анна. Извините за беспокойство! Если захотите записаться — будем рады вас видеть. Всего доброго!"]
    state = conversation.state
    assert (state.ended, state.outcome, state.steps_reached) == (True, "refusal", ["greeting", "refusal"])
    assert [current_step(r) for r in openai_server.requests] == ["greeting", "refusal"]


async def test_callback_at_the_time_the_callee_named(openai_server, api_key):
    openai_server.script = good_model(
        {
            "Я сейчас занята, перезвоните": ToolCall("goto_step", {"step": "callback_when"}),
            "Завтра после пяти": [
                ToolCall("schedule_callback", {"when": "завтра после пяти"}),
                ToolCall("record_field", {"field": "callback_at", "value": "завтра после пяти"}),
                ToolCall("goto_step", {"step": "callback_scheduled"}),
            ],
        }
    )
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        asked = await say(conversation, "Я сейчас занята, перезвоните")
        lines = await say(conversation, "Завтра после пяти")

    expected = tomorrow_at(17, MOSCOW)
    state = conversation.state
    assert said(asked) == ["Конечно! Когда вам будет удобно, чтобы я перезвонила?"]
    assert state.callback_at == expected and state.callback_at.utcoffset() == dt.timedelta(hours=3)
    assert (state.ended, state.outcome) == (True, "callback_requested")
    assert state.collected == {"callback_at": expected.isoformat()}
    assert state.steps_reached == ["greeting", "callback_when", "callback_scheduled"]
    assert said(lines) == [f"Хорошо, перезвоню в {state.shown['callback_at']}. Хорошего дня!"]
    assert tools_called(lines)[-1] == ("end_call", {"outcome": "callback_requested"})
    scheduled = openai_server.requests[3].new_tool_results[0]
    assert scheduled["output"] == f"Callback scheduled for {expected.isoformat()} (Europe/Moscow)."


async def test_opt_out(openai_server, api_key):
    hooks = RecordingHooks()
    openai_server.script = good_model(
        {"Больше не звоните мне": [ToolCall("opt_out"), ToolCall("goto_step", {"step": "opted_out"})]},
    )
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW, hooks=hooks) as conversation:
        lines = await say(conversation, "Больше не звоните мне")

    state = conversation.state
    assert (state.opted_out, state.ended, state.outcome) == (True, True, "opted_out")
    assert said(lines) == ["Извините за беспокойство, Анна. Больше звонить не будем — убираем ваш номер из списка обзвона. Всего доброго."]
    assert tools_called(lines) == [("opt_out", {}), ("goto_step", {"step": "opted_out"}), ("end_call", {"outcome": "opted_out"})]
    opt_out = openai_server.requests[1].new_tool_results[0]
    assert opt_out["output"].startswith("The number is on the do-not-call list.")
    assert [kind for kind, _ in hooks.log if kind in ("opted_out", "hang_up")] == ["opted_out", "hang_up"]
    assert ("tool_call", {"tool": "end_call", "outcome": "opted_out", "result": "The call is ending."}) in hooks.log


async def test_voicemail_leaves_the_message_and_ends(openai_server, api_key):
    openai_server.script = answers(ToolCall("handle_voicemail"))
    config = skillbase("salon_ru.json", openai_server)
    async with call(config, ANNA, timezone=MOSCOW) as conversation:
        lines = await say(conversation, "Здравствуйте, вы позвонили Анне. Оставьте сообщение после звукового сигнала.")
        assert await say(conversation, "Алло?") == []

    assert tools_called(lines) == [("handle_voicemail", {})]
    assert said(lines) == [conversation.conversation.engine.voicemail_message(conversation.state)]
    assert said(lines)[0].startswith("Здравствуйте, Анна! Это Алина из салона красоты «Лилия». Хотели пригласить вас на маникюр")
    state = conversation.state
    assert (state.voicemail, state.ended, state.outcome) == (True, True, "voicemail")
    assert len(openai_server.requests) == 1  # the message is the script's, not the model's


async def test_dental_reminder_rescheduled_in_english(openai_server, api_key):
    openai_server.script = good_model(
        {
            "I can't make it on Tuesday, can we move it?": ToolCall("goto_step", {"step": "pick_new_time"}),
            "Thursday at 10 am works": [
                ToolCall("record_field", {"field": "new_time", "value": "Thursday at 10 am"}),
                ToolCall("goto_step", {"step": "rescheduled"}),
            ],
        }
    )
    async with call(skillbase("dental_en.json", openai_server), JOHN, timezone=NEW_YORK) as conversation:
        assert said(conversation.greeting)[0].startswith("Hi John, this is Emma from Bright Smile Dental.")
        asked = await say(conversation, "I can't make it on Tuesday, can we move it?")
        lines = await say(conversation, "Thursday at 10 am works")

    new_time = next_weekday_at(3, 10, NEW_YORK)
    state = conversation.state
    assert said(asked)[0].startswith("Sure. What day and time would work better for you?")
    assert (state.ended, state.outcome) == (True, "success")
    assert state.steps_reached == ["reminder", "pick_new_time", "rescheduled"]
    assert state.collected == {"new_time": new_time.isoformat()}
    assert said(lines) == [
        f"Got it. I've asked the front desk to move your visit with Dr. Patel to {state.shown['new_time']}; "
        "they'll text you to confirm. Thank you, and have a great day!"
    ]
    assert state.shown["new_time"] == f"Thursday, {new_time:%B} {new_time.day} at 10:00 AM"
    requests = openai_server.requests
    assert [current_step(r) for r in requests] == ["reminder", "pick_new_time", "pick_new_time", "rescheduled"]
    assert all("Bright Smile Dental" in r.system and "Speak en-US only" in r.system for r in requests)
    assert "Confirm the patient's upcoming appointment, or help them reschedule or cancel it." in requests[0].system
    assert "Instructions: Ask for a day and time within opening hours." in requests[1].system


# A model that gets a tool wrong: it hears why, and the call goes on.


async def test_goto_an_unknown_step_is_an_error_the_model_can_correct(openai_server, api_key):
    openai_server.script = answers(ToolCall("goto_step", {"step": "booking"}), ToolCall("goto_step", {"step": "offer"}), "Записать вас?")
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        lines = await say(conversation, "Да")

    error = openai_server.requests[1].new_tool_results[0]
    assert error["output"].startswith("There is no step 'booking'. Steps: greeting, offer, price_info,")
    assert lines[0].output == error["output"]
    assert current_step(openai_server.requests[1]) == "greeting"  # the failed call moved nothing
    assert current_step(openai_server.requests[2]) == "offer"
    assert said(lines) == ["Записать вас?"]
    state = conversation.state
    assert (state.step, state.steps_reached, state.ended, state.outcome) == ("offer", ["greeting", "offer"], False, "")


async def test_end_call_with_an_unknown_outcome_does_not_end_the_call(openai_server, api_key):
    openai_server.script = answers(
        Reply("Поняла, всего доброго!", [ToolCall("end_call", {"outcome": "not_interested"})]),
        "Простите, одну секунду.",
        ToolCall("end_call", {"outcome": "refusal"}),
    )
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        lines = await say(conversation, "Нет")
        assert (conversation.ended, conversation.state.outcome) == (False, "")
        error = openai_server.requests[1].new_tool_results[0]
        assert (
            error["output"]
            == "Unknown outcome 'not_interested'. Use one of: success, refusal, callback_requested, opted_out, voicemail, no_response, "
            "wrong_number, human_requested, other_language, failed."
        )
        assert said(lines) == ["Поняла, всего доброго!", "Простите, одну секунду."]
        await say(conversation, "Алло?")

    assert (conversation.ended, conversation.state.outcome) == (True, "refusal")


async def test_record_field_with_a_value_it_cannot_read_asks_again(openai_server, api_key):
    openai_server.script = good_model(
        {
            "Да": ToolCall("goto_step", {"step": "offer"}),
            "Да, давайте": ToolCall("goto_step", {"step": "pick_time"}),
            "Как-нибудь на днях": [
                ToolCall("record_field", {"field": "slot", "value": "как-нибудь на днях"}),
                ToolCall("record_field", {"field": "colour", "value": "красный"}),
            ],
            "В пятницу в 12:00": [
                ToolCall("record_field", {"field": "slot", "value": "в пятницу в 12:00"}),
                ToolCall("goto_step", {"step": "booked"}),
            ],
        }
    )
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        await say(conversation, "Да")
        await say(conversation, "Да, давайте")
        lines = await say(conversation, "Как-нибудь на днях")
        outputs = [r["output"] for r in openai_server.requests[5].new_tool_results]
        assert outputs == [
            "Could not read a datetime from 'как-нибудь на днях'. Ask the callee again.",
            "'colour' is not a field this script collects.",
        ]
        assert [line.output for line in lines if line.kind == "tool"] == outputs
        assert said(lines)[0].startswith("Отлично! На какой день и время вас записать?")  # asked again
        assert (conversation.state.step, conversation.state.collected, conversation.ended) == ("pick_time", {}, False)
        await say(conversation, "В пятницу в 12:00")

    assert conversation.state.collected == {"slot": next_weekday_at(4, 12, MOSCOW).isoformat()}
    assert conversation.state.step == "booked"


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [({}, "Field required"), ({"step": 5}, "Input should be a valid string"), ("not json", "could not parse function arguments as JSON")],
)
async def test_malformed_tool_arguments_are_reported_to_the_model(openai_server, api_key, arguments, complaint):
    openai_server.script = answers(ToolCall("goto_step", arguments), "Простите, я вас слушаю.")
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        lines = await say(conversation, "Да")

    (error,) = openai_server.requests[1].new_tool_results
    assert error["name"] == "goto_step" and complaint in error["output"]
    assert said(lines) == ["Простите, я вас слушаю."]
    assert (conversation.state.step, conversation.ended) == ("greeting", False)


# Usage, keys and a failing endpoint.


async def test_token_usage_from_the_stream_reaches_the_session(openai_server, api_key):
    openai_server.script = good_model({"Да": ToolCall("goto_step", {"step": "offer"}), "Нет": ToolCall("goto_step", {"step": "refusal"})})
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        await say(conversation, "Да")
        await say(conversation, "Нет")
        (usage,) = conversation.session.usage.model_usage

    sent = [r.usage for r in openai_server.requests]
    assert len(sent) == 4
    assert isinstance(usage, LLMModelUsage)
    assert (usage.model, usage.provider) == ("gpt-4o-mini", openai_server.url.split("/")[2])
    assert usage.input_tokens == sum(u["prompt_tokens"] for u in sent) > 0
    assert usage.output_tokens == sum(u["completion_tokens"] for u in sent) > 0


@pytest.mark.parametrize("value", [None, ""])
async def test_a_missing_key_is_refused_before_any_request(openai_server, monkeypatch, value):
    if value is None:
        monkeypatch.delenv(KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(KEY_ENV, value)
    config = skillbase("salon_ru.json", openai_server)

    with pytest.raises(ProviderKeyMissing, match=KEY_ENV) as raised:
        TextConversation(config, ANNA, timezone=MOSCOW)

    assert raised.value.names == [KEY_ENV]
    assert missing_keys(config, voice=False) == [KEY_ENV]
    assert openai_server.requests == []


async def test_a_wrong_key_fails_the_turn_at_once(openai_server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-wrong")
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        with pytest.raises(APIStatusError) as raised:
            await say(conversation, "Да")

    assert raised.value.status_code == 401 and "Incorrect API key provided." in str(raised.value)
    assert len(openai_server.requests) == 1  # a client error is not retried
    assert conversation.ended is False


async def test_a_failing_endpoint_surfaces_as_an_error_and_the_call_can_go_on(openai_server, api_key):
    openai_server.script = lambda request: HTTPError(500)
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        with pytest.raises(APIConnectionError, match="failed to generate LLM completion after 4 attempts") as raised:
            await say(conversation, "Да")
        assert isinstance(raised.value.__cause__, APIStatusError) and raised.value.__cause__.status_code == 500
        assert len(openai_server.requests) == 4  # the first try and three retries
        assert (conversation.state.step, conversation.ended) == ("greeting", False)

        openai_server.script = good_model({"Да": ToolCall("goto_step", {"step": "offer"})})
        lines = await say(conversation, "Да")

    assert tools_called(lines) == [("goto_step", {"step": "offer"})]
    assert conversation.state.step == "offer"


async def test_every_failed_turn_raises_and_the_conversation_can_go_on(openai_server, api_key):
    # livekit's default would close the session on the fourth failure in a row, and end that turn silently.
    openai_server.script = answers(*[HTTPError(400, "Bad request.")] * 5, "Записать вас?")
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        for _ in range(5):
            with pytest.raises(APIStatusError, match="Bad request."):
                await say(conversation, "Да")
            assert conversation.ended is False
        lines = await say(conversation, "Да")

    assert said(lines) == ["Записать вас?"]
    assert len(openai_server.requests) == 6


async def test_a_rate_limited_request_is_retried(openai_server, api_key):
    openai_server.script = answers(HTTPError(429, "Rate limit reached for gpt-4o-mini."), "Записать вас?")
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        lines = await say(conversation, "Да")

    assert said(lines) == ["Записать вас?"]
    first, retry = openai_server.requests
    assert first.body == retry.body


async def test_a_model_cannot_jump_to_a_step_the_current_one_does_not_lead_to(openai_server, api_key):
    openai_server.script = answers([ToolCall("goto_step", {"step": "booked"})], "Извините, давайте по порядку.")
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        await say(conversation, "Запишите меня")
    assert conversation.state.steps_reached == ["greeting"]
    assert "Step 'booked' cannot follow 'greeting'" in openai_server.requests[1].new_tool_results[0]["output"]


async def test_the_turn_limit_holds_for_a_real_model_too(openai_server, api_key):
    raw = skillbase("salon_ru.json", openai_server)
    raw.flow.limits.max_turns = 1
    openai_server.script = answers("Простите?", "Простите?")
    async with call(raw, ANNA, timezone=MOSCOW) as conversation:
        await say(conversation, "что?")
        lines = await say(conversation, "что?")
    assert conversation.state.ended and conversation.state.outcome == "failed"
    assert said(lines) == ["Извините, вас плохо слышно. Всего доброго!"]
    assert len(openai_server.requests) == 1


async def test_schedule_callback_fills_the_time_the_script_says_back(openai_server, api_key):
    openai_server.script = answers(
        [ToolCall("schedule_callback", {"when": "завтра после пяти"}), ToolCall("goto_step", {"step": "callback_scheduled"})],
        "Хорошо, перезвоню.",
    )
    async with call(skillbase("salon_ru.json", openai_server), ANNA, timezone=MOSCOW) as conversation:
        await say(conversation, "Перезвоните завтра после пяти")
    assert "перезвоню в " in openai_server.requests[1].system and ", в 17:00" in openai_server.requests[1].system
