"""The Trainer undoes TensorFlow's tf.data malloc patch (`zoo.training.allocator`): once the
trainer's distributed dataset is iterated (which applies TensorFlow's 128 KiB mmap threshold), a
1 MiB buffer still comes from the heap, not from a fresh mmap; ZOO_MALLOC=tensorflow keeps
TensorFlow's setting; results are the same bit for bit either way; a bad value is one line."""
import ctypes
import json

import pytest

from tests.helpers import tiny_recipe
from zoo.training import allocator
from zoo.training.task import DEFAULT_STREAM
from zoo.training.trainer import Trainer, train

libc = allocator.glibc()
pytestmark = pytest.mark.skipif(libc is None or not hasattr(libc, "mallinfo2"), reason="glibc >= 2.33 only")


class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def mmapped(size=1 << 20) -> bool:
    """Whether malloc serves `size` bytes by mmap (mallinfo2's count of mmap'd blocks grows)."""
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.free(libc.malloc(size))   # under glibc's sliding threshold, a freed block raises it
    before = libc.mallinfo2().hblks
    p = libc.malloc(size)
    try:
        return libc.mallinfo2().hblks > before
    finally:
        libc.free(p)


def test_after_the_trainers_dataset_a_step_buffer_comes_from_the_heap(tmp_path, monkeypatch):
    monkeypatch.delenv(allocator.ENV, raising=False)
    trainer = Trainer(tiny_recipe(tmp_path / "run", trainer={"max_steps": 2}), log=lambda *a, **k: None)
    trainer.load_data()
    trainer.build()
    batch = next(trainer._batches(DEFAULT_STREAM, 0))   # the GeneratorDataset TensorFlow patches on
    trainer.train_step(batch)
    assert trainer.malloc == {"mode": "glibc", "mmap_threshold": 32 << 20, "trim_threshold": 64 << 20}
    assert not mmapped()
    try:   # TensorFlow's own setting: a 1 MiB buffer is a fresh mmap each time
        monkeypatch.setenv(allocator.ENV, "tensorflow")
        assert allocator.tune_malloc()["mode"] == "tensorflow"
        assert mmapped()
    finally:
        monkeypatch.setenv(allocator.ENV, "glibc")
        allocator.tune_malloc()
    assert not mmapped()


@pytest.mark.slow   # two short runs, ~25 s on 2 cores (the first traces every function)
def test_the_malloc_setting_changes_no_number(tmp_path, monkeypatch):
    metrics = {}
    for mode in ("tensorflow", "glibc"):
        monkeypatch.setenv(allocator.ENV, mode)
        cfg = tiny_recipe(tmp_path / mode, trainer={"max_steps": 6, "eval_every_steps": 1000,
                                                    "checkpoint_every_steps": 1000, "text_samples": 0},
                          data={"batch_size": 8, "max_paragraphs": 48, "max_test_paragraphs": 8},
                          runtime={"deterministic": True, "strategy": "one_device"})
        train(cfg)
        metrics[mode] = json.loads((tmp_path / mode / "metrics.json").read_text())
        assert metrics[mode]["provenance"].pop("malloc")["mode"] == mode
        metrics[mode].pop("train_seconds")
    assert metrics["tensorflow"] == metrics["glibc"]


def test_a_bad_setting_is_one_line(monkeypatch):
    monkeypatch.setenv(allocator.ENV, "jemalloc")
    with pytest.raises(allocator.MallocSettingError, match=r"^ZOO_MALLOC='jemalloc' is not a malloc mode; "
                                                             r"choose one of glibc, tensorflow$"):
        allocator.tune_malloc()
