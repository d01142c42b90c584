"""Topic sentences, shared by the text-generation families (the sentence encoders and their
metric study, the text GANs): real English sentences that each know the document (the topic)
they come from and their place in it, for training the sentence encoders and for the study's references
(S. Semeniuta, "Recurrent Neural Networks for Discriminative and Generative Learning",
dissertation, 2019, §5.6.3: a held-out reference set that holds every topic, samples from fewer
and fewer topics).

Sources (read where pip put gensim; nothing is downloaded): "wiki", the English Wikipedia
extract in gensim's test data, one topic per article (`zoo.data.corpus_documents("wikipedia")`,
markup already stripped, paragraphs separated by blank lines, headings one-line paragraphs);
"lee", the Lee news corpus, one topic per news document.

The sentence rule (`split_sentences`), stated once: inside each paragraph a sentence ends at
".", "!" or "?" (optionally followed by closing quotes or brackets) when whitespace and then an
upper-case letter (optionally after an opening quote or bracket) follow, except after the
abbreviations in `ABBREVIATIONS` and after a single capital letter (an initial: "J. R. R.").
A sentence is kept when it ends in terminal punctuation (this drops headings and list
fragments) and has 5 to 50 whitespace-separated words (`MIN_WORDS`, `MAX_WORDS`); a text that
occurs twice in the corpus is kept once, where it occurs first.

`position` is the index of the sentence among all the pieces the rule cut its document into,
the dropped ones included, so two kept sentences of one topic are adjacent in the text exactly
when their positions differ by one.

Split: a sentence is held out ("test") iff `zoo.data.content_hash(text, person=PERSON)` is below
`TEST_FRACTION` (the same on every machine, independent of corpus order). A document becomes a
topic only if at least `MIN_TEST` of its sentences are held out and `MIN_TRAIN` are not: every
topic is in the held-out reference split. Topic ids number the kept documents 0, 1, ... in the
corpus's document order.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from zoo.data.corpora import corpus_documents
from zoo.data.errors import ZooDataError
from zoo.data.splits import content_hash

CORPORA = {"wiki": "wikipedia", "lee": "lee"}
SPLITS = ("train", "test")
TEST_FRACTION = 0.1
PERSON = b"zoo-topic-sent"   # blake2b personalisation (at most 16 bytes): a split of its own
MIN_WORDS, MAX_WORDS = 5, 50
MIN_TEST, MIN_TRAIN = 2, 8

# Words that end in "." without ending a sentence (compared lower-cased, without the dot).
ABBREVIATIONS = frozenset("""
mr mrs ms dr prof st sr jr vs etc e.g i.e cf al approx ca c no nos vol fig gen col lt sgt capt
gov sen rep rev jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k inc ltd co corp mt ft
""".split())

# A candidate boundary: terminal punctuation, optional closing quotes/brackets, whitespace, then
# an (optionally quoted or bracketed) upper-case letter.
_BOUNDARY = re.compile(r"""([.!?])["'”’)\]]*\s+(?=["'“‘(\[]?[A-Z])""")
_ENDS = re.compile(r"""[.!?]["'”’)\]]*$""")
_LAST_WORD = re.compile(r"(\S+)$")


@dataclass(frozen=True)
class TopicSentence:
    text: str
    topic: int          # 0 .. number of topics - 1
    topic_name: str     # the article title or news document id
    position: int       # index among the pieces of its document (see the module docstring)


def _ends_sentence(before: str) -> bool:
    """Whether a "." at the end of `before` ends a sentence (not an abbreviation or initial)."""
    m = _LAST_WORD.search(before)
    word = m.group(1).lstrip("\"'“‘([") if m else ""
    stem = word[:-1] if word.endswith(".") else word
    if len(stem) == 1 and stem.isalpha() and stem.isupper():
        return False   # an initial
    return stem.lower() not in ABBREVIATIONS


def split_sentences(paragraph: str) -> list[str]:
    """The pieces the module's sentence rule cuts `paragraph` into (none dropped here)."""
    pieces, start = [], 0
    for m in _BOUNDARY.finditer(paragraph):
        if m.group(1) == "." and not _ends_sentence(paragraph[start:m.start(1) + 1]):
            continue
        pieces.append(paragraph[start:m.end()].strip())
        start = m.end()
    tail = paragraph[start:].strip()
    if tail:
        pieces.append(tail)
    return [p for p in pieces if p]


def keep_sentence(piece: str) -> bool:
    """The filter: terminal punctuation and MIN_WORDS..MAX_WORDS words."""
    return bool(_ENDS.search(piece)) and MIN_WORDS <= len(piece.split()) <= MAX_WORDS


def document_sentences(text: str) -> list[tuple[int, str]]:
    """(position, sentence) of one document: its paragraphs (blank-line separated, one line for
    a news document) cut by the rule, the kept pieces with their index among all pieces."""
    out, position = [], 0
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        for piece in split_sentences(paragraph):
            if keep_sentence(piece):
                out.append((position, piece))
            position += 1
    return out


def _corpus(corpus: str) -> str:
    if corpus not in CORPORA:
        raise ZooDataError(f"unknown topic-sentence corpus {corpus!r}; choose one of {sorted(CORPORA)}")
    return CORPORA[corpus]


@functools.cache
def _split(corpus: str, test_fraction: float) -> dict[str, tuple[TopicSentence, ...]]:
    seen: set[str] = set()
    kept: list[tuple[str, list[tuple[int, str, bool]]]] = []
    for name, raw in corpus_documents(_corpus(corpus)):
        rows = []
        for position, text in document_sentences(raw.decode("utf-8", errors="replace")):
            if text in seen:
                continue
            seen.add(text)
            rows.append((position, text, content_hash(text.encode("utf-8"), PERSON) < test_fraction))
        held = sum(r[2] for r in rows)
        if held >= MIN_TEST and len(rows) - held >= MIN_TRAIN:
            kept.append((name, rows))
    if not kept:
        raise ZooDataError(f"corpus {corpus!r} has no document with {MIN_TEST} held-out and {MIN_TRAIN} "
                           f"training sentences at test fraction {test_fraction}")
    out: dict[str, list[TopicSentence]] = {s: [] for s in SPLITS}
    for topic, (name, rows) in enumerate(kept):
        for position, text, held in rows:
            out["test" if held else "train"].append(TopicSentence(text, topic, name, position))
    return {k: tuple(v) for k, v in out.items()}


def topic_sentences(corpus: str = "wiki", split: str = "train",
                    test_fraction: float = TEST_FRACTION) -> list[TopicSentence]:
    """The kept sentences of one split ("train" or "test", the held-out references) of a corpus
    ("wiki" or "lee"), in document order and, within a document, in text order."""
    if split not in SPLITS:
        raise ZooDataError(f"unknown split {split!r}; choose one of {list(SPLITS)}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ZooDataError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    return list(_split(corpus, float(test_fraction))[split])


def topic_names(corpus: str = "wiki", test_fraction: float = TEST_FRACTION) -> list[str]:
    """The topics' names by topic id."""
    names: dict[int, str] = {}
    for s in _split(corpus, float(test_fraction))["test"]:
        names.setdefault(s.topic, s.topic_name)
    return [names[i] for i in range(len(names))]
