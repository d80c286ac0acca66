"""MkDocs build hook: the site's benchmarks page is BENCHMARKS.md from the project's root.

BENCHMARKS.md stays at the root, where `make bench` writes it and readers of the repository
look; its links are written from the root (``docs/research/...``), so they are made relative
to the docs folder here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def benchmarks_page() -> str:
    """BENCHMARKS.md with its links into docs/ made relative to docs/."""
    text = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    return re.sub(r"\]\(docs/", "](", text)


def on_page_markdown(markdown, page, config, files):  # MkDocs calls it with these four
    if page.file.src_uri == "benchmarks.md":
        return benchmarks_page()
    return markdown
