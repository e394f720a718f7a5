"""ipywidgets built from a notebook's parameter defaults.

A widget starts at the value of the parameters cell and downstream cells read
`controls.value("name")`, so a notebook executed by papermill (nobody clicks) runs exactly
as with the defaults, and a person can explore by changing a widget and re-running the
cells below. Widgets never hide work from papermill.
"""
from __future__ import annotations

from typing import Callable, Sequence

import ipywidgets as w


def choice(value, options: Sequence, description: str = "") -> w.Dropdown:
    """A dropdown starting at `value` (which must be one of `options`)."""
    options = list(options)
    if value not in options:
        raise ValueError(f"{description or 'choice'}: {value!r} is not one of {options}")
    return w.Dropdown(options=options, value=value, description=description)


def choices(values: Sequence, options: Sequence, description: str = "") -> w.SelectMultiple:
    """A multi-select starting at `values` (each one of `options`)."""
    options = list(options)
    unknown = [v for v in values if v not in options]
    if unknown:
        raise ValueError(f"{description or 'choices'}: {unknown} not among {options}")
    return w.SelectMultiple(options=options, value=tuple(values), description=description)


def slider(value: float, low: float, high: float, step: float, description: str = "") -> w.Widget:
    """An int slider for int values and bounds, else a float slider; `value` must lie in [low, high]."""
    if not low <= value <= high:
        raise ValueError(f"{description or 'slider'}: {value!r} is outside [{low}, {high}]")
    if all(isinstance(v, int) for v in (value, low, high, step)):
        return w.IntSlider(value=value, min=low, max=high, step=step, description=description)
    return w.FloatSlider(value=value, min=low, max=high, step=step, description=description,
                         readout_format=".2f")


def ratio(value: float, description: str = "ratio") -> w.FloatSlider:
    """A prune-ratio slider over the range the kit accepts, [0, models.MAX_RATIO] in steps of 0.05."""
    from .models import check_ratio, MAX_RATIO

    check_ratio(value, description)
    return slider(float(value), 0.0, MAX_RATIO, 0.05, description)


def seeds(values: Sequence[int], description: str = "seeds") -> w.SelectMultiple:
    """A multi-select of replicate seeds starting at `values` (checked: distinct non-negative
    ints), offering 0-4 (the paper's five) and any other given seed."""
    from .config import seeds as check_seeds

    values = check_seeds(values)
    return choices(values, sorted(set(range(5)) | set(values)), description)


class Controls:
    """Named widgets shown together; `value(name)` / `values` read the current settings."""

    def __init__(self, **widgets: w.Widget):
        for name, widget in widgets.items():
            if not widget.description:
                widget.description = name
        self.widgets = widgets
        self.box = w.VBox(list(widgets.values()))

    def value(self, name: str):
        if name not in self.widgets:
            raise KeyError(f"no control {name!r}; controls are {list(self.widgets)}")
        value = self.widgets[name].value
        return list(value) if isinstance(value, tuple) else value

    @property
    def values(self) -> dict:
        return {name: self.value(name) for name in self.widgets}

    def live(self, show: Callable[..., object], **fixed) -> w.VBox:
        """The controls above an output that re-runs `show(**values, **fixed)` on every change
        and displays what it returns (a table, a dict, a figure). A ValueError from `show`
        (a setting that makes no sense) is shown as its message."""
        from IPython.display import display

        out = w.Output()

        def refresh(_=None):
            out.clear_output(wait=True)
            with out:
                try:
                    display(show(**self.values, **fixed))
                except ValueError as error:
                    print(f"{type(error).__name__}: {error}")

        for widget in self.widgets.values():
            widget.observe(refresh, names="value")
        refresh()
        return w.VBox([self.box, out])

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def controls(**widgets: w.Widget) -> Controls:
    return Controls(**widgets)
