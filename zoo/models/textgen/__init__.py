"""Text-generation evaluation (S. Semeniuta, "Recurrent Neural Networks for Discriminative and
Generative Learning", dissertation, 2019, ch. 5 §5.6.1-5.6.3, "On accurate evaluation of GANs for
language generation"): the sentence encoders whose embeddings the Fréchet distance (Eq. 5.6.1),
MAUVE and precision/recall compare (the metrics themselves are shared: `zoo/eval/textgen.py`),
the topic sentences they are trained on and the study's references come from, and the
`textgen-eval` verb.

data.py: `topic_sentences(corpus, split)` -> `TopicSentence(text, topic, topic_name, position)`
from the Wikipedia extract (one topic per article) or the Lee news documents in gensim's wheel;
model.py: `infersent_encoder` (BiLSTM + max pooling, Conneau et al. 2017) and `unisent_encoder`
(mean-pooled uni- and hashed bigram embeddings + a feed-forward network, the dissertation's
UniSent); task.py: `textgen_encoder`, topic and adjacency supervision; export.py: the `encoder`
SavedModel (strings in, SentencePiece inside), `TextEncoderClient` (the `TextEncoder`
contract) and `export_fingerprint(export_dir)` (SHA-256 of the manifest); scores.py: the LM and
reverse-LM scores through `TextScorer` exports and fixed recipes; cli.py: `zoo textgen-eval`;
study.py: the §5.6.3 study (`zoo textgen-study`).
"""
from zoo.models.textgen import model as _model  # noqa: F401  (registers the encoders)
from zoo.models.textgen import task as _task  # noqa: F401  (registers the task)
from zoo.models.textgen.data import TopicSentence, topic_sentences
from zoo.models.textgen.export import TextEncoderClient, export_encoder, export_fingerprint
from zoo.registry import register_family


def commands(subparsers) -> None:
    """The family's verbs on the `zoo` command line: `textgen-eval` and `textgen-study` (cli.py,
    imported here so that `import zoo` stays cheap)."""
    from zoo.models.textgen import cli

    cli.add_commands(subparsers)


FAMILY = register_family(
    __name__,
    source='S. Semeniuta, "Recurrent Neural Networks for Discriminative and Generative Learning" '
           '(dissertation, 2019), ch. 5 §5.6; Conneau, Kiela, Schwenk, Barrault and Bordes, "Supervised '
           'Learning of Universal Sentence Representations from Natural Language Inference Data" (2017); '
           'Cer et al., "Universal Sentence Encoder" (2018)',
    exporter=export_encoder,
    client=TextEncoderClient,
    # The encoders' size and the learning rate.
    tune_space={"model.units": {"choice": [128, 256, 512]},
                "model.embedding_dim": {"choice": [64, 128, 256]},
                "trainer.learning_rate": {"choice": [0.0005, 0.001, 0.002]}},
    commands=commands,
    default_task="textgen_encoder",
)

__all__ = ["TextEncoderClient", "TopicSentence", "export_encoder", "export_fingerprint", "topic_sentences"]
