"""The Russian translation ships complete and compiled.

locale/ru/LC_MESSAGES/django.po is the source; django.mo is committed beside it so no machine
needs gettext at run time. Terminology: locale/GLOSSARY.md.
"""

import gettext
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.models import CallTask, Campaign, DoNotCallEntry, Outcome
from skillbases.models import Skillbase
from tenancy.models import Role

MESSAGES = Path(__file__).resolve().parent.parent / "locale" / "ru" / "LC_MESSAGES"
PO, MO = MESSAGES / "django.po", MESSAGES / "django.mo"


def test_model_names_and_choices_are_russian():
    with translation.override("ru"):
        assert str(Campaign._meta.verbose_name_plural) == "кампании"
        assert str(Skillbase._meta.verbose_name) == "сценарий"
        assert str(CallTask._meta.verbose_name) == "контакт"
        assert str(DoNotCallEntry._meta.verbose_name_plural) == "стоп-лист"
        assert str(Campaign._meta.get_field("calling_window_start").verbose_name) == "начало окна звонков"
        assert str(Outcome.OPTED_OUT.label) == "Отказался от звонков"
        assert str(Role.VIEWER.label) == "Наблюдатель"


def test_placeholders_and_plural_forms():
    with translation.override("ru"):
        assert _("Import contacts into %(name)s") % {"name": "Лето"} == "Импорт контактов в кампанию «Лето»"
        singular, plural = "%(count)d pending task of this number was cancelled.", "%(count)d pending tasks of this number were cancelled."
        forms = {n: ngettext(singular, plural, n) % {"count": n} for n in (1, 3, 5, 21)}
    assert forms[1] == "Отменён 1 ожидающий контакт с этим номером."
    assert forms[3] == "Отменено 3 ожидающих контакта с этим номером."
    assert forms[5] == "Отменено 5 ожидающих контактов с этим номером."
    assert forms[21].startswith("Отменён 21 ожидающий")


def test_compiled_catalog_is_next_to_the_source():
    assert PO.is_file()
    assert MO.is_file(), "run: python manage.py compilemessages --ignore=.venv"
    with MO.open("rb") as f:
        catalog = gettext.GNUTranslations(f)
    assert catalog.gettext("Calling window") == "Окно звонков"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext's msgfmt is not installed")
def test_every_message_is_translated_and_compiled():
    result = subprocess.run(
        ["msgfmt", "--check-format", "--check-header", "--statistics", "-o", os.devnull, str(PO)],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    assert result.returncode == 0, result.stderr
    stats = result.stderr.strip().splitlines()[-1]
    match = re.fullmatch(r"(\d+) translated messages?\.", stats)
    assert match, f"fuzzy or untranslated entries: {stats}"
    # A stale .mo (the .po edited, compilemessages not run) holds a different number of messages.
    with MO.open("rb") as f:
        catalog = gettext.GNUTranslations(f)._catalog
    compiled = {key if isinstance(key, str) else key[0] for key in catalog} - {""}
    assert len(compiled) == int(match.group(1)), "django.mo is out of date: run compilemessages"


@pytest.mark.parametrize("language", ["en", "ru"])
def test_no_two_outcomes_read_the_same(language):
    # A retry table or a report with two rows called «Нет ответа» cannot be read.
    with translation.override(language):
        labels = [str(label) for _value, label in Outcome.choices]
    assert len(set(labels)) == len(labels), labels


def test_a_call_is_named_and_its_end_told_in_the_readers_language(org, skillbase):
    from analytics.conversation import conversation
    from tests.support.calls import conversation as talk
    from tests.support.calls import ended_call

    campaign = Campaign.objects.create(organization=org, name="Весна", skillbase=skillbase)
    call = ended_call(campaign, outcome="refusal", events=talk(("assistant", "Hi"), steps=("greeting",)), last_step="greeting")
    with translation.override("ru"):
        assert str(call) == f"Звонок {call.pk} на {call.phone} (попытка 1)"
        ended = [entry for entry in conversation(call)[0] if entry.kind == "event" and entry.text]
        assert ended[-1].text == "Отказ"
