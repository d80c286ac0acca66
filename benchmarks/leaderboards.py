"""Full leaderboards of every fast method on the three data sets, written into BENCHMARKS.md.

Runs `seglab bench` (defaults of every registered method but the slow ones) on the course
split of voced and on the given splits of qbi-em and oasis-brain, writes each run's JSON and
HTML report to bench-out/, and replaces the matching generated section of BENCHMARKS.md
(between `<!-- leaderboard:NAME -->` and `<!-- /leaderboard:NAME -->`; appended when absent).
`make bench` runs it. Usage, from the project root:

    .venv/bin/python benchmarks/leaderboards.py [--only voced,qbi-em,oasis-brain]
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
from seglab.report import write_bench_report

ROOT = Path(__file__).resolve().parents[1]
DATA = data_home()
DATASETS = {
    "voced": (DATA / "voced" / "imagedata", "course"),
    "qbi-em": (DATA / "qbi-em", "given"),
    "oasis-brain": (DATA / "oasis-brain", "given"),
}
HEADING = "## Full leaderboards (`make bench`)"


def _f(value, digits: int = 3) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.{digits}f}"


def table(result: dict) -> str:
    """Markdown leaderboard of a bench result, best mean score first."""
    classes = result["classes"][1:]
    with_nc = any(m.get("nc") for m in result["methods"])
    head = ["method", "score", "±std", *(f"Dice {c}" for c in classes), "mean IoU"]
    if with_nc:
        head += ["N/C MAE", "N/C R²", "N/C within ±0.05"]
    head += ["uncertainty r", "fit s", "predict ms/img"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in sorted(result["methods"], key=lambda m: -m["score"]["mean"]):
        iou = sum(m["iou"][c] for c in classes) / len(classes)
        cells = [m["name"], _f(m["score"]["mean"]), _f(m["score"]["std"])]
        cells += [_f(m["dice"][c]) for c in classes] + [_f(iou)]
        if with_nc:
            nc = m.get("nc") or {}
            cells += [_f(nc.get("mae")), _f(nc.get("r2"), 2), _f(nc.get("within_0.05"), 2)]
        u = m.get("uncertainty")
        cells.append(_f(u["error_correlation"], 2) if u else "-")
        cells += [f"{m['fit_seconds']:.1f}", f"{1000 * m['predict_seconds_per_image']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def section(name: str, folder: Path, result: dict) -> str:
    relative = folder.relative_to(ROOT.parent)
    return (
        f"<!-- leaderboard:{name} -->\n"
        f"### {name}: `{relative}`, split `{result['split']}` ({result['n_train']} train / "
        f"{result['n_test']} test images)\n\n"
        f"Command: `seglab bench --data ../{relative} --split {result['split']} --uncertainty`"
        f" (every fast "
        f"method, defaults), run by `make bench`. Machine: {result['machine']}. Date: "
        f"{result['date'][:10]}. Report: `bench-out/{name}.html`.\n\n"
        '"uncertainty r": correlation over test images of the mean per-pixel uncertainty '
        "(normalised entropy of the probabilities) with the image's error, 1 - score; "
        "methods without probabilities have none.\n\n"
        f"{table(result)}\n"
        f"<!-- /leaderboard:{name} -->"
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
    args = parser.parse_args()
    out = ROOT / "bench-out"
    out.mkdir(exist_ok=True)
    methods = args.methods.split(",") if args.methods else fast_methods()
    for name in args.only.split(","):
        folder, split = DATASETS[name]
        dataset = open_dataset(folder)
        if name == "voced":
            dataset.class_names = ("background", "cytoplasm", "nucleus")
        fitted: dict = {}
        result = run_bench(dataset, methods, split, fitted=fitted, uncertainty=True)
        (out / f"{name}.json").write_text(json.dumps(result, indent=1, default=float))
        write_bench_report(dataset, result, fitted, out / f"{name}.html", split)
        path = Path(args.benchmarks)
        path.write_text(replace_section(path.read_text(), name, section(name, folder, result)))
        print(f"{name}: leaderboard of {len(methods)} methods written to {path}", file=sys.stderr)
        print(table(result))


if __name__ == "__main__":
    main()
