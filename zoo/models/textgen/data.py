"""The topic sentences this family trains its encoders on and draws the study's references from:
shared with the other text-generation families, so they live in `zoo/data/sentences.py`."""
from zoo.data.sentences import (CORPORA, MAX_WORDS, MIN_WORDS, SPLITS, TEST_FRACTION, TopicSentence,
                                document_sentences, keep_sentence, split_sentences, topic_names,
                                topic_sentences)

__all__ = ["CORPORA", "MAX_WORDS", "MIN_WORDS", "SPLITS", "TEST_FRACTION", "TopicSentence",
           "document_sentences", "keep_sentence", "split_sentences", "topic_names", "topic_sentences"]
