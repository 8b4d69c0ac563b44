"""What a skillbase file must hold, checked before django-import-export reads it, so a wrong file
gets a message about the file (not a Python exception's name) and nothing is imported."""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext as _
from import_export.formats.base_formats import JSON

from skillbases.schemas import SECTIONS

FIELDS = ("name", "description", *SECTIONS)


class SkillbaseFileError(ValueError):
    """The file as a whole is not a skillbase file; nothing was imported."""


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return _("true or false")
    if isinstance(value, (int, float)):
        return _("a number")
    if isinstance(value, str):
        return _("text")
    if isinstance(value, list):
        return _("a list")
    if value is None:
        return _("null")
    return _("an object")


def read_skillbase_file(text: str) -> list[dict[str, Any]]:
    """The skillbases of a file, each with every field (missing ones empty), or SkillbaseFileError
    naming what is wrong and where. A file may hold one skillbase object or a list of them (the
    export writes a list)."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise SkillbaseFileError(_("The file is nested too deeply to be a skillbase file.")) from None
    except json.JSONDecodeError as exc:
        raise SkillbaseFileError(
            _("The file is not valid JSON: %(problem)s at line %(line)d, column %(column)d.")
            % {"problem": exc.msg, "line": exc.lineno, "column": exc.colno}
        ) from None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise SkillbaseFileError(
            _("A skillbase file holds a list of skillbases, as the export writes it; this file holds %(kind)s.") % {"kind": _kind(data)}
        )
    if not data:
        raise SkillbaseFileError(_("The file holds no skillbases."))
    return [_skillbase(position, item) for position, item in enumerate(data, start=1)]


def _skillbase(position: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SkillbaseFileError(
            _("Skillbase %(n)d of the file is %(kind)s, not an object with a name and sections.") % {"n": position, "kind": _kind(item)}
        )
    unknown = [key for key in item if key not in FIELDS]
    if unknown:
        raise SkillbaseFileError(
            _("Skillbase %(n)d has fields a skillbase does not have: %(unknown)s. A skillbase has: %(known)s.")
            % {"n": position, "unknown": ", ".join(map(str, unknown)), "known": ", ".join(FIELDS)}
        )
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SkillbaseFileError(_("Skillbase %(n)d has no name (text).") % {"n": position})
    if not isinstance(item.get("description", ""), str):
        raise SkillbaseFileError(_("The description of skillbase %(n)d (%(name)s) is not text.") % {"n": position, "name": name})
    for section in SECTIONS:
        value = item.get(section)
        if value not in (None, "") and not isinstance(value, (dict, str)):
            raise SkillbaseFileError(
                _("Section '%(section)s' of skillbase %(n)d (%(name)s) must be an object, not %(kind)s.")
                % {"section": section, "n": position, "name": name, "kind": _kind(value)}
            )
    return {"name": name, "description": item.get("description") or "", **{section: item.get(section) or {} for section in SECTIONS}}


class SkillbaseJSON(JSON):
    """The JSON format of the admin's import, reading only what ``read_skillbase_file`` accepts."""

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            try:
                in_stream = in_stream.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise SkillbaseFileError(_("The file is not UTF-8 text: export the skillbase again, or save the file as UTF-8.")) from None
        rows = read_skillbase_file(in_stream)
        return super().create_dataset(json.dumps(rows, ensure_ascii=False), **kwargs)


def file_problem(exc: Exception) -> str:
    """The message an import shows for a file it could not read."""
    if isinstance(exc, SkillbaseFileError):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return _("The file is not UTF-8 text: export the skillbase again, or save the file as UTF-8.")
    return _("The file could not be read as a skillbase file (JSON, as the export writes it).")
