"""Demo 回访: the resident's verdict on closed demo cases, so 满意率 has something to show.

About 95 % of visited cases are 满意 or 基本满意 (the seed's street offices report
satisfaction in the mid-90s); 12345 cases are visited on the 12345 channel, the
others by the community's internal check. Pure: the caller stores the rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

VISIT_COLUMNS = ["incident_id", "channel", "result", "note", "actor", "at"]
#: Shares of 满意, 基本满意 and 不满意 (满意率 ≈ 95 %).
RESULT_SHARES = {"satisfied": 0.80, "basically_satisfied": 0.15, "dissatisfied": 0.05}
#: Share of closed cases that get a 回访 at all (some residents cannot be reached).
VISITED_SHARE = 0.9
_NOTES = {"satisfied": ["处理及时", "满意", "问题已解决"], "basically_satisfied": ["基本解决", "还可以"],
          "dissatisfied": ["处理不彻底", "响应慢"]}


def demo_visits(closed: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """回访 rows for closed cases.

    Parameters
    ----------
    closed
        Closed cases with ``id``, ``source`` and ``closed_at`` (aware).
    seed
        Random seed (the demo's), so a reload gives the same visits.

    Returns
    -------
    DataFrame
        :data:`VISIT_COLUMNS`; ``at`` is 2–48 hours after closing.
    """
    rng = np.random.default_rng(seed + 10_007)
    visited = closed[rng.random(len(closed)) < VISITED_SHARE]
    n = len(visited)
    results = rng.choice(list(RESULT_SHARES), size=n, p=list(RESULT_SHARES.values()))
    notes = [_NOTES[r][i % len(_NOTES[r])] for i, r in enumerate(results)]
    hours = pd.to_timedelta(rng.uniform(2, 48, size=n), unit="h").to_numpy()
    channel = np.where(visited["source"].to_numpy() == "12345", "12345", "internal")
    return pd.DataFrame({
        "incident_id": visited["id"].to_numpy(), "channel": channel, "result": results, "note": notes,
        "actor": np.where(channel == "12345", "12345回访", "社区回访"),
        "at": (pd.to_datetime(visited["closed_at"], utc=True) + hours).reset_index(drop=True),
    }, columns=VISIT_COLUMNS)
