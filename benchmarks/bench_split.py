#!/usr/bin/env python
"""Time of cutting one long paragraph into pieces for the byte autoencoder
(`zoo.models.byte_rcae.data.fit_paragraphs`, overflow "split", max_length 1024).

    python benchmarks/bench_split.py            # 1, 2, 4 and 10 MB (a few seconds)
    python benchmarks/bench_split.py --sizes 1 100

The paragraph is words, sentence ends, CJK characters and a newline now and then, with no
paragraph break, so every cut searches back from the limit. The splitter used to copy the rest
of the paragraph after every cut (quadratic: 10 MB took ~100 s); it now keeps offsets, so the
time grows linearly with the size. Prints a table and writes `benchmarks/results/split.json`
atomically (raw seconds per repeat, pieces, machine). See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

WORDS = [b"word", b"another", b"Sentence.", b"ends!", "数据".encode(), "été".encode(), b"\n", b"abcdefghijklmnop"]


def paragraph(n_bytes: int, seed: int = 0) -> bytes:
    import numpy as np

    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(WORDS), n_bytes // 5 + 1)
    return b" ".join(WORDS[i] for i in picks)[:n_bytes]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[1, 2, 4, 10], help="paragraph sizes in MB")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(common.RESULTS_DIR / "split.json"))
    args = ap.parse_args(argv)

    from zoo.models.byte_rcae.data import fit_paragraphs

    rows, raw = [], {}
    for mb in args.sizes:
        p = paragraph(int(mb * 1_000_000))
        pieces = []
        times = common.time_call(lambda: pieces.append(len(fit_paragraphs([p], 1024))), args.repeats, warmup=0)
        raw[f"{mb:g}MB"] = {"bytes": len(p), "pieces": pieces[0], "seconds": times}
        rows.append({"MB": mb, "pieces": pieces[0], "median_s": common.median(times),
                     "MB_per_s": mb / common.median(times)})
    print(common.format_table(rows))
    out = common.atomic_write_json(args.out, {
        "benchmark": "split", "max_length": 1024, "results": raw, "machine": common.machine_info(),
        "notes": "fit_paragraphs(overflow='split') on one paragraph of the given size, no paragraph break"})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
