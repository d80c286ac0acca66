"""Full leaderboards of every fast method on four data sets, written into BENCHMARKS.md.

Runs `seglab bench` (defaults of every registered method but the slow ones) on the course
split of voced, on the given splits of qbi-em and oasis-brain, and on Herlev's Pap-smear
cells (odd stems train, even stems test; with the U-Net, the ensemble and `single-cell`
beside the fast methods, and the best method's figures by diagnostic class; about two and a half
hours on 2 cores, forty minutes of it `knn`), writes each run's JSON and
HTML report to bench-out/, and replaces the matching generated section of BENCHMARKS.md
(between `<!-- leaderboard:NAME -->` and `<!-- /leaderboard:NAME -->`; appended when absent).
`make bench` runs it. Usage, from the project root:

    .venv/bin/python benchmarks/leaderboards.py [--only voced,qbi-em,oasis-brain,herlev]

`--render` rewrites the sections and the reports (less the overlays of example images, which
need the fitted models) from the last run's JSON, running nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from seglab.bench import fast_methods, run_bench
from seglab.data import data_home
from seglab.datasets import open_dataset
from seglab.report import write_bench_report, write_report

ROOT = Path(__file__).resolve().parents[1]
DATA = data_home()
DATASETS = {
    "voced": (DATA / "voced" / "imagedata", "course"),
    "qbi-em": (DATA / "qbi-em", "given"),
    "oasis-brain": (DATA / "oasis-brain", "given"),
    "herlev": (DATA / "herlev", "odd-even"),
}
#: slow methods benched beside the fast ones, by data set
WITH_SLOW = {"herlev": ["unet", "ensemble", "single-cell"]}
#: what a data set's figures do and do not mean, printed under its table
NOTES = {
    "herlev": (
        "One data set (458 of Herlev's 917 cells), single cells cropped by hand; reference masks "
        "checked by experts but drawn with software; nucleus/cell over the whole crop. The "
        "figures say how well a method outlines one Pap cell, not how it finds cells on a slide."
    ),
}
HEADING = "## Full leaderboards (`make bench`)"
#: said once, under the first data set's leaderboard
UNCERTAINTY_NOTE = (
    '"uncertainty r" (in every leaderboard): correlation over test images of the mean per-pixel '
    "uncertainty (normalised entropy of the probabilities) with the image's error, 1 - score; "
    "methods without probabilities have none.\n\n"
)


def _f(value, digits: int = 3) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.{digits}f}"


def table(result: dict) -> str:
    """Markdown leaderboard of a bench result, best mean score first.

    Columns that would say nothing are left out: ``±std`` with one test image, ``uncertainty r``
    where no method has probabilities. Where each image is one cell (image classes), the
    nucleus/cell ratio replaces nucleus/cytoplasm: it is bounded, and it is what the class
    table reports (nucleus/cytoplasm stays in the JSON and the report).
    """
    classes = result["classes"][1:]
    methods = result["methods"]
    with_std = result["n_test"] > 1
    with_uncertainty = any(m.get("uncertainty") for m in methods)
    # nucleus/cell of a whole image is a cell's ratio where each image is one cell (classes)
    with_cell = any(
        (m.get("nc") or {}).get("nucleus_cell") and m.get("by_image_class") for m in methods
    )
    with_nc = not with_cell and any(m.get("nc") for m in methods)
    head = ["method", "score", *(["±std"] if with_std else [])]
    head += [*(f"Dice {c}" for c in classes), "mean IoU"]
    if with_nc:
        head += ["N/C MAE", "N/C R²", "N/C within ±0.05"]
    if with_cell:
        head += ["nucleus/cell MAE", "nucleus/cell within ±0.05"]
    head += [*(["uncertainty r"] if with_uncertainty else []), "fit s", "predict ms/img"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in sorted(methods, key=lambda m: -m["score"]["mean"]):
        iou = sum(m["iou"][c] for c in classes) / len(classes)
        cells = [m["name"], _f(m["score"]["mean"])]
        cells += [_f(m["score"]["std"])] if with_std else []
        cells += [_f(m["dice"][c]) for c in classes] + [_f(iou)]
        if with_nc:
            nc = m.get("nc") or {}
            cells += [_f(nc.get("mae")), _f(nc.get("r2"), 2), _f(nc.get("within_0.05"), 2)]
        if with_cell:
            ratio = (m.get("nc") or {}).get("nucleus_cell") or {}
            cells += [_f(ratio.get("mae")), _f(ratio.get("within_0.05"), 2)]
        if with_uncertainty:
            u = m.get("uncertainty")
            cells.append(_f(u["error_correlation"], 2) if u else "-")
        cells += [f"{m['fit_seconds']:.1f}", f"{1000 * m['predict_seconds_per_image']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def class_table(result: dict) -> str:
    """Markdown table of the best method's figures by image class (``by_image_class``)."""
    methods = [m for m in result["methods"] if m.get("by_image_class")]
    if not methods:
        return ""
    best = max(methods, key=lambda m: m["score"]["mean"])
    classes = result["classes"][1:]
    head = ["image class", "n", *(f"Dice {c}" for c in classes)]
    head += ["nucleus/cell MAE", "within ±0.05"]
    lines = [
        f"By class, {best['name']}:",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for name, f in best["by_image_class"].items():
        ratio = f.get("nucleus_cell") or {}
        cells = [name.replace("_", " "), str(f["n"]), *(_f(f["dice"][c]) for c in classes)]
        cells += [_f(ratio.get("mae")), _f(ratio.get("within_0.05"), 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def section(name: str, folder: Path, result: dict) -> str:
    relative = folder.relative_to(ROOT.parent)
    slow = WITH_SLOW.get(name, [])
    extra = f" and {', '.join(slow)}" if slow else ""
    by_class = class_table(result)
    notes = NOTES.get(name, "")
    return (
        f"<!-- leaderboard:{name} -->\n"
        f"### {name}: `{relative}`, split `{result['split']}` ({result['n_train']} train / "
        f"{result['n_test']} test images)\n\n"
        f"Command: `seglab bench --data ../{relative} --split {result['split']} --uncertainty`"
        f" (every fast "
        f"method{extra}, defaults), run by `make bench`. Machine: {result['machine']}. Date: "
        f"{result['date'][:10]}. Report: `bench-out/{name}.html`.\n\n"
        + (UNCERTAINTY_NOTE if name == next(iter(DATASETS)) else "")
        + f"{table(result)}\n"
        + (f"\n{by_class}\n" if by_class else "")
        + (f"\n{notes}\n" if notes else "")
        + f"<!-- /leaderboard:{name} -->"
    )


def replace_section(text: str, name: str, new: str) -> str:
    pattern = re.compile(
        rf"<!-- leaderboard:{re.escape(name)} -->.*?<!-- /leaderboard:{re.escape(name)} -->",
        re.DOTALL,
    )
    if pattern.search(text):
        return pattern.sub(lambda _: new, text)
    if HEADING not in text:
        text = text.rstrip("\n") + f"\n\n{HEADING}\n"
    return text.rstrip("\n") + f"\n\n{new}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(DATASETS), help="comma-separated data sets")
    parser.add_argument("--benchmarks", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--methods", help="comma-separated (default: every fast method)")
    parser.add_argument(
        "--render",
        action="store_true",
        help="rewrite the sections from the last run's bench-out/NAME.json, running nothing",
    )
    args = parser.parse_args()
    out = ROOT / "bench-out"
    out.mkdir(exist_ok=True)
    path = Path(args.benchmarks)
    for name in args.only.split(","):
        folder, split = DATASETS[name]
        if args.render:
            result = json.loads((out / f"{name}.json").read_text())
            write_report(result, out / f"{name}.html")  # no example overlays: no models
        else:
            methods = args.methods.split(",") if args.methods else fast_methods()
            methods += [m for m in WITH_SLOW.get(name, []) if m not in methods]
            dataset = open_dataset(folder)
            if name == "voced":
                dataset.class_names = ("background", "cytoplasm", "nucleus")
            fitted: dict = {}
            result = run_bench(dataset, methods, split, fitted=fitted, uncertainty=True)
            (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=float))
            write_bench_report(dataset, result, fitted, out / f"{name}.html", split)
        path.write_text(replace_section(path.read_text(), name, section(name, folder, result)))
        print(
            f"{name}: leaderboard of {len(result['methods'])} methods written to {path}",
            file=sys.stderr,
        )
        print(table(result))


if __name__ == "__main__":
    main()
