"""Categories, tiers, the working-time calendar and the case lifecycle (pure rules).

The rules live in ``gis/rules/dispatch.toml``; this module reads and checks
them (:func:`load_rules`) and applies them. Nothing here touches a database
or Streamlit.

- **Categories**: a stable ASCII code (``env.exposed_garbage``), a Chinese
  name, a group, a default tier, a time limit in working hours or working
  days, a heat-map tag and a demo share.
- **Tiers**: ``general`` (网格员 / 专属网格负责人) → ``complex`` (社区网格长) →
  ``hard`` (街道吹哨报到平台). An overdue case moves up one tier; an overdue
  ``hard`` case stays ``hard`` and goes under supervision (督办).
- **Calendar**: working days follow the official calendar, public holidays
  and 调休 make-up working days included (``chinese_calendar``); working hours
  per day come from the rules file. Times are China time: naive datetimes
  mean Asia/Shanghai.
- **Lifecycle**: :data:`STATUSES` and the transitions allowed by the rules
  file; a return needs a reason and a verifier cannot be the handler.
"""

from __future__ import annotations

import functools
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np
import pandas as pd

from gis.errors import InputError, TransitionError

__all__ = [
    "CHINA_TZ", "DEFAULT_RULES_PATH", "HEAT_TAGS", "STATUSES", "STATUS_NAMES_ZH",
    "TIERS", "Category", "Rules", "Tier",
    "add_working_time", "add_working_time_many", "allowed_next", "assignee_for", "assignees_many",
    "category_from_text", "check_transition", "due_at", "due_at_many", "escalated_tier",
    "is_open", "is_overdue",
    "is_working_day", "load_rules", "next_escalation", "status_from_text",
    "status_name_zh",
]

#: China Standard Time; naive datetimes are read in this zone.
CHINA_TZ = ZoneInfo("Asia/Shanghai")

#: The rules file shipped with the package.
DEFAULT_RULES_PATH = Path(__file__).with_name("rules") / "dispatch.toml"

#: Lifecycle stages: the main path first (受理 → 结案), then the side stages.
STATUSES: tuple[str, ...] = (
    "received", "dispatched", "in_progress", "resolved", "verified", "closed",
    "returned", "reworked", "extended", "supervised",
)

#: Chinese name of each stage, after the 数字化城管 case cycle.
STATUS_NAMES_ZH: Mapping[str, str] = MappingProxyType({
    "received": "受理",
    "dispatched": "派遣",
    "in_progress": "处置",
    "resolved": "反馈",
    "verified": "核查",
    "closed": "结案",
    "returned": "退回",
    "reworked": "返工",
    "extended": "延期",
    "supervised": "督办",
})

# Stages where the handler's work is done: the case no longer counts as open
# and can no longer fall overdue.
_DONE_STATUSES = frozenset({"resolved", "verified", "closed"})

# Open311 GeoReport v2 knows only two statuses.
_OPEN311_STATUSES = MappingProxyType({"open": "received", "closed": "closed"})

#: Tier codes, lowest first; the rules file must define exactly these.
TIERS: tuple[str, ...] = ("general", "complex", "hard")

#: Heat-map tags a category group may carry.
HEAT_TAGS = frozenset({"hazard", "garbage"})

# Staff roles (grid_staff.role), as the street offices name them.
ROLE_COMMUNITY_HEAD = "网格长"
ROLE_FULL_TIME_WORKER = "专职网格员"
ROLE_MICRO_HEAD = "微网格长"
ROLE_EXCLUSIVE_HEAD = "专属网格负责人"

# A long holiday plus weekends is under 20 days; a year of days without a
# working day means the calendar or the rules are broken, not a real deadline.
_MAX_CALENDAR_DAYS = 366

_CODE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


# ---------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Category:
    """One incident category.

    Attributes
    ----------
    code
        Stable ASCII code stored in the database, e.g. ``env.exposed_garbage``.
    name_zh
        Chinese name, e.g. 暴露垃圾.
    group, group_name_zh
        Group code and Chinese name, e.g. ``env`` / 环境卫生.
    tier
        Default tier: ``general``, ``complex`` or ``hard``.
    limit_hours, limit_days
        Time limit at the default tier, in working hours or in working days;
        exactly one is set, the other is None.
    heat
        Heat-map tag of the group (``hazard``, ``garbage``) or None.
    share
        Fraction of incidents of this category in the demo data (0..1).
    lead_department, co_departments
        The street department that leads, and those that report to it
        (吹哨报到), when the case reaches the ``hard`` tier.
    aliases
        Other Chinese names accepted by :func:`category_from_text`.
    """

    code: str
    name_zh: str
    group: str
    group_name_zh: str
    tier: str
    limit_hours: float | None
    limit_days: int | None
    heat: str | None
    share: float
    lead_department: str
    co_departments: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def limit_zh(self) -> str:
        """The time limit in Chinese, e.g. ``2个工作小时`` or ``5个工作日``."""
        return _limit_zh(self.limit_hours, self.limit_days)


@dataclass(frozen=True)
class Tier:
    """One dispatch tier.

    Attributes
    ----------
    code
        ``general``, ``complex`` or ``hard``.
    name_zh
        Chinese name, e.g. 一般事项.
    handled_by
        Who handles it, in words, for screens.
    limit_hours, limit_days
        Time limit for a case handled at this tier other than its category's
        default (for instance after escalation); exactly one is set.
    escalates_to
        Tier that takes an overdue case; the top tier names itself.
    """

    code: str
    name_zh: str
    handled_by: str
    limit_hours: float | None
    limit_days: int | None
    escalates_to: str

    @property
    def limit_zh(self) -> str:
        """The time limit in Chinese, e.g. ``3个工作日``."""
        return _limit_zh(self.limit_hours, self.limit_days)


@dataclass(frozen=True)
class Rules:
    """The checked contents of a rules file (see ``gis/rules/dispatch.toml``).

    Attributes
    ----------
    source
        The file read.
    version
        The file's format version.
    work_periods
        Working periods of a working day, China time, ``[start, end)``.
    tiers
        Tier code → :class:`Tier`, lowest first.
    groups
        Group code → Chinese name, in file order.
    categories
        Category code → :class:`Category`, in file order.
    transitions
        Stage code → stages it may move to.
    reason_required
        Stages that need a non-empty note to move to.
    not_by_handler
        Stages the handler (who resolved the case) may not move it to.
    """

    source: Path
    version: int
    work_periods: tuple[tuple[time, time], ...]
    tiers: Mapping[str, Tier]
    groups: Mapping[str, str]
    categories: Mapping[str, Category]
    transitions: Mapping[str, tuple[str, ...]]
    reason_required: frozenset[str]
    not_by_handler: frozenset[str]

    def category(self, code: str) -> Category:
        """The category with this code; InputError naming the known codes otherwise."""
        try:
            return self.categories[code]
        except (KeyError, TypeError):
            raise InputError(
                f"category {code!r} is not known",
                fix=("use a code from the rules file ("
                     + ", ".join(self.categories)
                     + "), or map free text with category_from_text"),
            ) from None

    @property
    def work_hours_per_day(self) -> float:
        """Working hours in one working day."""
        return sum(_minutes(b) - _minutes(a) for a, b in self.work_periods) / 60


def load_rules(path: Path | str | None = None) -> Rules:
    """Read and check a dispatch rules file.

    Parameters
    ----------
    path
        A TOML rules file; None reads the file shipped with the package
        (read once, then cached).

    Returns
    -------
    Rules

    Raises
    ------
    InputError
        The file is missing, is not TOML, or a key is missing or wrong; the
        message names the key (e.g. ``categories[3].tier``) and the fix.
    """
    if path is None:
        return _default_rules()
    return _read_rules(Path(path))


@functools.lru_cache(maxsize=1)
def _default_rules() -> Rules:
    return _read_rules(DEFAULT_RULES_PATH)


def _read_rules(path: Path) -> Rules:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"rules file {path} not found",
                         fix="give the path of a dispatch rules .toml file") from None
    except OSError as exc:
        raise InputError(f"rules file {path} cannot be read: {exc.strerror}",
                         fix="check the path and its permissions") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"rules file {path} is not UTF-8",
                         fix="save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"rules file {path} is not valid TOML: {exc}",
                         fix="fix the syntax at the place named") from None
    return _RulesReader(path).read(doc)


class _RulesReader:
    """Checks a parsed rules document key by key; every error names the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str, fix: str) -> InputError:
        return InputError(f"{problem} in rules file {self.path}", field=key, fix=fix)

    def table(self, parent: Mapping[str, Any], name: str, key: str) -> Mapping[str, Any]:
        value = parent.get(name)
        if not isinstance(value, dict):
            what = "is missing" if value is None else f"is {_kind(value)}, not a table"
            raise self.fail(key, f"{key} {what}", f"add a [{key}] table")
        return value

    def text(self, parent: Mapping[str, Any], name: str, key: str,
             *, required: bool = True) -> str | None:
        value = parent.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            given = "is missing" if value is None else f"is {value!r}"
            raise self.fail(key, f"{key} {given}", f"give {name} as non-empty text")
        return value.strip()

    def texts(self, parent: Mapping[str, Any], name: str, key: str) -> tuple[str, ...]:
        value = parent.get(name, [])
        if (not isinstance(value, list)
                or not all(isinstance(v, str) and v.strip() for v in value)):
            raise self.fail(key, f"{key} is {value!r}",
                            f'give {name} as a list of non-empty texts, e.g. ["a", "b"]')
        return tuple(v.strip() for v in value)

    def no_unknown_keys(self, table: Mapping[str, Any], known: set[str], key: str) -> None:
        for name in table:
            if name not in known:
                raise self.fail(f"{key}.{name}", f"unknown key {key}.{name}",
                                "remove it or use one of " + ", ".join(sorted(known)))

    def limit(self, table: Mapping[str, Any], key: str) -> tuple[float | None, int | None]:
        hours, days = table.get("limit_hours"), table.get("limit_days")
        if (hours is None) == (days is None):
            raise self.fail(key, f"{key} has {'both' if hours is not None else 'neither'} "
                            "limit_hours and limit_days",
                            "give exactly one: limit_hours (working hours) or "
                            "limit_days (working days)")
        if hours is not None:
            if (isinstance(hours, bool) or not isinstance(hours, (int, float))
                    or not math.isfinite(hours) or hours <= 0):
                raise self.fail(f"{key}.limit_hours", f"{key}.limit_hours is {hours!r}",
                                "give a positive number of working hours")
            return float(hours), None
        if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
            raise self.fail(f"{key}.limit_days", f"{key}.limit_days is {days!r}",
                            "give a positive whole number of working days")
        return None, days

    def read(self, doc: Mapping[str, Any]) -> Rules:
        version = doc.get("version")
        if version != 1 or isinstance(version, bool):
            raise self.fail("version", f"version is {version!r}",
                            "set version = 1 (the only format this code reads)")
        work_periods = self.read_periods(doc)
        tiers = self.read_tiers(doc)
        transitions, reason_required, not_by_handler = self.read_lifecycle(doc)
        groups, heat = self.read_groups(doc)
        categories = self.read_categories(doc, tiers, groups, heat)
        return Rules(
            source=self.path,
            version=version,
            work_periods=work_periods,
            tiers=MappingProxyType(tiers),
            groups=MappingProxyType(groups),
            categories=MappingProxyType(categories),
            transitions=MappingProxyType(transitions),
            reason_required=reason_required,
            not_by_handler=not_by_handler,
        )

    def read_periods(self, doc: Mapping[str, Any]) -> tuple[tuple[time, time], ...]:
        key = "working_hours.periods"
        periods = self.table(doc, "working_hours", "working_hours").get("periods")
        fix = 'give a list of ["HH:MM", "HH:MM"] pairs, e.g. [["09:00", "12:00"], ["13:30", "17:30"]]'
        if not isinstance(periods, list) or not periods:
            raise self.fail(key, f"{key} is {periods!r}", fix)
        result: list[tuple[time, time]] = []
        for i, pair in enumerate(periods):
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(p, str) and _HHMM_RE.match(p) for p in pair)):
                raise self.fail(f"{key}[{i}]", f"{key}[{i}] is {pair!r}", fix)
            start, end = (time.fromisoformat(p) for p in pair)
            if start >= end:
                raise self.fail(f"{key}[{i}]", f"{key}[{i}] ends ({pair[1]}) before it "
                                f"starts ({pair[0]})", "give each period as [start, end]")
            if result and start < result[-1][1]:
                raise self.fail(f"{key}[{i}]", f"{key}[{i}] starts before the previous "
                                "period ends", "list periods in order, without overlap")
            result.append((start, end))
        return tuple(result)

    def read_tiers(self, doc: Mapping[str, Any]) -> dict[str, Tier]:
        tables = self.table(doc, "tiers", "tiers")
        if set(tables) != set(TIERS):
            raise self.fail("tiers", "tiers are " + ", ".join(tables),
                            "define exactly [tiers.general], [tiers.complex] and [tiers.hard]")
        tiers: dict[str, Tier] = {}
        for code in TIERS:  # lowest first, whatever the file order
            key = f"tiers.{code}"
            table = self.table(tables, code, key)
            self.no_unknown_keys(table, {"name_zh", "handled_by", "limit_hours",
                                         "limit_days", "escalates_to"}, key)
            hours, days = self.limit(table, key)
            up = self.text(table, "escalates_to", f"{key}.escalates_to")
            if up not in TIERS or TIERS.index(up) < TIERS.index(code):
                raise self.fail(f"{key}.escalates_to", f"{key}.escalates_to is {up!r}",
                                "name the same or a higher tier: " + ", ".join(
                                    TIERS[TIERS.index(code):]))
            tiers[code] = Tier(
                code=code,
                name_zh=self.text(table, "name_zh", f"{key}.name_zh"),
                handled_by=self.text(table, "handled_by", f"{key}.handled_by"),
                limit_hours=hours, limit_days=days, escalates_to=up,
            )
        return tiers

    def read_lifecycle(self, doc: Mapping[str, Any]
                       ) -> tuple[dict[str, tuple[str, ...]], frozenset[str], frozenset[str]]:
        lifecycle = self.table(doc, "lifecycle", "lifecycle")
        self.no_unknown_keys(lifecycle, {"transitions", "reason_required",
                                         "not_by_handler"}, "lifecycle")
        tables = self.table(lifecycle, "transitions", "lifecycle.transitions")
        known = ", ".join(STATUSES)
        for status in tables:
            if status not in STATUSES:
                raise self.fail(f"lifecycle.transitions.{status}",
                                f"stage {status!r} is not known", f"use one of {known}")
        transitions: dict[str, tuple[str, ...]] = {}
        for status in STATUSES:
            key = f"lifecycle.transitions.{status}"
            if status not in tables:
                raise self.fail(key, f"{key} is missing",
                                f"add {status} = [...] (an empty list if {status} is final)")
            targets = self.texts(tables, status, key)
            for target in targets:
                if target not in STATUSES:
                    raise self.fail(key, f"{key} names unknown stage {target!r}",
                                    f"use one of {known}")
            transitions[status] = tuple(dict.fromkeys(targets))
        sets = []
        for name in ("reason_required", "not_by_handler"):
            key = f"lifecycle.{name}"
            values = self.texts(lifecycle, name, key)
            for value in values:
                if value not in STATUSES:
                    raise self.fail(key, f"{key} names unknown stage {value!r}",
                                    f"use one of {known}")
            sets.append(frozenset(values))
        return transitions, sets[0], sets[1]

    def read_groups(self, doc: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str | None]]:
        tables = self.table(doc, "groups", "groups")
        groups: dict[str, str] = {}
        heat: dict[str, str | None] = {}
        for code in tables:
            key = f"groups.{code}"
            if not _CODE_RE.match(code) or "." in code:
                raise self.fail(key, f"group code {code!r} is not a lower-case ASCII word",
                                "use letters, digits and _ only, e.g. env")
            table = self.table(tables, code, key)
            self.no_unknown_keys(table, {"name_zh", "heat"}, key)
            groups[code] = self.text(table, "name_zh", f"{key}.name_zh")
            tag = table.get("heat")
            if tag is not None and tag not in HEAT_TAGS:
                raise self.fail(f"{key}.heat", f"{key}.heat is {tag!r}",
                                "use one of " + ", ".join(sorted(HEAT_TAGS))
                                + ", or omit it for none")
            heat[code] = tag
        return groups, heat

    def read_categories(self, doc: Mapping[str, Any], tiers: Mapping[str, Tier],
                        groups: Mapping[str, str], heat: Mapping[str, str | None]
                        ) -> dict[str, Category]:
        items = doc.get("categories")
        if not isinstance(items, list) or not items:
            raise self.fail("categories", "categories are missing",
                            "add [[categories]] tables")
        known_keys = {"code", "name_zh", "aliases", "group", "tier", "limit_hours",
                      "limit_days", "share", "lead_department", "co_departments"}
        categories: dict[str, Category] = {}
        names: dict[str, str] = {}  # normalised name or alias → category code
        for i, table in enumerate(items):
            key = f"categories[{i}]"
            if not isinstance(table, dict):
                raise self.fail(key, f"{key} is {_kind(table)}", "write it as [[categories]]")
            self.no_unknown_keys(table, known_keys, key)
            code = self.text(table, "code", f"{key}.code")
            if not _CODE_RE.match(code):
                raise self.fail(f"{key}.code", f"{key}.code {code!r} is not a stable "
                                "ASCII code", "use group.sub_type in lower case, e.g. "
                                "env.exposed_garbage")
            if code in categories:
                raise self.fail(f"{key}.code", f"{key}.code {code!r} is used twice",
                                "give every category its own code")
            group = self.text(table, "group", f"{key}.group")
            if group not in groups:
                raise self.fail(f"{key}.group", f"{key}.group {group!r} ({code}) is not "
                                "a group", "use one of " + ", ".join(groups))
            tier = self.text(table, "tier", f"{key}.tier")
            if tier not in tiers:
                raise self.fail(f"{key}.tier", f"{key}.tier {tier!r} ({code}) is not a "
                                "tier", "use one of " + ", ".join(tiers))
            hours, days = self.limit(table, key)
            share = table.get("share")
            if (isinstance(share, bool) or not isinstance(share, (int, float))
                    or not 0 <= share <= 1):
                raise self.fail(f"{key}.share", f"{key}.share ({code}) is {share!r}",
                                "give a fraction between 0 and 1")
            name_zh = self.text(table, "name_zh", f"{key}.name_zh")
            aliases = self.texts(table, "aliases", f"{key}.aliases")
            for name in (name_zh, *aliases):
                other = names.setdefault(_norm(name), code)
                if other != code:
                    raise self.fail(f"{key}.name_zh", f"name {name!r} of {code} is also "
                                    f"a name of {other}", "give each name to one category")
            categories[code] = Category(
                code=code, name_zh=name_zh, group=group, group_name_zh=groups[group],
                tier=tier, limit_hours=hours, limit_days=days, heat=heat[group],
                share=float(share),
                lead_department=self.text(table, "lead_department",
                                          f"{key}.lead_department"),
                co_departments=self.texts(table, "co_departments", f"{key}.co_departments"),
                aliases=aliases,
            )
        total = sum(c.share for c in categories.values())
        if abs(total - 1) > 1e-6:
            raise self.fail("categories.share", f"the shares add up to {total:.4f}",
                            "make the categories' share values sum to 1")
        if "other" not in categories:
            raise self.fail("categories", "there is no category 'other'",
                            'add one with code = "other": unknown text is filed there')
        empty = [g for g in groups if not any(c.group == g for c in categories.values())]
        if empty:
            raise self.fail(f"groups.{empty[0]}", f"group {empty[0]!r} has no category",
                            "add a category to it or remove the group")
        return categories


# ---------------------------------------------------------------------------
# Statuses and categories from text
# ---------------------------------------------------------------------------

def status_name_zh(code: str) -> str:
    """Chinese name of a lifecycle stage, e.g. ``closed`` → 结案.

    Raises
    ------
    InputError
        ``code`` is not one of :data:`STATUSES`.
    """
    try:
        return STATUS_NAMES_ZH[code]
    except (KeyError, TypeError):
        raise _unknown_status(code) from None


def status_from_text(text: str) -> str:
    """The stage code for a status as people and systems write it.

    Accepts the English code (``in_progress``, also ``In Progress`` or
    ``in-progress``), the Chinese name (处置), and the Open311 statuses
    ``open`` (→ ``received``) and ``closed``; case, spaces, hyphens and
    underscores do not matter.

    Raises
    ------
    InputError
        The text is none of these; the message lists the accepted values.
    """
    key = _norm(text) if isinstance(text, str) else None
    if key:
        for code, name in STATUS_NAMES_ZH.items():
            if key in (_norm(code), name):
                return code
        if key in _OPEN311_STATUSES:
            return _OPEN311_STATUSES[key]
    raise _unknown_status(text)


def _unknown_status(text: object) -> InputError:
    accepted = ", ".join(f"{c} ({n})" for c, n in STATUS_NAMES_ZH.items())
    return InputError(f"status {text!r} is not known",
                      fix=f"use one of {accepted}, or Open311 open / closed")


def category_from_text(text: str, *, rules: Rules | None = None) -> tuple[str, str | None]:
    """The category code for a category as written in an import.

    Parameters
    ----------
    text
        A category code (``env.exposed_garbage``), a Chinese sub-type name or
        alias (暴露垃圾, 消防), or a group code or Chinese group name (环境卫生),
        which maps to that group's first category in the rules file.
        Case and spaces do not matter.
    rules
        Rules to use; None for the shipped rules.

    Returns
    -------
    tuple of (str, str or None)
        The code and None; or ``'other'`` and a warning when the text is
        empty or unknown (the row is kept, filed under 其他).
    """
    rules = rules or load_rules()
    key = _norm(text) if isinstance(text, str) else ""
    if key:
        for category in rules.categories.values():
            if key in map(_norm, (category.code, category.name_zh, *category.aliases)):
                return category.code, None
        for group, name_zh in rules.groups.items():
            if key in (_norm(group), _norm(name_zh)):
                return next(c.code for c in rules.categories.values() if c.group == group), None
    other = rules.categories["other"]
    shown = "empty" if not key else f"{text!r}, which is not known"
    names = "、".join(c.name_zh for c in rules.categories.values())
    return other.code, (f"category is {shown}; filed as {other.code!r} ({other.name_zh}); "
                        f"known categories: {names} (or their codes)")


def _norm(text: str) -> str:
    """Lower case, with spaces, hyphens and underscores removed (full-width too)."""
    return re.sub(r"[\s\-_－＿]+", "", text).casefold()


# ---------------------------------------------------------------------------
# Working-time calendar
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def is_working_day(d: date) -> bool:
    """Whether ``d`` is a working day in mainland China.

    Follows the State Council's holiday notices, with 调休 make-up working
    days (a Saturday or Sunday that is worked) and weekdays off, via the
    ``chinese_calendar`` package. For years the package does not cover
    (it raises NotImplementedError: before 2004, or after the last notice it
    ships), falls back to Monday–Friday, which ignores holidays: update
    ``chinese_calendar`` each December when the next year's notice is out.

    Parameters
    ----------
    d
        A calendar date (a datetime is reduced to its date as given).
    """
    if isinstance(d, datetime):
        d = d.date()
    try:
        return chinese_calendar.is_workday(d)
    except NotImplementedError:
        return d.weekday() < 5


def add_working_time(start: datetime, *, hours: float = 0, days: int = 0,
                     rules: Rules | None = None) -> datetime:
    """The time after a number of working days and then working hours.

    Parameters
    ----------
    start
        When the clock starts; naive means China time (Asia/Shanghai).
    hours
        Working hours to add. They run only inside the rules' working periods
        on working days: time before opening, over lunch, after closing and
        on days off does not count, so 16:30 + 2 h on a Friday is 10:00 on
        the next working day (with 09:00–12:00, 13:30–17:30). A result that
        falls exactly at the end of a period is that end (12:00, not 13:30).
    days
        Whole working days to add. As for legal periods (民法典 第201–203条),
        the start day does not count and the period ends at close of business
        on the last working day: reported any time on Tuesday, 1 working day
        is due at 17:30 on Wednesday (the next working day).
    rules
        Rules to use (working periods); None for the shipped rules.

    Returns
    -------
    datetime
        Timezone-aware, in China time.

    Raises
    ------
    InputError
        A negative or non-numeric amount.
    """
    rules = rules or load_rules()
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) \
            or not math.isfinite(hours) or hours < 0:
        raise InputError(f"hours is {hours!r}", fix="give working hours as a number >= 0")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise InputError(f"days is {days!r}", fix="give working days as a whole number >= 0")
    moment = _china_time(start)
    if days:
        day = moment.date()
        for _ in range(days):
            day = _next_working_day(day)
        moment = datetime.combine(day, rules.work_periods[-1][1], tzinfo=CHINA_TZ)
    if hours:
        moment = _add_working_hours(moment, timedelta(hours=hours), rules.work_periods)
    return moment


def _next_working_day(day: date) -> date:
    for _ in range(_MAX_CALENDAR_DAYS):
        day += timedelta(days=1)
        if is_working_day(day):
            return day
    raise InputError(f"no working day within a year after {day}",  # pragma: no cover
                     fix="check the calendar package")


def _add_working_hours(moment: datetime, remaining: timedelta,
                       periods: tuple[tuple[time, time], ...]) -> datetime:
    day, cursor = moment.date(), moment
    for _ in range(_MAX_CALENDAR_DAYS):
        if is_working_day(day):
            for start, end in periods:
                begin = max(cursor, datetime.combine(day, start, tzinfo=CHINA_TZ))
                finish = datetime.combine(day, end, tzinfo=CHINA_TZ)
                if begin >= finish:
                    continue
                if remaining <= finish - begin:
                    return begin + remaining
                remaining -= finish - begin
        day += timedelta(days=1)
        cursor = datetime.combine(day, time(0), tzinfo=CHINA_TZ)
    raise InputError(f"{remaining} of working time does not fit in a year",  # pragma: no cover
                     fix="give a limit shorter than a year")


def due_at(reported_at: datetime, category: str, *, rules: Rules | None = None,
           tier: str | None = None) -> datetime:
    """When a case must be resolved.

    Parameters
    ----------
    reported_at
        When the clock starts: the report time, or for a case handed to
        another tier (escalated), the time it reached that tier. Naive means
        China time.
    category
        Category code (see :func:`category_from_text` for free text).
    rules
        Rules to use; None for the shipped rules.
    tier
        Tier handling the case. None or the category's default tier uses the
        category's limit; another tier uses that tier's own limit.

    Returns
    -------
    datetime
        Timezone-aware, China time (see :func:`add_working_time`).

    Raises
    ------
    InputError
        Unknown category or tier.
    """
    rules = rules or load_rules()
    item = rules.category(category)
    if tier is None or tier == item.tier:
        hours, days = item.limit_hours, item.limit_days
    else:
        level = _tier(tier, rules)
        hours, days = level.limit_hours, level.limit_days
    return add_working_time(reported_at, hours=hours or 0, days=days or 0, rules=rules)


# ---------------------------------------------------------------------------
# Deadlines for many cases at once
# ---------------------------------------------------------------------------
# The loop in add_working_time walks day by day; for a million cases the same
# answer comes from one table of the calendar's working intervals over the
# dates needed: a time becomes its cumulative working time since the table's
# start (numpy.searchsorted over the interval starts), the limit is added, and
# the sum is turned back into a time (searchsorted over the cumulative ends).
# Times are int64 nanoseconds of China wall-clock time; China has kept UTC+8
# without daylight saving since 1991, so wall-clock arithmetic is exact.

_NS_PER_MINUTE = 60 * 1_000_000_000
_NS_PER_DAY = 1440 * _NS_PER_MINUTE
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class _WorkingCalendar:
    """Working intervals ``[starts, ends)`` (China wall-clock ns) of days ``first..last``."""

    def __init__(self, first_day: int, last_day: int,
                 periods: tuple[tuple[time, time], ...]) -> None:
        import numpy as np

        days = np.arange(first_day, last_day + 1, dtype=np.int64)
        working = np.fromiter(
            (is_working_day(date.fromordinal(_EPOCH_ORDINAL + int(d))) for d in days),
            dtype=bool, count=len(days))
        self.working_days = days[working]
        opens = np.array([_minutes(a) for a, _ in periods], dtype=np.int64) * _NS_PER_MINUTE
        closes = np.array([_minutes(b) for _, b in periods], dtype=np.int64) * _NS_PER_MINUTE
        base = self.working_days[:, None] * _NS_PER_DAY
        self.starts = (base + opens[None, :]).ravel()
        self.lengths = (base + closes[None, :]).ravel() - self.starts
        self.cum_ends = np.cumsum(self.lengths)
        self.cum_starts = self.cum_ends - self.lengths

    def working_ns(self, wall_ns):
        """Working time (ns) from the table's start up to each wall-clock time."""
        import numpy as np

        i = np.searchsorted(self.starts, wall_ns, side="right") - 1
        k = np.maximum(i, 0)
        inside = np.clip(wall_ns - self.starts[k], 0, self.lengths[k])
        return np.where(i >= 0, self.cum_starts[k] + inside, 0)

    def wall_ns(self, working_ns):
        """The earliest wall-clock time by which this much working time has passed.

        A sum that fills a period exactly ends at that period's end (12:00,
        not 13:30), as in :func:`add_working_time`.
        """
        j = self.interval_of(working_ns)
        return self.starts[j] + (working_ns - self.cum_starts[j])

    def interval_of(self, working_ns):
        import numpy as np

        return np.searchsorted(self.cum_ends, working_ns, side="left")


def _wall_ns_from_series(moments: pd.Series, name: str):
    """China wall-clock int64 ns of a datetime Series (naive means China time), NaT mask."""

    if not isinstance(moments, pd.Series):
        moments = pd.Series(moments)
    if not pd.api.types.is_datetime64_any_dtype(moments.dtype):
        try:
            moments = pd.to_datetime(moments)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name} is not a series of dates and times ({exc})",
                             fix="give a datetime64 Series; naive means Asia/Shanghai") from None
    if moments.dt.tz is None:
        moments = moments.dt.tz_localize(CHINA_TZ)
    local = moments.dt.tz_convert(CHINA_TZ).dt.tz_localize(None).dt.as_unit("ns")
    missing = local.isna().to_numpy()
    return local.to_numpy().view("int64"), missing


def _series_from_wall_ns(wall_ns, missing, index) -> pd.Series:

    values = np.where(missing, np.iinfo(np.int64).min, wall_ns).view("datetime64[ns]")
    return pd.Series(values, index=index).dt.tz_localize(CHINA_TZ)


def _add_working_ns(wall_ns, hours_ns, days, periods: tuple[tuple[time, time], ...]):
    """Vectorised :func:`add_working_time` on China wall-clock ns (no NaT)."""

    if len(wall_ns) == 0:
        return wall_ns.copy()
    first_day = int(wall_ns.min() // _NS_PER_DAY) - 1
    last_seen = int(wall_ns.max() // _NS_PER_DAY)
    day_ns = sum(_minutes(b) - _minutes(a) for a, b in periods) * _NS_PER_MINUTE
    # Calendar days needed: weekends (7/5) plus holidays (+30), then doubled
    # until the table reaches every answer.
    needed = int(days.max(initial=0)) + int(-(-int(hours_ns.max(initial=0)) // day_ns)) + 1
    span = needed * 7 // 5 + 30
    last_end = _minutes(periods[-1][1]) * _NS_PER_MINUTE
    local_day = wall_ns // _NS_PER_DAY
    has_days, has_hours = days > 0, hours_ns > 0
    while True:
        if last_seen + span - first_day > 400 * (needed + 366):  # pragma: no cover
            raise InputError("the working-time calendar has no working days ahead",
                             fix="check the calendar package")
        calendar = _WorkingCalendar(first_day, last_seen + span, periods)
        count = len(calendar.working_days)
        # Working days strictly after the report's day (the start day does not count).
        after = np.searchsorted(calendar.working_days, local_day, side="right")
        target = after + np.maximum(days, 1) - 1
        if has_days.any() and target[has_days].max() >= count:
            span *= 2
            continue
        moment = np.where(
            has_days, calendar.working_days[np.minimum(target, count - 1)] * _NS_PER_DAY + last_end,
            wall_ns)
        goal = calendar.working_ns(moment) + hours_ns
        if has_hours.any() and calendar.interval_of(goal[has_hours]).max() >= len(calendar.starts):
            span *= 2
            continue
        safe_goal = np.where(has_hours, goal, 0)
        return np.where(has_hours, calendar.wall_ns(safe_goal), moment)


def add_working_time_many(start: pd.Series, *, hours: float | np.ndarray | pd.Series = 0,
                          days: int | np.ndarray | pd.Series = 0,
                          rules: Rules | None = None) -> pd.Series:
    """:func:`add_working_time` for a whole Series at once.

    Parameters
    ----------
    start
        When each clock starts (datetime64 Series; naive means China time).
    hours
        Working hours to add: a number, or an array / Series aligned with
        ``start`` (>= 0).
    days
        Whole working days to add, added first: a number or aligned array (>= 0).
    rules
        Rules to use (working periods); None for the shipped rules.

    Returns
    -------
    Series
        Timezone-aware, China time, same index as ``start``; NaT where
        ``start`` is NaT. Row by row equal to :func:`add_working_time`.

    Raises
    ------
    InputError
        Negative, non-finite or non-whole amounts.
    """

    rules = rules or load_rules()
    if not isinstance(start, pd.Series):
        start = pd.Series(start)
    wall_ns, missing = _wall_ns_from_series(start, "start")
    hours_arr = np.broadcast_to(np.asarray(hours, dtype=float), wall_ns.shape)
    days_arr = np.broadcast_to(np.asarray(days), wall_ns.shape)
    if not np.isfinite(hours_arr).all() or (hours_arr < 0).any():
        raise InputError("hours has negative or non-finite values",
                         fix="give working hours as numbers >= 0")
    if (days_arr.dtype.kind not in "iu" and not np.equal(np.mod(days_arr, 1), 0).all()) \
            or (days_arr < 0).any():
        raise InputError("days has negative or fractional values",
                         fix="give working days as whole numbers >= 0")
    # timedelta rounds to the microsecond; so does this.
    hours_ns = np.round(hours_arr * 3_600_000_000).astype(np.int64) * 1000
    ok = ~missing
    result = wall_ns.copy()
    result[ok] = _add_working_ns(wall_ns[ok], hours_ns[ok], days_arr.astype(np.int64)[ok],
                                 rules.work_periods)
    return _series_from_wall_ns(result, missing, start.index)


def due_at_many(reported_at: pd.Series, categories: pd.Series, *,
                rules: Rules | None = None, tiers: pd.Series | None = None) -> pd.Series:
    """:func:`due_at` for many cases at once: the same answers, row by row.

    Builds the working intervals of the dates needed once and places every
    case with ``numpy.searchsorted``; a million rows take well under a second
    or two.

    Parameters
    ----------
    reported_at
        When each clock starts (datetime64 Series, tz-aware; naive means
        China time).
    categories
        Category code of each row, aligned with ``reported_at``.
    rules
        Rules to use; None for the shipped rules.
    tiers
        Tier handling each case, aligned; None, or a missing value in a row,
        or the category's default tier, uses the category's limit; another
        tier uses that tier's own limit.

    Returns
    -------
    Series
        Timezone-aware deadlines, China time, with the index of
        ``reported_at``; NaT where ``reported_at`` is NaT.

    Raises
    ------
    InputError
        Unknown category or tier (the first one met), or lengths that differ.
    """

    rules = rules or load_rules()
    n = len(reported_at)
    if len(categories) != n or (tiers is not None and len(tiers) != n):
        raise InputError(f"reported_at has {n} rows but categories has {len(categories)}"
                         + ("" if tiers is None else f" and tiers {len(tiers)}"),
                         fix="give aligned Series of the same length")
    codes, uniques = pd.factorize(np.asarray(categories, dtype=object), use_na_sentinel=False)
    if tiers is None:
        tier_codes, tier_uniques = np.zeros(n, dtype=np.int64), np.array([None], dtype=object)
    else:
        tier_codes, tier_uniques = pd.factorize(np.asarray(tiers, dtype=object),
                                                use_na_sentinel=False)
        tier_uniques = np.array([None if pd.isna(t) else t for t in tier_uniques], dtype=object)
    # One limit per (category, tier) pair met, read with due_at's own rules.
    pair = codes.astype(np.int64) * len(tier_uniques) + tier_codes
    pairs, inverse = np.unique(pair, return_inverse=True)
    pair_hours_ns = np.zeros(len(pairs), dtype=np.int64)
    pair_days = np.zeros(len(pairs), dtype=np.int64)
    for k, p in enumerate(pairs):
        item = rules.category(uniques[p // len(tier_uniques)])
        tier = tier_uniques[p % len(tier_uniques)]
        if tier is None or tier == item.tier:
            hours, days = item.limit_hours, item.limit_days
        else:
            level = _tier(tier, rules)
            hours, days = level.limit_hours, level.limit_days
        pair_hours_ns[k] = (timedelta(hours=hours or 0) // timedelta(microseconds=1)) * 1000
        pair_days[k] = days or 0
    wall_ns, missing = _wall_ns_from_series(reported_at, "reported_at")
    ok = ~missing
    result = wall_ns.copy()
    result[ok] = _add_working_ns(wall_ns[ok], pair_hours_ns[inverse][ok],
                                 pair_days[inverse][ok], rules.work_periods)
    return _series_from_wall_ns(result, missing, reported_at.index)


def _china_time(moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise InputError(f"{moment!r} is not a date and time",
                         fix="give a datetime (naive means Asia/Shanghai)")
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=CHINA_TZ)
    return moment.astimezone(CHINA_TZ)


def _limit_zh(hours: float | None, days: int | None) -> str:
    if hours is not None:
        return f"{hours:g}个工作小时"
    return f"{days}个工作日"


# ---------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------

def allowed_next(current: str, *, rules: Rules | None = None) -> tuple[str, ...]:
    """Stages a case in stage ``current`` may move to, in rules-file order.

    ``current`` may be written as :func:`status_from_text` accepts.
    """
    rules = rules or load_rules()
    return rules.transitions[status_from_text(current)]


def check_transition(current: str, new: str, *, actor: str, handler: str | None = None,
                     note: str = "", rules: Rules | None = None) -> None:
    """Refuse a status change the rules do not allow.

    Parameters
    ----------
    current, new
        Stage codes (or text that :func:`status_from_text` accepts).
    actor
        Who makes the change; required.
    handler
        Who moved the case to ``resolved`` (反馈), when recorded. A stage in
        the rules' ``not_by_handler`` (核查) must be reached by someone else;
        None means not recorded and is not checked.
    note
        The reason; required for stages in the rules' ``reason_required``
        (退回).
    rules
        Rules to use; None for the shipped rules.

    Raises
    ------
    TransitionError
        The move is not in the rules (the message lists the allowed next
        stages), a reason is missing, or the handler verifies their own work.
    InputError
        A stage that is not known.
    """
    rules = rules or load_rules()
    current, new = status_from_text(current), status_from_text(new)
    allowed = rules.transitions[current]
    if new not in allowed:
        choices = (", ".join(f"{s} ({STATUS_NAMES_ZH[s]})" for s in allowed)
                   or f"none, {current} is final")
        raise TransitionError(
            f"cannot go from {current!r} ({STATUS_NAMES_ZH[current]}) "
            f"to {new!r} ({STATUS_NAMES_ZH[new]})",
            fix=f"allowed from {current}: {choices}")
    if not isinstance(actor, str) or not actor.strip():
        raise TransitionError(f"no actor given for the move to {new!r}",
                              fix="say who makes the change (actor=…)")
    if new in rules.reason_required and not (isinstance(note, str) and note.strip()):
        raise TransitionError(
            f"moving a case to {new!r} ({STATUS_NAMES_ZH[new]}) needs a reason; the note is empty",
            field="note", fix="write why in the note, e.g. 不属于本网格，请改派")
    if (new in rules.not_by_handler and handler is not None
            and _norm(actor) == _norm(handler)):
        raise TransitionError(
            f"{actor.strip()!r} resolved this case and cannot also move it to {new!r} "
            f"({STATUS_NAMES_ZH[new]})",
            fix="verification must be done by someone other than the handler")


def is_open(status: str) -> bool:
    """Whether a case in this stage still awaits its handler.

    Resolved (反馈), verified (核查) and closed (结案) cases are not open;
    every other stage is, including returned (退回, awaiting re-dispatch).
    ``status`` may be written as :func:`status_from_text` accepts.
    """
    return status_from_text(status) not in _DONE_STATUSES


def is_overdue(status: str, due_at: datetime | None, now: datetime) -> bool:
    """Whether an open case is past its deadline.

    Parameters
    ----------
    status
        Stage code (or text that :func:`status_from_text` accepts).
    due_at
        Deadline, or None for none (never overdue). Naive means China time.
    now
        The current time. Naive means China time.
    """
    if due_at is None or not is_open(status):
        return False
    return _china_time(now) > _china_time(due_at)


# ---------------------------------------------------------------------------
# Tiers and assignees
# ---------------------------------------------------------------------------

def escalated_tier(tier: str, *, rules: Rules | None = None) -> str:
    """The tier that takes a case when ``tier``'s deadline passes.

    general → complex → hard; hard → hard (it goes under supervision,
    see :func:`next_escalation`).
    """
    rules = rules or load_rules()
    return _tier(tier, rules).escalates_to


def next_escalation(tier: str, due_at: datetime, now: datetime, *,
                    rules: Rules | None = None) -> str | None:
    """What happens to a case at ``tier`` if its deadline has passed.

    Parameters
    ----------
    tier
        The tier handling the case.
    due_at, now
        Deadline and current time; naive means China time.
    rules
        Rules to use; None for the shipped rules.

    Returns
    -------
    str or None
        None while ``now`` is not after ``due_at``; otherwise the next tier
        (``complex``, ``hard``), or ``'supervised'`` (督办) for a case already
        at the top tier, which stays there under supervision. The caller
        checks :func:`is_open` first: finished cases do not escalate.
    """
    rules = rules or load_rules()
    up = escalated_tier(tier, rules=rules)
    if _china_time(now) <= _china_time(due_at):
        return None
    return "supervised" if up == tier else up


def _tier(tier: str, rules: Rules) -> Tier:
    try:
        return rules.tiers[tier]
    except (KeyError, TypeError):
        raise InputError(f"tier {tier!r} is not known",
                         fix="use one of " + ", ".join(rules.tiers)) from None


def assignee_for(*, tier: str, micro_code: str | None, exclusive_code: str | None,
                 community_code: str | None, street_code: str | None,
                 staff: pd.DataFrame | None) -> str | None:
    """Who takes a case at a tier, from the grid staff list.

    - ``general``: the 专属网格负责人 of ``exclusive_code`` when the point is in
      an exclusive grid that has one; else the 专职网格员 of ``micro_code``,
      else its 微网格长.
    - ``complex``: the 网格长 of ``community_code``.
    - ``hard``: the street's coordination desk, ``街道吹哨报到平台(<street_code>)``,
      which names the lead and co-handling departments (see
      :attr:`Category.lead_department`).

    When a grid has several people in the role, the first by name is chosen,
    so the answer does not depend on row order.

    Parameters
    ----------
    tier
        ``general``, ``complex`` or ``hard``.
    micro_code, exclusive_code, community_code, street_code
        Grid codes of the case's point; None or empty when there is none.
    staff
        Frame with columns ``grid_code``, ``role``, ``name`` (one row per
        person and grid); None means no staff list.

    Returns
    -------
    str or None
        A person's name or the desk; None when nobody fits (the case waits
        for manual assignment).

    Raises
    ------
    InputError
        Unknown tier, or ``staff`` lacks a column.
    """
    return _assignee(tier, micro_code, exclusive_code, community_code, street_code, _staff_lookup(staff))


def assignees_many(cases: pd.DataFrame, *, staff: pd.DataFrame | None) -> pd.Series:
    """:func:`assignee_for` for many cases at once (columns ``tier``, ``micro_code``,
    ``exclusive_code``, ``community_code``, ``street_code``); same index."""
    lookup = _staff_lookup(staff)
    keys = ["tier", "micro_code", "exclusive_code", "community_code", "street_code"]
    frame = cases[keys].astype(object).where(cases[keys].notna(), None)
    # a district has a few thousand grids: decide once per distinct combination
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(frame.fillna("\0")))
    answers = np.array([_assignee(*(None if v == "\0" else v for v in key), lookup) for key in uniques],
                       dtype=object)
    return pd.Series(answers[codes] if len(codes) else [], index=cases.index, dtype=object)


def _staff_lookup(staff: pd.DataFrame | None) -> dict[tuple[str, str], str]:
    """(grid_code, role) → the first name in that role (by name, so row order does not matter)."""
    if staff is None or len(staff) == 0:
        return {}
    missing = [c for c in ("grid_code", "role", "name") if c not in staff.columns]
    if missing:
        raise InputError("staff list lacks column " + ", ".join(missing),
                         fix="give a frame with columns grid_code, role, name")
    # plain Python: rosters are small per call (locate: a few rows) and pandas' overhead dominated
    people = sorted((name.strip(), str(code).strip(), role)
                    for code, role, name in zip(staff["grid_code"], staff["role"], staff["name"])
                    if isinstance(name, str) and name.strip())
    lookup: dict[tuple[str, str], str] = {}
    for name, code, role in people:
        lookup.setdefault((code, role), name)
    return lookup


def _assignee(tier: str, micro_code: str | None, exclusive_code: str | None, community_code: str | None,
              street_code: str | None, lookup: dict[tuple[str, str], str]) -> str | None:
    if tier not in TIERS:
        raise InputError(f"tier {tier!r} is not known", fix="use one of " + ", ".join(TIERS))
    if tier == "hard":
        street = (street_code or "").strip()
        return f"街道吹哨报到平台({street})" if street else "街道吹哨报到平台"
    if tier == "complex":
        searches = [(community_code, ROLE_COMMUNITY_HEAD)]
    else:
        searches = [(exclusive_code, ROLE_EXCLUSIVE_HEAD),
                    (micro_code, ROLE_FULL_TIME_WORKER),
                    (micro_code, ROLE_MICRO_HEAD)]
    for code, role in searches:
        if code is None or not str(code).strip():
            continue
        name = lookup.get((str(code).strip(), role))
        if name:
            return name
    return None


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _kind(value: object) -> str:
    return {dict: "a table", list: "a list", str: "text"}.get(type(value), type(value).__name__)
