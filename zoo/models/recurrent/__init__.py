"""The recurrent family: LSTM/GRU cells with recurrent dropout (S. Semeniuta, "Recurrent Neural
Networks for Discriminative and Generative Learning", dissertation, 2019, ch. 3) and stacked
LSTMs with greedy layer-wise pretraining (K. Xu, X. Shen, T. Yao, X. Tian and T. Mei, "Greedy
Layer-wise Training of Long Short Term Memory Networks").

the dropout cells and `DropoutRNN` are shared layers (zoo/layers/dropout_rnn.py); model.py, seq2seq.py: `StackedRNN`, `Seq2SeqLSTM`;
task.py: one task per problem (temporal_order, adding, seq_mnist, char_lm, digit_seq2seq);
pretrain.py: the pretraining phases; export.py: one SavedModel per depth and its reader.
The family's tables (3.1; Xu et al.'s 1 and 2) are declared in recipes/recurrent/experiments.yaml
and run by `zoo report recurrent`.
"""
from zoo.layers.dropout_rnn import DropoutGRUCell, DropoutLSTMCell, DropoutRNN, make_cell
from zoo.models.recurrent.model import StackedRNN
from zoo.models.recurrent.seq2seq import Seq2SeqLSTM
from zoo.models.recurrent import task as _task  # noqa: F401  (registers the tasks)
from zoo.models.recurrent.export import RecurrentClient, export_recurrent
from zoo.registry import register_family

FAMILY = register_family(
    __name__,
    source='S. Semeniuta, "Recurrent Neural Networks for Discriminative and Generative Learning" '
           '(dissertation, 2019), ch. 3; K. Xu, X. Shen, T. Yao, X. Tian, T. Mei, "Greedy Layer-wise '
           'Training of Long Short Term Memory Networks"',
    exporter=export_recurrent,
    client=RecurrentClient,
    # Dropout scheme, rate and mask sampling (Semeniuta ch. 3); depth, width and greedy
    # pretraining epochs per layer, 0 = the random-init baseline (Xu et al.).
    tune_space={"model.scheme": {"choice": ["semeniuta", "gal", "moon"]},
                "model.recurrent_dropout": {"choice": [0.25, 0.5]},
                "model.mask_sampling": {"choice": ["per_step", "per_sequence"]},
                "model.num_layers": {"min": 1, "max": 3},
                "model.units": {"choice": [64, 128, 256]},
                "task.pretrain_epochs": {"choice": [0, 1, 2]}},
    default_task="temporal_order",
)

__all__ = ["DropoutGRUCell", "DropoutLSTMCell", "DropoutRNN", "RecurrentClient", "Seq2SeqLSTM",
           "StackedRNN", "make_cell"]
