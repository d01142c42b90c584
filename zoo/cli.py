"""The `zoo` command line: list | corpora | train | eval | export | tune | reconstruct | translate.

Every user error (unknown recipe key, missing path, empty corpus, over-long text, a path that is
not a run or an export) is reported as one line `zoo: error: ...` with exit status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEFAULT_EXPORT = "exported/byte_rcae_default"


def _user_errors():
    from zoo.config import RecipeError
    from zoo.data.errors import ZooDataError
    from zoo.export.exporter import ExportError
    from zoo.training.run import RunError

    return (RecipeError, ZooDataError, RunError, ExportError, FileNotFoundError)


def _recipe(args):
    from zoo.config import load_recipe

    overrides = list(args.set or [])
    if getattr(args, "data", None):
        overrides.append(f"data.corpus={json.dumps(args.data)}")
    if getattr(args, "field", None):
        overrides.append(f"data.field={json.dumps(args.field)}")
    if getattr(args, "run_dir", None):
        overrides.append(f"runtime.run_dir={json.dumps(args.run_dir)}")
    return load_recipe(args.recipe, overrides)


def cmd_list(args):
    import zoo

    for name in zoo.list_models(args.pattern):
        print(f"{name:28s} {zoo.model_entry(name).family}")


def cmd_corpora(args):
    from zoo.data import corpus_info

    names = args.names or ["english", "arabic", "chinese", "mixed", "multilingual"]
    for name in names:
        info = corpus_info(name)
        print(f"{name:14s} {info['paragraphs']:7d} paragraphs {info['bytes']:10d} bytes  "
              f"{info['description']}")


def cmd_train(args):
    from zoo.training.trainer import train

    config = _recipe(args)
    metrics = train(config)
    if args.export and not metrics.get("interrupted"):
        from zoo.export import export_run

        out = export_run(config.run_dir, args.export)
        print(f"exported to {out}")


def cmd_eval(args):
    from zoo.training.run import load_source
    from zoo.training.task import task_for

    config, model, where = load_source(args.source)
    if args.data:
        config.data.corpus = args.data
        config.data.field = args.field
    if args.samples:
        config.eval.samples = args.samples
    task = task_for(config)
    task.load_data()
    out = Path(args.out) if args.out else where / "eval"
    metrics = task.evaluate(model, out)
    print(json.dumps(metrics, indent=2, sort_keys=True, default=str))
    print(f"plots and metrics.json written to {out}", file=sys.stderr)


def cmd_export(args):
    from zoo.export import export_run

    out = export_run(args.run_dir, args.out or f"exported/{Path(args.run_dir).name}")
    print(f"exported to {out}")


def cmd_tune(args):
    from zoo.tuning import tune

    config = _recipe(args)
    if args.max_trials:
        config.tune.max_trials = args.max_trials
    best = tune(config)
    print(json.dumps(best, indent=2, sort_keys=True, default=str))


def cmd_reconstruct(args):
    from zoo.training.run import reconstruct_text

    text = args.text if args.text is not None else sys.stdin.read()
    print(reconstruct_text(args.model, text))


def cmd_translate(args):
    from zoo.export.slicenet import translate_export

    texts = [args.text] if args.text is not None else [l for l in sys.stdin.read().splitlines() if l.strip()]
    for line in translate_export(args.model, texts, args.language):
        print(line)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zoo", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="registered models")
    s.add_argument("pattern", nargs="?", default="*")
    s.set_defaults(fn=cmd_list)

    s = sub.add_parser("corpora", help="corpora shipped inside installed packages")
    s.add_argument("names", nargs="*")
    s.set_defaults(fn=cmd_corpora)

    def recipe_args(s):
        s.add_argument("recipe", help="a recipe YAML path or a name under recipes/, e.g. byte_rcae/default")
        s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. trainer.epochs=2")
        s.add_argument("--data", help="corpus name, file, folder, glob or .jsonl to train on")
        s.add_argument("--field", help="the .jsonl field holding the text (default: text)")
        s.add_argument("--run-dir", help="where checkpoints, TensorBoard logs and the model go")

    s = sub.add_parser("train", help="train a recipe under tf.distribute (resumes a killed run)")
    recipe_args(s)
    s.add_argument("--export", metavar="DIR", help="export the trained model to DIR afterwards")
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("eval", help="the family's analyses: metrics JSON and PNG plots")
    s.add_argument("source", help="a run directory or an export directory")
    s.add_argument("--data", help="evaluate on this corpus/path instead of the recipe's")
    s.add_argument("--field")
    s.add_argument("--samples", type=int, help="paragraphs per split (default: recipe eval.samples)")
    s.add_argument("--out", help="output folder (default: SOURCE/eval)")
    s.set_defaults(fn=cmd_eval)

    s = sub.add_parser("export", help="model.keras + SavedModels + manifest")
    s.add_argument("run_dir")
    s.add_argument("--out", help="destination (default: exported/<run name>)")
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("tune", help="keras-tuner search over the recipe's tune.space")
    recipe_args(s)
    s.add_argument("--max-trials", type=int)
    s.set_defaults(fn=cmd_tune)

    s = sub.add_parser("reconstruct", help="auto-encode a text and print the reconstruction")
    s.add_argument("text", nargs="?", help="the text (default: read stdin)")
    s.add_argument("--model", default=DEFAULT_EXPORT, help=f"export or run directory (default: {DEFAULT_EXPORT})")
    s.set_defaults(fn=cmd_reconstruct)

    s = sub.add_parser("translate", help="translate text with an exported SliceNet model")
    s.add_argument("text", nargs="?", help="the text (default: one sentence per stdin line)")
    s.add_argument("--model", required=True, help="export directory (zoo export / zoo train --export)")
    s.add_argument("--language", help="target language of a multi-language model (default: its first)")
    s.set_defaults(fn=cmd_translate)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:
        args.fn(args)
    except BrokenPipeError:  # `zoo list | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except _user_errors() as e:
        msg = e.args[0] if isinstance(e, (KeyError,)) and e.args else str(e)
        print(f"zoo: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
