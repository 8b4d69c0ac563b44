"""The answering-machine detector's offline classifier, and that it answers AMD's tool."""

import asyncio

import pytest
from livekit.agents import llm

from voiceagent.greeting_classifier import GreetingClassifier, classify


@pytest.mark.parametrize(
    ("greeting", "category"),
    [
        ("Hello?", "human"),
        ("Алло", "human"),
        ("Да, слушаю вас", "human"),
        ("Hi, you have reached Anna. I cannot take your call right now. Please leave a message after the tone.", "machine-vm"),
        ("Абонент не может ответить. Оставьте сообщение после звукового сигнала.", "machine-vm"),
        ("The mailbox is full and cannot accept any messages.", "machine-unavailable"),
        ("Аппарат абонента выключен или находится вне зоны действия сети.", "machine-unavailable"),
        ("Thank you for calling. Press 1 for sales.", "machine-ivr"),
        ("Здравствуйте! Для связи с оператором нажмите ноль.", "machine-ivr"),
        ("Thank you for calling Truly Pizza in Dana Pointe, our hours are eleven to eight", "uncertain"),
        ("", "uncertain"),
    ],
)
def test_greetings_are_told_apart(greeting, category):
    assert classify(greeting) == category


def test_it_answers_with_amd_s_save_prediction_tool():
    async def ask() -> list:
        context = llm.ChatContext(
            items=[
                llm.ChatMessage(role="system", content=["Classify the call greeting transcript."]),
                llm.ChatMessage(role="user", content=["Please leave a message after the beep."]),
            ]
        )
        return (await GreetingClassifier().chat(chat_ctx=context).collect()).tool_calls

    [call] = asyncio.run(ask())
    assert (call.name, call.arguments) == ("save_prediction", '{"label": "machine-vm"}')
