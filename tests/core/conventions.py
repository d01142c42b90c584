"""The shared layers of zoo/layers/ in the Keras-convention sweeps of test_keras_conventions.py
(each family's own layers: tests/<family>/conventions.py)."""
import keras

from zoo.layers import dropout_rnn as C

# The cells run inside their RNN layer, as Keras tests its own cells (keras.layers.RNN tests).
LAYER_CASES = [
    ("lstm_cell", C.DropoutRNN, dict(
        init_kwargs=dict(cell=C.DropoutLSTMCell(3, recurrent_dropout=0.2, scheme="gal", dropout=0.1,
                                                layer_norm=True, seed=1),
                         return_sequences=True),
        input_shape=(2, 5, 4), expected_output_shape=(2, 5, 3), expected_num_trainable_weights=9)),
    # No layer norm, no recurrent dropout: the fused LSTM route (input dropout still applies).
    ("fused_lstm_cell", C.DropoutRNN, dict(
        init_kwargs=dict(cell=C.DropoutLSTMCell(3, dropout=0.1, seed=1)),
        input_shape=(2, 5, 4), expected_output_shape=(2, 3), expected_num_trainable_weights=3)),
    ("gru_cell", C.DropoutRNN, dict(
        init_kwargs=dict(cell=C.DropoutGRUCell(3, recurrent_dropout=0.2, scheme="moon",
                                               mask_sampling="per_sequence", seed=1)),
        input_shape=(2, 5, 4), expected_output_shape=(2, 3), expected_num_trainable_weights=3)),
    ("plain_rnn_lstm_cell", keras.layers.RNN, dict(
        init_kwargs=dict(cell=C.DropoutLSTMCell(3, recurrent_dropout=0.2, scheme="semeniuta",
                                                mask_sampling="per_sequence", seed=1)),
        input_shape=(2, 5, 4), expected_output_shape=(2, 3), expected_num_trainable_weights=3)),
    ("simple_rnn_cell", C.DropoutRNN, dict(
        init_kwargs=dict(cell=C.DropoutSimpleRNNCell(3, recurrent_dropout=0.2, scheme="gal", dropout=0.1, seed=1),
                         return_sequences=True),
        input_shape=(2, 5, 4), expected_output_shape=(2, 5, 3), expected_num_trainable_weights=3)),
]
