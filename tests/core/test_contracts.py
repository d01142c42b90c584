"""Typed export contracts, over every registered family's smoke export: each client declares
what it serves (`zoo.export.contracts`), `zoo generate` / `zoo score` work on every export that
declares the capability and refuse every other in one line naming what it can do, and every
client method takes one text or a list of texts the same way (one result for one, a batch for a
list, one ExportError line for anything else).

The families come from the registry; each family's smoke recipe is built (untrained: a contract
does not depend on the weights) and exported once per module, on first use."""
import numpy as np
import pytest

import zoo
from zoo.cli import main
from zoo.config import load_recipe
from zoo.export import (Attender, Classifier, ExportClient, ExportError, PairScorer, Predictor, Reconstructor,
                        TextEncoder, TextGenerator, TextScorer, Translator, capabilities, export_model, open_export)

FAMILIES = [f.name for f in zoo.families()]
TEXTS = ["Save", "Delete it"]   # short: the smoke models' sources and targets are a few tokens long

# How each capability is called on texts (one text or a list) ...
TEXT_CALLS = {
    TextGenerator: lambda c, t: c.generate(t, 3, seed=1),
    TextScorer: lambda c, t: c.score(t),
    Translator: lambda c, t: c.translate(t),
    PairScorer: lambda c, t: c.score(t, t),
    Reconstructor: lambda c, t: c.reconstruct(t),
    TextEncoder: lambda c, t: c.encode(t),
}
# ... and on arrays (Classifier and Attender take one input or a batch, Predictor a batch).
ARRAY_CALLS = {
    Classifier: lambda c, x: c.classify(x),
    Attender: lambda c, x: c.attend(x),
    Predictor: lambda c, x: c.predict(x),
}
SINGLE_ARRAYS = {Classifier, Attender}


def _smoke_recipe(fam) -> str:
    task = fam.default_task or zoo.list_tasks(family=fam.name)[0]
    return zoo.task_entry(task).smoke_recipe


@pytest.fixture(scope="module")
def export_of(tmp_path_factory):
    """family name -> its smoke export (made on first use, once per module)."""
    from zoo.training.trainer import Trainer

    made = {}

    def get(name):
        if name not in made:
            root = tmp_path_factory.mktemp(name)
            config = load_recipe(_smoke_recipe(zoo.family(name)),
                                 [f"runtime.run_dir={root / 'run'}", "runtime.strategy=one_device"])
            trainer = Trainer(config, log=lambda *a, **k: None)
            trainer.load_data()
            trainer.build()
            trainer.task.save_artifacts(root / "artifacts")
            made[name] = export_model(trainer.model, config, root / "export", task=trainer.task,
                                      artifacts=root / "artifacts")
        return made[name]

    return get


# -- what a client declares --------------------------------------------------------------------
@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_client_declares_what_it_serves(name):
    cls = zoo.family(name).client
    assert issubclass(cls, ExportClient)
    caps = capabilities(cls)
    assert caps, f"{cls.__name__} declares no capability"
    assert not cls.__abstractmethods__   # every declared verb is implemented
    # This suite knows how to call every capability a family declares.
    assert set(caps) <= set(TEXT_CALLS) | set(ARRAY_CALLS)


def test_a_client_that_breaks_its_contract_is_refused_when_defined():
    # A scorer of pairs declaring the single-text contract: the bare TypeError a user once got
    # from `zoo score` is now an error where the class is written.
    with pytest.raises(TypeError, match="PairsAsTexts.score does not take 'depth'"):
        class PairsAsTexts(ExportClient, TextScorer):
            def score(self, texts, targets):
                return {}
    with pytest.raises(TypeError, match=r"requires \['style'\]"):
        class NeedsStyle(ExportClient, Translator):
            def translate(self, texts, language=None, *, style):
                return texts
    with pytest.raises(TypeError, match="requires 'depth'"):
        class RequiresDepth(ExportClient, TextScorer):
            def score(self, texts, *, depth):
                return {}

    class Undeclared(ExportClient, TextGenerator):   # declares generate but has none
        pass
    with pytest.raises(TypeError, match="abstract method"):
        Undeclared("unused")

    class Fine(ExportClient, TextScorer):   # extra optional arguments are fine
        def score(self, texts, depth=None, batch_size=64):
            return {}
    assert capabilities(Fine) == [TextScorer]


# -- the generic verbs on every family's export --------------------------------------------------
@pytest.mark.parametrize("name", FAMILIES)
def test_zoo_generate_and_zoo_score_work_or_say_why_in_one_line(name, export_of, tmp_path, capsys):
    out = export_of(name)
    client = open_export(out)
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(TEXTS) + "\n")
    for verb, capability, args in [("generate", TextGenerator, ["--prompt", "Sa", "--max-tokens", "3"]),
                                   ("score", TextScorer, [str(lines)])]:
        code = main([verb, str(out), *args])
        captured = capsys.readouterr()
        if isinstance(client, capability):
            assert code == 0, captured.err
            if verb == "generate":
                assert captured.out.startswith("Sa")
            else:   # a line per text, then the total
                rows = captured.out.splitlines()
                assert len(rows) == len(TEXTS) + 1 and rows[-1].startswith("total\t")
                assert all(r.endswith(t) and "bits/char" in r for r, t in zip(rows, TEXTS))
        else:
            assert code == 2 and captured.out == ""
            err = captured.err
            assert err.count("\n") == 1 and err.startswith(f"zoo: error: {str(out)!r} is a {name} export")
            assert all(c.can in err for c in capabilities(client)), err   # what it can do
            assert f"zoo {verb} needs an export that can {capability.can}" in err


# -- one text or a list, the same way in every family ----------------------------------------------
def _size(batch) -> int:
    return len(next(iter(batch.values()))) if isinstance(batch, dict) else len(batch)


def _row(batch, i):
    return {k: v[i] for k, v in batch.items()} if isinstance(batch, dict) else batch[i]


def _assert_one_result_equals_its_row(one, row):
    if isinstance(row, dict):
        assert isinstance(one, dict) and set(one) == set(row)
        for k in row:
            _assert_one_result_equals_its_row(one[k], row[k])
    elif isinstance(row, (str, bytes)):
        assert type(one) is type(row) and one == row
    else:
        assert np.ndim(one) == np.ndim(row)
        np.testing.assert_allclose(np.asarray(one, np.float64), np.asarray(row, np.float64), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
def test_every_client_method_takes_one_text_or_a_list(name, export_of):
    client = open_export(export_of(name))
    text_caps = [c for c in capabilities(client) if c in TEXT_CALLS]
    for cap in text_caps:
        call = TEXT_CALLS[cap]
        many = call(client, TEXTS)
        assert _size(many) == len(TEXTS), cap.__name__
        for i, text in enumerate(TEXTS):
            one = call(client, text)   # one text: one result, not a batch (nor one per character)
            assert not isinstance(one, list), (cap.__name__, one)
            _assert_one_result_equals_its_row(one, _row(many, i))
        as_tuple = call(client, tuple(TEXTS))
        _assert_one_result_equals_its_row(_row(as_tuple, 1), _row(many, 1))
        for wrong in (3, {"text": TEXTS[0]}, None):
            with pytest.raises(ExportError, match=r"expected one text \(str( or bytes)?\) or a list of texts, got"):
                call(client, wrong)
        with pytest.raises(ExportError, match=r"(text|prompt) 1: expected a text \(str( or bytes)?\), got int"):
            call(client, [TEXTS[0], 7])
    for cap in (Reconstructor, TextEncoder):   # the byte-level ones also take bytes
        if cap in text_caps:
            one = TEXT_CALLS[cap](client, TEXTS[0].encode())
            _assert_one_result_equals_its_row(
                one, _row(TEXT_CALLS[cap](client, [TEXTS[0].encode(), TEXTS[1]]), 0))
    if PairScorer in text_caps:
        with pytest.raises(ExportError, match="one text and one target, or two lists of the same length"):
            client.score(TEXTS[0], TEXTS)
        with pytest.raises(ExportError, match="one text and one target, or two lists of the same length"):
            client.score(TEXTS, TEXTS[:1])


@pytest.mark.parametrize("name", FAMILIES)
def test_array_methods_take_one_input_or_a_batch_and_refuse_text(name, export_of):
    client = open_export(export_of(name))
    for cap in [c for c in capabilities(client) if c in ARRAY_CALLS]:
        call = ARRAY_CALLS[cap]
        path = next(iter(client.entries))
        batch = next(iter(client.example_inputs(path, cap.verb).values()))
        many = call(client, batch)
        assert _size(many) == len(batch)
        if cap in SINGLE_ARRAYS:
            _assert_one_result_equals_its_row(call(client, batch[0]), _row(many, 0))
        for wrong in (3, "an image", {"x": batch}):
            with pytest.raises(ExportError):
                call(client, wrong)
