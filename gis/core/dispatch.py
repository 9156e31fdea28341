"""精准派单: who takes a case at its tier, from the grid staff roster, and why (pure rules).

The seed practice: 工作人员根据工单归属的"微网格"，把工单发送给对应社区的专职网格员.

- ``general`` (网格办): inside an exclusive grid, its 专属网格负责人; else the
  专职网格员 who serves the micro-grid — listed for the micro-grid itself, else
  for its tertiary grid (三级网格), else for its community, as the roster says.
  The 微网格长 is a volunteer (楼栋长, 物业, a resident representative): never
  the assignee, only informed. Without a 专职网格员 the community's 网格长 takes it.
- ``complex`` (社区办): the community's 网格长.
- ``hard`` (协同办): the street's 吹哨报到 coordination, with the lead and
  co-departments of the category (``dispatch.toml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gis.core.roster import (
    FULL_TIME_WORKER_SEARCH,
    ROLE_COMMUNITY_HEAD,
    ROLE_EXCLUSIVE_HEAD,
    ROLE_FULL_TIME_WORKER,
    ROLE_MICRO_HEAD,
    roster_lookup,
)
from gis.core.rules.config import TIERS, Rules, load_rules
from gis.errors import InputError

#: Columns of :func:`dispatch_many`'s answer.
DISPATCH_COLUMNS = ("assignee", "reason", "informed", "lead_department", "co_departments")
_LEVEL_ZH = {"micro": "微网格", "grid": "三级网格", "community": "社区"}


@dataclass(frozen=True)
class Dispatch:
    """Who takes a case, why, who is told, and (hard tier) which departments.

    Attributes
    ----------
    assignee
        A person's name or the street desk (``<街道名>吹哨报到``); None when nobody
        fits (the case waits in 待分派).
    reason
        Why, in the words of the street office, e.g. ``三级网格 X 的专职网格员``.
    informed
        The micro-grid's 微网格长, told of a general case, never tasked; None if none.
    lead_department, co_departments
        For a hard case with a known category: the department that leads and
        those that report (吹哨报到); None and () otherwise.
    """

    assignee: str | None
    reason: str
    informed: str | None = None
    lead_department: str | None = None
    co_departments: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        """The dispatch event's note (:func:`dispatch_note`)."""
        return dispatch_note(self.reason, self.informed)


def dispatch_note(reason: str, informed: str | None) -> str:
    """A dispatch event's note: the reason, then who is informed
    (``三级网格 X 的专职网格员；知会微网格长：刘刚``)."""
    return reason + (f"；知会微网格长：{informed}" if informed else "")


def dispatch_for(*, tier: str, micro_code: str | None, exclusive_code: str | None,
                 community_code: str | None, street_code: str | None, staff: pd.DataFrame | None,
                 grid_code: str | None = None, category: str | None = None,
                 names: Mapping[str, str] | None = None, rules: Rules | None = None) -> Dispatch:
    """Who takes one case at its tier, and why.

    Parameters
    ----------
    tier
        ``general``, ``complex`` or ``hard``.
    micro_code, exclusive_code, grid_code, community_code, street_code
        Grid codes of the case's point (``grid_code`` the tertiary grid); None or
        empty when there is none.
    staff
        Roster frame with columns ``grid_code``, ``role``, ``name``; None means none.
    category
        The case's category code: a hard case takes its departments from it.
    names
        Grid code → name (e.g. ``GridTree.name``), for reasons and the street desk;
        codes stand in for missing names.
    rules
        Dispatch rules; None for the shipped ones.

    Raises
    ------
    InputError
        Unknown tier, or ``staff`` lacks a column.
    """
    return _decide(tier, micro_code, exclusive_code, grid_code, community_code, street_code, category,
                   roster_lookup(staff), names or {}, rules)


def assignee_for(*, tier: str, micro_code: str | None, exclusive_code: str | None,
                 community_code: str | None, street_code: str | None, staff: pd.DataFrame | None,
                 grid_code: str | None = None, names: Mapping[str, str] | None = None) -> str | None:
    """The assignee of :func:`dispatch_for` alone (a name, the street desk, or None)."""
    return dispatch_for(tier=tier, micro_code=micro_code, exclusive_code=exclusive_code,
                        community_code=community_code, street_code=street_code, staff=staff,
                        grid_code=grid_code, names=names).assignee


def dispatch_many(cases: pd.DataFrame, *, staff: pd.DataFrame | None, names: Mapping[str, str] | None = None,
                  units: Mapping[str, tuple[str | None, str | None, str | None]] | None = None,
                  rules: Rules | None = None) -> pd.DataFrame:
    """:func:`dispatch_for` for many cases at once, vectorised.

    Parameters
    ----------
    cases
        Columns ``tier``, ``micro_code``, ``exclusive_code`` and optionally
        ``category``; ``grid_code``, ``community_code`` and ``street_code`` unless
        ``units`` gives them.
    staff, names, rules
        As for :func:`dispatch_for`.
    units
        Micro-grid code → (tertiary grid, community, street) codes, e.g. from
        :meth:`gis.core.hierarchy.GridTree.ancestor`: an import of a million rows
        then needs no such columns (they are looked up once per micro-grid).

    Returns
    -------
    DataFrame
        :data:`DISPATCH_COLUMNS`, same index as ``cases``.
    """
    group, answers = _decide_distinct(cases, staff=staff, names=names, units=units, rules=rules)
    return pd.DataFrame({c: _spread([getattr(a, c) for a in answers], group, cases.index)
                         for c in DISPATCH_COLUMNS}, index=cases.index)


def assignees_many(cases: pd.DataFrame, *, staff: pd.DataFrame | None, names: Mapping[str, str] | None = None,
                   units: Mapping[str, tuple[str | None, str | None, str | None]] | None = None) -> pd.Series:
    """The ``assignee`` column of :func:`dispatch_many` alone (what an import stores); same index."""
    group, answers = _decide_distinct(cases, staff=staff, names=names, units=units, rules=None)
    return _spread([a.assignee for a in answers], group, cases.index)


# what each tier's answer depends on; the other keys are blanked before finding distinct cases
_KEYS = ("tier", "micro_code", "exclusive_code", "grid_code", "community_code", "street_code", "category")
_UNIT_KEYS = ("grid_code", "community_code", "street_code")
_RELEVANT = {"general": {"micro_code", "exclusive_code", "grid_code", "community_code"},
             "complex": {"community_code"},
             "hard": {"street_code", "category"}}


def _decide_distinct(cases: pd.DataFrame, *, staff: pd.DataFrame | None, names: Mapping[str, str] | None,
                     units: Mapping[str, tuple] | None, rules: Rules | None) -> tuple[np.ndarray, list[Dispatch]]:
    """One decision per distinct case: (the row's position in the answers, the answers)."""
    lookup, names = roster_lookup(staff), names or {}
    if not len(cases):
        return np.zeros(0, dtype=np.int64), []
    derived = units is not None  # the unit keys come from the micro-grid, which then matters at every tier
    relevant = {t: keys | ({"micro_code"} if derived else set()) for t, keys in _RELEVANT.items()}
    tier_codes, tier_names = pd.factorize(cases["tier"])
    seen = list(tier_names)
    of_tier = {t: (tier_codes == seen.index(t)) if t in seen else np.zeros(len(cases), dtype=bool)
               for t in relevant}
    # a district has a few thousand grids: decide once per distinct combination, found by
    # factorizing column by column (hashing one column at a time is several times faster
    # than a groupby over seven object columns); keys a tier ignores are blanked, so a
    # million rows make a few thousand decisions
    group = np.zeros(len(cases), dtype=np.int64)
    columns = {}
    for key in _KEYS:
        if key not in cases or (derived and key in _UNIT_KEYS):
            continue
        codes, uniques = (tier_codes, tier_names) if key == "tier" else pd.factorize(cases[key])  # NA → -1
        if key != "tier":
            ignored = ~np.logical_or.reduce([of_tier[t] for t, keys in relevant.items() if key in keys])
            codes = np.where(ignored, -1, codes)
        columns[key] = (codes, np.asarray(uniques, dtype=object))
        group = pd.factorize(group * (len(uniques) + 1) + codes + 1, sort=False)[0]
    # one row of each combination stands for it (any will do: they share every key)
    first = np.zeros(int(group.max()) + 1, dtype=np.int64)
    first[group] = np.arange(len(group))
    rules = rules or load_rules()

    def value(key: str, row: int):
        if key not in columns:
            if derived and key in _UNIT_KEYS:
                micro = value("micro_code", row)
                found = units.get(micro) if micro is not None else None
                return found[_UNIT_KEYS.index(key)] if found else None
            return None
        codes, uniques = columns[key]
        return None if codes[row] < 0 else uniques[codes[row]]

    answers = [_decide(*(value(k, i) for k in _KEYS), lookup, names, rules) for i in first]
    return group, answers


def _spread(values: list, group: np.ndarray, index: pd.Index) -> pd.Series:
    """Per-decision values to one per row, as an object column (None stays None)."""
    distinct = np.empty(len(values), dtype=object)  # filled one by one: co_departments are tuples
    for i, value in enumerate(values):
        distinct[i] = value
    return pd.Series(distinct[group], index=index, dtype=object)


def _decide(tier: str, micro_code: str | None, exclusive_code: str | None, grid_code: str | None,
            community_code: str | None, street_code: str | None, category: str | None,
            lookup: dict[tuple[str, str], str], names: Mapping[str, str], rules: Rules | None) -> Dispatch:
    if tier not in TIERS:
        raise InputError(f"tier {tier!r} is not known", fix="use one of " + ", ".join(TIERS))
    codes = {"micro": _code(micro_code), "grid": _code(grid_code), "community": _code(community_code)}

    def label(code: str) -> str:
        return names.get(code) or code

    if tier == "hard":
        return _hard(_code(street_code), category, label, rules)
    community = codes["community"]
    head = lookup.get((community, ROLE_COMMUNITY_HEAD)) if community else None
    if tier == "complex":
        if head:
            return Dispatch(head, "复杂事项：社区网格长" + (f"（{label(community)}）" if community else ""))
        where = f"社区 {label(community)} " if community else "案件所在社区"
        return Dispatch(None, f"复杂事项：{where}名册中无网格长，待分派")

    informed = lookup.get((codes["micro"], ROLE_MICRO_HEAD)) if codes["micro"] else None
    exclusive = _code(exclusive_code)
    prefix = ""
    if exclusive:
        manager = lookup.get((exclusive, ROLE_EXCLUSIVE_HEAD))
        if manager:
            return Dispatch(manager, f"专属网格 {label(exclusive)} 的负责人", informed)
        prefix = f"专属网格 {label(exclusive)} 名册中无负责人；"
    for level in FULL_TIME_WORKER_SEARCH:
        code = codes[level]
        worker = lookup.get((code, ROLE_FULL_TIME_WORKER)) if code else None
        if worker:
            return Dispatch(worker, f"{prefix}{_LEVEL_ZH[level]} {label(code)} 的专职网格员", informed)
    if not codes["micro"]:
        return Dispatch(None, prefix + "不在任何微网格内，待分派")
    if head:
        return Dispatch(head, f"{prefix}名册中无服务该微网格的专职网格员，由社区 {label(community)} 的网格长接收",
                        informed)
    return Dispatch(None, prefix + "名册中无服务该微网格的专职网格员，也无社区网格长，待分派", informed)


def _hard(street: str | None, category: str | None, label, rules: Rules | None) -> Dispatch:
    # the desk is named by the street (航海西路街道吹哨报到); by its code when the name is not known
    name = label(street) if street else None
    desk = (f"{name}吹哨报到" if name != street else f"街道吹哨报到平台({street})") if name else "街道吹哨报到平台"
    lead, co = None, ()
    if category:
        found = (rules or load_rules()).categories.get(category)
        if found is not None:
            lead, co = found.lead_department, tuple(found.co_departments)
    if lead:
        reason = f"疑难事项：街道吹哨报到（牵头：{lead}" + (f"；协同：{'、'.join(co)}" if co else "") + "）"
    else:
        reason = "疑难事项：街道吹哨报到"
    return Dispatch(desk, reason, None, lead, co)


def _code(value: str | None) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None
