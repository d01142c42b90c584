"""Data layer shared by every family: corpora of real text read where pip put them, gettext
catalogues, generated sequence tasks, deterministic splits, and the data error type."""

from zoo.data.corpora import (
    available_corpora,
    corpus_documents,
    corpus_info,
    load_corpus,
    load_paragraphs,
    paragraph_hash,
    split_blocks,
    split_paragraphs,
    train_test_documents,
)
from zoo.data.errors import ZooDataError
from zoo.data.po import (
    PoEntry,
    django_languages,
    django_locale_dirs,
    django_po_files,
    parse_po,
)
from zoo.data.splits import content_hash, hash_split, permutation_split

__all__ = [
    "PoEntry",
    "ZooDataError",
    "available_corpora",
    "content_hash",
    "corpus_documents",
    "corpus_info",
    "django_languages",
    "django_locale_dirs",
    "django_po_files",
    "hash_split",
    "load_corpus",
    "load_paragraphs",
    "train_test_documents",
    "paragraph_hash",
    "parse_po",
    "permutation_split",
    "split_blocks",
    "split_paragraphs",
]
