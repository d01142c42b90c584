"""Plain English paragraphs from a MediaWiki XML dump (``pages-articles*.xml.bz2``).

The dump is read as a stream (``bz2`` + ``xml.etree.ElementTree.iterparse``, each page freed
once read); redirects and pages outside the article namespace (0) are skipped. The wikitext of
each article is reduced to plain paragraphs by :func:`wikitext_to_paragraphs`:

* comments, ``<ref>`` notes, ``<math>``, ``<gallery>`` and similar non-prose tags are removed
  with their content; every other tag (``<small>``, ``<sub>``, ``<br>``...) keeps its text;
* templates ``{{...}}`` (nested) are removed, except a few inline ones whose text belongs to
  the sentence (``convert``, ``lang``, ``nowrap``, ``frac``, ``as of``, ``quote``...) which are
  rendered; tables ``{| ... |}`` (nested) are removed;
* ``[[File:...]]``, ``[[Image:...]]``, ``[[Category:...]]`` and interlanguage links are removed
  (captions included); ``[[target|label]]`` becomes ``label`` and ``[[x]]`` becomes ``x``;
  external links ``[url label]`` become ``label`` (unlabelled ones vanish);
* bold/italic quotes and magic words (``__TOC__``) are removed, HTML entities decoded, and
  the no-break space becomes a plain space;
* a heading (``== H ==``) becomes a paragraph of its own holding just its text (so a model
  sees section structure); a heading whose section has no text left is dropped, and the
  trailing apparatus sections (References, Notes, See also, External links, Further
  reading, Bibliography...) are dropped with their content;
* list items keep their text, one item per line, without the ``*#:;`` markers, a list being
  a paragraph of its own; consecutive text lines of one wikitext paragraph are joined by a
  space (as MediaWiki renders them); a paragraph with no letter left is dropped.

An article's ``<math>`` formulas are dropped, so a sentence that held one reads with a gap
("the mean of the values."); templates the list above does not render (country flags,
pronunciations, dates in infoboxes) leave nothing.

Written for this zoo (gensim's ``filter_wiki`` keeps the ``'''`` quotes and heading markup and
leaves artefacts such as ``( ; ...)`` where templates were).
"""
from __future__ import annotations

import bz2
import dataclasses
import html
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

__all__ = ["WikiPage", "iter_pages", "iter_articles", "wikitext_to_paragraphs"]


@dataclasses.dataclass(frozen=True)
class WikiPage:
    title: str
    namespace: int
    redirect: bool
    text: str


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def iter_pages(path: str | Path) -> Iterator[WikiPage]:
    """Every ``<page>`` of a MediaWiki XML dump (``.bz2`` or plain), streamed, in file order."""
    path = Path(path)
    opener = bz2.open if path.suffix == ".bz2" else open
    with opener(path, "rb") as stream:
        prefixes: dict[str, int] = {}  # namespace names, for dumps whose pages lack <ns>
        for _, elem in ET.iterparse(stream, events=("end",)):
            tag = _local(elem.tag)
            if tag == "namespace" and elem.text:
                prefixes[elem.text.strip().lower()] = int(elem.get("key", "0"))
            if tag != "page":
                continue
            fields = {_local(child.tag): child for child in elem}
            title = (fields["title"].text or "") if "title" in fields else ""
            if "ns" in fields and (fields["ns"].text or "").strip():
                namespace = int(fields["ns"].text)
            else:
                prefix = title.split(":", 1)[0].lower() if ":" in title else ""
                namespace = prefixes.get(prefix, 0)
            text = ""
            revision = fields.get("revision")
            if revision is not None:
                for child in revision:
                    if _local(child.tag) == "text":
                        text = child.text or ""
            redirect = "redirect" in fields or bool(_REDIRECT.match(text))
            yield WikiPage(title, namespace, redirect, text)
            elem.clear()


def iter_articles(path: str | Path) -> Iterator[tuple[str, list[str]]]:
    """(title, plain paragraphs) of each article (namespace 0, not a redirect) with any text."""
    for page in iter_pages(path):
        if page.namespace != 0 or page.redirect:
            continue
        paragraphs = wikitext_to_paragraphs(page.text)
        if paragraphs:
            yield page.title, paragraphs


# -- markup ------------------------------------------------------------------------------

_REDIRECT = re.compile(r"\s*#redirect", re.IGNORECASE)
_COMMENT = re.compile(r"<!--[\s\S]*?(?:-->|\Z)")
# Tags whose content is not prose: dropped whole.
_DROP_TAGS = ("ref|math|gallery|timeline|source|syntaxhighlight|imagemap|score|hiero|chem|ce|"
              "references|graph|mapframe|templatedata|inputbox|categorytree")
_SELF_CLOSING = re.compile(rf"<(?:{_DROP_TAGS})\b[^<>]*/>", re.IGNORECASE)
# The body may not hold another opening of the same tag: an unclosed <ref> does not swallow the
# text up to the next note's </ref>.
_DROP_ELEMENT = re.compile(rf"<({_DROP_TAGS})\b[^<>]*>(?:(?!<\1\b)[\s\S])*?</\1\s*>", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*\b[^<>]*/?>")
# Innermost template: no "{{" or "}}" inside (single braces allowed).
_TEMPLATE = re.compile(r"\{\{((?:[^{}]|\{(?!\{)|\}(?!\}))*)\}\}")
# Innermost table: "{|" and "|}" start lines (possibly indented with ":"), no "{|" line inside.
_TABLE = re.compile(r"^[ \t:]*\{\|(?:(?!^[ \t:]*\{\|)[\s\S])*?^[ \t]*\|\}[^\n]*", re.MULTILINE)
_EXTERNAL_LINK = re.compile(r"\[(?:https?:|ftp:|mailto:|news:|//)[^\s\[\]]*(?:[ \t]+([^\[\]]*))?\]",
                            re.IGNORECASE)
# Innermost link: no "[[" inside; balanced single brackets ("[above]" in a caption) allowed.
_WIKILINK = re.compile(r"\[\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\]")
# Bold/italic: any run of two or more apostrophes ("''''" is what ''{{flag|X}}'' leaves).
_QUOTES = re.compile(r"'{2,}")
_MAGIC = re.compile(r"__[A-Z]+__")
_HEADING = re.compile(r"^(={1,6})\s*(.*?)\s*\1$")
_LIST_MARKERS = re.compile(r"^[*#:;]+\s*")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]+)*$")
_HIDDEN_NAMESPACES = {"file", "image", "media", "category"}
_INTERWIKI = {"wikt", "wiktionary", "s", "wikisource", "w", "wikipedia", "wp", "commons", "b",
              "wikibooks", "q", "wikiquote", "n", "wikinews", "v", "wikiversity", "voy",
              "wikivoyage", "species", "d", "wikidata", "m", "meta", "mw"}
_DROP_SECTIONS = {
    "references", "notes", "see also", "external links", "further reading", "bibliography",
    "sources", "footnotes", "citations", "notes and references", "references and notes",
    "works cited", "cited works", "gallery", "explanatory notes", "general references",
    "primary sources", "secondary sources", "notes and sources", "references and sources",
    "sources and further reading", "external links and further reading",
}

_UNITS = {"km2": "km²", "sqkm": "km²", "sqmi": "sq mi", "m2": "m²", "ft2": "sq ft",
          "sqft": "sq ft", "F": "°F", "C": "°C", "K": "K", "ha": "ha", "acre": "acres",
          "km/h": "km/h", "mph": "mph", "kmh": "km/h", "m3": "m³", "cuft": "cu ft"}
_RANGE_WORDS = {"-": "–", "–": "–", "to": " to ", "and": " and ", "or": " or ", "by": " × ",
                "x": " × ", "×": " × ", "+/-": " ± ", "±": " ± ", "to(-)": " to ",
                "and(-)": " and "}
_FIRST_ARG = {"nowrap", "nobr", "small", "smaller", "big", "larger", "sic", "nobold", "noitalic",
              "em", "strong", "vr", "nts", "abbr", "math", "mvar", "ill", "not a typo", "smallcaps",
              "lang-x", "keypress", "var", "serif", "sans-serif", "no italic", "nowiki", "flag",
              "flagcountry", "flagu"}
# {{'}} is an apostrophe next to italic quotes (''Foo''{{'}}s): a placeholder (XML forbids
# U+0001 in a dump) keeps it from joining the run of quotes that _QUOTES removes.
_APOSTROPHE = "\x01"
_LITERAL = {"!": "|", "·": "·", "dot": "·", "middot": "·", "•": "•", "'s": _APOSTROPHE + "s",
            "'": _APOSTROPHE,
            "nbsp": " ", "ndash": "–", "mdash": "—", "snd": " – ", "spaced ndash": " – ",
            "spnd": " – ", "en dash": "–", "em dash": "—", "=": "="}


def _split_args(body: str) -> list[str]:
    """Split a template body at the top-level "|" (not those inside [[links]])."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(body):
        two = body[i:i + 2]
        if two == "[[":
            depth, i = depth + 1, i + 2
            continue
        if two == "]]" and depth:
            depth, i = depth - 1, i + 2
            continue
        if body[i] == "|" and not depth:
            parts.append(body[start:i])
            start = i + 1
        i += 1
    parts.append(body[start:])
    return parts


_RENDERED = (set(_LITERAL) | _FIRST_ARG | {"convert", "cvt", "lang", "script", "transl", "nihongo",
             "as of", "frac", "val", "circa", "c.", "angbr", "quote", "blockquote", "quotation",
             "cquote"})


def _render_template(match: re.Match) -> str:
    body = match.group(1)
    name = body.split("|", 1)[0].strip().replace("_", " ").lower()
    if name not in _RENDERED and not name.startswith("lang-"):
        return ""  # most templates (citations, infoboxes, navigation) are not prose
    parts = _split_args(body) if "[[" in body else body.split("|")
    positional, named = [], {}
    for arg in parts[1:]:
        key, eq, value = arg.partition("=")
        if eq and re.fullmatch(r"\s*[\w\- ]+\s*", key):
            named[key.strip().lower()] = value.strip()
        else:
            positional.append(arg.strip())

    def arg(i: int) -> str:
        return positional[i] if i < len(positional) else ""

    if name in _LITERAL:
        return _LITERAL[name]
    if name in _FIRST_ARG or name.startswith("lang-"):
        return arg(0)
    if name in ("convert", "cvt"):
        if len(positional) >= 4 and positional[1] in _RANGE_WORDS:
            value, unit = positional[0] + _RANGE_WORDS[positional[1]] + positional[2], positional[3]
        else:
            value, unit = arg(0), arg(1)
        return f"{value} {_UNITS.get(unit, unit)}".strip()
    if name in ("lang", "script"):
        return arg(1)
    if name == "transl":
        return positional[-1] if positional else ""
    if name == "nihongo":
        return arg(0) or arg(2)
    if name == "as of":
        return ("as of " if named.get("lc") else "As of ") + arg(0)
    if name == "frac":
        if len(positional) >= 3:
            return f"{arg(0)} {arg(1)}/{arg(2)}"
        return f"{arg(0)}/{arg(1)}" if len(positional) == 2 else f"1/{arg(0)}"
    if name == "val":
        return f"{arg(0)} {named.get('u', '')}".strip()
    if name in ("circa", "c."):
        return f"c. {arg(0)}".strip()
    if name == "angbr":
        return f"⟨{arg(0)}⟩"
    if name in ("quote", "blockquote", "quotation", "cquote"):
        text = named.get("text") or named.get("quote") or arg(0)
        return f"\n\n{text}\n\n"
    return ""


def _render_link(match: re.Match) -> str:
    target, bar, label = match.group(1).partition("|")
    target = target.strip()
    visible = target.startswith(":")  # [[:Category:X]] is a link to the category page, shown
    target = target.lstrip(":").strip()
    if ":" in target:
        prefix, rest = (s.strip() for s in target.split(":", 1))
        prefix = prefix.lower()
        if not visible and prefix in _HIDDEN_NAMESPACES:
            return ""
        if not visible and not bar and _LANGUAGE_CODE.match(prefix):
            return ""  # interlanguage link ([[fr:Anarchisme]]): not part of the text
        if prefix in _INTERWIKI:
            target = rest
    if bar:
        label = label.strip()
        # Pipe trick: [[Paris (band)|]] shows "Paris".
        return label or re.sub(r"\s*\([^()]*\)$", "", target)
    return target.split("#", 1)[0] or target.lstrip("#")


def _substitute_until_stable(pattern: re.Pattern, repl, text: str) -> str:
    for _ in range(100):
        text, n = pattern.subn(repl, text)
        if not n:
            break
    return text


def _strip_markup(text: str) -> str:
    text = _COMMENT.sub("", text)
    text = _SELF_CLOSING.sub("", text)
    text = _DROP_ELEMENT.sub("", text)
    text = _substitute_until_stable(_TEMPLATE, _render_template, text)
    text = text.replace("{{", "").replace("}}", "")  # unbalanced leftovers
    text = _substitute_until_stable(_TABLE, "", text)
    text = _EXTERNAL_LINK.sub(lambda m: m.group(1) or "", text)
    text = _substitute_until_stable(_WIKILINK, _render_link, text)
    text = text.replace("[[", "").replace("]]", "")
    text = re.sub(r"<br\s*/?>", " ", text, flags=re.IGNORECASE)
    text = _TAG.sub("", text)
    text = _QUOTES.sub("", text).replace(_APOSTROPHE, "'")
    return _MAGIC.sub("", text)


_SPACES = re.compile(r"[ \t\u00a0\u2009\u202f]+")
_PAREN_CLEANUPS = [
    (re.compile(r"\( ?[,;:]*(?: ?[,;:])* ?\)"), ""),  # "()" left where a template or link was
    (re.compile(r"\( ?[,;:][ ,;:]*"), "("),         # "( ; Orycteropus afer)"
    (re.compile(r"[ ,;:]*[,;:] ?\)"), ")"),
    (re.compile(r"\( "), "("),
]
_SPACE_BEFORE_PUNCTUATION = re.compile(r" ([,.;:!?)])")  # " ." where a note was
_REPEATED_SEPARATOR = re.compile(r"([,;])(?: ?[,;])+")


def _clean_line(line: str) -> str:
    return _normalize(html.unescape(line) if "&" in line else line)


def _normalize(line: str) -> str:
    line = _SPACES.sub(" ", line)
    if "(" in line:
        for pattern, repl in _PAREN_CLEANUPS:
            line = pattern.sub(repl, line)
        line = _SPACES.sub(" ", line)
    line = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", line)
    line = _REPEATED_SEPARATOR.sub(r"\1", line)
    return line.strip()


def _has_letter(text: str) -> bool:
    return re.search(r"[^\W\d_]", text) is not None


def wikitext_to_paragraphs(wikitext: str) -> list[str]:
    """Plain paragraphs (headings as their own one-line paragraphs) of one article's wikitext."""
    blocks: list[tuple[int, str]] = []  # (heading level, text); level 0 for a text paragraph
    lines: list[str] = []
    last_kind = ""

    def flush():
        nonlocal lines, last_kind
        # Normalized again once joined: a sentence spread over lines around removed <math>
        # leaves " ," at the joins.
        text = "\n".join(_normalize(line) for line in lines).strip()
        if text and _has_letter(text):
            blocks.append((0, text))
        lines, last_kind = [], ""

    for raw in _strip_markup(wikitext).split("\n"):
        line = raw.strip()
        heading = _HEADING.match(line)
        if heading:
            flush()
            title = _clean_line(heading.group(2))
            if title:
                blocks.append((len(heading.group(1)), title))
            continue
        if not line or line[0] in "|!{}" or re.fullmatch(r"-{4,}", line):
            flush()  # a blank line, or what is left of a table or of broken markup
            continue
        is_item = line[0] in "*#:;"
        text = _clean_line(_LIST_MARKERS.sub("", line) if is_item else line)
        if not text:
            continue
        kind = "item" if is_item else "text"
        if last_kind and kind != last_kind:
            flush()  # a list and the text around it are separate blocks, as MediaWiki renders them
        if kind == "text" and last_kind == "text":
            lines[-1] += " " + text  # one wikitext paragraph spread over several lines
        else:
            lines.append(text)
        last_kind = kind
    flush()

    kept: list[tuple[int, str]] = []
    skip_below = 0  # while inside a dropped section: its heading level
    for level, text in blocks:
        if skip_below and (level == 0 or level > skip_below):
            continue
        skip_below = 0
        if level and text.lower().strip(" :") in _DROP_SECTIONS:
            skip_below = level
            continue
        kept.append((level, text))
    # A heading with no text before the next heading of its level or above (or the end).
    result: list[str] = []
    next_level = 1  # level of the block after the current one (end of article: like a top heading)
    for level, text in reversed(kept):
        if level and (next_level and next_level <= level):
            continue
        result.append(text)
        next_level = level
    return result[::-1]
