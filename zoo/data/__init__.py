"""Data layer: corpora of real text and the byte pipeline of the byte-level
recursive convolutional auto-encoder (paper §2, §3.1)."""

from zoo.data.bytes import (
    EOS,
    MIN_LENGTH,
    PAD,
    bucket_lengths,
    decode_bytes,
    depth_of_length,
    encode_batch,
    encode_bytes,
    fit_paragraphs,
    make_dataset,
    padded_length,
    to_text,
    unigram_error,
)
from zoo.data.corpora import (
    available_corpora,
    corpus_info,
    load_corpus,
    load_paragraphs,
    paragraph_hash,
    split_blocks,
    split_paragraphs,
)
from zoo.data.errors import ZooDataError
from zoo.data.po import (
    PoEntry,
    django_languages,
    django_locale_dirs,
    django_po_files,
    parse_po,
)

__all__ = [
    "EOS",
    "MIN_LENGTH",
    "PAD",
    "PoEntry",
    "ZooDataError",
    "available_corpora",
    "bucket_lengths",
    "corpus_info",
    "decode_bytes",
    "depth_of_length",
    "django_languages",
    "django_locale_dirs",
    "django_po_files",
    "encode_batch",
    "encode_bytes",
    "fit_paragraphs",
    "load_corpus",
    "load_paragraphs",
    "make_dataset",
    "padded_length",
    "paragraph_hash",
    "parse_po",
    "split_blocks",
    "split_paragraphs",
    "to_text",
    "unigram_error",
]
