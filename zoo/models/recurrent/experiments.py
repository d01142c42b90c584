"""Run the recurrent family's comparison grids through the one trainer and print README tables.

    python -m zoo.models.recurrent.experiments table3_1 [--steps 600] [--out runs/recurrent]
        Temporal Order (Semeniuta's dissertation, Table 3.1): scheme x sampling x length,
        train/test accuracy.
    python -m zoo.models.recurrent.experiments layerwise --recipe recurrent/adding [--steps N]
        Random vs greedy layer-wise initialisation at 1, 2, 3 layers (Xu et al., "Greedy
        Layer-wise Training of Long Short Term Memory Networks", Tables 1-2),
        test error, plus a PNG of the training-loss curves (convergence speed) per depth.

`--set key=value` (repeatable) applies recipe overrides to every run of the grid (budgets:
units, example counts, ...); `--schemes`, `--samplings`, `--lengths`, `--depths` cut the grid.

Every cell of a grid is an ordinary run directory (recipe.yaml, TensorBoard, metrics.json) under
--out; a rerun reuses a finished cell only if its resolved recipe is the one asked for now.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.config import load_recipe


def _train(recipe, name, sets, out: Path) -> dict:
    from zoo.training.trainer import train_or_reuse

    config = load_recipe(recipe, list(sets) + [f"runtime.run_dir={out / name}", "runtime.progress=false",
                                               f"name={name}"])
    return train_or_reuse(config, log=lambda *a, **k: None)


def table3_1(steps: int, out: Path, lengths=(15, 30), schemes=("moon", "gal", "semeniuta"),
             samplings=("per_step", "per_sequence"), sets=()) -> str:
    rows = ["| scheme | sampling | " + " | ".join(f"T={T} train | T={T} test" for T in lengths) + " |",
            "|---|---|" + "---|---|" * len(lengths)]
    for scheme in schemes:
        for sampling in samplings:
            cells = []
            for T in lengths:
                m = _train("recurrent/temporal_order", f"to_{scheme}_{sampling}_T{T}",
                           [f"model.scheme={scheme}", f"model.mask_sampling={sampling}",
                            f"task.length={T}", f"trainer.max_steps={steps}", *sets], out)
                cells += [f"{100 * m['train_accuracy']:.1f}%", f"{100 * m['accuracy']:.1f}%"]
            rows.append(f"| {scheme} | {sampling} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _loss_curve(run: Path) -> list[tuple[int, float]]:
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb" / "train"), size_guidance={"tensors": 0})
    acc.Reload()
    return [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors("loss")]


def plot_curves(curves: dict[str, list], path: Path, title: str) -> Path:
    from matplotlib.figure import Figure

    from zoo.io import atomic_save_figure

    depths = sorted({k.split("_")[0] for k in curves})
    fig = Figure(figsize=(4 * len(depths), 3.2))
    for i, depth in enumerate(depths):
        ax = fig.add_subplot(1, len(depths), i + 1)
        for key, points in sorted(curves.items()):
            if key.startswith(depth + "_") and points:
                ax.plot(*zip(*points), label=key.split("_", 1)[1])
        ax.set_title(f"{title}: {depth}")
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("training loss")
        ax.set_yscale("log")
        ax.legend()
    return atomic_save_figure(fig, path)


def layerwise(recipe: str, steps: int | None, out: Path, depths=(1, 2, 3), sets=()) -> str:
    label = Path(recipe).stem
    rows = ["| layers | random init: test error | layer-wise: test error | random: train loss | layer-wise: train loss |",
            "|---|---|---|---|---|"]
    curves = {}
    for depth in depths:
        cells = []
        for init, epochs in (("random", 0), ("layerwise", 1)):
            name = f"{label}_L{depth}_{init}"
            run_sets = [f"model.num_layers={depth}", f"task.pretrain_epochs={epochs}", *sets]
            if steps:
                run_sets.append(f"trainer.max_steps={steps}")
            m = _train(recipe, name, run_sets, out)
            curves[f"{depth}layers_{init}"] = _loss_curve(out / name)
            cells.append(m)
        rows.append(f"| {depth} | {100 * cells[0]['error']:.2f}% | {100 * cells[1]['error']:.2f}% | "
                    f"{cells[0]['train_loss']:.4f} | {cells[1]['train_loss']:.4f} |")
    png = plot_curves(curves, out / f"{label}_loss_curves.png", label)
    return "\n".join(rows) + f"\n\nloss curves: {png}"


def main(argv=None):

    p = argparse.ArgumentParser(description="recurrent family comparison grids")
    p.add_argument("grid", choices=["table3_1", "layerwise"])
    p.add_argument("--recipe", default="recurrent/adding")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--out", default="runs/recurrent")
    p.add_argument("--lengths", default="15,30")
    p.add_argument("--depths", default="1,2,3")
    p.add_argument("--schemes", default="moon,gal,semeniuta")
    p.add_argument("--samplings", default="per_step,per_sequence")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="recipe override for every run of the grid (repeatable)")
    a = p.parse_args(argv)
    out = Path(a.out)
    if a.grid == "table3_1":
        table = table3_1(a.steps or 600, out, tuple(int(x) for x in a.lengths.split(",")),
                         tuple(a.schemes.split(",")), tuple(a.samplings.split(",")), a.set)
    else:
        table = layerwise(a.recipe, a.steps, out, tuple(int(x) for x in a.depths.split(",")), a.set)
    print(table)
    return table


if __name__ == "__main__":
    main()
