"""Colour classes of a metric: one definition for the web map and the static figure.

Every metric of :data:`gis.core.metrics.METRICS` has a direction, and the
colours follow it so that *hot means needs attention* everywhere:

- counts and densities (more is worse): a warm ramp, more is hotter;
- rates (higher is better): the same ramp turned round, better is calmer; or,
  with a ``reference`` (the district's rate), a diverging ramp around it, red
  below and blue above.

Units without a value (no cases, no denominator: NaN) are grey, 无数据.
Counts get whole-number class ranges; an all-zero or single-valued result is
one neutral class that says so, never a ``0 – 0`` legend.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import mapclassify
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from gis.core.metrics import METRICS, Metric
from gis.errors import InputError

#: Fill of a unit without a value (无数据).
NO_DATA_COLOR = "#d9d9d9"
NO_DATA_LABEL = "无数据"
#: Fill of the one class of a result where every unit has the same value.
NEUTRAL_COLOR = "#fdf3e1"
SCHEMES = {"quantiles": "分位数", "natural_breaks": "自然断点"}

# ColorBrewer YlOrRd, 9 classes, calm (light) to hot (dark).
_WARM = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026", "#800026")
# ColorBrewer RdYlBu halves, from next to the reference outwards.
_BELOW = ("#fee090", "#fdae61", "#f46d43", "#d73027", "#a50026")
_ABOVE = ("#e0f3f8", "#abd9e9", "#74add1", "#4575b4", "#313695")


def _ramp(k: int) -> list[str]:
    """k colours of the warm ramp, calm to hot, spread over its whole length."""
    if k == 1:
        return [_WARM[4]]
    positions = np.round(np.linspace(1, len(_WARM) - 1, k)).astype(int)
    return [_WARM[i] for i in positions]


@dataclass(frozen=True)
class Classes:
    """How a set of unit values is coloured, and the legend that explains it.

    Attributes
    ----------
    metric : Metric
        The metric (its direction chose the ramp).
    title : str
        Legend title with unit, e.g. ``办结率（%）``.
    method : str
        How the classes were made, in Chinese: ``分位数``, ``自然断点``,
        ``分位数，以总体 82.5% 为中点``, ``所有单元取值相同`` or ``无数据``.
    bins : tuple of float
        Upper bound of each class (values in display units, rates in percent).
    lows : tuple of float
        Smallest value in each class.
    colors : tuple of str
        Hex colour of each class, lowest values first.
    labels : tuple of str
        Range of each class as the legend shows it, e.g. ``109 – 196``.
    value_class : numpy.ndarray
        Class index of each input value, -1 for no data.
    fills : tuple of str
        Colour of each input value (grey for no data).
    no_data : bool
        Whether some value is missing (a grey 无数据 entry is listed).
    """

    metric: Metric
    title: str
    method: str
    bins: tuple[float, ...]
    lows: tuple[float, ...]
    colors: tuple[str, ...]
    labels: tuple[str, ...]
    value_class: np.ndarray
    fills: tuple[str, ...]
    no_data: bool

    @property
    def k(self) -> int:
        return len(self.colors)

    @property
    def empty(self) -> bool:
        """No unit has a value: everything is grey."""
        return not self.colors

    def legend_rows(self) -> list[tuple[str, str]]:
        """``(colour, label)`` of each legend entry, lowest class first, 无数据 last."""
        rows = list(zip(self.colors, self.labels))
        if self.no_data:
            rows.append((NO_DATA_COLOR, NO_DATA_LABEL))
        return rows


def metric_of(metric_key: str) -> Metric:
    """The :class:`Metric` of a key of METRICS, or an InputError that lists them."""
    if metric_key not in METRICS:
        raise InputError(f"unknown metric {metric_key!r}", field="metric",
                         fix=f"use one of {', '.join(METRICS)}")
    return METRICS[metric_key]


def unit_label(metric: Metric) -> str:
    return "%" if metric.is_rate else metric.unit


def format_value(value: object, metric_key: str, *, with_unit: bool = True) -> str:
    """A value in display units as the map shows it: ``82.5%``, ``1,234 件``, ``3.2 件/千户``, or 无数据."""
    metric = metric_of(metric_key)
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)) or pd.isna(value):
        return NO_DATA_LABEL
    number = float(value)
    if metric.kind == "count":
        text = f"{round(number):,}"
        return f"{text} 件" if with_unit else text
    text = f"{number:,.1f}"
    if not with_unit:
        return text
    return f"{text}%" if metric.is_rate else f"{text} {metric.unit}"


def _breaks(values: np.ndarray, *, scheme: str, k: int) -> np.ndarray:
    """Upper class bounds by mapclassify (deterministic)."""
    distinct = np.unique(values)
    k = min(k, len(distinct))
    if k <= 1:
        return distinct[-1:].astype(float)
    if scheme == "quantiles":
        with warnings.catch_warnings():
            # "Not enough unique values … Setting k to 4": repeated values make fewer classes, as meant
            warnings.filterwarnings("ignore", message="Not enough unique values", category=UserWarning)
            return np.asarray(mapclassify.Quantiles(values, k=k).bins, dtype=float)
    # Jenks natural breaks by Fisher's exact method: deterministic, unlike
    # NaturalBreaks (k-means from random seeds).  It is O(k·n²) in pure Python
    # without numba, so it runs on at most 256 evenly spaced order statistics,
    # which moves the breaks by less than a class's spread.
    sample = values if len(values) <= 256 else np.quantile(values, np.linspace(0, 1, 256))
    k = min(k, len(np.unique(sample)))
    with warnings.catch_warnings():
        # "Numba not installed. Using slow pure python version": expected, and fast enough on 256 values
        warnings.filterwarnings("ignore", message="Numba not installed", category=UserWarning)
        bins = np.asarray(mapclassify.FisherJenks(sample, k=k).bins, dtype=float)
    bins[-1] = values.max()
    return bins


def classify(values: ArrayLike, metric_key: str, *, scheme: str = "quantiles", k: int = 5,
             reference: float | None = None, reference_name: str = "总体") -> Classes:
    """Colour classes for unit values of one metric.

    Parameters
    ----------
    values
        One value per unit in display units (``METRICS[key].display``: rates in
        percent); NaN or None for a unit without a value.
    metric_key
        A key of :data:`gis.core.metrics.METRICS`.
    scheme
        ``quantiles`` (分位数, equal counts) or ``natural_breaks`` (自然断点, Jenks).
    k
        Number of classes, 2..9 (fewer when there are fewer distinct values).
    reference
        For a rate, the district's value in percent: the ramp diverges around
        it (red below, blue above). Ignored for counts and densities.
    reference_name
        Whose value ``reference`` is, for the legend: ``以中原区 97.7% 为中点``.

    Returns
    -------
    Classes

    Raises
    ------
    InputError
        For an unknown metric or scheme, k outside 2..9, or values that are not numbers.
    """
    metric = metric_of(metric_key)
    if scheme not in SCHEMES:
        raise InputError(f"unknown classification scheme {scheme!r}", field="scheme",
                         fix="use 'quantiles' or 'natural_breaks'")
    if not 2 <= k <= 9:
        raise InputError(f"k = {k} classes is outside 2..9", field="k", fix="give 2 to 9 classes")
    try:
        array = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"map value is not a number: {exc}", field="value",
                         fix="give numbers (NaN for no data)") from None
    unit = unit_label(metric)
    title = f"{metric.label}（{unit}）"
    valid = np.isfinite(array)
    no_data = bool((~valid).any())
    if not valid.any():
        return Classes(metric, title, NO_DATA_LABEL, (), (), (), (), np.full(len(array), -1),
                       tuple(NO_DATA_COLOR for _ in array), no_data)
    present = array[valid]
    whole = metric.kind == "count"
    if whole:
        present = np.round(present)
        array = np.where(valid, np.round(array), array)
    if len(np.unique(present)) == 1:
        only = float(present[0])
        label = f"均为 {format_value(only, metric_key)}"
        value_class = np.where(valid, 0, -1)
        return Classes(metric, title, "所有单元取值相同", (only,), (only,), (NEUTRAL_COLOR,), (label,), value_class,
                       tuple(NEUTRAL_COLOR if ok else NO_DATA_COLOR for ok in valid), no_data)

    bins = _breaks(present, scheme=scheme, k=k)
    if whole:
        # integer values <= b are exactly those <= floor(b): the same classes, whole-number ranges
        bins = np.unique(np.floor(bins))
    # a class no value falls in (repeated values, rounding) would read "18 – 13": merged away
    bins = bins[np.unique(np.searchsorted(bins, present, side="left"))]
    lows: list[float] = [float(present.min())]
    for upper in bins[:-1]:
        # counts: whole-number ranges that meet (0 – 7, 8 – 55); other values: the smallest value
        # above the previous bound
        lows.append(float(upper) + 1 if whole else float(present[present > upper].min()))

    def text(number: float) -> str:
        return format_value(number, metric_key, with_unit=False)

    labels = [text(lo) if text(lo) == text(hi) else f"{text(lo)} – {text(hi)}" for lo, hi in zip(lows, bins)]
    method = SCHEMES[scheme]
    n = len(bins)
    if metric.higher_is_better and reference is not None and math.isfinite(float(reference)):
        ref = float(reference)
        middles = [(lo + hi) / 2 for lo, hi in zip(lows, bins)]
        below = [i for i in range(n) if middles[i] < ref]
        above = [i for i in range(n) if middles[i] >= ref]
        colors = [""] * n
        for side, palette in ((list(reversed(below)), _BELOW), (above, _ABOVE)):
            # nearest the reference first: the palettes run from pale (near) to dark (far)
            steps = np.round(np.linspace(0, len(palette) - 1, len(side))).astype(int) if len(side) > 1 else [0]
            for i, step in zip(side, steps):
                colors[i] = palette[int(step)]
        method = f"{method}，以{reference_name} {format_value(ref, metric_key)} 为中点"
    else:
        ramp = _ramp(n)
        colors = list(reversed(ramp)) if metric.higher_is_better else ramp
    value_class = np.where(valid, np.minimum(np.searchsorted(bins, np.where(valid, array, 0), side="left"), n - 1),
                           -1)
    fills = tuple(colors[c] if c >= 0 else NO_DATA_COLOR for c in value_class)
    return Classes(metric, title, method, tuple(float(b) for b in bins), tuple(lows), tuple(colors), tuple(labels),
                   value_class, fills, no_data)

