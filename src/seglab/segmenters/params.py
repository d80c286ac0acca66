"""Constructor parameters declared once: default, accepted values, and the ``__init__`` they make.

A method lists its parameters as :class:`Param` objects; :func:`declare` gives its class a
keyword-only ``__init__`` that stores each one unchanged (scikit-learn's estimator convention,
so ``get_params``, ``set_params`` and ``clone`` work), and :func:`check_params` refuses a value
outside what a parameter accepts, with one line naming it. The declarations also say what a
form needs to draw a parameter (its kind, range and choices): the napari widgets read them.

Examples
--------
>>> from seglab.segmenters.base import Segmenter
>>> @declare({"n": Param(3, "int", low=1), "mode": Param("a", "choice", choices=("a", "b"))})
... class Example(Segmenter):
...     pass
>>> Example(n=5).get_params()
{'mode': 'a', 'n': 5}
>>> check_params(Example(n=0))
Traceback (most recent call last):
...
seglab.errors.ParameterError: n=0: expected an integer of at least 1
"""

from __future__ import annotations

import inspect
import numbers
from dataclasses import dataclass
from typing import Any

from ..errors import ParameterError

__all__ = ["Param", "check_params", "declare", "declared_params"]

_KINDS = ("int", "float", "bool", "choice", "any")


@dataclass(frozen=True)
class Param:
    """One constructor parameter.

    Parameters
    ----------
    default : object
        Its value when not given.
    kind : {"int", "float", "bool", "choice", "any"}
        What it holds; ``"any"`` (a dict, a list of steps, ...) is checked by the method.
    low, high : float, optional
        Inclusive bounds of an ``int`` or ``float``.
    open_low : bool
        ``low`` itself is excluded (a learning rate > 0).
    choices : tuple
        The values of a ``choice``.
    allow_none : bool
        None is accepted too (meaning: no limit, the library's default, ...).
    special : tuple
        Other values accepted besides the kind's (``"auto"``, say).
    """

    default: Any
    kind: str = "any"
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    allow_none: bool = False
    special: tuple = ()
    open_low: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise TypeError(f"Param kind {self.kind!r}: use one of {', '.join(_KINDS)}")

    def accepts(self, value) -> bool:
        """Whether ``value`` is one this parameter takes."""
        if value is None:
            return self.allow_none
        if isinstance(value, str) and value in self.special:
            return True
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return value in self.choices
        if self.kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                return False
            if self.kind == "int" and not isinstance(value, numbers.Integral):
                return False
            if self.low is not None and (value <= self.low if self.open_low else value < self.low):
                return False
            return self.high is None or value <= self.high
        return True

    def expected(self) -> str:
        """What it takes, in words: ``"an integer of at least 1, or None"``."""
        if self.kind == "choice":
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind in ("int", "float"):
            text = "an integer" if self.kind == "int" else "a number"
            if self.low is not None and self.high is not None:
                text += f" from {self.low:g} to {self.high:g}"
            elif self.low is not None and self.open_low:
                text += f" above {self.low:g}"
            elif self.low is not None:
                text += f" of at least {self.low:g}"
            elif self.high is not None:
                text += f" of at most {self.high:g}"
        else:
            text = "a value"
        extras = [repr(s) for s in self.special] + (["None"] if self.allow_none else [])
        return text + (", or " + " or ".join(extras) if extras else "")


def declare(params: dict[str, Param]):
    """Class decorator: a keyword-only ``__init__`` taking exactly ``params``, each stored
    unchanged as an attribute of the same name; the class keeps them as ``parameters``."""

    def decorate(cls):
        def __init__(self, **kwargs):
            unknown = [key for key in kwargs if key not in params]
            if unknown:
                raise TypeError(
                    f"{cls.__name__}() got an unexpected keyword argument {unknown[0]!r}"
                )
            for name, param in params.items():
                setattr(self, name, kwargs.get(name, param.default))

        __init__.__signature__ = inspect.Signature(
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            + [
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=param.default)
                for name, param in params.items()
            ]
        )
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = __init__
        cls.parameters = dict(params)
        return cls

    return decorate


def declared_params(segmenter_or_class) -> dict[str, Param]:
    """The :class:`Param` declarations of a method (empty for one that declares none)."""
    return dict(getattr(segmenter_or_class, "parameters", {}))


def check_params(segmenter) -> None:
    """Raise a ParameterError for the first declared parameter whose value it does not take."""
    for name, param in declared_params(segmenter).items():
        value = getattr(segmenter, name)
        if not param.accepts(value):
            raise ParameterError(f"{name}={value!r}: expected {param.expected()}")
