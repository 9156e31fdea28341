"""Tiers: general (网格) → complex (社区) → hard (街道吹哨报到), and the escalation of overdue cases."""

from __future__ import annotations

from datetime import datetime

from gis.core.china_time import _china_time
from gis.core.rules.config import Rules, _tier, load_rules


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
