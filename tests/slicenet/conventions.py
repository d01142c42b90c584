"""What this family adds to the Keras-convention sweeps of tests/core/test_keras_conventions.py:
its public layers' cases for Keras's layer harness (every model class trains on the translation
task's smoke recipe)."""
from zoo.models.slicenet import layers as S

# (id, layer class, run_layer_test arguments): small sizes, every option that adds code.
LAYER_CASES = [
    (f"conv1d_{sep}", S.SliceConv1D, dict(
        init_kwargs=dict(filters=4, kernel_size=3, dilation_rate=2, padding="causal",
                         separability=sep, groups=groups),
        input_shape=(2, 6, 4), expected_output_shape=(2, 6, 4), expected_num_trainable_weights=weights))
    for sep, groups, weights in (("none", 1, 2), ("full", 1, 3), ("sub", 2, 3), ("super", 2, 3))
] + [
    ("conv_step", S.ConvStep, dict(
        init_kwargs=dict(filters=4, separability="sub", groups=2), input_shape=(2, 6, 4),
        expected_output_shape=(2, 6, 4), expected_num_trainable_weights=5)),
    ("conv_module", S.ConvModule, dict(
        init_kwargs=dict(filters=4, kernel_sizes=[3, 3], dilations=[1, 2], groups=2, dropout=0.1),
        input_shape=(2, 6, 4), expected_output_shape=(2, 6, 4), expected_num_trainable_weights=10,
        expected_num_seed_generators=1)),
    ("attention", S.AttentionModule, dict(
        init_kwargs=dict(filters=4, groups=2),
        input_shape={"source_shape": (2, 5, 4), "target_shape": (2, 3, 4)},
        expected_output_shape=(2, 3, 4), expected_num_trainable_weights=10,
        # Keras's fit check calls a layer with one positional input; this one takes source and
        # target apart (build(source_shape, target_shape)). Its gradients: the registry sweep.
        run_training_check=False)),
]
