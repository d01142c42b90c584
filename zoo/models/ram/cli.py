"""The recurrent attention model's verb of the `zoo` command line:
`zoo attend EXPORT IMAGE [--glimpses K] [--out boxes.png] [--resize]`: the predicted class,
its probability and each glimpse's box, as text; with --out also the image with the boxes."""
from __future__ import annotations

import json


def cmd_attend(args):
    from zoo.models.ram.export import AttentionClient, read_image

    from pathlib import Path

    from zoo.export import ExportError

    if args.out and Path(args.out).is_dir():
        raise ExportError(f"--out {args.out!r} is a folder; name the PNG file to write")
    client = AttentionClient(args.export)
    image = read_image(args.image, client.image_size, resize=args.resize)
    probs = client.classify(image[None], args.glimpses)[0]
    attention = client.attend(image[None], args.glimpses)
    best = int(probs.argmax())
    boxes = attention["boxes"][0]
    report = {"class": client.class_names[best], "probability": round(float(probs[best]), 4),
              "glimpses": [{"step": i + 1, "box": [round(float(v), 1) for v in b],
                            "center": [round(float(attention["center_x"][0, i]), 1),
                                       round(float(attention["center_y"][0, i]), 1)]}
                           for i, b in enumerate(boxes)]}
    print(json.dumps(report))
    if args.out:
        from zoo.models.ram.plots import plot_attention

        path = plot_attention(image, boxes, f"{report['class']} ({100 * report['probability']:.1f}%)", args.out)
        print(f"glimpse boxes drawn in {path}")


def add_commands(sub) -> None:
    s = sub.add_parser("attend", help="classify an image with an exported recurrent attention model "
                                      "and show where it looked")
    s.add_argument("export", help="export directory (zoo export / zoo train --export)")
    s.add_argument("image", help="image file (PNG, JPEG, ...); converted to grey")
    s.add_argument("--glimpses", type=int, help="read out after this many glimpses (default: all trained)")
    s.add_argument("--out", help="write the image with its glimpse boxes to this PNG")
    s.add_argument("--resize", action="store_true", help="scale an image of another size to the model's")
    s.set_defaults(fn=cmd_attend)
