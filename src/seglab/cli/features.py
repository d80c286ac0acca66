"""``seglab features``: what a pixel classifier relies on, its features ranked."""

from __future__ import annotations

import argparse

from .common import add_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "features",
        run,
        "What a pixel classifier relies on: its filter-bank features ranked by importance. "
        "To keep only the N most important (prediction then computes only those), train with "
        "--set select_features=N (rf, extra-trees, tree). For an ensemble, each member "
        "that has a filter bank.",
    )
    p.add_argument("model", metavar="MODEL.seglab")
    p.add_argument("--top", type=int, default=30, help="how many to list (default 30)")


def run(args) -> int:
    from ..errors import ParameterError
    from ..modelfile import load

    if args.top < 1:
        raise ParameterError(f"--top {args.top}: expected a number of features, 1 or more")
    segmenter = load(args.model)
    # an ensemble reports each member that has a filter bank, under its own heading
    members = getattr(segmenter, "members_", None) or [segmenter]
    banked = [(i, m) for i, m in enumerate(members) if hasattr(m, "feature_importances")]
    if not banked:
        ensemble = members[0] is not segmenter
        what = "no member of the ensemble has" if ensemble else f"method {segmenter.name!r} has no"
        raise ParameterError(f"{args.model}: {what} filter bank")
    if members[0] is segmenter:
        _print_ranking(segmenter, args.top, "")
        return 0
    for i, member in banked:
        try:
            _print_ranking(member, args.top, f"member {i} ")
        except ParameterError as error:  # e.g. logistic: a bank but no importances
            print(f"member {i} {member.name}: {error}")
    return 0


def _print_ranking(segmenter, top: int, prefix: str) -> None:
    ranked = segmenter.feature_importances()
    total = sum(v for _, v in ranked) or 1.0
    bank_size = getattr(segmenter, "n_bank_features_", len(ranked))
    kept = f"{len(ranked)} of {bank_size} features kept" if bank_size > len(ranked) else None
    print(
        f"{prefix}{segmenter.name}: {kept or f'{len(ranked)} features'}, "
        f"scale 1/{segmenter.factor_}, "
        f"prior correction {getattr(segmenter, 'prior_correction_', 0):.1f}"
    )
    cumulative = 0.0
    for rank, (name, value) in enumerate(ranked[:top], start=1):
        cumulative += value / total
        print(f"{rank:4d}  {value / total:6.3f}  {cumulative:6.3f}  {name}")
