"""What this family adds to the Keras-convention sweeps of tests/core/test_keras_conventions.py:
its public layers' cases for Keras's layer harness, and the encoder class the smoke recipe does
not train (the InferSent encoder, on the same task's smoke recipe at its registered smoke size)."""
from zoo.models.textgen import model as M

# (id, layer class, run_layer_test arguments). The pools have no weights: nothing to fit.
LAYER_CASES = [
    ("masked_max_pool", M.MaskedMaxPool, dict(
        init_kwargs={}, input_shape=(2, 7, 4), expected_output_shape=(2, 4), expected_num_trainable_weights=0,
        run_training_check=False)),
    ("masked_mean_pool", M.MaskedMeanPool, dict(
        init_kwargs={}, input_shape=(2, 7, 4), expected_output_shape=(2, 4), expected_num_trainable_weights=0,
        run_training_check=False)),
]

# (task, model variant, recipe overrides)
MIXED_PRECISION = [("textgen_encoder", "infersent_encoder", [])]
