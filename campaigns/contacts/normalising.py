"""Turning a contact file's cells into clean values: column roles, E.164 phones, time zones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from django.utils.translation import gettext as _
from phonenumbers import timezone as phone_timezones

from campaigns.contacts.reading import ImportFileError

# Header aliases, compared after folding case, "ё", spaces, dots, dashes and underscores away.
ALIASES = {
    "name": ("name", "fullname", "fio", "contact", "contactname", "customer", "client", "фио", "клиент", "контакт",
             "displayname", "полноеимя", "имяклиента", "контактноелицо"),
    "first_name": ("firstname", "givenname", "имя"),
    "middle_name": ("middlename", "additionalname", "отчество"),
    "last_name": ("lastname", "familyname", "surname", "фамилия"),
    "timezone": ("timezone", "tz", "zone", "часовойпояс", "пояс", "таймзона", "временнаязона"),
}  # fmt: skip
# Phone columns: a CRM export has several (Bitrix24 «Рабочий телефон», «Мобильный»; Outlook "Business
# Phone", "Mobile Phone"; Google "Phone 1 - Value"). A header is one when it names a phone and nothing
# that is not a number (a fax, a phone's type or label). Each column's kind ranks its numbers.
_PHONE_WORDS = ("phone", "telephone", "tel", "mobile", "cell", "msisdn", "телефон", "тел", "мобильный", "моб", "сотовый", "сот")
_PHONE_ALONE = ("рабочий", "домашний", "другой", "work", "home", "business", "other", "primary", "основной", "личный")
_NOT_A_NUMBER = ("fax", "факс", "type", "тип", "label", "метка", "ext", "доб", "внутр", "count", "кол", "комментарий",
                 "comment", "note", "примеч", "status", "статус", "дата", "date", "order", "заказ", "договор", "счет", "invoice",
                 "паспорт", "инн", "снилс", "карт", "card", "id")  # fmt: skip
MOBILE, GENERAL, HOME, WORK = 0, 1, 2, 3  # a column's kind, best first: the office landline is shared
_KIND_WORDS = (
    (MOBILE, ("mobile", "cell", "моб", "сотов")),
    (WORK, ("work", "business", "office", "company", "рабоч", "служ", "офис", "компан", "организац")),
    (HOME, ("home", "домаш", "other", "друг")),
)
_FOLD = re.compile(r"[\s._\-/:()#№]+")
_KEY = re.compile(r"[^\w]+")
_WORD = re.compile(r"[a-zа-я]+")


def fold(header: str) -> str:
    return _FOLD.sub("", header.strip().lower().replace("ё", "е"))


def phone_kind(header: str) -> int | None:
    """The kind of phone column ``header`` is (MOBILE, GENERAL, HOME, WORK), or None when it is not one."""
    words = _WORD.findall(header.strip().lower().replace("ё", "е"))
    if not words or any(word.startswith(_NOT_A_NUMBER) for word in words):
        return None
    strong = any(word in _PHONE_WORDS or word.startswith(("телефон", "phone", "мобильн", "сотов")) for word in words)
    # «Номер» alone, or «Контактный номер», is a phone; «Номер заказа» is not.
    numbered = any(word in ("number", "номер") for word in words) and (
        len(words) == 1 or any(word.startswith(("контакт", "contact")) for word in words)
    )
    if not (strong or numbered or (len(words) == 1 and words[0] in _PHONE_ALONE)):
        return None
    if "сот" in words:  # «Сот. тел.»
        return MOBILE
    for kind, stems in _KIND_WORDS:
        if any(word.startswith(stems) for word in words):
            return kind
    return GENERAL


def variable_key(header: str) -> str:
    """``"Услуга "`` → ``"услуга"``, ``"Appointment Time"`` → ``"appointment_time"``: usable as ``{key}``."""
    key = _KEY.sub("_", header.strip().lower().replace("ё", "е")).strip("_")
    if key and key[0].isdigit():
        key = f"col_{key}"
    return key


@dataclass(frozen=True)
class Columns:
    phones: tuple[tuple[int, int], ...]  # (index, kind), in the file's order
    name: int | None
    timezone: int | None
    variables: tuple[tuple[int, str], ...]  # (index, key)
    headers: tuple[str, ...]
    name_parts: tuple[int, ...] = ()  # first, middle, last name columns (in the file's order) when there is no full name
    part_roles: tuple[tuple[int, str], ...] = ()  # (index, "first_name" | "middle_name" | "last_name") of name_parts

    @property
    def phone(self) -> int:
        """The first phone column (the one a report names when a row has no number at all)."""
        return self.phones[0][0]


def has_phone_column(header: list[str]) -> bool:
    return any(phone_kind(title) is not None for title in header if title)


def map_columns(header: list[str], assigned: dict[str, str] | None = None) -> Columns:
    """Each column's role. ``assigned`` (a column's title → a role, a variable, or "" to leave it
    out; see ``mapping.ColumnMapping``) decides for the columns it names; the rest are read from
    their titles."""
    roles: dict[str, int] = {}
    phones: list[tuple[int, int]] = []
    variables: list[tuple[int, str]] = []
    seen_keys: set[str] = set()
    assigned = assigned or {}
    chosen = {assigned[title.strip()] for title in header if title and title.strip() in assigned}
    for index, title in enumerate(header):
        if title and title.strip() in assigned:
            target = assigned[title.strip()]
            if target == "phone":
                phones.append((index, phone_kind(title) or GENERAL))
            elif target in ALIASES:
                roles.setdefault(target, index)
            elif target:
                variables.append((index, target))
                seen_keys.add(target)
            continue
        folded = fold(title)
        kind = phone_kind(title) if title else None
        if kind is not None:
            phones.append((index, kind))
            continue
        role = next((r for r, names in ALIASES.items() if folded in names and r not in roles and r not in chosen), None)
        if role:
            roles[role] = index
            if role in ("name", "timezone"):
                continue
        key = variable_key(title) or f"column_{index + 1}"
        while key in seen_keys or key in chosen or key in ("name", "phone"):
            key = f"{key}_{index + 1}"
        seen_keys.add(key)
        variables.append((index, key))
    if not phones:
        shown = ", ".join(f"'{h}'" for h in header if h) or _("(none)")
        raise ImportFileError(
            _(
                "No phone column found. Name one of the columns 'phone' or 'телефон', or map one to the phone. "
                "Columns in the file: %(columns)s."
            )
            % {"columns": shown}
        )
    parts = tuple(sorted(roles[part] for part in ("last_name", "first_name", "middle_name") if part in roles))
    if len(parts) == 1 and "name" not in roles:  # «Имя» alone is the contact's name, not a variable
        variables = [(index, key) for index, key in variables if index != parts[0]]
    return Columns(
        phones=tuple(phones),
        name=roles.get("name"),
        timezone=roles.get("timezone"),
        variables=tuple(variables),
        headers=tuple(header),
        name_parts=parts if "name" not in roles else (),
        part_roles=tuple((roles[p], p) for p in ("last_name", "first_name", "middle_name") if p in roles) if "name" not in roles else (),
    )


class RowError(ValueError):
    def __init__(self, column: str, value: Any, reason: str):
        self.column, self.value, self.reason = column, value, reason
        super().__init__(reason)


_FLOAT_TEXT = re.compile(r"^\s*(\+?\d{5,})[.,]0+\s*$")
_SCIENTIFIC = re.compile(r"^\s*[+]?(\d+)(?:[.,](\d+))?[eE]\+?(\d+)\s*$")


MAX_CELL_CHARACTERS = 10_000


def refuse_unreadable_cells(cells: list[Any], headers: list[str]) -> None:
    """RowError for a row with a NUL character (a zero byte) in any cell (it is no character of any
    text, and PostgreSQL refuses it) or a cell too long for any contact field. The row is refused
    wherever in the file it is; the rest of the file imports."""
    for index, value in enumerate(cells):
        if not isinstance(value, str):
            continue
        column = headers[index] if index < len(headers) else str(index + 1)
        if "\x00" in value:
            raise RowError(
                column, value.replace("\x00", "\\0")[:200], _("The cell holds a NUL character (a zero byte), which is not text.")
            )
        if len(value) > MAX_CELL_CHARACTERS:
            raise RowError(
                column,
                value[:200],
                _("The cell holds %(size)d characters; a contact's fields hold at most %(limit)d.")
                % {"size": len(value), "limit": MAX_CELL_CHARACTERS},
            )


def phone_text(value: Any, column: str) -> str:
    """The phone as text, undoing what Excel does to numbers (floats, scientific notation)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        raise RowError(column, value, _("A phone number cannot have a fractional part."))
    text = str(value).strip()
    float_text = _FLOAT_TEXT.match(text)
    if float_text:  # a float Excel wrote out as text: "79123456789.0"
        return float_text.group(1)
    match = _SCIENTIFIC.match(text)
    if match:
        whole, fraction, exponent = match.group(1), match.group(2) or "", int(match.group(3))
        if len((whole + fraction).lstrip("0")) < len(whole.lstrip("0")) + exponent:
            raise RowError(
                column,
                value,
                _("Excel shortened this number to scientific notation and digits were lost; format the column as text and export again."),
            )
        try:
            return str(int(Decimal(text.replace(",", "."))))
        except InvalidOperation:
            pass
    return text


@lru_cache(maxsize=1)
def _zones_of_countries() -> dict[str, frozenset[str]]:
    """Country code → its time zones, from the tz database's zone.tab (shipped with tzdata)."""
    table: dict[str, set[str]] = {}
    text = resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            country, _coordinates, zone, *_rest = line.split("\t")
            table.setdefault(country, set()).add(zone)
    return {country: frozenset(zones) for country, zones in table.items()}


def _zones_for(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
    zones = tuple(z for z in phone_timezones.time_zones_for_number(number) if z != "Etc/Unknown")
    # Countries that share a calling code (+7: Russia and Kazakhstan) get every zone of all of them;
    # the number's own country keeps only its own.
    own = _zones_of_countries().get(phonenumbers.region_code_for_number(number) or "", frozenset())
    mine = tuple(zone for zone in zones if zone in own)
    return mine if mine and len(mine) < len(zones) else zones


def normalise_phone(value: Any, region: str, column: str = "phone") -> tuple[str, str, tuple[str, ...]]:
    """``(e164, extension, zones)`` or RowError saying why the number cannot be called."""
    return _parsed_phone(value, region, column)[1:]


def _parsed_phone(value: Any, region: str, column: str) -> tuple[phonenumbers.PhoneNumber, str, str, tuple[str, ...]]:
    text = phone_text(value, column)
    if not text:
        raise RowError(column, value, _("The phone number is empty."))
    text = _EXTENSION_WORDS.sub(r" ext. \1", text)  # «доб. 123», «вн. 45» as phonenumbers reads "ext."
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise RowError(column, value, _several_numbers(text, region) or _parse_reason(exc)) from None
    if not phonenumbers.is_valid_number(number):
        raise RowError(column, value, _several_numbers(text, region) or _missing_plus(text) or _invalid_reason(number, region))
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return number, e164, number.extension or "", _zones_for(number)


@dataclass(frozen=True)
class Number:
    e164: str
    extension: str
    zones: tuple[str, ...]
    column: str
    rank: tuple[int, ...]  # smaller is better: a mobile by the numbering plan, then the column's kind


_PLAN_RANK = {phonenumbers.PhoneNumberType.MOBILE: 0, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: 1}


def contact_numbers(cells: list[Any], columns: Columns, region: str) -> tuple[list[Number], list[tuple[str, Any, str]]]:
    """A row's numbers from all its phone columns, best first (mobile first, then by the column's
    kind, then as they stand), each once; a cell may hold several (``a, b``, ``a ::: b``). Also the
    problems ``(column, value, reason)`` of cells or parts of cells that are not numbers. A row with
    no number at all is a RowError naming the first problem (or the empty phone cell)."""
    numbers: dict[str, Number] = {}
    problems: list[tuple[str, Any, str]] = []
    for order, (index, kind) in enumerate(columns.phones):
        value = cells[index] if index < len(cells) else None
        column = columns.headers[index]
        try:
            if not phone_text(value, column):
                continue
            found = [_parsed_phone(value, region, column)]
        except RowError as whole:
            found, unread = [], []
            parts = [part for part in _NUMBER_SEPARATORS.split(str(value)) if part.strip()]
            for part in parts if len(parts) > 1 else ():
                try:
                    found.append(_parsed_phone(part, region, column))
                except RowError as exc:
                    unread.append((column, part.strip(), exc.reason))
            if not found:
                problems.append((column, value, whole.reason))
                continue
            problems.extend(unread)
        for position, (parsed, e164, extension, zones) in enumerate(found):
            plan = _PLAN_RANK.get(phonenumbers.number_type(parsed), 2)
            number = Number(e164, extension, zones, column, (plan, kind, order, position))
            if e164 not in numbers or number.rank < numbers[e164].rank:
                numbers[e164] = number
    if not numbers:
        column, value, reason = problems[0] if problems else (columns.headers[columns.phone], None, _("The phone number is empty."))
        raise RowError(column, value, reason)
    return sorted(numbers.values(), key=lambda number: number.rank), problems


_EXTENSION_WORDS = re.compile(r"[\s,;]*(?:доб(?:авочный)?|вн(?:утр(?:енний)?)?)\.?\s*[:№#]?\s*(\d{1,7})\s*$", re.IGNORECASE)
_NUMBER_SEPARATORS = re.compile(r"\s*(?:[,;/\n]|:::|\sили\s|\sor\s)\s*", re.IGNORECASE)


def _valid(text: str, region: str | None) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, region))
    except phonenumbers.NumberParseException:
        return False


def _several_numbers(text: str, region: str) -> str:
    parts = [part for part in _NUMBER_SEPARATORS.split(text) if part.strip()]
    if len(parts) > 1 and sum(_valid(part, region) for part in parts) > 1:
        return _("The cell holds more than one number (%(count)d); put one number per cell.") % {"count": len(parts)}
    return ""


def _missing_plus(text: str) -> str:
    digits = re.sub(r"\D", "", text)
    if text.lstrip().startswith("+") or not 11 <= len(digits) <= 13 or not _valid("+" + digits, None):
        return ""
    country = phonenumbers.region_code_for_number(phonenumbers.parse("+" + digits, None))
    return _("This looks like a number of %(country)s written without its +: write it as +%(digits)s.") % {
        "country": country,
        "digits": digits,
    }


def _parse_reason(exc: phonenumbers.NumberParseException) -> str:
    kind = phonenumbers.NumberParseException
    return {
        kind.INVALID_COUNTRY_CODE: _("The country code is missing or unknown; write the number with +country code."),
        kind.NOT_A_NUMBER: _("This is not a phone number."),
        kind.TOO_SHORT_NSN: _("The number is too short."),
        kind.TOO_SHORT_AFTER_IDD: _("The number is too short."),
        kind.TOO_LONG: _("The number is too long."),
    }.get(exc.error_type, _("This is not a phone number."))


def _invalid_reason(number: phonenumbers.PhoneNumber, region: str) -> str:
    possible = phonenumbers.is_possible_number_with_reason(number)
    reasons = phonenumbers.ValidationResult
    if possible in (reasons.TOO_SHORT, reasons.INVALID_LENGTH):
        return _("The number is too short for its country.")
    if possible == reasons.TOO_LONG:
        return _("The number is too long for its country.")
    if possible == reasons.INVALID_COUNTRY_CODE:
        return _("The country code is unknown.")
    return _("No such number exists in the numbering plan of %(region)s.") % {
        "region": phonenumbers.region_code_for_country_code(number.country_code) or region
    }


# Zones as people write them in a CRM's free-text field.
_ZONE_WORDS = {"мск": "Europe/Moscow", "msk": "Europe/Moscow", "москва": "Europe/Moscow", "moscow": "Europe/Moscow",
               "московское": "Europe/Moscow", "московскоевремя": "Europe/Moscow"}  # fmt: skip
_OFFSET = re.compile(r"^(?:utc|gmt|msk|мск)?\s*([+-]\s*\d{1,2})(?::?00)?$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def normalise_timezone(value: Any, column: str = "timezone") -> tuple[str, ...]:
    """An IANA zone, or an offset as CRMs write it: ``UTC+3``, ``GMT-5``, ``МСК+2`` (Moscow + 2 h)."""
    text = str(value).strip()
    if not text:
        return ()
    canonical = _zone_names().get(text.lower()) or _ZONE_WORDS.get(fold(text))
    if canonical:
        return (canonical,)
    match = _OFFSET.match(text.replace(" ", ""))
    if match:
        hours = int(match.group(1).replace(" ", ""))
        if text.lower().startswith(("msk", "мск")):
            hours += 3
        if -12 <= hours <= 14:
            # Etc/GMT zones have the sign inverted by POSIX convention.
            name = "Etc/UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"
            try:
                ZoneInfo(name)
                return (name,)
            except ZoneInfoNotFoundError:
                pass
    raise RowError(column, value, _("Unknown time zone; use a name like Europe/Moscow or an offset like UTC+3."))


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()
