"""Shared test helpers: a tiny recipe every trainer-level test builds on."""
from zoo.config import load_recipe


def tiny_recipe(run_dir, **sections):
    raw = {
        "name": "tiny",
        "model": {"name": "byte_rcae_n2", "features": 32, "max_length": 64},
        "data": {"corpus": "english", "max_length": 64, "batch_size": 16, "max_paragraphs": 256,
                 "max_test_paragraphs": 64},
        "trainer": {"optimizer": "adam", "learning_rate": 0.003, "weight_decay": 0.0, "epochs": 100,
                    "max_steps": 40, "log_every_steps": 10, "eval_every_steps": 20,
                    "checkpoint_every_steps": 10, "text_samples": 2},
        "runtime": {"run_dir": str(run_dir), "progress": False},
    }
    for section, values in sections.items():
        raw[section].update(values)
    return load_recipe(raw)


