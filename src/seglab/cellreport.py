"""The per-cell report a cytologist reads: one self-contained HTML page.

Per image, the cells measured, the debris left out and the cells at or above the 0.5 and 0.7
nucleus/cell lines (with how many of them are unsure by their range); a gallery of the cells
with the highest ratios, each cropped from its image with its cell and nucleus outlines and its
figures; and the distribution of the ratios against the two lines. ``seglab nc-ratio
--per-cell --report cells.html`` writes it.
"""

from __future__ import annotations

import html
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np

from .io import atomic_path

__all__ = ["GALLERY_SIZE", "cell_crops", "write_cell_report"]

#: Cells shown in the gallery: those with the highest nucleus/cell ratio over every image.
GALLERY_SIZE = 12
#: The nucleus/cell lines drawn: atypia above 0.5, high grade from 0.7 (Paris System).
RATIO_LINES = (0.5, 0.7)
_CELL_OUTLINE = np.array([0, 170, 0], np.uint8)
_NUCLEUS_OUTLINE = np.array([220, 0, 180], np.uint8)


def _ratio(row: dict) -> float:
    value = row.get("nucleus_cell_ratio", float("nan"))
    return float(value) if isinstance(value, (int, float)) else float("nan")


def cell_crops(
    mask, cells, rows: list[dict], image=None, top: int = GALLERY_SIZE, margin: int = 8
) -> list[tuple[dict, np.ndarray]]:
    """The ``top`` cells of one image with the highest nucleus/cell ratio, each as ``(row,
    picture)``: an RGB crop around the cell (of ``image``, or of the mask's classes without
    one) with the cell's outline in green and its nucleus's in magenta.

    Examples
    --------
    >>> m = np.zeros((20, 20), int); m[2:12, 2:12] = 1; m[5:9, 5:9] = 2
    >>> cells = (m > 0).astype(int)
    >>> rows = [{"cell": 1, "nucleus_cell_ratio": 0.16, "min_row": 2, "max_row": 11,
    ...          "min_col": 2, "max_col": 11}]
    >>> ((row, picture),) = cell_crops(m, cells, rows, margin=2)
    >>> picture.shape
    (14, 14, 3)
    """
    from skimage.segmentation import find_boundaries

    mask, cells = np.asarray(mask), np.asarray(cells)
    ranked = sorted((r for r in rows if math.isfinite(_ratio(r))), key=_ratio, reverse=True)[:top]
    out = []
    h, w = mask.shape
    for row in ranked:
        y0, y1 = max(0, row["min_row"] - margin), min(h, row["max_row"] + 1 + margin)
        x0, x1 = max(0, row["min_col"] - margin), min(w, row["max_col"] + 1 + margin)
        window = (slice(y0, y1), slice(x0, x1))
        picture = _picture(mask[window], None if image is None else np.asarray(image)[window])
        cell = cells[window] == row["cell"]
        nucleus = cell & (mask[window] == 2)
        picture[find_boundaries(cell, mode="inner")] = _CELL_OUTLINE
        picture[find_boundaries(nucleus, mode="inner")] = _NUCLEUS_OUTLINE
        out.append((row, picture))
    return out


def _picture(mask, image) -> np.ndarray:
    if image is None:
        from .report import colour_mask

        return colour_mask(mask).astype(np.uint8)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return (np.clip(image[..., :3], 0, 1) * 255).round().astype(np.uint8)


def _png_uri(picture: np.ndarray) -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _fmt(value, digits: int = 2) -> str:
    if not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _distribution(ratios: list[float]) -> str:
    from .report import figure_data_uri

    def draw(fig):
        ax = fig.add_subplot(1, 1, 1)
        ax.hist(ratios, bins=np.linspace(0, 1, 41), color="#7a5195")
        for line, style in zip(RATIO_LINES, ("--", "-"), strict=True):
            ax.axvline(line, color="k", linestyle=style, label=f"nucleus/cell {line}")
        ax.set_xlabel("nucleus / cell")
        ax.set_ylabel("cells")
        ax.legend(fontsize=8)

    return figure_data_uri(draw, (6, 3))


def _count(value) -> str:
    """A count, or "-" where there is none (no probabilities: no ranges)."""
    return "-" if value in ("", None) else str(value)


def _class_names(rows: list[dict]) -> list[str]:
    """The cell classes in ``rows`` (a cell classifier's), sorted."""
    return sorted({str(r["cell_class"]) for r in rows if r.get("cell_class") not in (None, "")})


def _summary_table(summaries: list[dict], classes: list[str]) -> str:
    head = (
        "<tr><th>image</th><th>cells</th><th>debris left out</th>"
        "<th>&gt; 0.5</th><th>of those unsure</th><th>&ge; 0.7</th><th>of those unsure</th>"
        "<th>top-5 nucleus/cell</th>"
        + "".join(f"<th>{html.escape(name)}</th>" for name in classes)
        + "</tr>"
    )
    body = []
    for s in summaries:
        cols = [
            html.escape(str(s["image"])),
            str(s["cells"]),
            str(s.get("debris", "")),
            str(s["above_05"]),
            _count(s.get("atypia_unsure")),
            str(s["high_07"]),
            _count(s.get("high_nc_unsure")),
            _fmt(s.get("top5_nucleus_cell")),
            *(str(s["by_class"].get(name, 0)) for name in classes),
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cols) + "</tr>")
    return "<table id='images'>" + head + "".join(body) + "</table>"


def _class_section(cells: list[dict], classes: list[str]) -> list[str]:
    """Cells by class (a cell classifier's): how many, and their median nucleus/cell."""
    if not classes:
        return []
    lines = ["<tr><th>class</th><th>cells</th><th>median nucleus/cell</th></tr>"]
    for name in classes:
        ratios = [_ratio(r) for r in cells if str(r.get("cell_class")) == name]
        finite = [v for v in ratios if math.isfinite(v)]
        median = float(np.median(finite)) if finite else float("nan")
        lines.append(
            f"<tr><td>{html.escape(name)}</td><td>{len(ratios)}</td><td>{_fmt(median)}</td></tr>"
        )
    return ["<h2>Cells by class</h2>", "<table id='classes'>" + "".join(lines) + "</table>"]


def write_cell_report(
    path: str | os.PathLike,
    rows: list[dict],
    crops: list[tuple[dict, np.ndarray]] = (),
    title: str = "seglab cells",
) -> Path:
    """Write the per-cell HTML report of ``rows`` (``seglab nc-ratio --per-cell``'s: cell
    rows, each image's followed by its ``cell="all"`` summary) and the gallery ``crops``
    (:func:`cell_crops` of each image; the :data:`GALLERY_SIZE` with the highest ratios are
    shown). One self-contained file, written whole or not at all."""
    cells = [r for r in rows if r.get("cell") != "all"]
    ratios = [_ratio(r) for r in cells if math.isfinite(_ratio(r))]
    summaries = []
    for s in (r for r in rows if r.get("cell") == "all"):
        mine = [r for r in cells if r.get("image") == s["image"]]
        mine_ratios = [_ratio(r) for r in mine]
        summaries.append(
            {
                **s,
                "cells": len(mine),
                "above_05": sum(1 for v in mine_ratios if v > RATIO_LINES[0]),
                "high_07": sum(1 for v in mine_ratios if v >= RATIO_LINES[1]),
                "by_class": Counter(str(r["cell_class"]) for r in mine if "cell_class" in r),
            }
        )
    gallery = sorted(crops, key=lambda item: _ratio(item[0]), reverse=True)[:GALLERY_SIZE]
    figures = []
    for row, picture in gallery:
        caption = (
            f"{html.escape(str(row.get('image', '')))} cell {row['cell']}: nucleus/cell"
            f" {_fmt(_ratio(row))}, N/C {_fmt(row.get('nc_ratio'))}"
        )
        if "nc_low" in row:
            caption += f" [{_fmt(row['nc_low'])}, {_fmt(row['nc_high'])}]"
        caption += f"; nucleus {row['nucleus_px']} px"
        if "nucleus_um2" in row:
            caption += f" ({_fmt(row['nucleus_um2'], 1)} µm²)"
        caption += f"; irregularity {_fmt(row.get('nucleus_irregularity'))}"
        if row.get("cell_class") not in (None, ""):
            caption += (
                f"; class {html.escape(str(row['cell_class']))}"
                f" ({_fmt(row.get('cell_class_proba'))})"
            )
        if "hyperchromasia" in row:
            caption += (
                f"; hyperchromasia {_fmt(row['hyperchromasia'])};"
                f" chromatin texture {_fmt(row['chromatin_texture'])}"
            )
        figures.append(
            f"<figure><img alt='cell {html.escape(str(row.get('image', '')))}"
            f" {row['cell']}' src='{_png_uri(picture)}'><figcaption>{caption}"
            "</figcaption></figure>"
        )
    n_debris = sum(int(s.get("debris") or 0) for s in summaries)
    classes = _class_names(cells)
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p id='totals'>{len(cells)} cells measured in {len(summaries)} image(s);"
        f" {n_debris} fragments left out as debris;"
        f" {sum(1 for v in ratios if v > RATIO_LINES[0])} cells above nucleus/cell"
        f" {RATIO_LINES[0]}, {sum(1 for v in ratios if v >= RATIO_LINES[1])} at or above"
        f" {RATIO_LINES[1]}.</p>",
        "<h2>Images</h2>",
        _summary_table(summaries, classes),
        *_class_section(cells, classes),
        f"<h2>The {len(gallery)} cells with the highest nucleus/cell ratio</h2>",
        "<p>Green: the cell's outline; magenta: its nucleus's.</p>",
        "<div id='gallery'>" + "".join(figures) + "</div>",
        "<h2>Distribution of nucleus/cell ratios</h2>",
        f"<img alt='ratio distribution' src='{_distribution(ratios)}'>",
    ]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "#gallery{display:flex;flex-wrap:wrap;gap:8px}figure{width:240px;margin:0}"
        "figure img{width:240px;image-rendering:pixelated}figcaption{font-size:12px}"
        "td,th{padding:2px 8px}</style></head><body>" + "\n".join(sections) + "</body></html>"
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
