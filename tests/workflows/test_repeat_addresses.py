"""The address of a repeat location (高频点位, the situation page's 地点): the address most of its
cases give, none when they give none (the tiny district of test_analytics_jobs)."""

from __future__ import annotations

from datetime import date

import pytest

from gis import workflows
from gis.workflows import analytics
from tests.workflows.test_analytics_jobs import NOW, load_tiny

WINDOW = {"since": date(2026, 11, 1), "until": date(2026, 12, 31), "now": NOW}


def _load(services, layer_file, tmp_path, addresses: dict[str, str]):
    load_tiny(services, layer_file, tmp_path, addresses=addresses)
    return services


def test_a_repeat_location_is_named_by_the_address_most_of_its_cases_give(services, layer_file, tmp_path):
    tiny = _load(services, layer_file, tmp_path, {"R1": "建设路12号东侧", "R2": "建设路12号", "R3": "建设路12号"})
    (spot,) = analytics.repeats(tiny, **WINDOW).itertuples()
    assert spot.address == "建设路12号"


@pytest.mark.parametrize("given", [{}, {"R1": "  ", "R2": ""}])
def test_a_repeat_location_whose_cases_give_no_address_has_none(services, layer_file, tmp_path, given):
    tiny = _load(services, layer_file, tmp_path, given)
    (spot,) = analytics.repeats(tiny, **WINDOW).itertuples()
    assert spot.address is None
