"""Shared test helpers: a tiny recipe every trainer-level test builds on, real short phrases."""
from zoo.config import load_recipe


def tiny_recipe(run_dir, **sections):
    raw = {
        "name": "tiny",
        "model": {"name": "byte_rcae_n2", "features": 32, "max_length": 64},
        "task": {"name": "byte_autoencoder", "max_length": 64},
        "data": {"corpus": "english", "batch_size": 16, "max_paragraphs": 256, "max_test_paragraphs": 64},
        "trainer": {"optimizer": "adam", "learning_rate": 0.003, "weight_decay": 0.0, "epochs": 100,
                    "max_steps": 40, "log_every_steps": 10, "eval_every_steps": 20,
                    "checkpoint_every_steps": 10, "text_samples": 2},
        "runtime": {"run_dir": str(run_dir), "progress": False},
    }
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return load_recipe(raw)


def phrase_corpus(folder, count=64, words_per_phrase=2, repeat=1):
    """Short phrases of real English (CPython's pydoc topics) that a tiny model learns in seconds;
    `repeat` copies of each make a pass longer (each pass over the data is a new tf.data pipeline)."""
    from zoo.data import load_corpus

    words = b" ".join(load_corpus("english")[:40]).split()
    phrases = [b" ".join(words[i:i + words_per_phrase])
               for i in range(0, count * words_per_phrase, words_per_phrase)]
    path = folder / "phrases.txt"
    path.write_bytes(b"\n\n".join(phrases * repeat))
    return path


def scalars(event_dir, tag):
    """(step, value) of a TensorBoard scalar, read from the event files as TensorBoard does."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(event_dir), size_guidance={"tensors": 0})
    acc.Reload()
    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
