"""Typed forms for a method's parameters: magicgui widgets drawn from the declarations.

A parameter declared with :class:`seglab.segmenters.params.Param` becomes the widget its kind
calls for: a spin box within its range (``int``, ``float``), a check box (``bool``), a combo box
(``choice``); a parameter that also takes a special value (``"auto"``) or None gets a check box
beside it that stands for that value. Parameters declared as ``any`` (a filter-bank spec, a list
of steps) are JSON text, as ``--set NAME=VALUE`` reads it. For a method that declares none, a
parameter whose default is a number or a flag gets a spin box or a check box (without a
range), and the others JSON.
"""

from __future__ import annotations

import json
import math

from magicgui import widgets

from ..segmenters.base import parse_param_value
from ..segmenters.params import Param, declared_params

__all__ = ["ParamsForm"]

_INT_RANGE = 2**31 - 1


class _Field:
    """One parameter's widget, and how to read and set its value."""

    def __init__(self, widget, get, set_):
        self.widget, self.get, self.set = widget, get, set_


def _number(param: Param, value):
    number_type = int if param.kind == "int" else float
    low = param.low if param.low is not None else -_INT_RANGE
    high = param.high if param.high is not None else _INT_RANGE
    if param.open_low:  # a rate above 0: the spin box starts a step above
        low = low + (1e-6 if number_type is float else 1)
    start = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if start is None:  # the special value or None: a number to show when unticked
        start = low if low > -_INT_RANGE else 0
    if number_type is float:
        # a step a tenth of the value's order (0.002 -> 0.0001): the spin box shows as many
        # decimals as its step has, so a small rate is not rounded to 0
        step = 10.0 ** (math.floor(math.log10(abs(start))) - 1) if start else 0.01
        return widgets.FloatSpinBox(min=low, max=high, value=float(start), step=min(step, 0.01))
    return widgets.SpinBox(min=int(low), max=int(high), value=int(start))


def _field(param: Param | None, value) -> _Field:
    """The field for one parameter, showing ``value``."""
    if param is None or param.kind == "any":
        edit = widgets.LineEdit(value=json.dumps(value, default=str))
        return _Field(
            edit,
            lambda: parse_param_value(edit.value),
            lambda v: setattr(edit, "value", json.dumps(v, default=str)),
        )
    if param.kind == "bool":
        inner = widgets.CheckBox(value=bool(value))
    elif param.kind == "choice":
        inner = widgets.ComboBox(choices=list(param.choices), value=value)
    else:
        inner = _number(param, value)
    others = [*param.special, *([None] if param.allow_none else [])]
    if not others:
        return _Field(inner, lambda: inner.value, lambda v: setattr(inner, "value", v))
    # a check box beside the value stands for the other value ("auto", or None)
    special = others[0]
    check = widgets.CheckBox(text="none" if special is None else str(special))
    row = widgets.Container(layout="horizontal", widgets=[check, inner], labels=False)
    row.margins = (0, 0, 0, 0)

    def sync(*_):
        inner.enabled = not check.value

    def set_(v):
        check.value = v is None if special is None else v == special
        if not check.value:
            inner.value = v
        sync()

    check.changed.connect(sync)
    set_(value)
    return _Field(row, lambda: special if check.value else inner.value, set_)


def _inferred(default) -> Param | None:
    """For a method that declares nothing: a number or a flag by its default's type (no
    range); anything else (None, text, lists) stays JSON."""
    if isinstance(default, bool):
        return Param(default, "bool")
    if isinstance(default, int):
        return Param(default, "int")
    if isinstance(default, float):
        return Param(default, "float")
    return None


class ParamsForm(widgets.Container):
    """The parameters of one method as a form: ``values()`` gives them as ``make_segmenter``
    takes them; ``set(name, value)`` shows a value (``tests/test_napari.py`` checks that
    every method's defaults come back as they went in).
    """

    def __init__(self, method: str):
        from ..segmenters import get_segmenter_class, make_segmenter

        super().__init__(labels=True)
        declared = declared_params(get_segmenter_class(method))
        defaults = make_segmenter(method).get_params(deep=False)
        order = list(declared) + [name for name in defaults if name not in declared]
        self.fields: dict[str, _Field] = {}
        for name in order:
            field = _field(declared.get(name) or _inferred(defaults[name]), defaults[name])
            field.widget.label = name
            if isinstance(field.widget, widgets.CheckBox):
                field.widget.text = name  # a check box shows its text, not a row label
            field.widget.tooltip = declared[name].expected() if name in declared else "JSON"
            self.fields[name] = field
            self.append(field.widget)

    def set(self, name: str, value) -> None:
        """Show ``value`` for parameter ``name``."""
        self.fields[name].set(value)

    def values(self) -> dict:
        """Every parameter's value, as ``make_segmenter`` takes it."""
        return {name: field.get() for name, field in self.fields.items()}
