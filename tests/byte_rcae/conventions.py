"""What this family adds to the Keras-convention sweeps of tests/core/test_keras_conventions.py:
its public layers' cases for Keras's layer harness, and the model classes no task's smoke recipe
trains (run on the named task's smoke recipe, at the variant's registered smoke size)."""
from zoo.models.byte_rcae import layers as L

# (id, layer class, run_layer_test arguments): small sizes, every option that adds code.
LAYER_CASES = [
    ("conv_stack", L.ResidualConvStack, dict(
        init_kwargs=dict(n=2, features=4), input_shape=(2, 8, 4), expected_output_shape=(2, 8, 4),
        expected_num_trainable_weights=4)),
    ("conv_stack_expand", L.ResidualConvStack, dict(
        init_kwargs=dict(n=2, features=4, expand=True), input_shape=(2, 4, 4),
        expected_output_shape=(2, 8, 4), expected_num_trainable_weights=4)),
    ("conv_stack_logits", L.ResidualConvStack, dict(
        init_kwargs=dict(n=2, features=4, final_linear=True, output_features=6), input_shape=(2, 8, 4),
        expected_output_shape=(2, 8, 6), expected_num_trainable_weights=4)),
    ("dense_stack", L.ResidualDenseStack, dict(
        init_kwargs=dict(n=2, units=4), input_shape=(2, 4), expected_output_shape=(2, 4),
        expected_num_trainable_weights=4)),
] + [
    (f"pool_{mode}", L.TemporalPool, dict(
        init_kwargs=dict(mode=mode), input_shape=(2, 8, 3), expected_output_shape=(2, 4, 3),
        expected_num_trainable_weights=0))
    for mode in ("max", "l2")]

# (task, model variant, recipe overrides): the LSTM baseline on the byte task.
MIXED_PRECISION = [("byte_autoencoder", "lstm_autoencoder", [])]
