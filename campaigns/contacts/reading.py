"""Reading contact files the way operators really have them.

CSV from CRMs and Excel (UTF-8, UTF-8 with BOM, UTF-16 "Unicode text", Windows-1251; comma,
semicolon, tab or pipe), and XLSX (first sheet, streamed). Rows come out as
``(row_number, cells)`` where ``row_number`` is the row a spreadsheet shows (the header is row 1),
blank rows included in the count but not yielded. Problems with the file as a whole raise
``ImportFileError`` before anything is written.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.utils.translation import gettext as _

SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls, and password-protected .xlsx
_ZIP_MAGIC = b"PK\x03\x04"
# Python's csv reader refuses fields over 128 KB by default, failing the whole file at that line.
# Fields up to the file limit are read, and a row with an overlong cell is refused by itself.
csv.field_size_limit(64 * 1024 * 1024)


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; nothing was written."""


@dataclass
class ContactFile:
    kind: str  # "csv" or "xlsx"
    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""  # the workbook's sheet read, when it is not the first


HeaderTest = Callable[[list[str]], bool]
# A title, a date or an export note may stand above the header: it is looked for this far down.
HEADER_SEARCH_ROWS = 20


def open_contact_file(stream: IO[bytes], filename: str = "", *, max_bytes: int, is_header: HeaderTest | None = None) -> ContactFile:
    """Open a contact file; with ``is_header``, the header is the first of the top rows it accepts
    (the rows above it are titles), and in a workbook the first sheet that has such a row."""
    size = _size_of(stream)
    if size == 0:
        raise ImportFileError(_("The file is empty."))
    if size > max_bytes:
        raise ImportFileError(
            _("The file is %(size).1f MB; the limit is %(limit).1f MB.") % {"size": size / 2**20, "limit": max_bytes / 2**20}
        )
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    name = filename.lower()
    if head.startswith(_OLE2_MAGIC):
        raise ImportFileError(
            _("This is a password-protected workbook or an old .xls file. Save it as .xlsx without a password, or as CSV.")
        )
    if head.startswith(_ZIP_MAGIC):
        if not _is_workbook(stream):
            raise ImportFileError(_("This file is a ZIP archive, not a CSV or XLSX file: unpack it and upload the file inside."))
        return _open_xlsx(stream, is_header)
    if name.endswith((".xls", ".xlsx", ".xlsm", ".ods", ".numbers", ".pdf", ".doc", ".docx")):
        raise ImportFileError(_("'%(name)s' is not a CSV or XLSX file that can be read.") % {"name": filename})
    if _looks_binary(head):
        raise ImportFileError(_("This file is not text: upload a CSV or XLSX file."))
    return _open_csv(stream, head, is_header)


_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 32), 127])


def _looks_binary(head: bytes) -> bool:
    """Control bytes (zero bytes among them) all through the sample: a binary file. A stray one
    in a text file is not: a row holding a zero byte is refused by itself, wherever it is."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls > max(8, len(head) // 100)


def _is_workbook(stream: IO[bytes]) -> bool:
    """An XLSX file is a ZIP archive with a workbook in it; any other ZIP is not a contact file."""
    try:
        with zipfile.ZipFile(stream) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return True  # a damaged workbook: opening it says what is wrong
    finally:
        stream.seek(0)


def _size_of(stream: IO[bytes]) -> int:
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # final=False: the sample may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        # Russian Excel and 1C exports; every byte decodes, so check it looks like text.
        return "cp1251"
    return "utf-8"


def detect_delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines() if line.strip()][:20]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        # Sniffer gives up on files with one column or ragged rows; the header decides.
        # The one in most lines wins (a title line above the header has none).
        counts = {d: (sum(d in line for line in lines), sum(line.count(d) for line in lines)) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best][0] else ","


class _BorrowedText(io.TextIOWrapper):
    """Text over a stream the caller owns: closing (or collecting) it leaves the stream open."""

    def close(self) -> None:
        try:
            self.detach()
        except ValueError:
            pass  # already detached


def _open_csv(stream: IO[bytes], head: bytes, is_header: HeaderTest | None) -> ContactFile:
    encoding = detect_encoding(head)
    if encoding == "utf-8" and not _all_utf8(stream):
        encoding = "cp1251"  # an export whose first part is plain ASCII and whose Cyrillic comes later
    sample = head.decode(encoding, errors="ignore")
    delimiter = detect_delimiter(sample)
    text = _BorrowedText(stream, encoding=encoding, newline="")
    reader = csv.reader(text, delimiter=delimiter)
    rows = _numbered(reader)
    try:
        header = _header_row(rows, is_header)
    except UnicodeDecodeError as exc:
        message = _("The file's text encoding could not be read (%(error)s). Save it as UTF-8 CSV.")
        raise ImportFileError(message % {"error": exc.reason}) from exc
    except csv.Error as exc:
        raise ImportFileError(_("The CSV could not be read: %(error)s.") % {"error": exc}) from exc
    return ContactFile("csv", header, _guard_csv(rows), encoding=encoding, delimiter=delimiter)


def _guard_csv(rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    try:
        yield from rows
    except UnicodeDecodeError as exc:
        raise ImportFileError(_("Part of the file is not valid text (%(error)s). Save it as UTF-8 CSV.") % {"error": exc.reason}) from exc
    except csv.Error as exc:
        raise ImportFileError(_("The CSV could not be read: %(error)s.") % {"error": exc}) from exc


def _open_xlsx(stream: IO[bytes], is_header: HeaderTest | None) -> ContactFile:
    from openpyxl import load_workbook  # imported here: only XLSX uploads pay for it

    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(_("The workbook could not be opened (%(error)s). Save it again as .xlsx or CSV.") % {"error": exc}) from exc
    if not workbook.worksheets:
        raise ImportFileError(_("The workbook has no sheets."))
    # The first sheet with a header row; when none has one, the first sheet (its columns are named).
    for position, sheet in enumerate(workbook.worksheets):
        rows = _sheet_rows(sheet)
        try:
            header = _header_row(rows, is_header, required=is_header is not None)
        except _NoHeader:
            continue
        name = sheet.title if position else ""
        return ContactFile("xlsx", header, _closing(rows, workbook), sheet=name)
    rows = _sheet_rows(workbook.worksheets[0])
    return ContactFile("xlsx", _header_row(rows, None), _closing(rows, workbook))


def _sheet_rows(sheet) -> Iterator[tuple[int, list[Any]]]:
    # A read-only sheet believes the <dimension> its writer put in the file, and some writers put in
    # a wrong one (A1:A1 for a whole list): read every row there is instead.
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()
    return _numbered(sheet.iter_rows(values_only=True))


def _closing(rows: Iterator[tuple[int, list[Any]]], workbook) -> Iterator[tuple[int, list[Any]]]:
    try:
        yield from rows
    finally:
        workbook.close()


def _numbered(rows) -> Iterator[tuple[int, list[Any]]]:
    for number, row in enumerate(rows, start=1):
        cells = list(row)
        if any(cell not in (None, "") and str(cell).strip() for cell in cells):
            yield number, cells


class _NoHeader(Exception):
    pass


def _header_row(rows: Iterator[tuple[int, list[Any]]], is_header: HeaderTest | None, *, required: bool = False) -> list[str]:
    """The header: the first row, or the first of the top rows ``is_header`` accepts. When none
    does, the first row (``required``: _NoHeader), so the columns a file does have are named."""
    first = None
    for seen, (_number, cells) in enumerate(rows):
        header = ["" if cell is None else str(cell).strip() for cell in cells]
        first = first if first is not None else header
        if is_header is None or is_header(header):
            return header
        if seen + 1 >= HEADER_SEARCH_ROWS:
            break
    if first is None:
        raise ImportFileError(_("The file has no rows."))
    if required:
        raise _NoHeader
    return first


def _all_utf8(stream: IO[bytes]) -> bool:
    """Whether the whole file is UTF-8, read in chunks (a CSV of the largest size takes well under
    a second)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := stream.read(1024 * 1024):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return True
    except UnicodeDecodeError:
        return False
    finally:
        stream.seek(0)
