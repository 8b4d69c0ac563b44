"""Which column of a contact file feeds which variable of the script, and what a row that lacks one gets.

A skillbase's variables are identifiers (``service``, ``appointment_time``); a salon's file says
«Услуга», «Время записи». Every column the importer does not take as a phone, name or zone is
matched to the script's variables by its name, by words both languages use for the same thing and
by transliteration (``usluga``); the operator sees the pairing and may change it. The one
``ColumnMapping`` is what the admin's mapping step, the API's ``mapping`` field and the command's
``--map`` options all produce and validate.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from campaigns.contacts.normalising import ALIASES, fold, phone_kind, variable_key
from skillbases.config_errors import IDENTIFIER

# A column's role instead of a variable; "" leaves the column out.
ROLES = ("phone", "name", "timezone", "first_name", "middle_name", "last_name")
IGNORE = ""
_SINGLE_ROLES = ("name", "timezone", "first_name", "middle_name", "last_name")
_IDENTIFIER = re.compile(IDENTIFIER)
MAX_FILL_CHARACTERS = 200


class MappingError(ValueError):
    """A mapping that cannot be used, with every reason in one message."""


@dataclass(frozen=True)
class ColumnMapping:
    """``columns``: a header → a role (ROLES), a variable, or "" (not imported); headers left out are
    read as the importer reads them unmapped. ``refuse_empty``: variables without which a row is
    refused; ``fill_empty``: the words a row without the variable gets instead."""

    columns: dict[str, str] = field(default_factory=dict)
    refuse_empty: tuple[str, ...] = ()
    fill_empty: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"columns": dict(self.columns), "refuse_empty": list(self.refuse_empty), "fill_empty": dict(self.fill_empty)}

    def __bool__(self) -> bool:
        return bool(self.columns or self.refuse_empty or self.fill_empty)


def parse_mapping(data: Any, *, headers: list[str] | None = None, variables: list[str] | None = None) -> ColumnMapping:
    """The mapping in ``data`` (as the API and the admin send it), checked against the file's
    ``headers`` and the script's ``variables`` when they are known. MappingError names each problem."""
    if data in (None, "", {}):
        return ColumnMapping()
    if not isinstance(data, dict):
        raise MappingError(_('The mapping must be an object like {"columns": {"Услуга": "service"}}.'))
    problems = []
    unknown = sorted(set(data) - {"columns", "refuse_empty", "fill_empty"})
    if unknown:
        problems.append(_("Unknown mapping keys: %(keys)s; use columns, refuse_empty and fill_empty.") % {"keys": ", ".join(unknown)})
    columns = data.get("columns") or {}
    refuse = data.get("refuse_empty") or []
    fill = data.get("fill_empty") or {}
    if not isinstance(columns, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items()):
        problems.append(_('“columns” must pair each column\'s title with a variable, a role or "" to leave it out.'))
        columns = {}
    if not isinstance(refuse, list) or not all(isinstance(v, str) for v in refuse):
        problems.append(_("“refuse_empty” must be a list of variable names."))
        refuse = []
    if not isinstance(fill, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in fill.items()):
        problems.append(_("“fill_empty” must pair variable names with the words to say instead."))
        fill = {}
    columns = {header.strip(): target.strip() for header, target in columns.items()}
    if headers is not None:
        problems += missing_columns(columns, headers)
    taken: dict[str, str] = {}
    for header, target in columns.items():
        if target == IGNORE:
            continue
        if not _IDENTIFIER.match(target) and target != variable_key(header):  # a column may keep its own name
            problems.append(
                _("«%(target)s» (for the column «%(column)s») is not a variable name: use Latin letters, digits and “_”.")
                % {"target": target, "column": header}
            )
            continue
        if target != "phone" and target in taken:
            problems.append(
                _("The columns «%(first)s» and «%(second)s» are both mapped to “%(target)s”.")
                % {"first": taken[target], "second": header, "target": target}
            )
        taken.setdefault(target, header)
    for name in [*refuse, *fill]:
        if variables is not None and name not in variables:
            listed = ", ".join(variables) or _("(none)")
            problems.append(
                _("“%(name)s” is not a variable the script uses (it uses %(variables)s).") % {"name": name, "variables": listed}
            )
    for name in set(refuse) & set(fill):
        problems.append(_("“%(name)s” cannot both refuse a row without it and fill it in.") % {"name": name})
    for name, text in fill.items():
        if not text.strip():
            problems.append(_("Write the words to say instead of an empty “%(name)s”, or choose another option.") % {"name": name})
        elif len(text) > MAX_FILL_CHARACTERS:
            problems.append(
                _("The words for an empty “%(name)s” are longer than %(limit)d characters.") % {"name": name, "limit": MAX_FILL_CHARACTERS}
            )
        elif "{" in text or "}" in text:
            problems.append(_("The words for an empty “%(name)s” are said as they are: leave out “{” and “}”.") % {"name": name})
    if problems:
        raise MappingError(" ".join(problems))
    return ColumnMapping(columns=columns, refuse_empty=tuple(dict.fromkeys(refuse)), fill_empty={k: v.strip() for k, v in fill.items()})


def missing_columns(columns: dict[str, str], headers: list[str]) -> list[str]:
    """A sentence for each column the mapping names that the file does not have."""
    known = {h.strip() for h in headers if h}
    shown = ", ".join(f"«{h}»" for h in headers if h)
    return [
        _("The file has no column «%(column)s»; its columns are %(columns)s.") % {"column": header, "columns": shown}
        for header in columns
        if header not in known
    ]


# What a column names, in words of either language, folded to a concept. A variable's words
# (``appointment_time``) and a header's («Время записи») meet when their concepts do. Stems match
# the start of a word, so one entry covers «записи», «запись», «записью».
_CONCEPTS = {
    "service": ("service", "procedure", "treatment", "услуг", "процедур", "сервис"),
    "appointment": ("appointment", "visit", "booking", "reservation", "session", "запис", "визит", "прием", "приём", "бронь", "сеанс"),
    "time": ("time", "at", "when", "hour", "время", "час", "когда"),
    "date": ("date", "day", "dat", "дата", "день", "числ"),
    "doctor": ("doctor", "dentist", "physician", "врач", "доктор", "стоматолог"),
    "master": (
        "master",
        "stylist",
        "specialist",
        "barber",
        "employee",
        "staff",
        "мастер",
        "стилист",
        "специалист",
        "парикмахер",
        "сотрудник",
    ),
    "address": ("address", "location", "адрес", "местоположен"),
    "branch": ("branch", "clinic", "salon", "office", "store", "shop", "филиал", "клиник", "салон", "офис", "магазин", "точк"),
    "city": ("city", "town", "город"),
    "discount": ("discount", "promo", "скидк", "акци"),
    "code": ("code", "код"),
    "price": ("price", "cost", "amount", "sum", "total", "цен", "стоимост", "сумм", "итог"),
    "debt": ("debt", "balance", "due", "owed", "долг", "задолженн", "баланс"),
    "order": ("order", "заказ"),
    "delivery": ("delivery", "shipping", "доставк"),
    "product": ("product", "item", "goods", "товар", "продукт", "издели"),
    "number": ("number", "no", "num", "номер"),
    "course": ("course", "class", "lesson", "курс", "заняти", "урок"),
    "pet": ("pet", "animal", "питом", "животн", "кличк"),
    "car": ("car", "vehicle", "auto", "машин", "автомобил", "авто"),
    "birthday": ("birthday", "birth", "рожден"),
    "email": ("email", "mail", "почт"),
    "comment": ("comment", "note", "remark", "коммент", "примечан", "заметк"),
    "last": ("last", "previous", "prev", "последн", "прошл", "предыдущ"),
    "next": ("next", "upcoming", "следующ", "ближайш"),
    "bonus": ("bonus", "points", "бонус", "балл"),
    "room": ("room", "cabinet", "кабинет", "комнат", "зал"),
    "contract": ("contract", "agreement", "договор"),
    "tariff": ("tariff", "plan", "тариф"),
    "company": ("company", "organization", "organisation", "firm", "компани", "организац", "фирм"),
    "policy": ("policy", "insurance", "полис", "страхов"),
}
_STOP_WORDS = frozenset({"the", "of", "a", "an", "for", "и", "в", "на", "для", "по", "клиента", "client", "customer"})
_WORD = re.compile(r"[a-zа-яё]+|\d+")
_TRANSLIT = str.maketrans(
    {"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i", "й": "y",
     "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f",
     "х": "h", "ц": "c", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya"}
)  # fmt: skip
# One spelling for the sounds transliterations write differently: kh/h, ts/c, shch/sch, j/y, w/v.
_SPELLINGS = (
    ("shch", "sch"),
    ("kh", "h"),
    ("ts", "c"),
    ("iy", "y"),
    ("yi", "y"),
    ("ij", "y"),
    ("j", "y"),
    ("w", "v"),
    ("x", "ks"),
    ("ck", "k"),
)
MATCH_THRESHOLD = 0.8


def _words(text: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)  # appointmentTime
    return [w for w in _WORD.findall(spaced.lower().replace("_", " ")) if w not in _STOP_WORDS]


def _concept(word: str) -> str | None:
    for concept, stems in _CONCEPTS.items():
        for stem in stems:
            if word == stem or (len(stem) >= 4 and word.startswith(stem)):
                return concept
    return None


def _sound(text: str) -> str:
    """``text`` in Latin letters, spelled one way: «Услуга» → ``usluga``, ``Uslooga`` stays close."""
    latin = re.sub(r"[^a-z0-9]", "", text.lower().translate(_TRANSLIT))
    for written, said in _SPELLINGS:
        latin = latin.replace(written, said)
    return re.sub(r"c(?!h)", "k", latin)  # promocode, promokod


def likeness(header: str, variable: str) -> float:
    """How surely the column ``header`` holds ``variable``, 0..1."""
    if variable_key(header) == variable or fold(header) == fold(variable):
        return 1.0
    header_sound, variable_sound = _sound(header), _sound(variable)
    if header_sound and header_sound == variable_sound:
        return 0.95
    score = 0.0
    header_concepts = {c for w in _words(header) if (c := _concept(w))}
    variable_concepts = {c for w in _words(variable) if (c := _concept(w))}
    if header_concepts and variable_concepts:
        shared = len(header_concepts & variable_concepts)
        # Below a name spelled alike: «Мастер» is ``master`` before it is ``stylist``.
        score = 0.9 * shared / max(len(header_concepts), len(variable_concepts))
        if shared and shared in (len(variable_concepts), len(header_concepts)):
            score = max(score, 0.8)  # «Дата и время записи» holds appointment_time, «Дата» appointment_date
    if header_sound and variable_sound:
        score = max(score, difflib.SequenceMatcher(None, header_sound, variable_sound).ratio() - 0.05)
    return score


def propose(headers: list[str], variables: list[str]) -> dict[str, str]:
    """The script's variables paired with the file's columns that most likely hold them: each
    variable with at most one column, each column with at most one variable, surest pairs first.
    Columns the importer takes as a phone, a name or a zone, and variables named exactly by a
    column already, are left as they are."""
    free = [h for h in headers if h and not _has_role(h)]
    named = {variable_key(h) for h in free}
    wanted = [v for v in variables if v not in named and v != "name"]
    pairs = sorted(((likeness(h, v), -i, -j, h, v) for i, h in enumerate(free) for j, v in enumerate(wanted)), reverse=True)
    chosen: dict[str, str] = {}
    used: set[str] = set()
    for score, _i, _j, header, variable in pairs:
        if score < MATCH_THRESHOLD:
            break
        if header in chosen or variable in used or variable_key(header) in variables:
            continue
        chosen[header] = variable
        used.add(variable)
    return chosen


def _has_role(header: str) -> bool:
    return phone_kind(header) is not None or any(fold(header) in names for names in ALIASES.values())
