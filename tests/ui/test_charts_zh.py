"""ui/charts.py: Chinese time axes, today's partial day marked, sparklines coloured by direction."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from ui import charts

TODAY = date(2026, 12, 2)


def daily(days: int = 10) -> pd.DataFrame:
    return pd.DataFrame({"day": [TODAY - timedelta(days=days - 1 - i) for i in range(days)],
                         "received": [10] * (days - 1) + [2], "completed": [8] * (days - 1) + [1]})


def _data(spec: dict, layer: dict) -> list[dict]:
    """The rows a layer draws (its own data, or the chart's when all layers share it)."""
    return spec["datasets"][(layer.get("data") or spec["data"])["name"]]


def test_the_trend_speaks_chinese_and_marks_today_instead_of_a_dip():
    spec = charts.daily_trend(daily(), today=TODAY).to_dict()
    assert spec["config"]["locale"] == {"time": charts.ZH_TIME_LOCALE, "number": charts.ZH_NUMBER_LOCALE}
    line = spec["layer"][0]
    assert line["mark"]["type"] == "line"
    assert line["encoding"]["x"]["axis"]["format"] == charts.DAY_FORMAT == "%-m月%-d日"
    full_days = {row["日期"][:10] for row in _data(spec, line)}
    assert str(TODAY) not in full_days and len(full_days) == 9  # today's 2 cases are no fall of the line
    dashed = [layer for layer in spec["layer"] if layer["mark"].get("strokeDash")]
    assert len(dashed) == 1
    marked = spec["layer"][-1]
    assert {row["日期"][:10] for row in _data(spec, marked)} == {str(TODAY)}
    assert {row["说明"] for row in _data(spec, marked)} == {"今日（未满一天）"}


def test_a_trend_of_finished_days_has_no_mark():
    spec = charts.daily_trend(daily(), today=TODAY + timedelta(days=1)).to_dict()
    assert not [layer for layer in spec["layer"] if layer["mark"].get("strokeDash")]
    assert len({row["日期"] for row in _data(spec, spec["layer"][0])}) == 10


def test_the_locale_names_months_and_weekdays_in_chinese():
    assert charts.ZH_TIME_LOCALE["months"][11] == "十二月"
    assert charts.ZH_TIME_LOCALE["shortMonths"][11] == "12月"
    assert charts.ZH_TIME_LOCALE["shortDays"][2] == "周二"
    assert not [name for name in charts.ZH_TIME_LOCALE["days"] + charts.ZH_TIME_LOCALE["months"]
                if any(c.isascii() and c.isalpha() for c in name)]


def test_a_sparkline_is_coloured_by_the_direction_that_is_good():
    rising = pd.Series([1, 2, 3, 4, 5, 6])
    assert charts.series_tone(rising, good_when_up=True) == "good"
    assert charts.series_tone(rising, good_when_up=False) == "bad"
    assert charts.series_tone(rising, good_when_up=None) == "neutral"
    assert charts.series_tone(pd.Series([5, 5, 5, 5]), good_when_up=True) == "neutral"
    assert charts.series_tone(pd.Series([5]), good_when_up=True) is None

    def colour(chart) -> str:
        return chart.to_dict()["layer"][0]["mark"]["color"]
    assert colour(charts.sparkline(rising, good_when_up=False)) == charts.TONE_COLORS["bad"]
    assert colour(charts.sparkline(rising[::-1].reset_index(drop=True), good_when_up=False)) == \
        charts.TONE_COLORS["good"]
    # the card's tone wins over the series' own direction (the card compares with the previous period)
    assert colour(charts.sparkline(rising, good_when_up=False, tone="good")) == charts.TONE_COLORS["good"]
