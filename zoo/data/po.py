"""A small, general gettext ``.po`` parser and the Django locale files it reads.

Django ships ~100 translations of the same message catalogue inside its wheel;
their ``msgstr`` strings are real human-written text in many scripts. The byte
auto-encoder uses them as its multilingual corpus (the paper's allgiga analogue,
§3.1), and translation models reuse the (msgid, msgstr) pairs.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import re
from pathlib import Path

from zoo.data.errors import ZooDataError

__all__ = [
    "PoEntry",
    "parse_po",
    "django_root",
    "django_locale_dirs",
    "django_po_files",
    "django_languages",
]


@dataclasses.dataclass(frozen=True)
class PoEntry:
    """One catalogue entry.

    ``msgstrs`` holds the single ``msgstr`` or the plural forms
    ``msgstr[0..n]`` in index order. ``context`` is ``msgctxt`` (None if
    absent), ``msgid_plural`` is None for non-plural entries.
    """

    msgid: str
    msgid_plural: str | None
    msgstrs: list[str]
    context: str | None
    fuzzy: bool
    flags: tuple[str, ...] = ()
    lineno: int = 0


_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'",
    "a": "\a", "b": "\b", "f": "\f", "v": "\v", "?": "?",
}
_ESCAPE_RE = re.compile(r"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|.)", re.DOTALL)
_KEYWORD_RE = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*)$")
_CHARSET_RE = re.compile(rb"charset=([-A-Za-z0-9_.:]+)")


def _unescape_match(m: re.Match) -> str:
    code = m.group(1)
    if code[0] == "x" and len(code) > 1:
        return chr(int(code[1:], 16))
    if code[0] in "01234567":
        return chr(int(code, 8))
    # Unknown escapes are kept verbatim (gettext would refuse the file; real
    # Django catalogues are clean, so being lenient loses nothing).
    return _ESCAPES.get(code, "\\" + code)


def _unquote(text: str, path: Path, lineno: int) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ZooDataError(f"{path}:{lineno}: expected a quoted string, got {text!r}")
    return _ESCAPE_RE.sub(_unescape_match, text[1:-1])


def _decode(raw: bytes) -> str:
    # The header's Content-Type names the charset; every Django file is UTF-8
    # but the parser is meant to be reusable on other catalogues.
    m = _CHARSET_RE.search(raw[:4096])
    charset = m.group(1).decode("ascii") if m else "utf-8"
    if charset.upper() == "CHARSET":  # the untranslated template placeholder
        charset = "utf-8"
    try:
        return raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return raw.decode("utf-8", errors="replace")


def parse_po(
    path: str | Path,
    *,
    include_header: bool = False,
    include_fuzzy: bool = False,
    include_untranslated: bool = False,
) -> list[PoEntry]:
    """Parse a ``.po`` file into its entries, in file order.

    Handles ``msgctxt``, ``msgid_plural``/``msgstr[n]``, multi-line quoted
    continuations and C escapes (``\\n \\t \\" \\\\``, octal, hex). Obsolete
    (``#~``) and previous-msgid (``#|``) comments are ignored.

    By default the header (empty msgid), ``#, fuzzy`` entries and entries
    whose every msgstr is empty are skipped; the keyword flags include them.
    """
    path = Path(path)
    try:
        text = _decode(path.read_bytes())
    except OSError as e:
        raise ZooDataError(f"cannot read .po file {path}: {e.strerror or e}") from None

    entries: list[PoEntry] = []
    fields: dict[str, object] = {}
    flags: list[str] = []
    field: str | None = None  # where a continuation string line goes
    start = 0

    def flush() -> None:
        nonlocal fields, flags, field
        if "msgid" in fields:
            plural = fields.get("msgstr_plural", {})
            msgstrs = [plural[k] for k in sorted(plural)] if plural else [fields.get("msgstr", "")]
            entry = PoEntry(
                msgid=fields["msgid"],
                msgid_plural=fields.get("msgid_plural"),
                msgstrs=msgstrs,
                context=fields.get("msgctxt"),
                fuzzy="fuzzy" in flags,
                flags=tuple(flags),
                lineno=start,
            )
            keep = (
                (include_header or entry.msgid != "" or entry.context is not None)
                and (include_fuzzy or not entry.fuzzy)
                and (include_untranslated or any(entry.msgstrs))
            )
            if keep:
                entries.append(entry)
        elif fields:
            raise ZooDataError(f"{path}:{start}: entry without msgid")
        fields, flags, field = {}, [], None

    def has_msgstr() -> bool:
        return "msgstr" in fields or "msgstr_plural" in fields

    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if has_msgstr():
                flush()
            field = None
            if line.startswith("#,"):
                flags.extend(f.strip() for f in line[2:].split(",") if f.strip())
            continue
        if line.startswith('"'):
            if field is None:
                raise ZooDataError(f"{path}:{lineno}: string continuation outside an entry")
            value = _unquote(line, path, lineno)
            if isinstance(field, tuple):  # ("msgstr_plural", index)
                fields["msgstr_plural"][field[1]] += value
            else:
                fields[field] += value
            continue
        m = _KEYWORD_RE.match(line)
        if not m:
            raise ZooDataError(f"{path}:{lineno}: cannot parse line {line[:60]!r}")
        keyword, index, rest = m.groups()
        if keyword in ("msgctxt", "msgid") and has_msgstr():
            flush()
        if not fields and not has_msgstr():
            start = lineno
        value = _unquote(rest, path, lineno)
        if index is not None:
            fields.setdefault("msgstr_plural", {})[int(index)] = value
            field = ("msgstr_plural", int(index))
        else:
            if keyword in fields:
                raise ZooDataError(f"{path}:{lineno}: duplicate {keyword} in one entry")
            fields[keyword] = value
            field = keyword
    flush()
    return entries


@functools.cache
def django_root() -> Path:
    """Folder of the installed ``django`` package (where pip put it)."""
    spec = importlib.util.find_spec("django")
    if spec is None or not spec.submodule_search_locations:
        raise ZooDataError("the Django corpora need the 'django' package: pip install django")
    return Path(list(spec.submodule_search_locations)[0])


@functools.cache
def _po_index() -> dict[str, tuple[Path, ...]]:
    # One walk of the django tree: .../<locale dir>/<lang>/LC_MESSAGES/*.po
    index: dict[str, list[Path]] = {}
    for po in django_root().rglob("LC_MESSAGES/*.po"):
        index.setdefault(po.parent.parent.name, []).append(po)
    return {lang: tuple(sorted(files)) for lang, files in sorted(index.items())}


def django_locale_dirs() -> list[Path]:
    """Every ``locale`` folder inside django (``conf/locale``, ``contrib/*/locale``)."""
    return sorted({po.parent.parent.parent for files in _po_index().values() for po in files})


def django_po_files(lang: str) -> list[Path]:
    """All ``.po`` files of one Django language code (e.g. ``"zh_Hans"``), sorted."""
    files = _po_index().get(lang)
    if not files:
        known = ", ".join(django_languages())
        raise ZooDataError(f"django has no translations for language {lang!r}; known: {known}")
    return list(files)


def django_languages() -> list[str]:
    """Sorted language codes that have at least one ``.po`` file in django."""
    return list(_po_index())
