"""Skillbase config validation: each rule rejects a config with the JSON path of the offending value
and a sentence someone who is not a programmer can act on; valid configs pass with defaults filled."""

import copy

import pytest

from skillbases.schemas import ConfigError, ConfigIssue, LLMConfig, VoiceConfig, validate_config


def steps(config):
    return config["flow"]["steps"]


def put(*keys, value):
    """A change that sets config[k1][k2]...[kn] = value."""

    def change(config):
        *parents, last = keys
        for key in parents:
            config = config[key]
        config[last] = copy.deepcopy(value)

    return change


def drop(*keys):
    def change(config):
        *parents, last = keys
        for key in parents:
            config = config[key]
        del config[last]

    return change


def issues_of(config) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    return caught.value.issues


def assert_plain_sentence(message: str) -> None:
    assert message.endswith((".", "?", ")")), message
    for leak in ("Input should", "Value error", "function-", "instance of", "[key]", "Field required", "Extra inputs"):
        assert leak not in message


LOOP_STEP = {"id": "loop", "say": "Still there?", "transitions": [{"intent": "yes", "goto": "loop"}]}
ORPHAN_STEP = {"id": "orphan", "say": "Bye.", "end": True, "outcome": "success"}
ONLY_LOOPS = [{"id": "greeting", "say": "Hello {name}!", "transitions": [{"intent": "yes", "goto": "greeting"}]}]

# One broken rule per case: (change to the minimal config, exact path, part of the message).
RULES = [
    # Graph
    pytest.param(put("flow", "start", value="hello"), "flow.start", "start step 'hello' is not one of the steps", id="start-names-no-step"),
    pytest.param(drop("flow", "start"), "flow.start", "'start' is required", id="start-missing"),
    pytest.param(
        put("flow", "steps", 0, "transitions", 1, "goto", value="nowhere"),
        "flow.steps[0].transitions[1].goto",
        "There is no step 'nowhere'",
        id="goto-unknown-step",
    ),
    pytest.param(
        lambda c: steps(c).append(copy.deepcopy(steps(c)[1])),
        "flow.steps[3].id",
        "Duplicate step id 'confirmed': flow.steps[1] has it too",
        id="duplicate-step-id",
    ),
    pytest.param(put("flow", "steps", value=ONLY_LOOPS), "flow.steps", "No end step can be reached from the start step", id="no-terminal"),
    pytest.param(lambda c: steps(c).append(dict(ORPHAN_STEP)), "flow.steps[3]", "Step 'orphan' can never be reached", id="unreachable"),
    pytest.param(
        lambda c: (steps(c)[0]["transitions"].append({"intent": "callback", "goto": "loop"}), steps(c).append(copy.deepcopy(LOOP_STEP))),
        "flow.steps[3]",
        "No end step can be reached from step 'loop'",
        id="dead-end-loop",
    ),
    pytest.param(
        put("flow", "fallback", value={"step": "nope"}), "flow.fallback.step", "There is no step 'nope'", id="fallback-step-unknown"
    ),
    # Templates
    pytest.param(
        put("flow", "steps", 1, "say", value="See you, {nmae}."),
        "flow.steps[1].say",
        "Unknown variable '{nmae}' (did you mean '{name}'?)",
        id="unknown-variable-say",
    ),
    pytest.param(
        put("flow", "steps", 2, "instructions", value="Ask about {reason}."),
        "flow.steps[2].instructions",
        "Unknown variable '{reason}'",
        id="unknown-variable-instructions",
    ),
    pytest.param(
        put("flow", "fallback", value={"reprompt": "Sorry {customer}?"}),
        "flow.fallback.reprompt",
        "Unknown variable '{customer}'",
        id="unknown-variable-reprompt",
    ),
    pytest.param(
        put("flow", "voicemail", value={"action": "leave_message", "message": "Call {office_phone}."}),
        "flow.voicemail.message",
        "Unknown variable '{office_phone}'",
        id="unknown-variable-voicemail",
    ),
    pytest.param(
        put("flow", "steps", 0, "say", value="Hello {name, see you?"),
        "flow.steps[0].say",
        "there is a '{' that is not closed with '}'",
        id="template-unclosed-brace",
    ),
    pytest.param(
        put("flow", "steps", 0, "say", value="Hello name}."),
        "flow.steps[0].say",
        "there is a '}' without a matching '{'",
        id="template-stray-brace",
    ),
    pytest.param(put("flow", "steps", 0, "say", value="Hi {}!"), "flow.steps[0].say", "Empty braces", id="template-empty-braces"),
    pytest.param(
        put("flow", "steps", 0, "say", value="Hi {name!r}."), "flow.steps[0].say", "write variables plainly", id="template-conversion"
    ),
    # Intents
    pytest.param(put("flow", "intents", "no", value={"en": []}), "flow.intents.no", "Intent 'no' has no phrases", id="intent-no-phrases"),
    pytest.param(put("flow", "intents", "no", value={}), "flow.intents.no", "Intent 'no' has no phrases", id="intent-no-languages"),
    pytest.param(
        put("flow", "intents", "yes", value={"english": ["yes"]}),
        "flow.intents.yes.english",
        "'english' is not a language code",
        id="intent-language-key",
    ),
    pytest.param(
        put("flow", "steps", 0, "transitions", 0, "intent", value="maybe"),
        "flow.steps[0].transitions[0].intent",
        "Intent 'maybe' is not defined: add it to flow.intents or use a built-in intent "
        "(collected, opt_out, callback, silence, yes, no, robot, human, wrong_person, repeat)",
        id="transition-undefined-intent",
    ),
    pytest.param(
        put("flow", "intents", "bad name", value={"en": ["x"]}),
        "flow.intents.bad name",
        "'bad name' is not a valid name",
        id="intent-name-pattern",
    ),
    # Languages
    pytest.param(
        put("context", "language", value="russian"), "context.language", "'russian' is not a language code", id="context-language-word"
    ),
    pytest.param(put("context", "language", value="ru_RU"), "context.language", "did you mean 'ru-RU'?", id="context-language-underscore"),
    pytest.param(put("context", "language", value="xx-YY"), "context.language", "there is no language 'xx'", id="context-language-unknown"),
    pytest.param(put("voice", value={"language": "russian"}), "voice.language", "(did you mean 'ru'?)", id="voice-language-word"),
    pytest.param(
        put("voice", value={"language": "ru_RU"}), "voice.language", "'ru_RU' is not a language code", id="voice-language-underscore"
    ),
    pytest.param(put("voice", value={"language": "xx-YY"}), "voice.language", "there is no language 'xx'", id="voice-language-unknown"),
    # Providers: the message names the allowed values.
    pytest.param(
        put("voice", value={"stt_provider": "google"}),
        "voice.stt_provider",
        "'google' is not allowed here. Choose one of: 'openai', 'deepgram', 'cartesia', 'elevenlabs' or 'local'.",
        id="stt-provider",
    ),
    pytest.param(
        put("voice", value={"tts_provider": "polly"}),
        "voice.tts_provider",
        "'polly' is not allowed here. Choose one of: 'openai', 'deepgram', 'cartesia', 'elevenlabs' or 'local'.",
        id="tts-provider",
    ),
    pytest.param(
        put("llm", value={"provider": "anthropic"}),
        "llm.provider",
        "'anthropic' is not allowed here. Choose one of: 'flow' or 'openai'.",
        id="llm-provider",
    ),
    pytest.param(
        put("flow", "steps", 1, "outcome", value="won"), "flow.steps[1].outcome", "Choose one of: 'success', 'refusal'", id="outcome-value"
    ),
    pytest.param(
        put("flow", "steps", 0, "collect", value=[{"field": "when", "type": "datetme"}]),
        "flow.steps[0].collect[0].type",
        "'datetme' is not allowed here. Choose one of: 'text', 'datetime'",
        id="collect-type",
    ),
    # Unknown fields (typos) are named, with a suggestion when one is close.
    pytest.param(
        put("flow", "steps", 0, "sya", value="Hi"), "flow.steps[0].sya", "Unknown field 'sya' (did you mean 'say'?)", id="typo-step"
    ),
    pytest.param(
        put("context", "langauge", value="en-US"),
        "context.langauge",
        "Unknown field 'langauge' (did you mean 'language'?)",
        id="typo-context",
    ),
    pytest.param(put("vioce", value={}), "vioce", "Unknown field 'vioce' (did you mean 'voice'?)", id="typo-section"),
    pytest.param(
        put("flow", "limits", value={"calls": 3}),
        "flow.limits.calls",
        "Unknown field 'calls'. Allowed fields here: max_turns, max_duration_seconds, silence_timeout_seconds.",
        id="unknown-field-lists-allowed",
    ),
    # Step rules: reported on the step itself, naming it.
    pytest.param(drop("flow", "steps", 1, "outcome"), "flow.steps[1]", "Step 'confirmed' ends the call", id="end-without-outcome"),
    pytest.param(
        put("flow", "steps", 0, "outcome", value="success"),
        "flow.steps[0]",
        "Step 'greeting' has an 'outcome' but is not an end step",
        id="outcome-on-non-end-step",
    ),
    pytest.param(
        put("flow", "steps", 1, "transitions", value=[{"intent": "yes", "goto": "greeting"}]),
        "flow.steps[1]",
        "so it cannot have transitions",
        id="end-step-with-transitions",
    ),
    pytest.param(
        put("flow", "steps", 0, "transitions", value=[]),
        "flow.steps[0]",
        "Step 'greeting' does not end the call, so it needs at least one transition",
        id="non-end-step-without-transitions",
    ),
    pytest.param(
        put("flow", "steps", 1, "say", value=""),
        "flow.steps[1]",
        "needs 'say' (what the bot says) or 'instructions'",
        id="step-says-nothing",
    ),
    pytest.param(put("flow", "steps", 1, "id", value="see you"), "flow.steps[1].id", "'see you' is not a valid name", id="step-id-pattern"),
    pytest.param(
        lambda c: steps(c)[0]["transitions"].append({"intent": "collected", "goto": "confirmed"}),
        "flow.steps[0].transitions",
        "The 'collected' intent needs fields in 'collect'",
        id="collected-without-collect",
    ),
    pytest.param(
        put("flow", "steps", 0, "collect", value=[{"field": "name"}]),
        "flow.steps[0].collect[0].field",
        "'name' is a built-in variable",
        id="collect-builtin-name",
    ),
    # Voicemail
    pytest.param(
        put("flow", "voicemail", value={"action": "leave_message"}),
        "flow.voicemail.message",
        "write the 'message' the bot should leave",
        id="voicemail-without-message",
    ),
    # Limits and other ranges
    pytest.param(put("flow", "limits", value={"max_turns": 0}), "flow.limits.max_turns", "This must be at least 1, not 0.", id="max-turns"),
    pytest.param(
        put("flow", "limits", value={"max_duration_seconds": 5000}),
        "flow.limits.max_duration_seconds",
        "This must be at most 3600, not 5000.",
        id="max-duration",
    ),
    pytest.param(
        put("flow", "limits", value={"silence_timeout_seconds": 0.5}),
        "flow.limits.silence_timeout_seconds",
        "This must be at least 1, not 0.5.",
        id="silence-timeout",
    ),
    pytest.param(
        put("flow", "limits", value={"max_turns": "many"}), "flow.limits.max_turns", "This must be a whole number.", id="limit-type"
    ),
    pytest.param(put("flow", "fallback", value={"retries": 9}), "flow.fallback.retries", "at most 5, not 9", id="fallback-retries"),
    pytest.param(put("llm", value={"temperature": 3}), "llm.temperature", "at most 2, not 3", id="llm-temperature"),
    pytest.param(
        put("voice", value={"min_endpointing_delay": 5, "max_endpointing_delay": 1}),
        "voice.max_endpointing_delay",
        "must not be less than 'min_endpointing_delay' (5)",
        id="endpointing-order",
    ),
    pytest.param(put("llm", value={"provider": "openai", "model": ""}), "llm.model", "Provider 'openai' needs a 'model'", id="llm-model"),
    pytest.param(put("llm", value={"base_url": "ftp://x"}), "llm.base_url", "'ftp://x' is not a web address", id="llm-base-url"),
    # Shapes
    pytest.param(put("flow", value=["greeting"]), "flow", "This must be an object with named fields", id="section-not-object"),
    pytest.param(drop("context"), "context", "'context' is required", id="section-missing"),
    pytest.param(put("flow", "steps", value=[]), "flow.steps", "This list needs at least 1 item.", id="no-steps"),
    pytest.param(put("context", "goal", value="   "), "context.goal", "This must not be empty.", id="blank-text"),
]


@pytest.mark.parametrize(("change", "path", "fragment"), RULES)
def test_each_rule_names_the_offending_value(minimal_config, change, path, fragment):
    change(minimal_config)

    issues = issues_of(minimal_config)

    assert [issue.path for issue in issues] == [path], issues
    assert fragment in issues[0].message
    assert_plain_sentence(issues[0].message)


@pytest.mark.parametrize("data", [["context", "flow"], "context: ...", None, 42])
def test_non_object_input_is_rejected(data):
    assert issues_of(data) == [
        ConfigIssue("", "The configuration must be a JSON object with the sections context, flow, voice and llm."),
    ]


def test_unknown_variable_message_lists_known_variables(minimal_config):
    minimal_config["flow"]["variables"] = ["appointment_date"]
    steps(minimal_config)[1]["say"] = "See you on {date}."

    (issue,) = issues_of(minimal_config)

    assert issue.message == (
        "Unknown variable '{date}'. Known variables: agent_name, appointment_date, company, name, phone; declare others in flow.variables."
    )


def test_independent_problems_are_reported_together(minimal_config):
    minimal_config["context"]["language"] = "russian"
    minimal_config["llm"] = {"provider": "anthropic"}
    minimal_config["flow"]["intents"]["no"] = {"en": []}
    steps(minimal_config)[0]["transitions"][0]["goto"] = "nowhere"
    steps(minimal_config)[1]["say"] = "See you, {nmae}."

    issues = issues_of(minimal_config)

    # The flow is checked on its own even though other sections are broken.
    assert [issue.path for issue in issues] == [
        "context.language",
        "llm.provider",
        "flow.intents.no",
        "flow.steps[0].transitions[0].goto",
        "flow.steps[1].say",
    ]


def test_structural_problems_across_sections_are_reported_together(minimal_config):
    minimal_config["voice"] = {"stt_provider": "google", "language": "xx-YY"}
    del steps(minimal_config)[1]["outcome"]
    steps(minimal_config)[2]["sya"] = "Bye"

    issues = issues_of(minimal_config)

    assert {issue.path for issue in issues} == {"flow.steps[1]", "flow.steps[2].sya", "voice.stt_provider", "voice.language"}
    assert ConfigError(issues).by_section().keys() == {"flow", "voice"}


def test_a_step_breaking_several_rules_gets_one_message_naming_each(minimal_config):
    steps(minimal_config)[1].update(say="", transitions=[{"intent": "yes", "goto": "greeting"}])
    del steps(minimal_config)[1]["outcome"]

    (issue,) = issues_of(minimal_config)

    assert issue.path == "flow.steps[1]"
    assert "needs 'say'" in issue.message
    assert "needs an 'outcome'" in issue.message
    assert "cannot have transitions" in issue.message


def test_unreachable_and_unfinishable_steps_are_all_listed(minimal_config):
    steps(minimal_config)[0]["transitions"] = [{"intent": "yes", "goto": "greeting"}]

    issues = issues_of(minimal_config)

    assert [(issue.path, issue.message) for issue in issues] == [
        ("flow.steps[1]", "Step 'confirmed' can never be reached: no transition leads to it from the start step 'greeting'."),
        ("flow.steps[2]", "Step 'declined' can never be reached: no transition leads to it from the start step 'greeting'."),
        ("flow.steps", "No end step can be reached from the start step 'greeting', so a call could never finish."),
    ]


def test_config_error_groups_messages_by_section_with_paths(minimal_config):
    minimal_config["flow"]["start"] = "hello"
    minimal_config["context"]["language"] = "ru_RU"

    grouped = ConfigError(issues_of(minimal_config)).by_section()

    assert grouped == {
        "context": ["context.language: 'ru_RU' is not a language code. Use a code like 'ru-RU' or 'en-US' (did you mean 'ru-RU'?)."],
        "flow": ["flow.start: The start step 'hello' is not one of the steps (greeting, confirmed, declined)."],
    }


# Valid configs


def test_minimal_config_passes_with_defaults_filled(minimal_config):
    config = validate_config(minimal_config)

    assert config.voice == VoiceConfig()
    assert config.voice.stt_provider == "openai"
    assert config.voice.language is None
    assert config.llm == LLMConfig()
    assert config.llm.provider == "flow"
    assert config.language == "en-US"
    assert config.context.tone == "friendly and brief"
    assert config.flow.fallback.retries == 2
    assert config.flow.voicemail.action == "hang_up"
    assert config.flow.limits.max_turns == 20
    assert config.step("greeting").transitions[0].goto == "confirmed"


def test_normalised_config_validates_to_itself(minimal_config):
    minimal_config["context"]["role"] = "  receptionist  "
    config = validate_config(minimal_config)
    dumped = config.model_dump(mode="json")

    assert dumped["context"]["role"] == "receptionist"
    assert dumped["voice"]["tts_voice"] == "alloy"
    assert validate_config(dumped) == config


RICH_CONFIG = {
    "context": {
        "role": "receptionist",
        "company": "Smile Dental",
        "agent_name": "Anna",
        "goal": "confirm or reschedule tomorrow's appointment",
        "language": "ru-RU",
        "facts": ["The clinic opens at 9:00."],
        "rules": ["Never give medical advice."],
    },
    "flow": {
        "start": "greeting",
        "variables": ["appointment_date"],
        "steps": [
            {
                "id": "greeting",
                "say": "Hello {name}, this is {agent_name} from {company}. Can you come on {appointment_date}?",
                "transitions": [
                    {"intent": "yes", "goto": "confirmed"},
                    {"intent": "no", "goto": "ask_time"},
                    {"intent": "callback", "goto": "call_later"},
                    {"intent": "opt_out", "goto": "opted_out"},
                ],
            },
            {
                "id": "ask_time",
                "say": "When would suit you better?",
                "instructions": "Ask for a day and time; accept anything within two weeks.",
                "collect": [{"field": "preferred_time", "type": "datetime"}],
                "transitions": [{"intent": "collected", "goto": "rescheduled"}, {"intent": "opt_out", "goto": "opted_out"}],
            },
            {"id": "rescheduled", "say": "Noted: {preferred_time}. We will confirm by SMS.", "end": True, "outcome": "success"},
            {"id": "confirmed", "say": "Great, see you on {appointment_date}.", "end": True, "outcome": "success"},
            {"id": "call_later", "say": "Of course, we will call back later.", "end": True, "outcome": "callback_requested"},
            {"id": "opted_out", "say": "Understood, we will not call again.", "end": True, "outcome": "opted_out"},
            {"id": "handoff", "say": "Sorry {name}, a colleague will call you back.", "end": True, "outcome": "failed"},
        ],
        "intents": {
            "yes": {"en": ["yes", "sure"], "ru": ["да", "конечно"]},
            "no": {"en": ["no", "can't"], "ru-RU": ["нет", "не могу"]},
        },
        "fallback": {"reprompt": "Sorry {name}, could you say that again?", "retries": 1, "step": "handoff"},
        "voicemail": {"action": "leave_message", "message": "Hello {name}, please call {company} back."},
        "limits": {"max_turns": 12, "max_duration_seconds": 180, "silence_timeout_seconds": 6},
    },
    "voice": {"stt_provider": "deepgram", "tts_provider": "cartesia", "tts_voice": "anna", "language": "ru-RU"},
    "llm": {"provider": "openai", "model": "gpt-4o-mini", "base_url": "https://llm.example.com/v1", "temperature": 0.2},
}


def test_rich_config_passes():
    config = validate_config(copy.deepcopy(RICH_CONFIG))

    assert config.language == "ru-RU"
    assert "preferred_time" in config.known_variables()
    assert config.step("ask_time").collect[0].type == "datetime"
    assert config.flow.fallback.step == "handoff"
    assert config.voice.stt_provider == "deepgram"
    assert config.voice.allow_interruptions is True
    assert config.llm.api_key_env == "OPENAI_API_KEY"


def test_collected_field_is_unknown_when_nothing_collects_it():
    config = copy.deepcopy(RICH_CONFIG)
    config["flow"]["steps"][1]["collect"][0]["field"] = "time_wish"

    (issue,) = issues_of(config)

    assert issue.path == "flow.steps[2].say"
    assert "Unknown variable '{preferred_time}'" in issue.message
    assert "time_wish" in issue.message


def test_literal_braces_are_allowed_when_doubled(minimal_config):
    steps(minimal_config)[1]["say"] = "Your code is {{A1}}, {name}."

    assert validate_config(minimal_config).step("confirmed").say == "Your code is {{A1}}, {name}."
