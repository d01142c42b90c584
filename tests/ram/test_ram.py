"""The recurrent attention model family (Semeniuta, dissertation ch. 4): DRAW's read with a
rectangular grid against a hand computation, cluttered MNIST's guarantees, the top-down core,
a short run that learns, and the per-glimpse exports with their bad-input messages."""
import json

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.export import ExportError
from zoo.models.ram.data import (NUM_CLASSES, cluttered_mnist, pair_class, pair_of_class, shipped_digits,
                                 split_digits)
from zoo.models.ram.layers import GlimpseReader, filterbank, glimpse_box, read_glimpse
from zoo.models.ram.task import box_coverage, on_target


def _hand_glimpse(image, cx, cy, dx, dy, s2, gamma, n):
    """DRAW's read written out pixel by pixel: gamma * sum_a,b Fy[j,b] I[b,a] Fx[i,a]."""
    h, w = image.shape
    out = np.zeros((n, n))
    fx = np.zeros((n, w))
    fy = np.zeros((n, h))
    for i in range(n):
        mx = cx + (i - (n - 1) / 2) * dx
        my = cy + (i - (n - 1) / 2) * dy
        for a in range(w):
            fx[i, a] = np.exp(-((a - mx) ** 2) / (2 * s2))
        for b in range(h):
            fy[i, b] = np.exp(-((b - my) ** 2) / (2 * s2))
    fx /= fx.sum(1, keepdims=True)
    fy /= fy.sum(1, keepdims=True)
    for j in range(n):
        for i in range(n):
            out[j, i] = gamma * sum(fy[j, b] * image[b, a] * fx[i, a] for b in range(h) for a in range(w))
    return out


def test_glimpse_equals_the_hand_computed_read_on_a_rectangular_grid():
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(7, 9)).astype(np.float32)       # H = 7, W = 9: not square
    cases = [(4.0, 3.0, 2.0, 1.0, 0.7, 1.0, 3), (2.5, 4.2, 0.5, 1.5, 2.0, 0.6, 4), (8.0, 0.0, 3.0, 3.0, 0.3, 2.0, 2)]
    for cx, cy, dx, dy, s2, gamma, n in cases:
        got = read_glimpse(tf.constant(image[None]), *(tf.constant([v], tf.float32) for v in (cx, cy, dx, dy, s2, gamma)),
                           n=n).numpy()[0]
        np.testing.assert_allclose(got, _hand_glimpse(image, cx, cy, dx, dy, s2, gamma, n), rtol=1e-5, atol=1e-6)
    # The variance divides the squared distance: doubling s2 widens the filter by sqrt(2), not 2.
    fb = filterbank(tf.constant([[0.0]]), tf.constant([2.0]), 5).numpy()[0, 0]
    np.testing.assert_allclose(fb[1] / fb[0], np.exp(-1 / 4), rtol=1e-6)


def test_identity_like_parameters_reproduce_the_image():
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(2, 10, 10)).astype(np.float32)
    b = lambda v: tf.constant([v, v], tf.float32)   # noqa: E731
    got = read_glimpse(tf.constant(image), b(4.5), b(4.5), b(1.0), b(1.0), b(0.01), b(1.0), n=10).numpy()
    np.testing.assert_allclose(got, image, atol=1e-5)
    half = read_glimpse(tf.constant(image), b(4.5), b(4.5), b(1.0), b(1.0), b(0.01), b(0.5), n=10).numpy()
    np.testing.assert_allclose(half, 0.5 * image, atol=1e-5)


def test_reader_parameters_centre_clip_shift_and_extent_limit():
    reader = GlimpseReader(5, 21, 41)          # H = 21, W = 41
    reader.build((None, 21, 41), (None, 3))
    reader.linear.kernel.assign(np.zeros((3, 6), np.float32))
    bias = reader.linear.bias.numpy()
    params, centre, raw = reader.parameters(tf.zeros([1, 3]))
    # Zero state: centred, the grid spread over the whole image, blur at half the stride, gamma 1.
    np.testing.assert_allclose([params["center_x"][0], params["center_y"][0]], [20.0, 10.0], rtol=1e-6)
    np.testing.assert_allclose([params["stride_x"][0], params["stride_y"][0]], [10.0, 5.0], rtol=1e-6)
    np.testing.assert_allclose(params["variance"][0], (10.0 / 2) ** 2, rtol=1e-5)
    np.testing.assert_allclose(params["intensity"][0], 1.0, rtol=1e-6)
    box = glimpse_box(params["center_x"], params["center_y"], params["stride_x"], params["stride_y"], 5).numpy()[0]
    np.testing.assert_allclose(box, [-5.0, -2.5, 45.0, 22.5])
    # A centre output far outside is clipped to the image's edge.
    reader.linear.bias.assign(bias + np.array([7.0, -3.0, 0, 0, 0, 0], np.float32))
    params, _, raw = reader.parameters(tf.zeros([1, 3]))
    np.testing.assert_allclose([params["center_x"][0], params["center_y"][0]], [40.0, 0.0])
    np.testing.assert_allclose(raw.numpy()[0], [7.0, -3.0])
    # Relative shifts add up unbounded; the centre is tanh of the sum, and never sticks to an edge.
    shifted = GlimpseReader(5, 21, 41, relative_shift=True)
    shifted.build((None, 21, 41), (None, 3))
    shifted.linear.kernel.assign(np.zeros((3, 6), np.float32))
    shifted.linear.bias.assign(np.array([0.25, -0.5, 0, 0, 0, 0], np.float32))
    start = tf.constant([[0.5, 3.0]])
    with tf.GradientTape() as tape:
        params, position, shift = shifted.parameters(tf.zeros([1, 3]), start)
        cx = params["center_x"]
    np.testing.assert_allclose(position.numpy()[0], [0.75, 2.5], rtol=1e-6)
    np.testing.assert_allclose(cx[0], 20.0 * (np.tanh(0.75) + 1), rtol=1e-6)
    np.testing.assert_allclose(shift.numpy()[0], np.tanh([0.75, 2.5]) - np.tanh([0.5, 3.0]), rtol=1e-5)
    assert tape.gradient(cx, shifted.linear.bias).numpy()[0] > 0
    # The extent limit: a glimpse spans at most max_extent of the image whatever the output.
    capped = GlimpseReader(5, 21, 41, max_extent=0.5)
    capped.build((None, 21, 41), (None, 3))
    capped.linear.kernel.assign(np.zeros((3, 6), np.float32))
    capped.linear.bias.assign(np.array([0, 0, 50.0, 50.0, 0, 0], np.float32))
    params, _, _ = capped.parameters(tf.zeros([1, 3]))
    np.testing.assert_allclose([params["stride_x"][0], params["stride_y"][0]], [5.0, 2.5], rtol=1e-5)
    with pytest.raises(ValueError, match="max_extent"):
        GlimpseReader(5, 21, 41, max_extent=1.5)


@pytest.fixture(scope="module")
def digits():
    d, labels = shipped_digits()
    train, test = split_digits(labels, 0.2, 0)
    return d, labels, train, test


def test_pair_classes_are_a_bijection_onto_55_unordered_pairs():
    seen = {int(pair_class(a, b)) for a in range(10) for b in range(10)}
    assert seen == set(range(NUM_CLASSES["pair"]))
    for c in range(55):
        a, b = pair_of_class(c)
        assert a <= b and pair_class(a, b) == pair_class(b, a) == c


def test_test_images_are_made_only_of_test_digits(digits):
    d, labels, train, test = digits
    assert len(test) == 1000 and not set(train) & set(test)
    # Mark every digit outside the pool as solid: any of its pixels on a canvas would show.
    marked = np.where(np.isin(np.arange(len(d)), test)[:, None, None], 0, np.full_like(d, 255))
    data = cluttered_mnist(marked, labels, test, 50, problem="pair", size=64, clutter=8, seed=3)
    assert data.images.max() == 0
    real = cluttered_mnist(d, labels, test, 50, problem="pair", size=64, clutter=8, seed=3)
    assert set(real.digits.ravel()) <= set(test)


def test_labels_boxes_and_determinism(digits):
    d, labels, train, _ = digits
    for problem in ("single", "pair", "sum"):
        a = cluttered_mnist(d, labels, train, 40, problem=problem, size=60, clutter=4, seed=7)
        b = cluttered_mnist(d, labels, train, 40, problem=problem, size=60, clutter=4, seed=7)
        np.testing.assert_array_equal(a.images, b.images)
        assert a.images.shape == (40, 60, 60) and a.labels.max() < NUM_CLASSES[problem]
        first, second = labels[a.digits[:, 0]], labels[np.maximum(a.digits[:, 1], 0)]
        want = {"single": first, "pair": pair_class(first, second), "sum": first + second}[problem]
        np.testing.assert_array_equal(a.labels, want)
        for img, boxes, ids in zip(a.images, a.boxes, a.digits):
            for (x0, y0, x1, y1), k in zip(boxes, ids):
                if k < 0:
                    continue
                # The box is tight around the digit's ink, which lies on the canvas.
                assert img[y0:y1 + 1, x0].max() > 0 and img[y0:y1 + 1, x1].max() > 0
                assert img[y0, x0:x1 + 1].max() > 0 and img[y1, x0:x1 + 1].max() > 0
            if problem != "single":
                (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = boxes
                assert ax1 < bx0 or bx1 < ax0 or ay1 < by0 or by1 < ay0    # never overlapping
        if problem == "sum":   # empty background: no ink outside the two digits' boxes
            img, boxes = a.images[0].copy(), a.boxes[0]
            for x0, y0, x1, y1 in boxes:
                img[y0:y1 + 1, x0:x1 + 1] = 0
            assert img.max() == 0
    other = cluttered_mnist(d, labels, train, 40, problem="single", size=60, clutter=4, seed=8)
    assert not np.array_equal(other.images, cluttered_mnist(d, labels, train, 40, size=60, clutter=4, seed=7).images)


def test_coverage_and_on_target():
    digit = tf.constant([[10.0, 10.0, 19.0, 19.0]])      # pixels 10..19: spans [9.5, 19.5]
    np.testing.assert_allclose(box_coverage(tf.constant([[9.5, 9.5, 19.5, 19.5]]), digit), [1.0])
    np.testing.assert_allclose(box_coverage(tf.constant([[14.5, 9.5, 30.0, 19.5]]), digit), [0.5])
    np.testing.assert_allclose(box_coverage(tf.constant([[30.0, 30.0, 40.0, 40.0]]), digit), [0.0])
    # The whole image covers the digit but is centred off it: not on target.
    assert not on_target(tf.constant([[0.0, 0.0, 100.0, 100.0]]), digit, 0.5).numpy()[0]
    assert on_target(tf.constant([[8.0, 8.0, 22.0, 22.0]]), digit, 0.5).numpy()[0]


def _model(**kw):
    args = dict(image_size=32, glimpse_size=4, units=8, hidden=8, glimpses=3, context_filters=(4, 4, 4),
                context_downsample=2)
    return zoo.create_model("ram_mnist", build=True, **{**args, **kw})


def test_fewer_glimpses_are_the_first_steps_and_context_places_the_first_glimpse():
    x = np.random.default_rng(2).uniform(size=(4, 32, 32)).astype(np.float32)
    model = _model()
    full, params = model.run(x)
    assert full.shape == (4, 3, 10) and params["center_x"].shape == (4, 3)
    for k in (1, 2):
        np.testing.assert_allclose(model(x, glimpses=k).numpy(), full.numpy()[:, :k], atol=1e-6)
    with pytest.raises(ValueError, match="1..3 glimpses"):
        model(x, glimpses=4)
    # Top-down order: the context network reaches the first glimpse (its place differs per image);
    # without it the first glimpse is the same for every image.
    first = lambda m: np.stack([m.run(x)[1][k][:, 0].numpy() for k in ("center_x", "center_y")], 1)  # noqa: E731
    assert np.ptp(first(model), axis=0).max() > 1e-4
    assert np.ptp(first(_model(context=False)), axis=0).max() == 0.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short real run on 40 x 40 canvases (one digit, light clutter), exported."""
    from zoo.config import load_recipe
    from zoo.export import export_run
    from zoo.training.trainer import Trainer

    root = tmp_path_factory.mktemp("ram")
    config = load_recipe("ram/smoke", [
        f"runtime.run_dir={root / 'run'}", "model.image_size=40", "model.glimpse_size=8", "model.units=48",
        "model.hidden=64", "model.glimpses=3", "model.context_filters=[8,8,8]", "task.clutter=2", "task.train_examples=2048",
        "task.test_examples=256", "data.batch_size=32", "trainer.learning_rate=0.003", "trainer.max_steps=300",
        "trainer.eval_every_steps=150", "trainer.log_every_steps=50", "trainer.text_samples=2"])
    result = Trainer(config, log=lambda *a, **k: None).fit()
    return root, result, export_run(root / "run", root / "export")


def test_a_short_run_learns_and_logs_glimpse_images(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, result, _ = trained
    assert result["error"] < 0.5, result            # chance: 0.9
    assert result["error"] < result["error_after_1"] + 0.05
    acc = EventAccumulator(str(root / "run" / "tb" / "eval"), size_guidance={"tensors": 0})
    acc.Reload()
    assert "glimpses" in acc.Tags()["tensors"]
    images = acc.Tensors("glimpses")[-1]
    assert images.tensor_proto.dtype == tf.string.as_datatype_enum   # encoded PNGs, as tf.summary.image writes


def test_export_serves_every_glimpse_count_and_reads_as_sentences(trained, tmp_path):
    from PIL import Image

    from zoo.export import load_keras_model, open_export
    from zoo.models.ram.export import AttentionClient, read_image

    root, _, export = trained
    client = open_export(export)
    assert isinstance(client, AttentionClient) and client.glimpse_counts == [1, 2, 3]
    model = load_keras_model(export)
    x = np.random.default_rng(4).uniform(size=(3, 40, 40)).astype(np.float32)
    for k in (1, 2, 3):
        want = tf.nn.softmax(model(x, glimpses=k)[:, -1]).numpy()
        np.testing.assert_allclose(client.classify(x, k), want, atol=1e-5)
        boxes = client.attend(x, k)["boxes"]
        assert boxes.shape == (3, k, 4) and np.all(boxes[..., 2] > boxes[..., 0])
    with pytest.raises(ExportError, match=r"serves 1..3 glimpses .*got 4"):
        client.classify(x, 4)
    with pytest.raises(ExportError, match=r"image pixel values must be in \[0, 1\]"):
        client.classify(x * 255.0)
    with pytest.raises(ExportError, match="must be 40 x 40 pixels"):
        client.classify(x[:, :20])
    # Images from files: colour to grey, the wrong size refused unless resized, non-images named.
    rgb = tmp_path / "digit.png"
    Image.fromarray(np.stack([(x[0] * 255).astype(np.uint8)] * 3, -1)).save(rgb)
    np.testing.assert_allclose(read_image(rgb, 40), np.round(x[0] * 255 - 0.5 + 0.5).astype(np.uint8) / 255.0,
                               atol=1 / 255 + 1e-6)
    big = tmp_path / "big.png"
    Image.fromarray((x[0] * 255).astype(np.uint8)).resize((80, 80)).save(big)
    with pytest.raises(ExportError, match=r"is 80 x 80 pixels; this model reads 40 x 40 .*--resize"):
        read_image(big, 40)
    assert read_image(big, 40, resize=True).shape == (40, 40)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ExportError, match="is not an image file"):
        read_image(text, 40)
    # Issue 28: a 16-bit greyscale PNG keeps its values (an 8-bit conversion clipped them at 255,
    # mean 0.995 for 0.513); a decompression bomb is refused from its header, unread.
    deep = tmp_path / "deep.png"
    values = (x[0] * 65535).round().astype(np.uint16)
    Image.fromarray(values).save(deep)
    assert Image.open(deep).mode.startswith("I")
    np.testing.assert_allclose(read_image(deep, 40), values / 65535.0, atol=1e-6)
    np.testing.assert_allclose(read_image(deep, 40).mean(), x[0].mean(), atol=1e-4)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)  # a few KB on disk; Image.open itself refuses it
    with pytest.raises(ExportError, match=r"bomb.png' is over the 67,108,864-pixel limit"):
        read_image(bomb, 40)
    bomb = tmp_path / "bomb2.png"
    Image.new("1", (9_000, 9_000)).save(bomb)  # under Pillow's refusal, over ours
    with pytest.raises(ExportError, match=r"is 9000 x 9000 pixels, over the 67,108,864-pixel limit"):
        read_image(bomb, 40)


def test_zoo_attend_prints_the_class_and_draws_the_boxes(trained, tmp_path, capsys):
    from PIL import Image

    from zoo.cli import main

    _, _, export = trained
    d, labels = shipped_digits()
    data = cluttered_mnist(d, labels, np.arange(4000, 5000), 1, size=40, clutter=2, seed=11)
    Image.fromarray(data.images[0]).save(tmp_path / "digit.png")
    out = tmp_path / "boxes.png"
    assert main(["attend", str(export), str(tmp_path / "digit.png"), "--glimpses", "2", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[0])
    assert report["class"] in [str(c) for c in range(10)] and 0 < report["probability"] <= 1
    assert [g["step"] for g in report["glimpses"]] == [1, 2]
    assert Image.open(out).format == "PNG"
    for args, message in ((["--glimpses", "5"], "serves 1..3 glimpses"),
                          (["--resize", "--glimpses", "0"], "got 0")):
        assert main(["attend", str(export), str(tmp_path / "digit.png"), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("zoo: error:") and message in err[0], err
    assert main(["attend", str(export), str(tmp_path / "missing.png")]) == 2
    assert "no such image file" in capsys.readouterr().err
    assert main(["attend", str(export), str(tmp_path / "digit.png"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: --out") and "is a folder" in err and err.count("\n") == 1


def test_recipes_that_cannot_work_fail_with_one_sentence(tmp_path):
    from zoo.config import RecipeError, load_recipe
    from zoo.data.errors import ZooDataError

    def task(*sets):
        return zoo.create_task(load_recipe("ram/smoke", [f"runtime.run_dir={tmp_path}", *sets]))

    t = task("task.problem=pair")                  # a 10-class model for the 55 pairs
    with pytest.raises(RecipeError, match="num_classes=55 .*got num_classes=10"):
        t.check_model(zoo.create_model("ram_mnist", **zoo.model_entry("ram_mnist").smoke))
    with pytest.raises(RecipeError, match="needs a recurrent attention model"):
        zoo.create_task(load_recipe({"model": {"name": "stacked_lstm_mnist"}, "task": {"name": "cluttered_mnist"},
                                     "runtime": {"run_dir": str(tmp_path)}}))
    with pytest.raises(ZooDataError, match="cannot hold two"):
        task("task.problem=sum", "model.name=ram_mnist_sum").load_data()   # 32 x 32 < two digits
    with pytest.raises(ZooDataError, match="fewer than one batch"):
        task("task.train_examples=8").load_data()


def test_the_pair_loss_adds_eq_4_4_1_on_the_third_glimpse_shift(tmp_path):
    from zoo.config import load_recipe

    config = load_recipe("ram/smoke", [f"runtime.run_dir={tmp_path}", "task.problem=pair", "model.name=ram_mnist_pair",
                                       "model.glimpses=3", "model.num_classes=55"])
    task = zoo.create_task(config)
    model = zoo.create_model("ram_mnist_pair", build=True, **config.model.kwargs())
    task.check_model(model)
    rng = np.random.default_rng(6)
    images = rng.uniform(size=(4, 32, 32)).astype(np.float32)
    boxes = np.tile(np.array([[2, 2, 12, 12], [18, 18, 30, 30]], np.int32), (4, 1, 1))
    sums = task.batch_sums(model, (images, rng.integers(0, 55, 4), boxes), step=0, training=False)
    _, params = model.run(images)
    dx, dy = params["shift_x"].numpy()[:, 2], params["shift_y"].numpy()[:, 2]
    np.testing.assert_allclose(float(sums["loss_sum"] - sums["nll_sum"]),
                               np.sum(0.1 * np.exp(-(dx ** 2 + dy ** 2) / 0.1)), rtol=1e-5)
    # The shift is the centre's move from the previous glimpse, in [-1, 1] coordinates.
    cx = params["center_x"].numpy() / (31 / 2) - 1
    np.testing.assert_allclose(dx, cx[:, 2] - cx[:, 1], atol=1e-5)
