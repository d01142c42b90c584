"""`zoo textgen-eval`: every text-generation metric of one sample file (S. Semeniuta, "Recurrent
Neural Networks for Discriminative and Generative Learning", dissertation, 2019, §5.6.1).

    zoo textgen-eval --samples FILE [--samples2 FILE] --reference FILE [--train FILE]
                     [--encoder EXPORT ...] [--lm EXPORT] [--no-reverse-lm]

One sample (or reference sentence) per line, UTF-8; blank lines are skipped and counted. Prints a
table and writes `<samples>.textgen.json` (atomically) with every metric, its sample sizes and
settings. What is computed:

* BLEU-4 of the samples against the reference set, self-BLEU leave-one-out (and independent,
  against --samples2), distinct-n (n = 1..4, with unique 4-grams): always;
* Fréchet distance, MAUVE and precision/recall over each --encoder's embeddings (a sentence
  encoder export of the textgen family; its manifest's sha256 is recorded);
* LM score under --lm (any export serving `TextScorer`), or under the fixed recipe
  `textgen/lm_score` trained here on --train (the real training text);
* reverse-LM score: the fixed recipe `textgen/reverse_lm` trained on the samples, scored on the
  reference (skip with --no-reverse-lm).

Bad input is one line and exit status 2 (`zoo.errors.ZooError`), never a NaN printed as a result.
"""
from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

from zoo.models.textgen.scores import (LM_SCORE_RECIPE, REVERSE_LM_RECIPE, ScoreInputError,
                                       evaluate_samples)


def read_lines(path, what: str) -> tuple[list[str], int]:
    """(nonempty lines, blank lines skipped) of a UTF-8 file; one line naming the problem when the
    file is missing, not UTF-8 (the first bad line and byte), or has no nonempty line."""
    p = Path(path)
    if not p.is_file():
        raise ScoreInputError(f"{what}: no such file: {str(p)!r}")
    data = p.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]                                   # a UTF-8 byte-order mark is not text
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ScoreInputError(f"{what}: {str(p)!r} is UTF-16 (byte-order mark); give UTF-8 text")
    lines, blank = [], 0
    pieces = data.split(b"\n")
    if pieces and not pieces[-1].strip():
        pieces.pop()                                      # the file's final newline ends a line
    for i, raw in enumerate(pieces, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ScoreInputError(f"{what}: {str(p)!r} line {i} is not valid UTF-8 (byte 0x{raw[e.start]:02x} "
                                  f"at byte {e.start + 1} of the line); give UTF-8 text") from None
        if "\x00" in line:
            raise ScoreInputError(f"{what}: {str(p)!r} line {i} holds a NUL byte; this is not a text file")
        line = line.strip()
        if line:
            lines.append(line)
        else:
            blank += 1
    if not lines:
        raise ScoreInputError(f"{what}: {str(p)!r} has no nonempty line")
    return lines, blank


def _fmt(v) -> str:
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ScoreInputError(f"a metric came out {v}; refusing to print it as a result")
        return f"{v:.4g}"
    return str(v)


def format_table(results: dict) -> str:
    """The printed table: metric, value, sample sizes / settings."""
    rows = [("metric", "value", "on")]
    for name, r in results["metrics"].items():
        rows.append((name, _fmt(r["value"]), r.get("on", "")))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    return "\n".join(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c}" for a, b, c in rows)


def cmd_textgen_eval(args) -> int:
    from zoo.io import atomic_write_json

    samples, blank = read_lines(args.samples, "--samples")
    reference, ref_blank = read_lines(args.reference, "--reference")
    samples2 = read_lines(args.samples2, "--samples2")[0] if args.samples2 else None
    train = read_lines(args.train, "--train")[0] if args.train else None
    workdir = args.workdir or tempfile.mkdtemp(prefix="zoo-textgen-")
    results = evaluate_samples(samples, reference, samples2=samples2, encoders=args.encoder or (),
                               lm=args.lm, train=train, reverse_lm=not args.no_reverse_lm,
                               workdir=workdir, mauve_seeds=tuple(range(args.mauve_seeds)))
    results["inputs"] = {"samples": str(args.samples), "samples_lines": len(samples), "samples_blank_lines": blank,
                         "reference": str(args.reference), "reference_lines": len(reference),
                         "reference_blank_lines": ref_blank, "samples2": args.samples2, "train": args.train}
    table = format_table(results)              # refuses a non-finite value before anything is written
    out = Path(args.out) if args.out else Path(str(args.samples) + ".textgen.json")
    atomic_write_json(out, results)
    print(table)
    print(f"written to {out}", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    s = sub.add_parser("textgen-eval", help="text-generation metrics of a sample file: BLEU-4, self-BLEU, "
                                            "distinct-n, FD / MAUVE / precision-recall, LM and reverse-LM scores")
    s.add_argument("--samples", required=True, help="generated text, one sample per line (UTF-8)")
    s.add_argument("--samples2", help="a second, independent sample file of the same model (self-BLEU "
                                      "as in the dissertation)")
    s.add_argument("--reference", required=True, help="real held-out text, one sentence per line")
    s.add_argument("--train", help=f"real training text: trains the fixed LM-score recipe {LM_SCORE_RECIPE} "
                                   "when no --lm is given")
    s.add_argument("--encoder", action="append", help="sentence encoder export (textgen family) for FD, "
                                                      "MAUVE and precision/recall; repeat for several")
    s.add_argument("--lm", help="language-model export (serving TextScorer) for the LM score")
    s.add_argument("--no-reverse-lm", action="store_true",
                   help=f"skip the reverse-LM score (trains {REVERSE_LM_RECIPE} on the samples)")
    s.add_argument("--mauve-seeds", type=int, default=5, help="k-means seeds of MAUVE (mean ± std)")
    s.add_argument("--workdir", help="where the reverse / LM-score models are trained (default: a temp dir)")
    s.add_argument("--out", help="JSON path (default: SAMPLES.textgen.json)")
    s.set_defaults(fn=cmd_textgen_eval)

    from zoo.models.textgen import study

    study.add_commands(sub).set_defaults(fn=cmd_study)


def cmd_study(args) -> int:
    """`zoo textgen-study`: the §5.6.3 metric study, or with --gans the §5.6.4 GAN comparison."""
    if args.gans:
        from zoo.models.textgen.gans import cmd_gan_study

        return cmd_gan_study(args)
    from zoo.models.textgen.study import cmd_textgen_study

    return cmd_textgen_study(args)

