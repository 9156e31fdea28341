"""The case lifecycle: stages, their Chinese names, and which are open, done and closed.

受理 → 派遣 → 处置 → 反馈 → 核查 → 结案, plus 退回, 返工, 延期 and 督办. The moves the
rules allow are in :mod:`.transitions`. SQL reads open and closed through the
functions ``db init`` creates from :data:`DONE_STATUSES` and :data:`CLOSED_STATUS`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from gis.core.china_time import _china_time
from gis.errors import InputError

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

#: Stages where the handler's work is done: the case no longer counts as open
#: and can no longer fall overdue. SQL gets them from ``gis_done_statuses()``,
#: which ``db init`` creates from this tuple.
DONE_STATUSES: tuple[str, ...] = ("resolved", "verified", "closed")

#: 办结: the stage that completes a case (结案); KPIs count completions by it.
CLOSED_STATUS = "closed"

#: 督办: the stage a leader's supervision puts an open case in (the one move a leader may make).
SUPERVISED_STATUS = "supervised"

#: Stages that still await the handler: every stage but the done ones.
OPEN_STATUSES: tuple[str, ...] = tuple(s for s in STATUSES if s not in DONE_STATUSES)

#: How far along the main path a stage is: an import never moves a stored case to a lower
#: rank (re-importing an old export must not undo work). Side stages rank with the main stage
#: they hang off; supervision (督办) can come at any open stage, so it has no rank.
STAGE_RANK: Mapping[str, int] = MappingProxyType({
    "received": 0, "dispatched": 1, "returned": 1, "in_progress": 2, "extended": 2, "reworked": 2,
    "resolved": 3, "verified": 4, "closed": 5,
})

#: Stages that need attention on a map: under supervision, sent back or reopened.
ATTENTION_STATUSES: tuple[str, ...] = ("supervised", "returned", "reworked")

# Open311 GeoReport v2 knows only two statuses.
_OPEN311_STATUSES = MappingProxyType({"open": "received", "closed": "closed"})


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


def _norm(text: str) -> str:
    """Lower case, with spaces, hyphens and underscores removed (full-width too)."""
    return re.sub(r"[\s\-_－＿]+", "", text).casefold()


def is_open(status: str) -> bool:
    """Whether a case in this stage still awaits its handler.

    Resolved (反馈), verified (核查) and closed (结案) cases are not open;
    every other stage is, including returned (退回, awaiting re-dispatch).
    ``status`` may be written as :func:`status_from_text` accepts.
    """
    return status_from_text(status) not in DONE_STATUSES


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
