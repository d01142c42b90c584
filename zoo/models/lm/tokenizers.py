"""The language models' tokenizers: char / byte / word / SentencePiece, defined in the shared data
layer (`zoo/data/tokenizers.py`, where other families use them too) and re-exported here under
the names this family, its tests and its benchmarks have always imported."""
from zoo.data.tokenizers import (  # noqa: F401
    EOS,
    FORMAT,
    KINDS,
    MIN_SIZE,
    MODEL_TYPES,
    NEWLINE,
    NUM_SPECIAL,
    UNK,
    UNK_CHAR,
    UNK_WORD,
    ByteTokenizer,
    CharTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    WordTokenizer,
    fit_tokenizer,
    train_sentencepiece,
)
