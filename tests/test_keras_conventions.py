"""Keras 3 conventions every family's model and layer follows (keras-hub style):

- `keras.Model.export()` traces and serves every model class (id-reading models declare int32
  inputs through `input_dtype`);
- a dtype policy, global or per model, reaches every sub-layer: mixed_bfloat16 / mixed_float16
  train one step of every task with float32 variables and float32 losses;
- Keras's own layer harness (`keras.src.testing.TestCase.run_layer_test`: config round trip,
  build, symbolic and eager call, a fit step, mixed precision) passes for every public layer.
"""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.testing import TestCase

import zoo
from zoo.config import load_recipe
from zoo.models.byte_rcae import layers as byte_layers
from zoo.models.lm import convolutional as conv_layers
from zoo.models.ram import layers as ram_layers
from zoo.layers import dropout_rnn as rnn_cells
from zoo.models.slicenet import layers as slice_layers
from zoo.registry import create_model, create_task, model_entry

MIXED = ("mixed_bfloat16", "mixed_float16")


@pytest.fixture
def float32_afterwards():
    """Whatever a test sets, the global dtype policy is float32 again after it."""
    try:
        yield
    finally:
        keras.config.set_dtype_policy("float32")


# -- 1. model.export() ---------------------------------------------------------------------------
# One representative per (family, model class) at the smallest sizes checks the served
# signature's dtypes; every other variant is exported below at small sizes (an export costs
# seconds however small the weights).
TINY = {"byte_rcae_n2": dict(features=8, max_length=8),
        "lstm_autoencoder": dict(units=8, embedding_dim=8, max_length=16),
        "slicenet_bytenet": dict(vocab_size=12, filters=8, encoder_modules=1, decoder_modules=1,
                                 kernel_sizes=[3], dilations=[2]),
        "stacked_lstm_adding": dict(units=4, num_layers=1),
        "seq2seq_lstm_digits": dict(units=4, num_layers=1),
        "ram_mnist": dict(image_size=16, glimpse_size=3, units=4, hidden=4, glimpses=2,
                          context_filters=(2, 2, 2), context_downsample=2),
        "lstm_lm": dict(vocab_size=12, units=4, embedding_dim=4),
        "wavenet_lm": {}, "tcn_lm": {}, "ngram_lm": {}}
EXPORTED = sorted(TINY)


def test_export_representatives_cover_every_model_class():
    classes = {model_entry(n).factory for n in zoo.list_models()}
    assert {model_entry(n).factory for n in EXPORTED} == classes


def _tiny(name, **extra):
    entry = model_entry(name)
    model = create_model(name, build=True, **{**entry.smoke, **TINY.get(name, {}), **extra})
    return model, entry.example_input(model, 2, np.random.default_rng(4))


@pytest.mark.parametrize("name", EXPORTED)
def test_keras_export_serves_the_model(name, tmp_path):
    """`model.export(format="tf_saved_model")` traces with the model's own input dtypes (int32
    ids, float features); the reloaded SavedModel serves the Keras model's outputs to 1e-5."""
    model, x = _tiny(name)
    want = np.asarray(model(x, training=False))
    model.export(str(tmp_path / name), format="tf_saved_model", verbose=False)
    served = tf.saved_model.load(str(tmp_path / name))
    specs = tf.nest.flatten(served.signatures["serving_default"].structured_input_signature)
    assert {spec.dtype.name for spec in specs} == {model.input_dtype}
    arg = tf.nest.map_structure(tf.constant, x)
    got = served.serve(arg).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


# Every other registered variant, at these sizes per model class (only the sizes shrink: each
# variant keeps its depth, pooling, recursion, separability, kernels, dilations and cell).
SHRINK = {"ByteRCAE": dict(features=8, max_length=8),
          "LSTMAutoencoder": TINY["lstm_autoencoder"],
          "SliceNet": dict(vocab_size=12, filters=48, encoder_modules=1, decoder_modules=1),  # 3 | 48, 16 | 48
          "StackedRNN": dict(units=4, num_layers=1), "Seq2SeqLSTM": dict(units=4, num_layers=1),
          "RecurrentAttentionModel": TINY["ram_mnist"],
          "RNNLM": dict(vocab_size=12, units=4, embedding_dim=4), "NGramLM": dict(order=3, vocab_size=16)}


@pytest.mark.parametrize("name", sorted(set(zoo.list_models()) - set(EXPORTED)))
def test_keras_export_traces_every_other_registered_model(name, tmp_path):
    """`model.export()` of every variant; served outputs equal the model's (the representatives
    above also check the signature's dtypes)."""
    model, x = _tiny(name, **SHRINK[model_entry(name).factory.__name__])
    want = np.asarray(model(x, training=False))
    model.export(str(tmp_path / name), format="tf_saved_model", verbose=False)
    served = tf.saved_model.load(str(tmp_path / name))  # held: its variables live as long as it
    got = served.serve(tf.nest.map_structure(tf.constant, x))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


def test_id_models_declare_int32_inputs():
    for name in ("byte_rcae_n2", "lstm_autoencoder", "slicenet", "lstm_char_lm", "seq2seq_lstm_digits",
                 "lstm_lm", "wavenet_lm", "tcn_lm", "ngram_lm"):
        assert create_model(name, **model_entry(name).smoke).input_dtype == "int32", name
    assert create_model("stacked_lstm_adding", **model_entry("stacked_lstm_adding").smoke).input_dtype == "float32"


# -- 2. mixed precision ------------------------------------------------------------------------
def test_a_model_dtype_policy_reaches_every_sub_layer():
    """`dtype=` of a model (not the global policy) reaches every sub-layer: variables float32,
    every layer computing in the mixed dtype, outputs in it. (Both mixed policies go through
    the same `dtype=self.dtype_policy` of each sub-layer; the training sweep runs both.)"""
    policy = "mixed_bfloat16"
    models = [_tiny(name, dtype=policy) for name in EXPORTED]
    # The optional layer norms of the recurrent cells are sub-layers made in build().
    models.append(_tiny("stacked_lstm_adding", layer_norm=True, dtype=policy))
    compute = policy.split("_", 1)[1]
    for model, x in models:
        assert keras.config.dtype_policy().name == "float32"
        wrong = [f"{layer.path}: {layer.dtype_policy.name}" for layer in model._flatten_layers()
                 if layer.dtype_policy.name != policy]
        assert not wrong, wrong
        # Float variables stay float32 (an n-gram model's int64 keys are lookup tables).
        assert {v.dtype for v in model.weights} - {"int64"} == {"float32"}
        assert model(x, training=False).dtype == compute
        # from_config keeps the policy (the dtype is in the model's config).
        assert type(model).from_config(model.get_config()).dtype_policy.name == policy


# One smoke recipe per model class and loss code path: seq_mnist and temporal_order share
# `_classification_sums` with digit_seq2seq (temporal_order trains in the trainer test below);
# the byte task runs with the LSTM baseline too.
# The language models' convolutional classes train in windows mode (the smoke recipe is stateful);
# the n-gram model is counted, with no gradient step to take.
SWEPT_TASKS = ("adding", "byte_autoencoder", "char_lm", "cluttered_mnist", "digit_seq2seq", "lm", "translation")
_WINDOWS = ["task.mode=windows"]
TRAINED = [(name, None, []) for name in SWEPT_TASKS] + [
    ("byte_autoencoder", {"name": "lstm_autoencoder", "units": 8, "embedding_dim": 8, "max_length": 16}, []),
    ("lm", {"name": "wavenet_lm", "embedding_dim": 6, "residual_channels": 8, "skip_channels": 8,
            "layers_per_stack": 2, "stacks": 2}, _WINDOWS),
    ("lm", {"name": "tcn_lm", "embedding_dim": 6, "channels": 8, "levels": 2}, _WINDOWS)]


def test_the_mixed_precision_sweep_covers_every_task_and_model_class():
    assert set(SWEPT_TASKS) | {"seq_mnist", "temporal_order"} == set(zoo.list_tasks())
    classes = {model_entry(n).factory for n in zoo.list_models()
               if not getattr(model_entry(n).factory, "counted", False)}
    swept = {model_entry(load_recipe(zoo.task_entry(n).smoke_recipe).model.name).factory for n in SWEPT_TASKS}
    swept |= {model_entry(model["name"]).factory for _, model, _ in TRAINED if model is not None}
    assert swept == classes


@pytest.fixture(scope="module")
def loaded_tasks(tmp_path_factory):
    """The tasks of TRAINED with their data loaded once (the data does not depend on the policy)."""
    old = os.environ.get("ZOO_CACHE")
    os.environ["ZOO_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    run = tmp_path_factory.mktemp("run")
    try:
        out = {}
        for name, model, overrides in TRAINED:
            config = load_recipe(zoo.task_entry(name).smoke_recipe, [f"runtime.run_dir={run}", *overrides])
            if model is not None:
                config = load_recipe({**config.to_dict(), "model": model})
            task = create_task(config)
            task.load_data()
            # The model arguments the data decides (a tokenizer's vocabulary), as the trainer adds them.
            config = load_recipe({**config.to_dict(), "model": {**config.to_dict()["model"], **task.model_arguments()}})
            task.config = config
            out[(name, config.model.name)] = (config, task)
        yield out
    finally:
        if old is None:
            os.environ.pop("ZOO_CACHE", None)
        else:
            os.environ["ZOO_CACHE"] = old


@pytest.mark.parametrize("policy", MIXED)
def test_every_task_trains_one_step_in_mixed_precision(policy, loaded_tasks, float32_afterwards):
    """Under a global mixed policy each update of each phase of each task takes one optimizer
    step: float32 variables, the model computing in the mixed dtype, every sum (loss, counts,
    metrics) float32 and finite, every variable of the update moved. The greedy pretraining
    phases (their own decoders and losses) run under mixed_bfloat16 only: the main phase's
    model is the same under both policies."""
    compute = policy.split("_", 1)[1]
    for (name, model_name), (config, task) in loaded_tasks.items():
        keras.config.set_dtype_policy(policy)
        keras.utils.set_random_seed(0)
        model = create_model(model_name, build=True, **config.model.kwargs())
        assert model.compute_dtype == compute and {v.dtype for v in model.weights} == {"float32"}
        batch = next(iter(task.train_dataset(model, 0)))
        phases = list(task.phases(model))
        for phase in phases if policy == "mixed_bfloat16" else phases[-1:]:
            for update in phase.updates:
                where = f"{name}/{model_name}/{phase.name}/{update.name}"
                variables = update.variables()
                before = [v.numpy() for v in variables]
                with tf.GradientTape() as tape:
                    sums = update.sums(model, batch, step=tf.constant(0, tf.int64), training=True)
                    loss = sums[update.loss] / tf.maximum(sums[update.count], 1.0)
                assert {k: v.dtype for k, v in sums.items()} == {k: tf.float32 for k in sums}, where
                assert np.isfinite(float(loss)), where
                grads = tape.gradient(loss, variables)
                keras.optimizers.Adam(0.01).apply_gradients(
                    [(g, v) for g, v in zip(grads, variables) if g is not None])
                assert {v.dtype for v in variables} == {"float32"}, where
                moved = [not np.array_equal(v.numpy(), b) for v, b in zip(variables, before)]
                assert any(moved), f"{where}: no variable moved"


def test_the_trainer_steps_under_a_global_bfloat16_policy(tmp_path, monkeypatch, float32_afterwards):
    """The trainer's distributed step (its float32 normalisation of the summed loss) on a model
    built under mixed_bfloat16."""
    from zoo.training.trainer import Trainer

    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    keras.config.set_dtype_policy("mixed_bfloat16")
    config = load_recipe(zoo.task_entry("temporal_order").smoke_recipe, [f"runtime.run_dir={tmp_path}"])
    trainer = Trainer(config, log=lambda *a, **k: None)
    trainer.load_data()
    trainer.build()
    assert trainer.model.compute_dtype == "bfloat16"
    sums = trainer.train_step(next(trainer._batches(0)))
    assert all(v.dtype == tf.float32 for v in sums.values())
    assert np.isfinite(float(sums["loss_sum"]))


# -- 3. Keras's layer harness over every public layer ---------------------------------------------
PUBLIC = {byte_layers.ResidualConvStack, byte_layers.ResidualDenseStack, byte_layers.TemporalPool,
          slice_layers.SliceConv1D, slice_layers.ConvStep, slice_layers.ConvModule,
          slice_layers.AttentionModule, rnn_cells.DropoutLSTMCell, rnn_cells.DropoutGRUCell,
          rnn_cells.DropoutRNN, rnn_cells.DropoutSimpleRNNCell, ram_layers.GlimpseReader,
          conv_layers.CausalConv1D, conv_layers.WaveNetBlock, conv_layers.TCNBlock, conv_layers.TiedHead}


def _layer_cases():
    """(id, layer class, run_layer_test arguments): small sizes, every option that adds code."""
    L = byte_layers
    S = slice_layers
    C = rnn_cells
    yield "conv_stack", L.ResidualConvStack, dict(
        init_kwargs=dict(n=2, features=4), input_shape=(2, 8, 4), expected_output_shape=(2, 8, 4),
        expected_num_trainable_weights=4)
    yield "conv_stack_expand", L.ResidualConvStack, dict(
        init_kwargs=dict(n=2, features=4, expand=True), input_shape=(2, 4, 4),
        expected_output_shape=(2, 8, 4), expected_num_trainable_weights=4)
    yield "conv_stack_logits", L.ResidualConvStack, dict(
        init_kwargs=dict(n=2, features=4, final_linear=True, output_features=6), input_shape=(2, 8, 4),
        expected_output_shape=(2, 8, 6), expected_num_trainable_weights=4)
    yield "dense_stack", L.ResidualDenseStack, dict(
        init_kwargs=dict(n=2, units=4), input_shape=(2, 4), expected_output_shape=(2, 4),
        expected_num_trainable_weights=4)
    for mode in ("max", "l2"):
        yield f"pool_{mode}", L.TemporalPool, dict(
            init_kwargs=dict(mode=mode), input_shape=(2, 8, 3), expected_output_shape=(2, 4, 3),
            expected_num_trainable_weights=0)
    for sep, groups, weights in (("none", 1, 2), ("full", 1, 3), ("sub", 2, 3), ("super", 2, 3)):
        yield f"conv1d_{sep}", S.SliceConv1D, dict(
            init_kwargs=dict(filters=4, kernel_size=3, dilation_rate=2, padding="causal",
                             separability=sep, groups=groups),
            input_shape=(2, 6, 4), expected_output_shape=(2, 6, 4), expected_num_trainable_weights=weights)
    yield "conv_step", S.ConvStep, dict(
        init_kwargs=dict(filters=4, separability="sub", groups=2), input_shape=(2, 6, 4),
        expected_output_shape=(2, 6, 4), expected_num_trainable_weights=5)
    yield "conv_module", S.ConvModule, dict(
        init_kwargs=dict(filters=4, kernel_sizes=[3, 3], dilations=[1, 2], groups=2, dropout=0.1),
        input_shape=(2, 6, 4), expected_output_shape=(2, 6, 4), expected_num_trainable_weights=10,
        expected_num_seed_generators=1)
    yield "attention", S.AttentionModule, dict(
        init_kwargs=dict(filters=4, groups=2),
        input_shape={"source_shape": (2, 5, 4), "target_shape": (2, 3, 4)},
        expected_output_shape=(2, 3, 4), expected_num_trainable_weights=10,
        # Keras's fit check calls a layer with one positional input; this one takes source and
        # target apart (build(source_shape, target_shape)). Its gradients: the registry sweep.
        run_training_check=False)
    # The cells run inside their RNN layer, as Keras tests its own cells (keras.layers.RNN tests).
    yield "lstm_cell", C.DropoutRNN, dict(
        init_kwargs=dict(cell=C.DropoutLSTMCell(3, recurrent_dropout=0.2, scheme="gal", dropout=0.1,
                                                layer_norm=True, seed=1),
                         return_sequences=True),
        input_shape=(2, 5, 4), expected_output_shape=(2, 5, 3), expected_num_trainable_weights=9)
    yield "gru_cell", C.DropoutRNN, dict(
        init_kwargs=dict(cell=C.DropoutGRUCell(3, recurrent_dropout=0.2, scheme="moon",
                                               mask_sampling="per_sequence", seed=1)),
        input_shape=(2, 5, 4), expected_output_shape=(2, 3), expected_num_trainable_weights=3)
    yield "plain_rnn_lstm_cell", keras.layers.RNN, dict(
        init_kwargs=dict(cell=C.DropoutLSTMCell(3, recurrent_dropout=0.2, scheme="semeniuta",
                                                mask_sampling="per_sequence", seed=1)),
        input_shape=(2, 5, 4), expected_output_shape=(2, 3), expected_num_trainable_weights=3)
    yield "simple_rnn_cell", C.DropoutRNN, dict(
        init_kwargs=dict(cell=C.DropoutSimpleRNNCell(3, recurrent_dropout=0.2, scheme="gal", dropout=0.1, seed=1),
                         return_sequences=True),
        input_shape=(2, 5, 4), expected_output_shape=(2, 5, 3), expected_num_trainable_weights=3)
    V = conv_layers
    for norm, weights in ((False, 2), (True, 3)):
        yield f"causal_conv{'_weight_norm' if norm else ''}", V.CausalConv1D, dict(
            init_kwargs=dict(filters=5, kernel_size=3, dilation_rate=2, weight_norm=norm),
            input_shape=(2, 7, 4), expected_output_shape=(2, 7, 5), expected_num_trainable_weights=weights)
    yield "wavenet_block", V.WaveNetBlock, dict(
        init_kwargs=dict(residual_channels=4, skip_channels=6, dilation_rate=2, dropout=0.1, seed=1),
        input_shape=(2, 7, 4), expected_output_shape=((2, 7, 4), (2, 7, 6)),
        expected_num_trainable_weights=6, expected_num_seed_generators=1,
        # Two outputs (residual and skip), which Keras's fit check cannot train on.
        run_training_check=False)
    yield "tcn_block", V.TCNBlock, dict(
        init_kwargs=dict(channels=5, kernel_size=3, dilation_rate=2, dropout=0.1, seed=1),
        input_shape=(2, 7, 4), expected_output_shape=(2, 7, 5), expected_num_trainable_weights=8,
        expected_num_seed_generators=2)
    yield "tied_head", V.TiedHead, dict(
        init_kwargs=dict(vocab_size=9), input_shape={"h_shape": (2, 7, 4), "embeddings_shape": (9, 4)},
        expected_output_shape=(2, 7, 9), expected_num_trainable_weights=1, run_training_check=False)
    for relative, extent in ((False, None), (True, 0.5)):
        yield f"glimpse_reader{'_relative' if relative else ''}", ram_layers.GlimpseReader, dict(
            init_kwargs=dict(size=3, image_height=6, image_width=5, relative_shift=relative, max_extent=extent),
            input_shape={"images_shape": (2, 6, 5), "state_shape": (2, 4)}, expected_output_shape=(2, 3, 3),
            expected_num_trainable_weights=2,
            # Like the attention module: two inputs, which Keras's fit check cannot feed; the
            # registry sweep checks the reader's gradients inside the model.
            run_training_check=False)


LAYER_CASES = list(_layer_cases())


def test_layer_cases_cover_every_public_layer():
    covered = {cls for _, cls, _ in LAYER_CASES}
    covered |= {type(args["init_kwargs"]["cell"]) for _, _, args in LAYER_CASES if "cell" in args["init_kwargs"]}
    assert PUBLIC <= covered
    # Every serializable layer class the three layer modules define is in PUBLIC.
    for module in (byte_layers, slice_layers, rnn_cells, ram_layers, conv_layers):
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, keras.layers.Layer)
                    and not issubclass(value, keras.Model)
                    and value.__module__ == module.__name__ and not value.__name__.startswith("_")):
                assert value in PUBLIC, value


# The harness's fit step calls `model.fit(dataset)` with fit's default shuffle=True, which Keras
# then says it ignores (keras/src/testing/test_case.py): Keras's own call, not the zoo's.
@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed, but will be ignored:UserWarning")
@pytest.mark.parametrize("case", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_keras_layer_harness(case):
    _, cls, args = case
    TestCase(methodName="run_layer_test").run_layer_test(cls, **args)
