"""The rules file: categories, tiers, working hours and lifecycle moves (pure).

The rules live in ``gis/core/rules/dispatch.toml``; this module reads and checks
them (:func:`load_rules`), naming the key at fault and the fix. Its neighbours
apply them: :mod:`.lifecycle` (stages, open/done), :mod:`.transitions`
(allowed moves), :mod:`.tiers` (escalation), :mod:`.deadlines` (working-time
limits) and :mod:`gis.core.dispatch` (who takes a case).

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
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gis.core.china_time import _minutes
from gis.core.rules.lifecycle import STATUSES, _norm
from gis.errors import InputError

#: The rules file shipped with the package.
DEFAULT_RULES_PATH = Path(__file__).with_name("dispatch.toml")

#: Tier codes, lowest first; the rules file must define exactly these.
TIERS: tuple[str, ...] = ("general", "complex", "hard")

#: Heat-map tags a category group may carry.
HEAT_TAGS = frozenset({"hazard", "garbage"})

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
    label_zh
        Short label naming who handles it, e.g. 复杂(社区): the one wording of
        screens, filters and escalation notes.
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
    label_zh: str
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
    """The checked contents of a rules file (see ``gis/core/rules/dispatch.toml``).

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

    def category_names_zh(self, *, with_group: bool = True) -> dict[str, str]:
        """Category code -> its Chinese name as screens and files show it: ``group · name``
        (``with_group``, where the two differ) or the name alone (popups, short lists)."""
        return {code: f"{c.group_name_zh} · {c.name_zh}" if with_group and c.name_zh != c.group_name_zh
                else c.name_zh for code, c in self.categories.items()}

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
            self.no_unknown_keys(table, {"name_zh", "label_zh", "handled_by", "limit_hours",
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
                label_zh=self.text(table, "label_zh", f"{key}.label_zh"),
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


def _limit_zh(hours: float | None, days: int | None) -> str:
    if hours is not None:
        return f"{hours:g}个工作小时"
    return f"{days}个工作日"


def _tier(tier: str, rules: Rules) -> Tier:
    try:
        return rules.tiers[tier]
    except (KeyError, TypeError):
        raise InputError(f"tier {tier!r} is not known",
                         fix="use one of " + ", ".join(rules.tiers)) from None


def _kind(value: object) -> str:
    return {dict: "a table", list: "a list", str: "text"}.get(type(value), type(value).__name__)
