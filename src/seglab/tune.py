"""Search spaces and the Optuna driver behind `seglab tune` and `tuned-threshold`.

A method declares ``search_space = {param: spec}`` with specs ``("float", low, high)``,
``("log", low, high)``, ``("int", low, high)`` or ``("categorical", [choices])``. Tuning
maximises the mean per-image score; supervised methods are scored on a validation part held
out of the training images (so a model is never scored on what it was fitted to).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from .errors import ParameterError
from .metrics import image_score

__all__ = ["optimize", "suggest", "tune"]

#: the name under which `tune` searches the weight of a leading ``mrf`` post step
MRF_WEIGHT = "mrf_weight"


def suggest(trial, name: str, spec) -> object:
    """Ask an Optuna trial for parameter ``name`` following ``spec``."""
    kind = spec[0]
    if kind == "float":
        return trial.suggest_float(name, float(spec[1]), float(spec[2]))
    if kind == "log":
        return trial.suggest_float(name, float(spec[1]), float(spec[2]), log=True)
    if kind == "int":
        return trial.suggest_int(name, int(spec[1]), int(spec[2]))
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec[1]))
    raise ParameterError(f"search space of {name!r}: unknown kind {kind!r}")


def optimize(
    objective: Callable[[dict], float],
    space: dict,
    n_trials: int = 50,
    seed: int = 0,
    desc: str = "tune",
    initial: Sequence[dict] = (),
) -> tuple[dict, float, list[dict]]:
    """Maximise ``objective(params)`` over ``space`` with Optuna's TPE sampler (seeded).

    Returns the best parameters, the best value and the trial history (``number``, ``value``,
    ``params`` per trial). ``initial`` parameter sets are tried first.
    """
    import optuna

    if n_trials < 1:
        raise ParameterError(f"n_trials={n_trials}: need at least one trial")
    if not space:
        raise ParameterError("nothing to tune: the method declares no search space")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    for params in initial:
        study.enqueue_trial({k: v for k, v in params.items() if k in space})
    with tqdm(
        total=n_trials, desc=desc, unit="trial", file=sys.stderr, leave=False, disable=None
    ) as bar:

        def wrapped(trial):
            params = {name: suggest(trial, name, spec) for name, spec in space.items()}
            value = float(objective(params))
            bar.update(1)
            bar.set_postfix(best=f"{max(value, bar.postfix_best):.4f}")
            bar.postfix_best = max(value, bar.postfix_best)
            return value

        bar.postfix_best = -np.inf
        study.optimize(wrapped, n_trials=n_trials)
    history = [{"number": t.number, "value": t.value, "params": t.params} for t in study.trials]
    return dict(study.best_params), float(study.best_value), history


def tune(
    method: str,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    n_trials: int = 50,
    seed: int = 0,
    fixed: dict | None = None,
    validation: float = 0.2,
):
    """Tune ``method``'s declared search space; returns the refitted best segmenter.

    When ``fixed`` holds ``post`` steps that start with an ``mrf`` step, that step's weight is
    searched too (as ``mrf_weight``, 0 to 4); a trial that changes only the weight reuses the
    fitted model, since the step acts on prediction alone. The result carries ``tuning_``
    (best params, best value, trial history) so it is saved with the model.
    """
    from .postprocess import check_steps
    from .segmenters.base import get_segmenter_class, make_segmenter

    cls = get_segmenter_class(method)
    fixed = dict(fixed or {})
    space = {k: v for k, v in cls.search_space.items() if k not in fixed}
    steps = check_steps(fixed.get("post"), "post")
    if steps and steps[0]["op"] == "mrf":
        space[MRF_WEIGHT] = ("float", 0.0, 4.0)

    def with_weight(params: dict) -> dict:
        """The method's parameters, with a searched MRF weight put into its post step."""
        params = {**fixed, **params}
        if MRF_WEIGHT in params:
            weight = params.pop(MRF_WEIGHT)
            params["post"] = [{**steps[0], "weight": weight}, *steps[1:]]
        return params

    n_classes = int(max(int(np.max(m)) for m in masks)) + 1
    if cls.supervised and len(images) >= 2:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(images))
        n_val = max(1, round(validation * len(images)))
        val, fit = order[:n_val], order[n_val:]
    else:
        val = fit = np.arange(len(images))

    fitted: dict = {}  # by the parameters other than the MRF weight

    def objective(params: dict) -> float:
        key = repr(sorted((k, v) for k, v in params.items() if k != MRF_WEIGHT))
        if key not in fitted:
            fitted.clear()  # one model kept: TPE's trials rarely repeat the others
            segmenter = make_segmenter(method, **with_weight(params))
            fitted[key] = segmenter.fit([images[i] for i in fit], [masks[i] for i in fit])
        segmenter = fitted[key]
        segmenter.post = with_weight(params).get("post")
        return float(
            np.mean([image_score(masks[i], segmenter.predict(images[i]), n_classes) for i in val])
        )

    best, value, history = optimize(objective, space, n_trials, seed, desc=f"tune {method}")
    segmenter = make_segmenter(method, **with_weight(best))
    segmenter.fit(images, masks)
    segmenter.tuning_ = {
        "best_params": best,
        "best_value": value,
        "trials": history,
        "validation_images": len(val),
        "seed": seed,
    }
    return segmenter
