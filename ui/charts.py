"""Charts in Chinese: Altair (Vega-Lite) charts whose axes, tooltips and numbers use the zh-CN locale.

Streamlit's own ``st.line_chart`` labels a time axis the browser's way in English ("Tue 03",
"December"); these charts carry Vega's ``timeFormatLocale``/``formatLocale`` for zh-CN in their
config, and their day axes read ``12月3日``.

Stable signatures (pages call these; show a chart with ``st.altair_chart(chart, width="stretch")``):

``daily_trend(frame, *, series=None, day="day", today=None, height=220, y_title="案件数") -> alt.LayerChart``
    One line per column of ``series`` (``{column: 中文名}``, default 受理/办结 from ``received``/
    ``completed``) against ``frame[day]`` (dates). When the last day is ``today`` (default: today in
    China), that partial day is not drawn as part of the line: it is joined by a dashed segment and
    marked with a hollow point whose tooltip says 今日（未满一天）.
``sparkline(values, *, good_when_up=None, tone=None, height=36, width=None) -> alt.LayerChart``
    A small line without axes, coloured by direction: ``tone`` (``"good"``/``"bad"``/``"neutral"``,
    e.g. :attr:`gis.core.metrics.KpiCard.tone`, so the line agrees with its card's change) wins;
    without it, :func:`series_tone` of ``values`` with ``good_when_up``. ``values``: a Series whose
    index is the days (dates) or positions.
``series_tone(values, *, good_when_up) -> str | None``
    ``good``/``bad``/``neutral`` for the direction of a series (second half against the first).
``zh(chart) -> chart``
    The zh-CN locale config added to any Altair chart (for charts a page composes itself; apply it
    once, to the outermost chart: Vega-Lite takes ``config`` only at the top level).

Constants: ``ZH_TIME_LOCALE``, ``ZH_NUMBER_LOCALE`` (Vega locale dicts), ``TONE_COLORS``
(``{"good": green, "bad": red, "neutral": grey}``), ``DAY_FORMAT`` (``"%-m月%-d日"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import altair as alt
import pandas as pd

from gis.core.china_time import CHINA_TZ
from gis.core.metrics import change_tone

#: Vega's time locale for zh-CN (d3-time-format's zh-CN, months as 一月 / 1月, weekdays 星期日 / 周日).
ZH_TIME_LOCALE = {
    "dateTime": "%Y年%-m月%-d日 %A %X",
    "date": "%Y/%-m/%-d",
    "time": "%H:%M:%S",
    "periods": ["上午", "下午"],
    "days": ["星期日", "星期一", "星期二", "星期三", "星期四", "星期五", "星期六"],
    "shortDays": ["周日", "周一", "周二", "周三", "周四", "周五", "周六"],
    "months": ["一月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "十一月", "十二月"],
    "shortMonths": [f"{m}月" for m in range(1, 13)],
}
#: Vega's number locale for zh-CN.
ZH_NUMBER_LOCALE = {"decimal": ".", "thousands": ",", "grouping": [3], "currency": ["¥", ""]}
#: Day labels on axes and in tooltips (no zero padding: 12月3日).
DAY_FORMAT = "%-m月%-d日"
#: Colours of a change's tone (green good, red bad, grey neutral or unknown).
TONE_COLORS = {"good": "#2e7d32", "bad": "#c62828", "neutral": "#7a869a"}
#: Line colours of the trend's series, in order.
SERIES_COLORS = ["#1f5fa8", "#2e9e6a", "#d98c1f", "#8e5ba8"]

_DEFAULT_SERIES = {"received": "受理", "completed": "办结"}


def zh(chart):
    """``chart`` with the zh-CN time and number locale in its config (the outermost chart only)."""
    return chart.configure(locale={"time": ZH_TIME_LOCALE, "number": ZH_NUMBER_LOCALE})


def _today() -> date:
    return datetime.now(CHINA_TZ).date()


def daily_trend(frame: pd.DataFrame, *, series: Mapping[str, str] | None = None, day: str = "day",
                today: date | None = None, height: int = 220, y_title: str = "案件数") -> alt.LayerChart:
    """Daily lines (e.g. 受理 and 办结 of :func:`gis.workflows.daily_counts`) with a Chinese date axis;
    today's partial day is marked, not drawn as a fall of the line (see the module's docstring)."""
    series = dict(series or _DEFAULT_SERIES)
    today = today or _today()
    days = pd.to_datetime(frame[day])
    long = pd.DataFrame({
        "日期": days.repeat(len(series)).to_numpy(),
        "指标": list(series.values()) * len(frame),
        "数量": frame[list(series)].to_numpy().reshape(-1),
    })
    partial_day = pd.Timestamp(today)
    long["部分"] = long["日期"] >= partial_day
    full = long[~long["部分"]]
    # the last full day and the partial day: the dashed segment between them
    last_full = full["日期"].max() if len(full) else None
    tail = long[long["部分"] | (long["日期"] == last_full)] if long["部分"].any() else long.iloc[0:0]
    color = alt.Color("指标:N", title=None, sort=list(series.values()),
                      scale=alt.Scale(domain=list(series.values()), range=SERIES_COLORS[:len(series)]),
                      legend=alt.Legend(orient="top", direction="horizontal"))
    x = alt.X("日期:T", title=None, axis=alt.Axis(format=DAY_FORMAT, labelAngle=0, tickCount="day",
                                                  labelOverlap=True))
    y = alt.Y("数量:Q", title=y_title, axis=alt.Axis(format="~s" if long["数量"].max() >= 10000 else "d",
                                                    tickMinStep=1))
    tooltip = [alt.Tooltip("日期:T", title="日期", format="%Y年%-m月%-d日 %a"), alt.Tooltip("指标:N", title="指标"),
               alt.Tooltip("数量:Q", title="数量", format=",")]
    base = alt.Chart(full).encode(x=x, y=y, color=color, tooltip=tooltip)
    layers = [base.mark_line(strokeWidth=2), base.mark_point(size=18, filled=True, opacity=0.0)]
    if len(tail):
        partial = long[long["部分"]].assign(说明="今日（未满一天）")
        tail_chart = alt.Chart(tail).encode(x=x, y=y, color=color)
        layers.append(tail_chart.mark_line(strokeDash=[4, 3], strokeWidth=1.5, opacity=0.8))
        layers.append(alt.Chart(partial).mark_point(size=50, filled=False, strokeWidth=2).encode(
            x=x, y=y, color=color, tooltip=[*tooltip, alt.Tooltip("说明:N", title="说明")]))
    return zh(alt.layer(*layers).properties(height=height))


def series_tone(values: pd.Series, *, good_when_up: bool | None) -> str | None:
    """``good``/``bad``/``neutral`` for the direction of ``values``: the mean of its second half
    against its first, a change under 1 % of the series' largest magnitude being none; None
    with fewer than two known values."""
    known = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    if len(known) < 2:
        return None
    half = len(known) // 2
    change = float(known.iloc[-half:].mean() - known.iloc[:half].mean())
    scale = float(known.abs().max()) or 1.0
    return change_tone(change / scale, decimals=2, higher_is_better=good_when_up)


def sparkline(values: pd.Series, *, good_when_up: bool | None = None, tone: str | None = None,
              height: int = 36, width: int | None = None) -> alt.LayerChart:
    """A small trend line without axes, coloured by the change's tone (see the module's docstring)."""
    values = pd.Series(values)
    tone = tone or series_tone(values, good_when_up=good_when_up) or "neutral"
    colour = TONE_COLORS.get(tone, TONE_COLORS["neutral"])
    index = values.index
    dated = len(index) and isinstance(index[0], (date, datetime, pd.Timestamp))
    frame = pd.DataFrame({"x": pd.to_datetime(index) if dated else range(len(values)),
                          "值": pd.to_numeric(values, errors="coerce").to_numpy()})
    x = alt.X("x:T" if dated else "x:Q", axis=None, title=None)
    y = alt.Y("值:Q", axis=None, title=None, scale=alt.Scale(zero=False))
    tooltip = ([alt.Tooltip("x:T", title="日期", format=DAY_FORMAT)] if dated else []) + [
        alt.Tooltip("值:Q", title="数值", format=",.4~f")]
    base = alt.Chart(frame).encode(x=x, y=y)
    last = frame.dropna().tail(1)
    chart = alt.layer(
        base.mark_line(color=colour, strokeWidth=1.6, interpolate="monotone"),
        base.mark_point(opacity=0.0, size=30).encode(tooltip=tooltip),
        alt.Chart(last).mark_point(color=colour, filled=True, size=20).encode(x=x, y=y),
    ).properties(height=height, **({"width": width} if width else {}))
    return zh(chart).configure_view(strokeWidth=0)


__all__ = ["DAY_FORMAT", "TONE_COLORS", "ZH_NUMBER_LOCALE", "ZH_TIME_LOCALE", "daily_trend", "series_tone", "sparkline",
           "zh"]
