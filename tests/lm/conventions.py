"""What this family adds to the Keras-convention sweeps of tests/core/test_keras_conventions.py:
its public layers' cases for Keras's layer harness, and the model classes no task's smoke recipe
trains (run on the named task's smoke recipe, at the variant's registered smoke size)."""
from zoo.models.lm import convolutional as V

# (id, layer class, run_layer_test arguments): small sizes, every option that adds code.
LAYER_CASES = [
    (f"causal_conv{'_weight_norm' if norm else ''}", V.CausalConv1D, dict(
        init_kwargs=dict(filters=5, kernel_size=3, dilation_rate=2, weight_norm=norm),
        input_shape=(2, 7, 4), expected_output_shape=(2, 7, 5), expected_num_trainable_weights=weights))
    for norm, weights in ((False, 2), (True, 3))
] + [
    ("wavenet_block", V.WaveNetBlock, dict(
        init_kwargs=dict(residual_channels=4, skip_channels=6, dilation_rate=2, dropout=0.1, seed=1),
        input_shape=(2, 7, 4), expected_output_shape=((2, 7, 4), (2, 7, 6)),
        expected_num_trainable_weights=6, expected_num_seed_generators=1,
        # Two outputs (residual and skip), which Keras's fit check cannot train on.
        run_training_check=False)),
    ("tcn_block", V.TCNBlock, dict(
        init_kwargs=dict(channels=5, kernel_size=3, dilation_rate=2, dropout=0.1, seed=1),
        input_shape=(2, 7, 4), expected_output_shape=(2, 7, 5), expected_num_trainable_weights=8,
        expected_num_seed_generators=2)),
    ("tied_head", V.TiedHead, dict(
        init_kwargs=dict(vocab_size=9), input_shape={"h_shape": (2, 7, 4), "embeddings_shape": (9, 4)},
        expected_output_shape=(2, 7, 9), expected_num_trainable_weights=1, run_training_check=False)),
]

# (task, model variant, recipe overrides): the convolutional classes train in windows mode (the
# lm smoke recipe is stateful, which they refuse: no state to carry).
MIXED_PRECISION = [("lm", "wavenet_lm", ["task.mode=windows"]), ("lm", "tcn_lm", ["task.mode=windows"])]
