"""Skillbase versioning: every saved config change is an immutable, consecutive SkillbaseVersion."""

import copy
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from skillbases.models import Skillbase, SkillbaseVersion
from skillbases.schemas import validate_config


def reload(skillbase: Skillbase) -> Skillbase:
    return Skillbase.objects.get(pk=skillbase.pk)


def version_numbers(skillbase: Skillbase) -> list[int]:
    return sorted(SkillbaseVersion.objects.filter(skillbase=skillbase).values_list("version", flat=True))


def stored_config(skillbase: Skillbase) -> dict:
    return reload(skillbase).config_dict()


def normalised(config: dict) -> dict:
    return validate_config(copy.deepcopy(config)).model_dump(mode="json")


@pytest.fixture
def skillbase(org, operator, minimal_config):
    skillbase = Skillbase(organization=org, name="Reminder", description="Confirms visits", **minimal_config)
    skillbase.save(author=operator, note="First draft")
    return reload(skillbase)


def test_creating_records_version_one_with_author_and_note(org, operator, minimal_config):
    before = timezone.now()
    skillbase = Skillbase(organization=org, name="Reminder", **minimal_config)
    skillbase.save(author=operator, note="First draft")

    version = SkillbaseVersion.objects.get(skillbase=skillbase)
    assert (skillbase.version, reload(skillbase).version) == (1, 1)
    assert (version.version, version.author, version.note, version.name) == (1, operator, "First draft", "Reminder")
    assert version.organization_id == org.pk
    assert before <= version.created_at <= timezone.now()
    assert version.config == stored_config(skillbase)
    assert skillbase.current_version == version


def test_stored_config_is_normalised_with_defaults(skillbase, minimal_config):
    config = skillbase.versions.get().config

    assert config == normalised(minimal_config)
    assert config["voice"]["stt_provider"] == "openai"
    assert config["llm"]["provider"] == "flow"
    assert config["flow"]["limits"]["max_turns"] == 20
    assert config["flow"]["voicemail"]["action"] == "hang_up"
    assert config["flow"]["steps"][1]["transitions"] == []
    assert stored_config(skillbase) == config


def test_config_change_bumps_version(skillbase, org_admin):
    # Editing the loaded JSON in place is a change too.
    skillbase.flow["steps"][1]["say"] = "Great, see you tomorrow."
    skillbase.save(author=org_admin, note="Friendlier goodbye")

    assert skillbase.version == 2
    assert reload(skillbase).version == 2
    assert version_numbers(skillbase) == [1, 2]
    new = skillbase.versions.get(version=2)
    assert (new.author, new.note) == (org_admin, "Friendlier goodbye")
    assert new.created_at >= skillbase.versions.get(version=1).created_at
    assert new.config["flow"]["steps"][1]["say"] == "Great, see you tomorrow."
    assert skillbase.versions.get(version=1).config["flow"]["steps"][1]["say"] == "Great, see you then."
    assert skillbase.current_version == new


def test_change_in_any_section_bumps_version(skillbase):
    for number, change in enumerate(
        [
            lambda: skillbase.context.update(tone="formal"),
            lambda: skillbase.voice.update(tts_voice="nova"),
            lambda: skillbase.llm.update(temperature=0.9),
        ],
        start=2,
    ):
        change()
        skillbase.save()
        assert reload(skillbase).version == number
    assert version_numbers(skillbase) == [1, 2, 3, 4]


def test_saving_without_config_change_does_not_bump(skillbase):
    skillbase.name = "Visit reminder"
    skillbase.description = "Now with a new name"
    skillbase.save()
    skillbase.flow = copy.deepcopy(skillbase.flow)  # equal content, new object
    skillbase.save()
    skillbase.save(update_fields=["description"])

    stored = reload(skillbase)
    assert (stored.name, stored.description, stored.version) == ("Visit reminder", "Now with a new name", 1)
    assert version_numbers(skillbase) == [1]


def test_spelling_out_the_defaults_is_not_a_change(skillbase):
    skillbase.voice = {"stt_provider": "openai"}
    skillbase.save()

    assert reload(skillbase).version == 1
    assert skillbase.voice["tts_voice"] == "alloy"


def test_version_rows_cannot_be_modified(skillbase):
    version = skillbase.versions.get()
    version.note = "Rewritten history"
    version.config = {}

    with pytest.raises(ValidationError):
        version.save()
    with pytest.raises(ValidationError):
        version.save(update_fields=["note"])

    stored = SkillbaseVersion.objects.get(pk=version.pk)
    assert stored.note == "First draft"
    assert stored.config == stored_config(skillbase)


def test_invalid_config_raises_by_section_and_writes_nothing(skillbase):
    before = stored_config(skillbase)
    skillbase.flow["start"] = "hello"
    skillbase.context["language"] = "russian"
    skillbase.name = "Renamed"

    with pytest.raises(ValidationError) as caught:
        skillbase.save(note="Broken")

    assert caught.value.message_dict == {
        "context": ["context.language: 'russian' is not a language code. Use a code like 'ru-RU' or 'en-US' (did you mean 'ru'?)."],
        "flow": ["flow.start: The start step 'hello' is not one of the steps (greeting, confirmed, declined)."],
    }
    stored = reload(skillbase)
    assert (stored.name, stored.version, stored.config_dict()) == ("Reminder", 1, before)
    assert version_numbers(skillbase) == [1]
    assert skillbase.version == 1


def test_invalid_new_skillbase_writes_nothing(org, minimal_config):
    minimal_config["flow"]["steps"][0]["transitions"][0]["goto"] = "nowhere"

    with pytest.raises(ValidationError) as caught:
        Skillbase(organization=org, name="Broken", **minimal_config).save()

    assert caught.value.message_dict == {"flow": ["flow.steps[0].transitions[0].goto: There is no step 'nowhere' to go to."]}
    assert not Skillbase.objects.exists()
    assert not SkillbaseVersion.objects.exists()


def test_full_clean_reports_the_same_errors_and_normalises(org, minimal_config):
    skillbase = Skillbase(organization=org, name="Reminder", **minimal_config)
    skillbase.full_clean()
    assert skillbase.llm["provider"] == "flow"

    skillbase.flow["steps"][1]["say"] = "Bye {nam}."
    with pytest.raises(ValidationError) as caught:
        skillbase.full_clean()
    assert caught.value.message_dict["flow"][0].startswith("flow.steps[1].say: Unknown variable '{nam}'")


def test_rollback_creates_a_new_version_with_the_old_config(skillbase, operator):
    first = skillbase.versions.get(version=1).config
    skillbase.flow["steps"][1]["say"] = "Version two."
    skillbase.save()
    skillbase.flow["steps"][1]["say"] = "Version three."
    skillbase.save()

    restored = skillbase.rollback_to(1, author=operator)

    assert (restored.version, restored.author) == (4, operator)
    assert restored.config == first
    assert "Rollback to version 1" in restored.note
    assert skillbase.version == 4
    assert stored_config(skillbase) == first
    assert reload(skillbase).version == 4
    assert skillbase.rollback_to(2).version == 5
    assert skillbase.versions.get(version=5).config == skillbase.versions.get(version=2).config
    assert version_numbers(skillbase) == [1, 2, 3, 4, 5]


def test_rollback_to_unknown_version_raises_and_changes_nothing(skillbase):
    before = skillbase.config_dict()

    with pytest.raises(SkillbaseVersion.DoesNotExist):
        skillbase.rollback_to(7)

    assert skillbase.config_dict() == before
    assert (skillbase.version, reload(skillbase).version) == (1, 1)
    assert version_numbers(skillbase) == [1]


def test_rollback_from_a_otherloaded_at_that_version(skillbase):
    stale = reload(skillbase)
    skillbase.flow["steps"][1]["say"] = "Version two."
    skillbase.save()

    restored = stale.rollback_to(1)

    assert restored.version == 3
    assert stored_config(skillbase) == skillbase.versions.get(version=1).config


def test_stale_copies_saved_in_turn_get_consecutive_versions(skillbase):
    first, second = reload(skillbase), reload(skillbase)
    first.flow["steps"][1]["say"] = "From the first editor."
    second.context["tone"] = "formal"

    first.save(note="first")
    second.save(note="second")

    assert (first.version, second.version) == (2, 3)
    assert version_numbers(skillbase) == [1, 2, 3]
    # The later save wins, and its version records exactly what is stored.
    assert stored_config(skillbase) == skillbase.versions.get(version=3).config == second.config_dict()
    assert reload(skillbase).version == 3


def test_renaming_a_stale_otherkeeps_the_newer_config(skillbase):
    stale = reload(skillbase)
    skillbase.flow["steps"][1]["say"] = "Newer goodbye."
    skillbase.save()

    stale.name = "Renamed"
    stale.save()

    stored = reload(skillbase)
    assert (stored.name, stored.version) == ("Renamed", 2)
    assert stored.flow["steps"][1]["say"] == "Newer goodbye."
    assert stale.flow == stored.flow
    assert version_numbers(skillbase) == [1, 2]


def test_refreshed_otheris_compared_with_what_it_refreshed(skillbase):
    other = reload(skillbase)
    skillbase.flow["steps"][1]["say"] = "Version two."
    skillbase.save()
    other.refresh_from_db()
    skillbase.flow["steps"][1]["say"] = "Version three."
    skillbase.save()

    other.description = "Only the description"
    other.save()

    assert reload(skillbase).flow["steps"][1]["say"] == "Version three."
    assert version_numbers(skillbase) == [1, 2, 3]


def test_update_fields_with_a_config_section_keeps_row_and_versions_in_step(skillbase):
    skillbase.flow["steps"][1]["say"] = "Saved with update_fields."
    skillbase.save(update_fields=["flow"])
    skillbase.flow["steps"][1]["say"] = "And again."
    skillbase.save(update_fields=["flow"])

    assert reload(skillbase).version == 3
    assert version_numbers(skillbase) == [1, 2, 3]
    assert stored_config(skillbase) == skillbase.versions.get(version=3).config


def test_versions_stay_consecutive_across_all_operations(skillbase):
    skillbase.flow["steps"][1]["say"] = "Two."
    skillbase.save()
    skillbase.name = "Renamed"
    skillbase.save()
    skillbase.rollback_to(1)
    skillbase.flow["start"] = "nowhere"
    with pytest.raises(ValidationError):
        skillbase.save()
    skillbase = reload(skillbase)
    skillbase.voice["tts_voice"] = "nova"
    skillbase.save()

    assert version_numbers(skillbase) == [1, 2, 3, 4]
    assert reload(skillbase).version == 4
    assert [v.version for v in skillbase.versions.all()] == [4, 3, 2, 1]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks; SQLite serialises writers anyway")
@pytest.mark.django_db(transaction=True)
def test_concurrent_editors_get_consecutive_versions(org, minimal_config):
    skillbase = Skillbase(organization=org, name="Reminder", **minimal_config)
    skillbase.save()
    editors = 4
    ready = threading.Barrier(editors)
    errors = []

    def edit(number: int) -> None:
        try:
            other = reload(skillbase)
            other.flow["steps"][1]["say"] = f"Editor {number}."
            ready.wait(timeout=10)
            other.save()
        except Exception as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(editors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert version_numbers(skillbase) == list(range(1, editors + 2))
    assert stored_config(skillbase) == skillbase.versions.get(version=editors + 1).config
