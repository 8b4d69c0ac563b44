"""What the bot says off script, in the built-in words of its language; a skillbase's
``flow.replies`` overrides each."""

from __future__ import annotations

from skillbases.outcomes import Outcome

BUILTIN_REPLIES: dict[str, dict[str, str]] = {
    "robot": {
        "ru": "Я виртуальный помощник, а не живой человек. Звоню вам по поручению компании — {company}.",
        "en": "I'm a virtual assistant calling for {company}, not a person.",
    },
    "human": {
        "ru": "Соединить с сотрудником прямо сейчас не получится, но он может вам перезвонить. Передать, чтобы вам перезвонили?",
        "en": "I can't put you through right now, but someone from our team can call you back. Shall I arrange that?",
    },
    "human_booked": {
        "ru": "Хорошо, передам — сотрудник вам перезвонит. Всего доброго!",
        "en": "Done — someone from our team will call you back. Goodbye!",
    },
    "wrong_person": {
        "ru": "Извините, пожалуйста, за беспокойство — видимо, мы ошиблись номером. Всего доброго!",
        "en": "I'm sorry for the bother — we must have the wrong number. Goodbye!",
    },
    "off_topic": {
        "ru": "С этим, к сожалению, не помогу.",
        "en": "I'm afraid I can't help with that.",
    },
    "unknown_question": {
        "ru": "Точно не подскажу — это лучше уточнить у администратора.",
        "en": "I don't have that information, but our front desk can tell you.",
    },
    "closed": {"ru": "На это время записать не получится.", "en": "I'm afraid we can't book that time."},
    "past": {"ru": "Это время уже прошло.", "en": "That time has already passed."},
    "silence": {
        "ru": "Похоже, вас не слышно. Перезвоним в другой раз. Всего доброго!",
        "en": "It seems I can't hear you. We'll try again another time. Goodbye!",
    },
    "still_there": {"ru": "Алло, вы меня слышите?", "en": "Hello, can you hear me?"},
    "unclear": {"ru": "Простите, не совсем поняла.", "en": "Sorry, I didn't quite get that."},
    "reprompt": {"ru": "Простите, я не расслышала. Повторите, пожалуйста?", "en": "Sorry, I didn't catch that. Could you say it again?"},
    "no_thanks": {"ru": "Хорошо.", "en": "All right."},
    "only_language": {"ru": "К сожалению, я говорю только по-русски.", "en": "I'm sorry, I can only speak English."},
}
# One line in the callee's language (when known here) that the call cannot go on in it; then goodbye.
OTHER_LANGUAGE: dict[str, dict[str, str]] = {
    "ru": {  # a Russian-speaking bot
        "en": "Sorry, I can only speak Russian on this call. Goodbye!",
        "uk": "Вибачте, я розмовляю лише російською. До побачення!",
        "de": "Entschuldigung, ich spreche nur Russisch. Auf Wiederhören!",
        "es": "Lo siento, solo hablo ruso. ¡Adiós!",
        "fr": "Désolé, je ne parle que russe. Au revoir !",
        "pt": "Desculpe, só falo russo. Adeus!",
        "zh": "对不起，我只会说俄语。再见！",
        "": "Извините, я говорю только по-русски. Всего доброго!",
    },
    "en": {  # an English-speaking bot
        "ru": "Извините, я могу говорить только по-английски. Всего доброго!",
        "uk": "Вибачте, я розмовляю лише англійською. До побачення!",
        "de": "Entschuldigung, ich spreche nur Englisch. Auf Wiederhören!",
        "es": "Lo siento, solo hablo inglés. ¡Adiós!",
        "fr": "Désolé, je ne parle qu'anglais. Au revoir !",
        "pt": "Desculpe, só falo inglês. Adeus!",
        "zh": "对不起，我只会说英语。再见！",
        "": "Sorry, I can only speak English. Goodbye!",
    },
}
GOODBYE = {
    Outcome.OPTED_OUT: {
        "ru": "Поняла, больше не будем вас беспокоить. Всего доброго!",
        "en": "Understood, we won't call you again. Goodbye!",
    },
    Outcome.CALLBACK_REQUESTED: {"ru": "Хорошо, перезвоним. Всего доброго!", "en": "Sure, we'll call you back. Goodbye!"},
    Outcome.NO_RESPONSE: {
        "ru": "Извините, не получается договориться. Перезвоним в другой раз. Всего доброго!",
        "en": "Sorry, we'll try you again another time. Goodbye!",
    },
    Outcome.FAILED: {"ru": "Извините, вас плохо слышно. Всего доброго!", "en": "Sorry, I can't hear you well. Goodbye!"},
}


def builtin(name: str, lang: str) -> str:
    texts = BUILTIN_REPLIES[name]
    return texts.get(lang, texts["en"])


def other_language_line(spoken: str, bot_lang: str) -> str:
    lines = OTHER_LANGUAGE.get(bot_lang, OTHER_LANGUAGE["en"])
    return lines.get(spoken, lines[""])


def goodbye(outcome: str, lang: str) -> str:
    texts = GOODBYE.get(outcome, GOODBYE[Outcome.NO_RESPONSE])
    return texts.get(lang, texts["en"])
