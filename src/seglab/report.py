"""A self-contained HTML report of a bench run: leaderboard, figures and example overlays.

Figures are PNGs embedded as base64, so the report is one file that opens anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .bench import format_leaderboard, run_bench
from .datasets import Dataset
from .io import atomic_path

__all__ = [
    "CLASS_COLOURS",
    "colour_mask",
    "figure_data_uri",
    "pick_examples",
    "sample_pixels",
    "write_bench_report",
    "write_report",
]

#: background white, cytoplasm orange, nucleus purple, then distinct colours
CLASS_COLOURS = np.array(
    [
        [255, 255, 255],
        [255, 140, 0],
        [128, 0, 128],
        [0, 150, 0],
        [0, 90, 200],
        [200, 0, 0],
        [120, 120, 120],
        [0, 180, 180],
    ],
    dtype=np.uint8,
)


def colour_mask(mask: np.ndarray) -> np.ndarray:
    """RGB uint8 picture of a label mask (labels beyond the palette wrap around)."""
    mask = np.asarray(mask)
    return CLASS_COLOURS[np.mod(np.clip(mask, 0, None), len(CLASS_COLOURS))]


def _png_data_uri(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _draw_error_maps(examples, method: str):
    """image | truth | prediction | errors, one row per (title, image, true, pred)."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(examples), 4, figsize=(10, 2.6 * len(examples)), squeeze=False)
    for row, (title, image, true, pred) in enumerate(examples):
        true, pred = np.asarray(true), np.asarray(pred)
        # Classes are ordered (background < cytoplasm < nucleus): red where a pixel was given
        # a higher class than the truth (too much nucleus), blue where a lower one (missed).
        error = np.full((*true.shape, 3), 255, np.uint8)
        labelled = true >= 0
        error[labelled & (pred > true)] = [220, 0, 0]
        error[labelled & (pred < true)] = [0, 70, 220]
        shown = image if image.shape[-1] == 3 else image[..., 0]
        panels = [
            (shown, title),
            (colour_mask(true), "truth"),
            (colour_mask(pred), method),
            (error, "errors: red over, blue under"),
        ]
        for ax, (picture, name) in zip(axes[row], panels, strict=True):
            ax.imshow(
                picture,
                cmap="gray" if picture.ndim == 2 else None,
                vmin=0,
                vmax=1 if picture.ndim == 2 else None,
            )
            ax.set_title(name, fontsize=9)
            ax.axis("off")
    return fig


def _overlay_figure(examples, method: str) -> str:
    """The error-map rows of (label, id, image, true, pred) as a PNG data URI."""
    rows = [(f"{label}: image {i}", image, t, p) for label, i, image, t, p in examples]
    fig = _draw_error_maps(rows, method)
    uri = _png_data_uri(fig)
    _pyplot().close(fig)
    return uri


def save_error_maps(path, examples, method: str) -> Path:
    """Save image | truth | prediction | error map rows as a PNG (written atomically).

    Parameters
    ----------
    path : str or Path
        The PNG to write.
    examples : list of (title, image, true, pred)
        One row each: an (H, W, C) float image and two (H, W) label masks. In the error map
        red marks pixels given a higher class than the truth, blue a lower one.
    method : str
        Title of the prediction column.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    fig = _draw_error_maps(list(examples), method)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_data_uri(draw, figsize) -> str:
    """A matplotlib figure drawn by ``draw(fig)``, as a PNG data URI for a self-contained page."""
    plt = _pyplot()
    fig = plt.figure(figsize=figsize)
    draw(fig)
    fig.tight_layout()
    uri = _png_data_uri(fig)
    plt.close(fig)
    return uri


def _grid_shape(n: int) -> tuple[int, int]:
    """Columns and rows of a grid of ``n`` small panels, four to a row."""
    cols = max(1, min(4, n))
    return cols, -(-n // cols)


def _grid(fig, n: int) -> list:
    """``n`` axes in a grid of four columns; spare cells are hidden."""
    cols, rows = _grid_shape(n)
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.axis("off")
    return axes[:n]


def _dice_boxes(result: dict) -> str:
    """Per-class Dice of every test image, one box per method, a panel per class."""
    classes = result["classes"][1:]
    methods = result["methods"]

    def draw(fig):
        axes = fig.subplots(1, len(classes), squeeze=False)[0]
        for ax, name in zip(axes, classes, strict=True):
            data = [[row["dice"][name] for row in m["per_image"]] for m in methods]
            ax.boxplot(data, orientation="horizontal", tick_labels=[m["name"] for m in methods])
            ax.set_title(f"Dice {name} per test image", fontsize=10)
            ax.set_xlim(-0.02, 1.02)
            ax.invert_yaxis()

    return figure_data_uri(draw, (5 * len(classes), 0.35 * len(methods) + 1.5))


def _nc_agreement(result: dict, top: int = 4) -> str:
    """Predicted against true N/C (identity line) and Bland-Altman plots of the methods with
    the smallest N/C error."""
    methods = sorted((m for m in result["methods"] if m.get("nc")), key=lambda m: m["nc"]["mae"])[
        :top
    ]

    def draw(fig):
        axes = fig.subplots(2, len(methods), squeeze=False)
        for k, m in enumerate(methods):
            true = np.array([r["nc_true"] for r in m["per_image"]], float)
            pred = np.array([r["nc_pred"] for r in m["per_image"]], float)
            ok = np.isfinite(true) & np.isfinite(pred)
            ax = axes[0, k]
            high = float(np.nanmax(np.concatenate([true[ok], pred[ok], [1.0]])))
            ax.plot([0, high], [0, high], color="grey", lw=1, label="identity")
            ax.scatter(true[ok], pred[ok], s=12)
            ax.set_title(f"{m['name']}: MAE {m['nc']['mae']:.3f}", fontsize=10)
            ax.set_xlabel("true N/C")
            ax.set_ylabel("predicted N/C")
            ax = axes[1, k]
            mean, diff = (true[ok] + pred[ok]) / 2, pred[ok] - true[ok]
            ax.scatter(mean, diff, s=12)
            bias, (low, up) = m["nc"]["bias"], m["nc"]["loa"]
            ax.axhline(bias, color="black", lw=1)
            for line in (low, up):
                ax.axhline(line, color="grey", lw=1, ls="--")
            ax.set_title(f"Bland-Altman: bias {bias:+.3f}, LoA [{low:.2f}, {up:.2f}]", fontsize=9)
            ax.set_xlabel("mean of true and predicted N/C")
            ax.set_ylabel("predicted - true")

    return figure_data_uri(draw, (4 * len(methods), 7.5))


def _speed(result: dict) -> str:
    """Mean score against prediction time per image (log scale)."""

    def draw(fig):
        ax = fig.subplots()
        for m in result["methods"]:
            ms = max(m["predict_seconds_per_image"] * 1000, 1e-3)
            ax.scatter(ms, m["score"]["mean"])
            ax.annotate(
                m["name"],
                (ms, m["score"]["mean"]),
                fontsize=8,
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.set_xscale("log")
        ax.set_xlabel("prediction time per image (ms, log scale)")
        ax.set_ylabel("mean score (Dice)")
        ax.set_title("accuracy against speed", fontsize=10)

    return figure_data_uri(draw, (7, 4.5))


def _confusions(result: dict) -> str:
    """Row-normalised pixel confusion matrices (true class in rows)."""
    methods = [m for m in result["methods"] if m.get("confusion")]
    names = result["classes"]
    cols, rows = _grid_shape(len(methods))

    def draw(fig):
        for ax, m in zip(_grid(fig, len(methods)), methods, strict=True):
            counts = np.asarray(m["confusion"], float)
            share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
            ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
            for i in range(share.shape[0]):
                for j in range(share.shape[1]):
                    ax.text(
                        j,
                        i,
                        f"{share[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if share[i, j] > 0.6 else "black",
                    )
            ax.set_xticks(range(len(names)), names, fontsize=7, rotation=30)
            ax.set_yticks(range(len(names)), names, fontsize=7)
            ax.set_title(m["name"], fontsize=9)

    return figure_data_uri(draw, (3.2 * cols, 3.0 * rows))


def _feature_space(pixels: np.ndarray, labels: np.ndarray, names) -> str:
    """Per-class pixel clouds in two colour projections: red-blue, and the first two
    principal components of the colour (the course's "pixels as points")."""

    def draw(fig):
        axes = fig.subplots(1, 2)
        if pixels.shape[1] >= 3:
            first = (pixels[:, 0], pixels[:, 2], "red", "blue")
        else:
            first = (pixels[:, 0], np.zeros(len(pixels)), "grey", "")
        centred = pixels - pixels.mean(axis=0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        pcs = centred @ vt.T
        second = (
            pcs[:, 0],
            pcs[:, 1] if pcs.shape[1] > 1 else np.zeros(len(pcs)),
            "colour PC 1",
            "colour PC 2",
        )
        for ax, (x, y, xl, yl) in zip(axes, (first, second), strict=True):
            for k in np.unique(labels):
                pick = labels == k
                colour = CLASS_COLOURS[int(k) % len(CLASS_COLOURS)] / 255
                colour = np.where(colour.sum() > 2.9, [0.6, 0.6, 0.6], colour)  # white -> grey
                name = names[int(k)] if int(k) < len(names) else str(k)
                ax.scatter(x[pick], y[pick], s=2, alpha=0.3, color=colour, label=name)
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            ax.legend(markerscale=5, fontsize=8)
        axes[0].set_title("pixels in colour space, by true class", fontsize=10)
        axes[1].set_title("the same pixels, principal components", fontsize=10)

    return figure_data_uri(draw, (11, 4.5))


def sample_pixels(images, masks, per_class: int = 1500, seed: int = 0):
    """Class-balanced sample of labelled pixels: ``(pixels (N, C), labels (N,))``."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([im.reshape(-1, im.shape[-1]) for im in images])
    labels = np.concatenate([np.asarray(m).ravel() for m in masks])
    keep = []
    for k in np.unique(labels[labels >= 0]):
        where = np.flatnonzero(labels == k)
        keep.append(rng.choice(where, min(per_class, where.size), replace=False))
    keep = np.concatenate(keep) if keep else np.empty(0, np.intp)
    return values[keep], labels[keep]


def _signed(value: float | None) -> str:
    """A correlation as +0.00; "n/a" where it is undefined (NaN, or null once read from JSON)."""
    return "n/a" if value is None or value != value else f"{value:+.2f}"


def _uncertainty(result: dict) -> str:
    """Each test image's mean uncertainty against its error, per method with probabilities."""
    methods = [m for m in result["methods"] if m.get("uncertainty")]
    cols, rows = _grid_shape(len(methods))

    def draw(fig):
        for ax, m in zip(_grid(fig, len(methods)), methods, strict=True):
            u = [r["uncertainty"] for r in m["per_image"]]
            error = [1 - r["score"] for r in m["per_image"]]
            ax.scatter(u, error, s=12)
            r = _signed(m["uncertainty"]["error_correlation"])
            ax.set_title(f"{m['name']}: r = {r}", fontsize=9)
            ax.set_xlabel("mean uncertainty")
            ax.set_ylabel("error (1 - score)")

    return figure_data_uri(draw, (3.6 * cols, 3.2 * rows))


def _nc_range(result: dict) -> str:
    """Per method with N/C ranges: each image's predicted ratio and its range against the truth."""
    methods = [m for m in result["methods"] if m.get("nc_range")]
    cols, rows = _grid_shape(len(methods))

    def draw(fig):
        for ax, m in zip(_grid(fig, len(methods)), methods, strict=True):
            r = [x for x in m["per_image"] if "nc_low" in x]
            true = np.array([x["nc_true"] for x in r], float)
            pred = np.array([x["nc_pred"] for x in r], float)
            low = np.array([x["nc_low"] for x in r], float)
            high = np.array([x["nc_high"] for x in r], float)
            inside = (low <= true) & (true <= high)
            for held, colour in ((True, "tab:blue"), (False, "tab:red")):
                k = inside == held
                ax.errorbar(
                    true[k],
                    pred[k],
                    # a post step (one cell kept) changes the mask after the range is taken
                    # from the probabilities, so the ratio may lie outside it: no bar that side
                    yerr=[np.clip(pred[k] - low[k], 0, None), np.clip(high[k] - pred[k], 0, None)],
                    fmt="o",
                    ms=3,
                    lw=0.8,
                    color=colour,
                    label="range holds the truth" if held else "it does not",
                )
            top = np.nanmax(np.concatenate([true, high])) if len(r) else 1.0
            ax.plot([0, top], [0, top], color="grey", lw=0.8)
            s = m["nc_range"]
            ax.set_title(
                f"{m['name']}: coverage {s['coverage']:.0%}, "
                "width-error rho "
                + (
                    "n/a"
                    if s["width_error_spearman"] is None
                    else f"{s['width_error_spearman']:+.2f}"
                ),
                fontsize=9,
            )
            ax.set_xlabel("true N/C")
            ax.set_ylabel(f"predicted N/C (range: nucleus odds / and x {s['odds']:g})")
            ax.legend(fontsize=7)

    return figure_data_uri(draw, (4.2 * cols, 3.8 * rows))


def _cells_table(result: dict) -> str:
    """An HTML table of each method's per-cell figures (the bench JSON's ``cells``)."""
    head = (
        "<tr><th>method</th><th>cells found / true</th><th>precision</th><th>recall</th>"
        "<th>F1</th><th>nucleus/cell MAE</th><th>bias [95% limits]</th><th>ICC</th>"
        "<th>N/C MAE</th><th>&gt;0.5: &kappa; (found / true)</th>"
        "<th>&ge;0.7: &kappa; (found / true)</th></tr>"
    )
    rows = []
    methods = [m for m in result["methods"] if m.get("cells")]
    for m in sorted(methods, key=lambda m: -(m["cells"]["f1"] or 0)):
        c = m["cells"]
        ratio = c["nucleus_cell"]
        flags = [
            f"{_num(f['kappa'], 2)} ({f['found_high']} / {f['true_high']})" for f in c["flags"]
        ]
        cols = [
            html.escape(m["name"]),
            f"{c['found']} / {c['true']}",
            _num(c["precision"], 2),
            _num(c["recall"], 2),
            _num(c["f1"], 2),
            _num(ratio["mae"], 3),
            f"{_num(ratio['bias'], 3)} [{_num(ratio['loa'][0], 3)}, {_num(ratio['loa'][1], 3)}]",
            _num(ratio["icc"], 2),
            _num(c["nc"]["mae"], 3),
            *flags,
        ]
        rows.append("<tr>" + "".join(f"<td>{col}</td>" for col in cols) + "</tr>")
    return "<table id='cells'>" + head + "".join(rows) + "</table>"


def _image_class_table(result: dict, top: int = 3) -> str:
    """An HTML table of the best ``top`` methods' figures by image class (the bench JSON's
    ``by_image_class``): a row per class, a group of columns per method."""
    methods = [m for m in result["methods"] if m.get("by_image_class")]
    methods = sorted(methods, key=lambda m: -m["score"]["mean"])[:top]
    classes = result["classes"][1:]
    with_ratio = any("nucleus_cell" in f for m in methods for f in m["by_image_class"].values())
    per_method = [*(f"Dice {c}" for c in classes)]
    if with_ratio:
        per_method += ["nucleus/cell MAE", "within ±0.05"]
    head = "<tr><th rowspan='2'>image class</th><th rowspan='2'>n</th>" + "".join(
        f"<th colspan='{len(per_method)}'>{html.escape(m['name'])}</th>" for m in methods
    )
    head += "</tr><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in per_method) * len(methods)
    names = sorted({name for m in methods for name in m["by_image_class"]})
    rows = []
    for name in names:
        figures = [m["by_image_class"].get(name) for m in methods]
        n = next(f["n"] for f in figures if f)
        cols = [html.escape(name), str(n)]
        for f in figures:
            values = [(f or {}).get("dice", {}).get(c) for c in classes]
            cols += [_num(v, 3) for v in values]
            if with_ratio:
                ratio = (f or {}).get("nucleus_cell") or {}
                cols += [_num(ratio.get("mae"), 3), _num(ratio.get("within_0.05"), 2)]
        rows.append("<tr>" + "".join(f"<td>{col}</td>" for col in cols) + "</tr>")
    return "<table id='by-image-class'>" + head + "</tr>" + "".join(rows) + "</table>"


def _nucleus_cell_by_class(result: dict, top: int = 4) -> str:
    """Each test image's predicted against true nucleus/cell ratio, coloured by its image
    class, for the methods with the smallest nucleus/cell error."""
    methods = [m for m in result["methods"] if (m.get("nc") or {}).get("nucleus_cell")]
    methods = sorted(methods, key=lambda m: m["nc"]["nucleus_cell"]["mae"])[:top]
    names = sorted({r.get("image_class") or "-" for m in methods for r in m["per_image"]})

    def draw(fig):
        plt = _pyplot()
        colours = plt.get_cmap("tab10")
        for ax, m in zip(_grid(fig, len(methods)), methods, strict=True):
            ax.plot([0, 1], [0, 1], color="grey", lw=1)
            for k, name in enumerate(names):
                rows = [r for r in m["per_image"] if (r.get("image_class") or "-") == name]
                true = [r["nucleus_cell_true"] for r in rows]
                pred = [r["nucleus_cell_pred"] for r in rows]
                ax.scatter(true, pred, s=10, color=colours(k % 10), label=name)
            ratio = m["nc"]["nucleus_cell"]
            ax.set_title(
                f"{m['name']}: MAE {ratio['mae']:.3f}, "
                f"{100 * ratio['within_0.05']:.0f}% within ±0.05",
                fontsize=9,
            )
            ax.set_xlabel("true nucleus/cell")
            ax.set_ylabel("predicted nucleus/cell")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
        fig.axes[0].legend(fontsize=7, loc="upper left")

    cols, rows = _grid_shape(len(methods))
    return figure_data_uri(draw, (4 * cols, 4 * rows))


def _num(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _verdict(result: dict) -> str:
    """One paragraph a reader can act on: who wins on Dice, on N/C, and on speed."""
    methods = result["methods"]
    best = max(methods, key=lambda m: m["score"]["mean"])
    parts = [
        f"Best mean score: <b>{html.escape(best['name'])}</b> "
        f"({best['score']['mean']:.3f} ± {best['score']['std']:.3f})."
    ]
    with_nc = [m for m in methods if m.get("nc")]
    if with_nc:
        nc = min(with_nc, key=lambda m: m["nc"]["mae"])
        parts.append(
            f"Closest N/C ratios: <b>{html.escape(nc['name'])}</b> (MAE {nc['nc']['mae']:.3f}, "
            f"{100 * nc['nc']['within_0.05']:.0f}% of images within ±0.05 of the truth)."
        )
    good = [m for m in methods if m["score"]["mean"] >= best["score"]["mean"] - 0.02]
    fast = min(good, key=lambda m: m["predict_seconds_per_image"])
    if fast is not best:
        parts.append(
            f"Within 0.02 of the best and fastest: <b>{html.escape(fast['name'])}</b> "
            f"({1000 * fast['predict_seconds_per_image']:.0f} ms per image)."
        )
    return "<p id='verdict'>" + " ".join(parts) + "</p>"


def write_report(
    result: dict,
    path: str | os.PathLike,
    examples: dict | None = None,
    feature_sample: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write the HTML report of a bench ``result``: one self-contained file.

    Holds the leaderboard and a verdict; per-class Dice box plots; predicted against true N/C
    with Bland-Altman plots; accuracy against speed; confusion matrices; with ``--uncertainty``,
    mean uncertainty against error and each image's N/C range; the feature space of
    the data (``feature_sample`` = pixels and labels, see :func:`sample_pixels`); and per
    method the overlays and error maps of ``examples``, a list of ``(label, id, image, true,
    pred)`` tuples (e.g. its best, median and worst test images).
    """

    def img(alt: str, uri: str) -> str:
        return f"<img alt='{html.escape(alt)}' src='{uri}'>"

    sections = [
        "<h1>seglab benchmark</h1>",
        f"<p>data <code>{html.escape(str(result['data']))}</code>, split "
        f"<code>{html.escape(str(result['split']))}</code>, {result['n_train']} train / "
        f"{result['n_test']} test images; {html.escape(result['machine'])}; "
        f"{html.escape(result['date'])}; seglab {html.escape(result['seglab'])}</p>",
        _verdict(result),
        "<h2>Leaderboard</h2>",
        f"<pre id='leaderboard'>{html.escape(format_leaderboard(result))}</pre>",
        "<h2>Dice per class and image</h2>",
        img("Dice box plots", _dice_boxes(result)),
    ]
    if any(m.get("nc") for m in result["methods"]):
        sections += [
            "<h2>N/C ratio: agreement with the truth</h2>",
            "<p>Top: each test image's predicted against true N/C (grey: identity). Bottom: "
            "Bland-Altman (difference against mean; solid: bias, dashed: 95% limits of "
            "agreement). The methods with the smallest N/C error are shown.</p>",
            img("N/C agreement", _nc_agreement(result)),
        ]
    if any(m.get("by_image_class") for m in result["methods"]):
        sections += [
            "<h2>By image class</h2>",
            "<p>The test images grouped by their class (from the data set's "
            "<code>classes.csv</code>), for the best methods by mean score. Nucleus/cell is "
            "nucleus pixels over nucleus and cytoplasm pixels of the whole image: a single "
            "cell's ratio where each image holds one cell.</p>",
            _image_class_table(result),
        ]
        if any((m.get("nc") or {}).get("nucleus_cell") for m in result["methods"]):
            sections += [
                "<p>Each test image's nucleus/cell ratio against the truth (grey: identity), "
                "coloured by class, for the methods closest to the truth.</p>",
                img("nucleus/cell by image class", _nucleus_cell_by_class(result)),
            ]
    if any(m.get("cells") for m in result["methods"]):
        sections += [
            "<h2>Are the cells right?</h2>",
            "<p>Each method's cells (found in its masks as <code>seglab nc-ratio --per-cell"
            "</code> finds them) matched one to one at IoU &ge; 0.5 to the true cells (every"
            " nucleus of the true mask seeds a cell; cytoplasm goes to the nearest nucleus"
            " along paths inside its region). Precision: share of reported cells that are"
            " true cells; recall: share of true cells found. The ratios and flags are those"
            " of the matched cells; the flag columns count cells flagged by the method and by"
            " the truth over all cells.</p>",
            _cells_table(result),
        ]
    sections += [
        "<h2>Accuracy against speed</h2>",
        img("accuracy against speed", _speed(result)),
        "<h2>Confusion matrices</h2>",
        "<p>Share of each true class's pixels given each label (rows sum to 1).</p>",
        img("confusion matrices", _confusions(result)),
    ]
    if any(m.get("uncertainty") for m in result["methods"]):
        sections += [
            "<h2>Uncertainty: which results to check by eye</h2>",
            "<p>Each test image's mean per-pixel uncertainty (entropy of the class "
            "probabilities, 0-1) against its error; r is their correlation. Where r is high, "
            "the most uncertain images are the ones to look at.</p>",
            img("uncertainty against error", _uncertainty(result)),
        ]
    if any(m.get("nc_range") for m in result["methods"]):
        sections += [
            "<h2>N/C range: which ratios to check</h2>",
            "<p>Each test image's predicted N/C with its range (the ratio again with the "
            "nucleus probability divided and multiplied by the odds) against the true ratio "
            "(grey: identity). It is a sensitivity range, not a confidence interval; rho is the "
            "rank correlation of its width with the N/C error. Wide ranges are the ratios to "
            "check by eye.</p>",
            img("N/C range against the truth", _nc_range(result)),
        ]
    if feature_sample is not None and len(feature_sample[1]):
        sections += [
            "<h2>Feature space</h2>",
            "<p>Where the classes overlap in colour, no pixel-wise rule can separate them: "
            "that is why thresholds fail at nucleus borders and pale nuclei, and why methods "
            "that see neighbourhoods do better.</p>",
            img("feature space", _feature_space(*feature_sample, result["classes"])),
        ]
    for name, rows in (examples or {}).items():
        sections.append(f"<h2>{html.escape(name)}: best, median and worst test images</h2>")
        sections.append(img(f"{name} overlays", _overlay_figure(rows, name)))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>seglab report</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "pre{background:#f4f4f4;padding:8px}img{max-width:100%}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def pick_examples(entry: dict) -> list[tuple[str, str]]:
    """(label, id) of the best, median and worst test images of a bench entry."""
    rows = sorted(entry["per_image"], key=lambda r: r["score"])
    if not rows:
        return []
    picks = [
        ("best", rows[-1]["id"]),
        ("median", rows[len(rows) // 2]["id"]),
        ("worst", rows[0]["id"]),
    ]
    seen, out = set(), []
    for label, image_id in picks:
        if image_id not in seen:
            seen.add(image_id)
            out.append((label, image_id))
    return out


def write_bench_report(
    dataset,
    result: dict,
    fitted: dict,
    report_path: str | os.PathLike | None,
    split: str | None = None,
    out_masks: str | os.PathLike | None = None,
) -> None:
    """The report of a :func:`seglab.bench.run_bench` result, drawing each fitted method's
    best, median and worst test images and the training pixels' feature space; with
    ``out_masks``, those images' predicted masks are saved as well."""
    from .datasets import make_splits
    from .io import save_mask

    index = {image_id: i for i, image_id in enumerate(dataset.ids)}
    examples = {}
    for entry in result["methods"]:
        segmenter = fitted[entry["name"]]
        rows = []
        for label, image_id in pick_examples(entry):
            image, true = dataset.pair(index[image_id])
            pred = segmenter.predict(image)
            rows.append((label, image_id, image, true, pred))
            if out_masks:
                save_mask(Path(out_masks) / entry["name"] / f"{image_id}.png", pred)
        examples[entry["name"]] = rows
    if report_path:
        train = make_splits(dataset, split)[0][0]
        pairs = [dataset.pair(int(i)) for i in train[:: max(1, len(train) // 20)][:20]]
        sample = sample_pixels([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else None
        write_report(result, report_path, examples, feature_sample=sample)


def bench_and_report(
    dataset: Dataset,
    methods: Sequence[str],
    split: str | None = None,
    *,
    json_path: str | os.PathLike | None = None,
    report_path: str | os.PathLike | None = None,
    out_masks: str | os.PathLike | None = None,
    params: dict[str, dict] | None = None,
    uncertainty: bool = False,
    failures: list[str] | None = None,
) -> dict:
    """:func:`run_bench`, then its JSON to ``json_path`` and its HTML report (with example
    masks in ``out_masks``) to ``report_path``, each when given. Returns the result."""
    from .io import write_json

    fitted: dict = {}
    result = run_bench(
        dataset,
        methods,
        split,
        params=params,
        fitted=fitted,
        uncertainty=uncertainty,
        failures=failures,
    )
    if json_path:
        write_json(json_path, result)
    if report_path or out_masks:
        write_bench_report(
            dataset,
            result,
            fitted,
            report_path,
            split,
            out_masks,
        )
    return result
