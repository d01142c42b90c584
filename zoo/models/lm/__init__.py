"""The language-model family: n-gram, recurrent and convolutional language models over
characters, words or SentencePiece pieces, one sampler set, perplexity and bits per character,
exported as SavedModels that generate and score text.

Sources: the lecture "Deep Sequence Modeling" (n-gram models and perplexity, greedy and beam
decoding, RNN/LSTM/GRU, gradient clipping, WaveNet, the TCN-vs-RNN table); S. Semeniuta,
"Recurrent Neural Networks for Discriminative and Generative Learning" (dissertation, 2019),
§3.4 (word- and character-level language modelling with recurrent dropout, Tables 3.2, 3.3);
S. Chen and J. Goodman, "An Empirical Study of Smoothing Techniques for Language Modeling"
(1998; interpolated and modified Kneser-Ney); A. van den Oord et al., "WaveNet: A Generative
Model for Raw Audio" (2016); S. Bai, J. Z. Kolter, V. Koltun, "An Empirical Evaluation of Generic
Convolutional and Recurrent Networks for Sequence Modeling" (2018).

The LM contract every model here follows: token ids 0 = <eos> (a document's end and the
beginning-of-text context), 1 = <unk>, then the tokenizer's tokens; `model(ids)` -> next-token
logits at every position; `model.initial_state(batch)` and `model.step(tokens, state)` ->
(logits, state) for incremental generation (equal to `model(ids)` to 1e-5); `context_length`,
the receptive field in tokens (None: unbounded).

tokenizers.py: char / byte / word / SentencePiece, saved with the run and inside every export;
ngram.py: Kneser-Ney counting and `NGramLM`; model.py: `RNNLM`; convolutional.py: `WaveNetLM`,
`TCNLM`; task.py: the `lm` task (stateful truncated BPTT or windows); generate.py: prompting,
sampling and scoring on `zoo.eval.decoding`; export.py: the `generate` / `search` / `score`
SavedModels and `LMClient` (`zoo generate`, `zoo score`). The family's table is declared in
recipes/lm/experiments.yaml and run by `zoo report lm`.
"""
from zoo.models.lm import convolutional as _convolutional  # noqa: F401  (registers the models)
from zoo.models.lm import model as _model  # noqa: F401
from zoo.models.lm import ngram as _ngram  # noqa: F401
from zoo.models.lm import task as _task  # noqa: F401  (registers the task)
from zoo.models.lm.export import LMClient, export_lm
from zoo.registry import register_family

FAMILY = register_family(
    __name__,
    source='Lecture "Deep Sequence Modeling"; S. Semeniuta, "Recurrent Neural Networks for '
           'Discriminative and Generative Learning" (dissertation, 2019), §3.4; Chen and Goodman, '
           '"An Empirical Study of Smoothing Techniques for Language Modeling" (1998); van den Oord '
           'et al., "WaveNet" (2016); Bai, Kolter and Koltun, "An Empirical Evaluation of Generic '
           'Convolutional and Recurrent Networks for Sequence Modeling" (2018)',
    exporter=export_lm,
    client=LMClient,
    # The recurrent LM's size and regularisation (Semeniuta §3.4: scheme and rate of the
    # recurrent dropout), the learning rate.
    tune_space={"model.units": {"choice": [128, 256, 512]},
                "model.scheme": {"choice": ["semeniuta", "gal", "moon"]},
                "model.recurrent_dropout": {"choice": [0.1, 0.25, 0.5]},
                "model.output_dropout": {"choice": [0.0, 0.25, 0.5]},
                "trainer.learning_rate": {"choice": [0.0005, 0.001, 0.002]}},
    default_task="lm",
)

__all__ = ["LMClient", "export_lm"]
