"""工作台: the cases of the user's scope that need doing now, counted per bucket and sorted by
urgency (the buckets and the order: :mod:`gis.core.worklist`).

Row-level security gives each user the cases of their scope; the job narrows them to one unit
when asked, and masks the reporter's phone for roles that do not handle cases (a role with the
reveal right unmasks one case at a time through :func:`gis.workflows.reveal_reporter`, audited).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from gis.core import access, china_time
from gis.core import worklist as core_worklist
from gis.core.rules import config, lifecycle
from gis.errors import InputError
from gis.store import worklist as worklist_store
from gis.workflows.access import masked_reporter
from gis.workflows.context import Services

#: The columns of :attr:`WorkList.cases`.
WORK_LIST_COLUMNS = [
    "source", "external_id", "category", "category_zh", "status", "status_zh", "tier", "reported_at", "due_at",
    "micro_code", "micro_name", "exclusive_code", "exclusive_name", "assignee", "reporter_phone", "address",
    "open", *core_worklist.BUCKETS_ZH, "working_hours_left", "time_left_zh",
]


@dataclass(frozen=True)
class WorkList:
    """The work list at one moment.

    Attributes
    ----------
    counts
        Cases per bucket, keyed as :data:`gis.core.worklist.BUCKETS_ZH` (a case may count in
        several: an overdue case under 督办 is in 已超期 and 督办中).
    cases
        The cases of the bucket asked for (or of any bucket), most urgent first
        (:func:`gis.core.worklist.sort_by_urgency`), at most ``limit`` of them; columns
        :data:`WORK_LIST_COLUMNS`. Times are China time; ``working_hours_left`` is signed (negative: overdue by that much working time), NaN for
        a case already done or without a deadline; ``reporter_phone`` is as the user may see it.
    total
        Cases listed before the limit: of the bucket asked for, or of any bucket (``len(cases)``
        unless the limit cut the list).
    cutoffs
        The boundaries used (now, start of today, end of the 即将超期 window).
    """

    counts: dict[str, int]
    cases: pd.DataFrame
    total: int
    cutoffs: core_worklist.Cutoffs


def _unit_codes(services: Services, conn, unit: str | None) -> tuple[list[str] | None, list[str] | None]:
    """(micro_codes, exclusive_codes) of a unit, as the case filter reads it: the micro-grids under
    a street, community or grid; an exclusive grid (专属网格) its own cases."""
    if not unit:
        return None, None
    tree = services.version(conn).tree
    if unit not in tree.level:
        raise InputError(f"grid '{unit}' is not in the active grids (or not in your scope)", field="unit",
                         fix="choose a street, community or grid of the active version within your scope")
    if tree.level[unit] == "exclusive":
        return None, [unit]
    return tree.micro_under(unit), None


def work_list(services: Services, *, unit: str | None = None, bucket: str | None = None,
             now: datetime | None = None, limit: int | None = None) -> WorkList:
    """工作台 of the services' user: 今日新增, 即将超期 (due within 24 working hours), 已超期 and
    督办中, counted, and the cases in them sorted by urgency.

    Parameters
    ----------
    services
        Bound to the signed-in user (row-level security limits the rows to their scope).
    unit
        A grid code under the user's scope (street, community, grid, micro-grid or exclusive
        grid) to narrow the list to; None for the whole scope.
    bucket
        Only the cases of this bucket (a key of :data:`gis.core.worklist.BUCKETS_ZH`) in
        :attr:`WorkList.cases`; None for the cases of any bucket.
    now
        The moment to read the list at (naive means China time); None for now.
    limit
        At most this many cases in :attr:`WorkList.cases` (the counts always cover all); None for all.

    Raises
    ------
    PermissionDenied
        A role that may not read cases.
    InputError
        ``unit`` is not a grid of the active version the user can see, or ``bucket`` is unknown.
    """
    principal = services.require(access.READ, action_zh="查看工作台")
    if bucket is not None and bucket not in core_worklist.BUCKETS_ZH:
        raise InputError(f"work-list bucket '{bucket}' is unknown", field="bucket",
                         fix=f"use one of {', '.join(core_worklist.BUCKETS_ZH)}")
    rules = config.load_rules()
    cut = core_worklist.cutoffs(now or datetime.now(china_time.CHINA_TZ), rules=rules)
    with services.connection() as conn:
        micro_codes, exclusive_codes = _unit_codes(services, conn, unit)
        found = worklist_store.fetch_worklist(conn, today_start=cut.today_start, tomorrow_start=cut.tomorrow_start,
                                              due_soon_until=cut.due_soon_until, micro_codes=micro_codes,
                                              exclusive_codes=exclusive_codes)
    tagged = core_worklist.tag_buckets(found, cut)
    # the query selects the union of the buckets; the core's tags are the one definition of each
    tagged = tagged[tagged[list(core_worklist.BUCKETS_ZH)].any(axis=1)]
    counts = core_worklist.bucket_counts(tagged)
    ordered = core_worklist.sort_by_urgency(tagged if bucket is None else tagged[tagged[bucket]])
    total = len(ordered)
    if limit is not None:
        ordered = ordered.head(limit).reset_index(drop=True)
    names = rules.category_names_zh(with_group=False)
    ordered["category_zh"] = ordered["category"].map(lambda c: names.get(c, c))
    ordered["status_zh"] = ordered["status"].map(lambda s: lifecycle.STATUS_NAMES_ZH.get(s, s))
    for column in ("reported_at", "due_at"):
        ordered[column] = pd.to_datetime(ordered[column], utc=True).dt.tz_convert(china_time.CHINA_TZ)
    left = core_worklist.working_hours_left(ordered["due_at"], now=cut.now, rules=rules)
    ordered["working_hours_left"] = left.where(ordered["open"].to_numpy())
    ordered["time_left_zh"] = [core_worklist.format_time_left(h, hours_per_day=rules.work_hours_per_day)
                               for h in ordered["working_hours_left"]]
    ordered["reporter_phone"] = [masked_reporter(principal, p if isinstance(p, str) else None)
                                 for p in ordered["reporter_phone"]]
    return WorkList(counts=counts, cases=ordered[WORK_LIST_COLUMNS], total=total, cutoffs=cut)
