"""Bulletins of a week, month or year, for the district or one street, all channels or 12345 only
(gis.workflows.bulletin.period_bulletin), against the real PostGIS.

The tiny hierarchy of conftest (一街道 S1 → 甲社区 C1, 二街道 S2 → 乙社区 C2) with the six
cases of 2026-W47 (test_dashboards.SIX: K6 came by patrol, the rest by 12345), three cases
in October 2026 and one in 2025, all closed on time.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from gis import workflows
from gis.core import metrics
from gis.errors import InputError
from gis.io import bulletin as report
from tests.workflows.test_dashboards import SIX, cn, counts_of, load

EARLIER = [
    dict(id="O1", micro="G1-01", reported="2026-10-05T09:00:00", status="closed", due=cn(7, 12, month=10),
         closed=cn(6, 12, month=10)),
    dict(id="O2", micro="G2-01", reported="2026-10-10T09:00:00", status="closed", due=cn(12, 12, month=10),
         closed=cn(11, 12, month=10)),
    dict(id="O3", micro="G2-02", reported="2026-10-12T09:00:00", status="closed", due=cn(14, 12, month=10),
         closed=cn(13, 12, month=10)),
    dict(id="Y1", micro="G2-01", reported="2025-06-02T09:00:00", status="closed",
         due=cn(4, 12, month=6).replace(year=2025), closed=cn(3, 12, month=6).replace(year=2025)),
]


@pytest.fixture
def cases(services, layer_file, tmp_path):
    workflows.import_grids(services, layer_file)
    load(services, tmp_path, SIX)
    load(services, tmp_path, EARLIER, name="earlier.csv")
    return services


def bulletin(services, kind, period, **kwargs) -> workflows.Bulletin:
    kwargs.setdefault("min_due", 1)
    kwargs.setdefault("with_map", False)
    return workflows.period_bulletin(services, kind, period, **kwargs)


# -- periods ---------------------------------------------------------------------------------------


def test_periods_and_the_ones_before_them():
    month = workflows.bulletin_period("month", "2028-2")
    assert (month.label, month.since, month.until) == ("2028-02", date(2028, 2, 1), date(2028, 2, 29))
    assert month.previous().label == "2028-01" and month.label_zh == "2028年2月"
    assert workflows.bulletin_period("month", "2026-01").previous().since == date(2025, 12, 1)
    year = workflows.bulletin_period("year", "2026")
    assert (year.since, year.until, year.previous().label) == (date(2026, 1, 1), date(2026, 12, 31), "2025")
    week = workflows.bulletin_period("week", "2026-w01")
    assert (week.label, week.since) == ("2026-W01", date(2025, 12, 29))
    assert week.previous().label == "2025-W52" and week.label_zh == "2026年第1周"


def test_the_default_period_is_the_last_complete_one():
    wednesday = date(2026, 12, 2)
    assert workflows.last_complete_period("week", today=wednesday).label == "2026-W48"
    assert workflows.last_complete_period("week", today=date(2026, 11, 29)).label == "2026-W47"  # a Sunday
    assert workflows.last_complete_period("month", today=wednesday).label == "2026-11"
    assert workflows.last_complete_period("month", today=date(2026, 1, 31)).label == "2025-12"
    assert workflows.last_complete_period("year", today=wednesday).label == "2025"


@pytest.mark.parametrize("kind, label, message", [
    ("month", "2026-13", "month '2026-13' is not a month; write it like 2026-11"),
    ("month", "Nov 2026", "month 'Nov 2026' is not a month"),
    ("year", "2026-11", "year '2026-11' is not a year; write it like 2026"),
    ("year", "3000", "year '3000' is outside the years 1970–2100"),
    ("quarter", "2026-Q4", "bulletin period 'quarter' is unknown; use week, month or year"),
])
def test_bad_periods_are_refused_naming_the_field_and_the_form(kind, label, message):
    with pytest.raises(InputError, match=message):
        workflows.bulletin_period(kind, label)


def test_sources_are_all_or_the_12345_hotline():
    assert workflows.bulletin_source("all") is None and workflows.bulletin_source(None) is None
    assert workflows.bulletin_source("hotline12345") == "12345"
    with pytest.raises(InputError, match="field 'source': source '12345热线' is not a bulletin source; use all"):
        workflows.bulletin_source("12345热线")


# -- scope and source -----------------------------------------------------------------------------------


def test_a_streets_bulletin_counts_only_its_own_communities_and_names_it_as_the_office(cases):
    b = bulletin(cases, "week", "2026-W47", street="S1")
    assert list(b.communities["code"]) == ["C1"] and list(b.communities["street"]) == ["一街道"]
    assert (b.office, b.scope_code, b.title) == ("一街道", "S1", "一街道网格化治理工作周通报")
    assert counts_of(b.totals) == (3, 3, 3, 2, 0, 0)          # K1–K3 only
    assert set(b.worst_micro["community"]) == {"甲社区"}
    district = bulletin(cases, "week", "2026-W47")
    assert district.office == "中原区" and district.scope_code is None
    assert list(district.communities["code"]) == ["C1", "C2"] and district.totals["received"] == 6


def test_a_12345_bulletin_leaves_out_the_other_channels(cases):
    b = bulletin(cases, "week", "2026-W47", street="S2", source="hotline12345")
    assert b.source == "hotline12345" and b.title == "二街道网格化治理工作12345热线周通报"
    assert b.totals["received"] == 2                           # K4, K5; K6 came by patrol
    assert int(b.communities.set_index("code").loc["C2", "received"]) == 2
    assert bulletin(cases, "week", "2026-W47", street="S2").totals["received"] == 3


def test_a_street_that_is_not_a_street_is_refused(cases):
    with pytest.raises(InputError, match="street 'C1' is not a street of the active grids; give the code of a "
                                         "street you may see, e.g. S1"):
        bulletin(cases, "month", "2026-11", street="C1")


# -- months and years, against the period before ---------------------------------------------------------


def test_a_monthly_bulletin_compares_with_the_month_before_as_both_stood_at_their_ends(cases):
    b = bulletin(cases, "month", "2026-11")
    assert (b.kind, b.week, b.since, b.until, b.previous_label) == (
        "month", "2026-11", date(2026, 11, 1), date(2026, 11, 30), "2026-10")
    # at the end of November K5 and K6 (due 25 Nov) are due as well, and overdue
    assert counts_of(b.totals) == (6, 3, 6, 2, 3, 3) and b.totals["completion_rate"] == 0.5
    assert counts_of(b.previous_totals) == (3, 3, 3, 3, 0, 0)
    table = b.communities.set_index("code")
    assert (table.loc["C1", "received_change"], table.loc["C2", "received_change"]) == (2, 1)
    assert table.loc["C1", "completion_rate_change"] == 0.0   # 100 % both months
    assert table.loc["C2", "completion_rate_change"] == -1.0
    assert (table.loc["C1", "rank"], table.loc["C2", "rank"]) == (1, 2)
    assert b.title == "中原区网格化治理工作月汇总" and b.period_zh == "2026年11月"


def test_a_yearly_bulletin_compares_with_the_year_before(cases):
    b = bulletin(cases, "year", "2026")
    assert (b.since, b.until, b.previous_label) == (date(2026, 1, 1), date(2026, 12, 31), "2025")
    assert b.totals["received"] == 9 and b.previous_totals["received"] == 1
    table = b.communities.set_index("code")
    assert (table.loc["C1", "received_change"], table.loc["C2", "received_change"]) == (4, 4)
    assert b.title == "中原区网格化治理工作年度考核"


def test_a_zero_change_reads_as_a_neutral_zero(cases):
    b = bulletin(cases, "month", "2026-11")
    change = b.communities.set_index("code").loc["C1", "completion_rate_change"] * 100
    assert metrics.format_change(change, decimals=1) == "0.0"
    assert metrics.change_tone(change, decimals=1, higher_is_better=True) == "neutral"
    page = report.bulletin_to_html(b)
    assert '<td class="neutral">0.0</td>' in page and "-0.0" not in page


# -- ranks, the minimum-cases note, best and lagging --------------------------------------------------


def test_units_below_the_minimum_due_are_listed_unranked_with_a_note(cases):
    b = bulletin(cases, "week", "2026-W47", min_due=2)
    table = b.communities.set_index("code")
    assert table.loc["C1", "rank"] == 1 and pd.isna(table.loc["C2", "rank"])   # C2 has 1 case due
    assert table.loc["C1", "rank_note"] == ""
    assert table.loc["C2", "rank_note"] == "应办结不足 2 件，不参与排名"
    assert list(b.best["code"]) == ["C1"] and b.lagging.empty


def test_best_and_lagging_lists_name_the_ends_of_the_ranking(cases):
    b = bulletin(cases, "month", "2026-11", top=1)
    assert list(b.best["code"]) == ["C1"] and list(b.lagging["code"]) == ["C2"]
    assert list(b.best["name"]) == ["甲社区"] and list(b.lagging["name"]) == ["乙社区"]
    both = bulletin(cases, "month", "2026-11", top=3)
    assert list(both.best["code"]) == ["C1", "C2"] and both.lagging.empty   # nobody is named twice


def test_the_issue_date_defaults_to_today_and_can_be_given(cases):
    assert bulletin(cases, "month", "2026-11", issued=date(2026, 12, 3)).issued == date(2026, 12, 3)
    assert isinstance(bulletin(cases, "month", "2026-11").issued, date)


# -- the map figure --------------------------------------------------------------------------------------


def test_the_map_figure_shows_completion_rate_per_community_of_the_scope(cases, monkeypatch):
    from gis.maps import figure
    calls = []
    real = figure.map_figure

    def recorded(units, **kwargs):
        calls.append((units.copy(), kwargs))
        return real(units, **kwargs)
    monkeypatch.setattr(figure, "map_figure", recorded)
    b = bulletin(cases, "month", "2026-11", street="S2", with_map=True)
    assert b.map_png.startswith(b"\x89PNG\r\n\x1a\n")
    ((units, kwargs),) = calls
    assert list(units["code"]) == ["C2"] and units.crs.to_epsg() == 4326
    assert list(units["value"]) == [0.0]                         # 办结率 in percent: 0 of 3
    assert kwargs["metric"] == "completion_rate" and kwargs["fmt"] == "png"
    assert kwargs["title"] == "二街道各社区办结率" and kwargs["reference"] == 0.0     # the street's own 办结率
    assert kwargs["scheme"] == "natural_breaks"                  # few units: quantiles would merge classes
    bulletin(cases, "month", "2026-11", with_map=True)
    assert calls[-1][1]["reference"] == 50.0                    # the district's 办结率, in percent
