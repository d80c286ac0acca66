"""The demo: every method that can run here, on built-in synthetic cells, in a few minutes.

:data:`DEMO_PARAMS` are lighter settings for the slow methods (each method's defaults are what
``seglab bench`` uses); :func:`demo_methods` splits the registered methods into those that can
run with the installed packages and those that need an extra; :func:`run_demo` runs the first
and writes the leaderboard, the JSON and the HTML report.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .errors import ParameterError

__all__ = ["DEMO_PARAMS", "demo_methods", "run_demo"]

_DEMO_PIXEL = {
    "scale": 2,
    "samples_per_class": 150,
    "prior_correction": 0.5,
    "features": {"sigmas": [1.0, 2.0, 4.0, 8.0]},
}
#: Lighter settings for the slow methods so that the demo runs in under two minutes; the
#: leaderboard's "params" show them.
DEMO_PARAMS: dict[str, dict] = {
    "tuned-threshold": {"n_trials": 25},
    "rf": {**_DEMO_PIXEL, "n_estimators": 25},
    "extra-trees": {**_DEMO_PIXEL, "n_estimators": 25},
    "hgb": {**_DEMO_PIXEL, "max_iter": 25},
    "mlp": {**_DEMO_PIXEL, "max_iter": 40, "hidden": 32},
    "logistic": _DEMO_PIXEL,
    "knn": {**_DEMO_PIXEL, "samples_per_class": 40},
    "tree": _DEMO_PIXEL,
    "nearest-mean": _DEMO_PIXEL,
    "slic": {"n_segments": 200},
    "unet": {"width": 8, "depth": 4, "max_epochs": 15, "max_minutes": 1.0, "test_flips": False},
}
# the ensemble of the two demo models above, as the leaderboard shows them
DEMO_PARAMS["ensemble"] = {"members": [["rf", DEMO_PARAMS["rf"]], ["unet", DEMO_PARAMS["unet"]]]}
# the single-cell method's members, as light (on images of several cells it keeps one)
DEMO_PARAMS["single-cell"] = {
    "members": [["hgb", DEMO_PARAMS["hgb"]], ["unet", {**DEMO_PARAMS["unet"], "scale": 2}]]
}


def demo_methods(params: dict[str, dict] | None = None) -> tuple[list[str], dict[str, str]]:
    """The methods the demo can run here, and those it cannot with what brings each.

    A method is skipped when it, or a method it is made of (an ensemble's members), needs a
    package that is not installed.

    Parameters
    ----------
    params : dict, optional
        Each method's settings (:data:`DEMO_PARAMS` by default); an ensemble's ``members``
        name the methods it needs.

    Returns
    -------
    runnable : list of str
        Method names, sorted.
    skipped : dict
        ``{method: "needs torch, safetensors: pip install 'seglab[deep]'"}``.

    Examples
    --------
    >>> runnable, skipped = demo_methods()
    >>> "threshold" in runnable and "threshold" not in skipped
    True
    """
    from .segmenters import get_segmenter_class, list_segmenters

    params = DEMO_PARAMS if params is None else params
    runnable: list[str] = []
    skipped: dict[str, str] = {}
    for row in list_segmenters():
        name = row["name"]
        needed = [name] + [m[0] for m in (params.get(name) or {}).get("members", [])]
        try:
            for method in needed:
                get_segmenter_class(method)  # says what a missing extra is
        except ParameterError as exc:
            reason = "needs " + str(exc).split(" needs ", 1)[-1]
            skipped[name] = reason if method == name else f"{method} {reason}"
            continue
        runnable.append(name)
    return runnable, skipped


def run_demo(out: str | Path, n: int = 40, seed: int = 0) -> dict:
    """Fit and score every runnable method on ``n`` synthetic cell images (an 80/20 split).

    Writes ``out/bench.json``, ``out/report.html`` and example masks in ``out/masks``, with
    progress on stderr. Returns the bench result (:func:`seglab.bench.run_bench`) with
    ``"skipped"`` added: each method that could not run, and the extra that brings it.
    """
    from .datasets import synthetic_cells
    from .io import make_output_folder
    from .report import bench_and_report

    start = time.perf_counter()
    out = make_output_folder(out)
    runnable, skipped = demo_methods()
    print(
        f"seglab demo: {n} synthetic cell images, 80/20 split, every method"
        f"{' that can run here' if skipped else ''}",
        file=sys.stderr,
    )
    dataset = synthetic_cells(n, random_state=seed)
    result = bench_and_report(
        dataset,
        runnable,
        f"random:{seed}",
        json_path=out / "bench.json",
        report_path=out / "report.html",
        out_masks=out / "masks",
        params=DEMO_PARAMS,
    )
    result["skipped"] = skipped
    print(
        f"\nwrote {out / 'bench.json'}, {out / 'report.html'} and example masks in "
        f"{out / 'masks'} ({time.perf_counter() - start:.0f} s)"
    )
    return result
