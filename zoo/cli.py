"""The `zoo` command line: list | tasks | corpora | recipe | train | eval | export | tune | report |
generate | score, plus the
verbs each family adds (`Family.commands`; e.g. `zoo reconstruct`, `zoo translate`).

Every user error (unknown recipe key or out-of-range value, missing path, empty corpus, over-long
text, a path that is not a run or an export, an export that does not serve the verb, a run folder
another `zoo train` is using, a training run whose loss became NaN) is a `zoo.errors.ZooError`,
reported as one line `zoo: error: ...` with exit status 2.

`zoo train RUN_DIR` (a folder `zoo train` wrote) trains in that folder, from any directory: a
copied run folder is the copy. Paths and names given with --data, --field and --run-dir are
taken as typed (an emoji, quotes, braces); `--set` values are YAML, `1e-3` a number too.

`zoo train` stopped by SIGTERM or SIGINT saves a checkpoint, skips `--export`, and exits with
128 + the signal's number (143 for SIGTERM, 130 for SIGINT), as a shell reports a process the
signal ended: `zoo train R --export X && deploy X` deploys only a finished run.

The `zoo` executable is `zoo_env.main`, which sets the command line's TensorFlow defaults
before TensorFlow loads and then runs `main` here.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import re
import signal
import sys
import warnings

from zoo.errors import ZooError
from zoo.training.memory import out_of_memory_message


def _run_folder(recipe) -> str | None:
    """`recipe` if it names a run folder (one `zoo train` wrote: it holds recipe.yaml), else None."""
    from zoo.runs import is_run_dir

    return str(recipe) if os.path.isdir(recipe) and is_run_dir(recipe) else None


def _overrides(args) -> list[str]:
    from zoo.config import literal_run_dir, override

    overrides = []
    # A run folder given as the recipe is the run, wherever its recipe's runtime.run_dir (often
    # relative, "runs/{name}") points from the current directory, and a copied run is the copy.
    # --set runtime.run_dir and --run-dir, given explicitly, still choose another folder.
    folder = _run_folder(getattr(args, "recipe", ""))
    if folder is not None:
        overrides.append(override("runtime.run_dir", literal_run_dir(folder)))
    overrides += list(args.set or [])
    # Paths and names a user typed, set exactly as typed (an emoji, a quote, braces).
    if getattr(args, "data", None):
        overrides.append(override("data.corpus", args.data))
    if getattr(args, "field", None):
        overrides.append(override("data.field", args.field))
    if getattr(args, "run_dir", None):
        overrides.append(override("runtime.run_dir", literal_run_dir(args.run_dir)))
    return overrides


def _recipe(args):
    from zoo.config import load_recipe

    return load_recipe(args.recipe, _overrides(args))


def cmd_list(args):
    from zoo.registry import list_models, model_entry

    for name in list_models(args.pattern):
        print(f"{name:28s} {model_entry(name).family}")


def cmd_tasks(args):
    from zoo.registry import list_tasks, task_entry

    for name in list_tasks(args.pattern):
        entry = task_entry(name)
        print(f"{name:20s} {entry.family:12s} smoke recipe: {entry.smoke_recipe}")


def cmd_corpora(args):
    from zoo.data import available_corpora, corpus_info

    names = args.names or [n for n in available_corpora() if ":" not in n]
    for name in names:
        info = corpus_info(name)
        print(f"{name:14s} {info['paragraphs']:7d} paragraphs {info['bytes']:10d} bytes  "
              f"{info['description']}")


def cmd_recipe(args):
    from zoo.config import recipe_yaml

    sys.stdout.write(recipe_yaml(_recipe(args)))


def _cluster_note(config) -> str | None:
    """One line for a multi-worker run: it waits, silently inside TensorFlow, until every worker
    TF_CONFIG names has started (minutes, if one never does)."""
    from zoo.training.strategy import cluster_workers

    if config.runtime.strategy not in ("auto", "multi_worker"):
        return None
    try:
        if cluster_workers() < 2:
            return None
        spec = json.loads(os.environ["TF_CONFIG"])
    except (ValueError, KeyError):
        return None  # the strategy names a broken TF_CONFIG itself
    cluster, task = spec.get("cluster") or {}, spec.get("task") or {}
    me = f"{task.get('type', 'worker')} {task.get('index', 0)}"
    peers = ", ".join(f"{kind} {i} at {address}" for kind, addresses in cluster.items()
                      for i, address in enumerate(addresses) if f"{kind} {i}" != me)
    return (f"zoo: {me} of a {sum(map(len, cluster.values()))}-process cluster (TF_CONFIG): "
            f"waiting for {peers} to start; the first step runs when all have")


def cmd_train(args):
    import signal

    from zoo.training.trainer import train

    config = _recipe(args)
    if args.export:   # a name TensorFlow cannot write is refused before training, not after it
        from zoo.export.exporter import ExportError
        from zoo.io import utf8_path

        utf8_path(args.export, "export folder", ExportError)
    note = _cluster_note(config)
    if note:
        print(note, file=sys.stderr, flush=True)
    said = []

    def log(*parts, **kwargs):
        said.append(" ".join(map(str, parts)))
        print(*parts, **kwargs)

    metrics = train(config, log=log)
    if metrics.get("interrupted"):
        signum = int(metrics.get("signal") or signal.SIGTERM)
        # The trainer's last line says where it stopped (once); a worker that logs nothing
        # (not the chief of a multi-worker run) says it here.
        if not any(f"stopped by {signal.Signals(signum).name}" in line for line in said[-1:]):
            print(f"zoo: training stopped by {signal.Signals(signum).name} at step {metrics['step']}; "
                  f"checkpoint saved, rerun to resume", file=sys.stderr)
        if args.export:
            print("zoo: --export skipped: the run did not finish (rerun to resume, then export)",
                  file=sys.stderr)
        return 128 + signum
    if args.export:
        from zoo.export import export_run

        out = export_run(config.run_dir, args.export)
        print(f"exported to {out}")


def cmd_eval(args):
    from zoo.config import override
    from zoo.sources import evaluate_source

    overrides = list(args.set or [])
    if args.data:
        overrides += [override("data.corpus", args.data), override("data.field", args.field)]
    if args.samples:
        overrides.append(f"eval.samples={args.samples}")
    out = args.out or os.path.join(args.source, "eval")
    metrics = evaluate_source(args.source, out, overrides)
    print(json.dumps(metrics, indent=2, sort_keys=True, default=str))
    print(f"metrics.json (and the task's plots) written to {out}", file=sys.stderr)


def cmd_export(args):
    from zoo.export import export_run

    out = export_run(args.run_dir, args.out or f"exported/{os.path.basename(os.path.normpath(args.run_dir))}")
    print(f"exported to {out}")


def cmd_tune(args):
    from zoo.tuning import tune

    overrides = _overrides(args)
    if args.max_trials:
        overrides.append(f"tune.max_trials={args.max_trials}")
    from zoo.config import load_recipe

    best = tune(load_recipe(args.recipe, overrides))
    print(json.dumps(best, indent=2, sort_keys=True, default=str))


def cmd_report(args):
    import shlex
    import signal

    from zoo.report import Interrupted, build_report

    if args.seeds is not None and args.seeds < 1:
        from zoo.config import RecipeError
        raise RecipeError(f"--seeds must be at least 1, not {args.seeds}")
    command = "zoo report " + " ".join(shlex.quote(a) for a in args.argv)
    if args.rejudge:
        from zoo.config import RecipeError
        from zoo.report import rejudge
        if args.tables or args.plan or args.seeds is not None or args.set:
            raise RecipeError("--rejudge re-judges the whole report in --out from its recorded runs; "
                              "it takes no tables, --plan, --seeds or --set")
        report = rejudge(args.out or f"reports/{args.scale}", command=command)
        for fam in report["families"].values():
            for table in fam["tables"].values():
                for c in table["claims"]:
                    print(f"{table['title']}: {c['claim']}: {c['verdict']}")
        return None
    try:
        report = build_report(args.tables, args.scale, args.seeds, args.out, args.runs, args.set or (),
                              dry_run=args.plan, command=command)
    except Interrupted as e:
        signum = int(e.signum or signal.SIGTERM)
        print(f"zoo: report stopped by {signal.Signals(signum).name}; the run's checkpoint is saved, "
              f"rerun the same command to continue", file=sys.stderr)
        return 128 + signum
    if not args.plan:
        for fam in report["families"].values():
            for key, table in fam["tables"].items():
                for c in table["claims"]:
                    print(f"{table['title']}: {c['claim']}: {c['verdict']}")
        print(f"report written to {args.out or 'reports/' + args.scale}/report.md", file=sys.stderr)


def _client_that(path, capability, verb: str):
    """The export's client if it declares `capability`; else one line saying what it can do."""
    from zoo.export import open_export, require

    return require(open_export(path), capability, verb)


def cmd_generate(args):
    from zoo.config import RecipeError
    from zoo.eval.decoding import check_sampler

    if args.top_k is not None and args.top_k < 1:
        raise RecipeError(f"--top-k must be at least 1, got {args.top_k}")
    try:
        check_sampler(args.temperature, args.top_k or 0, args.top_p, 1 if args.beam is None else args.beam,
                      args.length_penalty, args.seed)
    except ValueError as e:
        raise RecipeError(str(e).replace("top_k", "--top-k").replace("top_p", "--top-p")
                          .replace("temperature", "--temperature").replace("beam size", "--beam")
                          .replace("length penalty", "--length-penalty").replace("seed", "--seed")) from None
    from zoo.export import TextGenerator

    client = _client_that(args.export, TextGenerator, "zoo generate")
    # Without --max-tokens: the export's own default where it has one (a GAN's longest sentence).
    max_tokens = args.max_tokens if args.max_tokens is not None else getattr(client, "default_max_tokens", 200)
    out = client.generate(args.prompt, max_tokens, temperature=args.temperature, top_k=args.top_k or 0,
                          top_p=args.top_p, beam=args.beam, length_penalty=args.length_penalty,
                          seed=args.seed, depth=args.depth)
    notes = []
    if out.get("unknown"):
        notes.append(f"{out['unknown']} unit(s) of the prompt are outside the vocabulary: read as <unk>")
    if out.get("prompt_cut"):
        notes.append(f"the prompt is longer than the model's context: its first {out['prompt_cut']} "
                     f"token(s) were not read")
    for note in notes:
        print(f"zoo: note: {note}", file=sys.stderr)
    print(args.prompt + out["text"])


def cmd_score(args):
    import math

    from pathlib import Path

    from zoo.data.errors import ZooDataError
    from zoo.export import TextScorer

    client = _client_that(args.export, TextScorer, "zoo score")
    path = Path(args.file)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file" if path.exists() else "not found"
        raise ZooDataError(f"{args.file!r} is {what}: zoo score reads a text file, one text per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ZooDataError(f"{args.file!r} is not UTF-8 text (byte {e.start} cannot be decoded): "
                           f"zoo score reads a text file, one text per line") from None
    # An empty line has no character: its "bits per character" would be the cost of ending a
    # text at once (its end marker alone, e.g. 13.55 bits), which is no line's score. Skipped,
    # and said; the lines scored keep their numbers in the file.
    numbers = [i + 1 for i, line in enumerate(lines) if line]
    empty = len(lines) - len(numbers)
    if not numbers:
        raise ZooDataError(f"{args.file!r} has no line to score" + (" (only empty lines)" if lines else ""))
    if empty:
        shown = ", ".join(str(i + 1) for i, line in enumerate(lines) if not line)
        shown = shown if len(shown) <= 60 else shown[:shown.rfind(",", 0, 60)] + ", ..."
        print(f"zoo: note: {empty} empty line(s) skipped (line {shown}): an empty line has no "
              f"character to score", file=sys.stderr)
    texts = [lines[n - 1] for n in numbers]
    out = client.score(texts, depth=args.depth)
    for n, text, lp, chars in zip(numbers, texts, out["log_prob"], out["characters"]):
        print(f"{n}\t{-lp / math.log(2) / chars:.4f} bits/char\t{text[:60]}")
    total = -float(out["log_prob"].sum()) / math.log(2) / float(out["characters"].sum())
    print(f"total\t{total:.4f} bits/char over {int(out['characters'].sum())} characters "
          f"({len(texts)} lines, each with its end" + (f"; {empty} empty skipped)" if empty else ")"))


def recipe_args(s):
    s.add_argument("recipe", help="a recipe YAML path, a run directory, or a name <family>/<recipe> under recipes/")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override, e.g. trainer.epochs=2")
    s.add_argument("--data", help="corpus name, file, folder, glob or .jsonl to train on")
    s.add_argument("--field", help="the .jsonl field holding the text (default: text)")
    s.add_argument("--run-dir", help="where checkpoints, TensorBoard logs and the model go (this very "
                                     "folder; default: the recipe's runtime.run_dir, or RECIPE when it "
                                     "is a run folder)")


def build_parser() -> argparse.ArgumentParser:
    from zoo.registry import families

    p = argparse.ArgumentParser(prog="zoo", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="registered models")
    s.add_argument("pattern", nargs="?", default="*")
    s.set_defaults(fn=cmd_list)

    s = sub.add_parser("tasks", help="registered tasks and their smoke recipes")
    s.add_argument("pattern", nargs="?", default="*")
    s.set_defaults(fn=cmd_tasks)

    s = sub.add_parser("corpora", help="corpora shipped inside installed packages")
    s.add_argument("names", nargs="*")
    s.set_defaults(fn=cmd_corpora)

    s = sub.add_parser("recipe", help="print a recipe resolved (base, --set) in the current form")
    recipe_args(s)
    s.set_defaults(fn=cmd_recipe)

    s = sub.add_parser("train", help="train a recipe under tf.distribute (resumes a killed run)",
                       description="Train a recipe into its run folder, resuming from its newest intact "
                                   "checkpoint. SIGTERM/SIGINT save a checkpoint and exit with 128 + the "
                                   "signal number (143, 130), skipping --export.")
    recipe_args(s)
    s.add_argument("--export", metavar="DIR", help="export the trained model to DIR afterwards")
    s.set_defaults(fn=cmd_train)

    s = sub.add_parser("eval", help="the task's metrics and analyses: metrics JSON and plots")
    s.add_argument("source", help="a run directory or an export directory")
    s.add_argument("--data", help="evaluate on this corpus/path instead of the run's test split")
    s.add_argument("--field")
    s.add_argument("--samples", type=int, help="items per split for the analyses (default: recipe eval.samples)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="recipe override")
    s.add_argument("--out", help="output folder (default: SOURCE/eval)")
    s.set_defaults(fn=cmd_eval)

    s = sub.add_parser("export", help="model.keras + SavedModels + artifacts + manifest")
    s.add_argument("run_dir")
    s.add_argument("--out", help="destination (default: exported/<run name>)")
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("tune", help="keras-tuner search over the recipe's tune.space")
    recipe_args(s)
    s.add_argument("--max-trials", type=int)
    s.set_defaults(fn=cmd_tune)

    s = sub.add_parser("report", help="re-run the papers' tables declared by the families, with seeds "
                                      "and a verdict per claim (resumable)")
    s.add_argument("tables", nargs="*", metavar="FAMILY|FAMILY:TABLE", help="default: every declared table")
    s.add_argument("--scale", choices=["cpu", "paper"], default="cpu")
    s.add_argument("--seeds", type=int, help="seeds per row (default: as each table declares)")
    s.add_argument("--out", help="report folder (default: reports/<scale>); with tables named, the other tables of "
                                        "a report already there are kept, re-judged")
    s.add_argument("--runs", default="runs/report", help="where the runs go (one folder per recipe and seed)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override for every run")
    s.add_argument("--plan", action="store_true", help="list the runs and whether each is finished; train nothing")
    s.add_argument("--rejudge", action="store_true",
                   help="re-judge the report in --out from the runs' values its report.json records; train nothing")
    s.set_defaults(fn=cmd_report)

    s = sub.add_parser("generate", help="continue a prompt with an export that generates text")
    s.add_argument("export", help="an export directory (zoo export / zoo train --export)")
    s.add_argument("--prompt", default="", help="text to continue (default: from the beginning of a text)")
    s.add_argument("--max-tokens", type=int, help="tokens to generate at most (default: 200, or the "
                   "export's longest sentence)")
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--top-k", type=int, help="sample from the K most likely tokens only")
    s.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling: the smallest set reaching P")
    s.add_argument("--beam", type=int, help="beam search with this beam (1: greedy) instead of sampling")
    s.add_argument("--length-penalty", type=float, default=0.0, help="GNMT alpha for --beam")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--depth", type=int, help="stack depth of a per-depth export (default: all layers)")
    s.set_defaults(fn=cmd_generate)

    s = sub.add_parser("score", help="bits per character of each line of a file under an export that scores text")
    s.add_argument("export")
    s.add_argument("file")
    s.add_argument("--depth", type=int)
    s.set_defaults(fn=cmd_score)

    for fam in families():
        if fam.commands is not None:
            fam.commands(sub)
    return p


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    return f"zoo: {category.__name__}: {message}\n"


def main(argv=None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Ctrl-C outside training's own handler (importing, loading data, building, exporting):
        # every write is atomic, so nothing half-written is left; one line, the shell's status.
        print("zoo: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT


def _main(argv) -> int:
    import tensorflow as tf

    import zoo  # noqa: F401  (discovers the families: their verbs join the parser)

    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)[1:]
    tf.get_logger().setLevel("ERROR")
    warnings.formatwarning = _one_line_warning
    try:
        code = args.fn(args)
    except BrokenPipeError:  # `zoo list | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except ZooError as e:
        msg = str(e)
        msg = " ".join(str(msg).split())  # one line, whatever the message's own layout
        print(f"zoo: error: {msg}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno not in _STORAGE_ERRNOS:
            raise
        # A read-only, full or over-quota folder: every write of the zoo is atomic (temporary file,
        # then rename), so what was saved before (checkpoints, exports) is intact.
        where = f" {e.filename}" if e.filename else ""
        print(f"zoo: error: cannot write{where}: {e.strerror}; what was saved before is kept", file=sys.stderr)
        return 2
    except tf.errors.UnavailableError as e:
        # MultiWorkerMirroredStrategy: a peer worker died or became unreachable mid-step.
        node = re.search(r"Detected at node '?([\w/.-]+)", str(e.message))
        where = f" in {node.group(1)}" if node else ""
        print("zoo: error: a peer worker of this multi-worker run was lost; the checkpoints saved so far "
              "are kept: start every worker again with the same command to resume "
              f"(TensorFlow: UnavailableError{where})", file=sys.stderr)
        return 2
    except MemoryError as e:
        # numpy or Python could not allocate (a size the estimate before the build could not see)
        print(f"zoo: error: {out_of_memory_message(e)}", file=sys.stderr)
        return 2
    except tf.errors.OpError as e:
        # TensorFlow's own file writes (checkpoints, SavedModels) report a full or read-only
        # folder under several error classes; anything else is a bug and keeps its traceback.
        text = " ".join(str(e.message).split())
        if not any(k in text for k in _STORAGE_MESSAGES):
            oom = out_of_memory_message(e)   # activations of a batch too large, say
            if oom is None:
                raise
            print(f"zoo: error: {oom}", file=sys.stderr)
            return 2
        text = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:\w+\]|\s*\[\[.*", "", text).strip()
        print(f"zoo: error: cannot write {text}; the last checkpoint saved before is kept", file=sys.stderr)
        return 2
    return code if isinstance(code, int) else 0


_STORAGE_ERRNOS = {errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM}
_STORAGE_MESSAGES = ("No space left", "Read-only file system", "File too large", "Permission denied",
                     "Disk quota exceeded")


if __name__ == "__main__":
    sys.exit(main())
