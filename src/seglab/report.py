"""A self-contained HTML report of a bench run: leaderboard and example overlays.

Figures are PNGs embedded as base64, so the report is one file that opens anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np

from .bench import format_leaderboard
from .io import atomic_path

__all__ = ["CLASS_COLOURS", "colour_mask", "write_report"]

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


def _overlay_figure(examples, method: str) -> str:
    """image | truth | prediction | errors, one row per example (id, image, true, pred)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(examples), 4, figsize=(10, 2.6 * len(examples)), squeeze=False)
    for row, (label, image_id, image, true, pred) in enumerate(examples):
        error = np.where((pred != true)[..., None], [220, 0, 0], [255, 255, 255]).astype(np.uint8)
        shown = image if image.shape[-1] == 3 else image[..., 0]
        panels = [
            (shown, f"{label}: image {image_id}"),
            (colour_mask(true), "truth"),
            (colour_mask(pred), method),
            (error, "errors (red)"),
        ]
        for ax, (picture, title) in zip(axes[row], panels, strict=True):
            ax.imshow(
                picture,
                cmap="gray" if picture.ndim == 2 else None,
                vmin=0,
                vmax=1 if picture.ndim == 2 else None,
            )
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    uri = _png_data_uri(fig)
    plt.close(fig)
    return uri


def write_report(result: dict, path: str | os.PathLike, examples: dict | None = None) -> Path:
    """Write the HTML report of a bench ``result``.

    ``examples`` maps a method name to a list of ``(label, id, image, true, pred)`` tuples shown
    as overlays (e.g. its best, median and worst test images).
    """
    sections = [
        "<h1>seglab benchmark</h1>",
        f"<p>data <code>{html.escape(str(result['data']))}</code>, split "
        f"<code>{html.escape(str(result['split']))}</code>, {result['n_train']} train / "
        f"{result['n_test']} test images; {html.escape(result['machine'])}; "
        f"{html.escape(result['date'])}; seglab {html.escape(result['seglab'])}</p>",
        "<h2>Leaderboard</h2>",
        f"<pre id='leaderboard'>{html.escape(format_leaderboard(result))}</pre>",
    ]
    for name, rows in (examples or {}).items():
        sections.append(f"<h2>{html.escape(name)}: best, median and worst test images</h2>")
        sections.append(
            f"<img alt='{html.escape(name)} overlays' src='{_overlay_figure(rows, name)}'>"
        )
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
