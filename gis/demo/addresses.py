"""The demo's standard address register: buildings (楼栋) in every micro-grid (synthetic).

Each tertiary grid is one estate (小区) with a unique name; its micro-grids hold 5–15
buildings each, numbered on through the estate (1号楼, 2号楼, …), at points inside the
micro-grid. A micro-grid's buildings share its ``households`` exactly.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.core.address import ADDRESS_COLUMNS

BUILDINGS_PER_MICRO = (5, 15)  # inclusive

# names as Zhengzhou estates are named: a developer or place word and a kind of estate
_FIRST = ("锦艺", "绿城", "建业", "正商", "碧源", "康桥", "永威", "亚星", "升龙", "名门", "美景", "紫荆",
          "华润", "保利", "万科", "鑫苑", "阳光", "金水", "中原", "桐柏", "棉纺", "秦岭", "汝河", "陇海",
          "嵩山", "淮河", "工人", "华山", "伏牛", "航海", "须水", "颍河", "翠竹", "枫杨", "梧桐", "百合",
          "幸福", "和美", "福华", "丽水")
_SECOND = ("花园", "家园", "新城", "雅居", "名苑", "佳苑", "公寓", "嘉园", "华庭", "家属院", "小区",
           "新村", "丽景", "苑", "城", "府", "湾", "里", "园", "尚都")
_PHASES = ("", "二期", "三期", "四期", "五期", "六期", "七期", "八期", "九期", "十期")


def _estate_names(n: int, rng: np.random.Generator) -> list[str]:
    combos = [a + b for a in _FIRST for b in _SECOND]
    order = rng.permutation(len(combos))
    return [combos[order[i % len(combos)]] + _PHASES[(i // len(combos)) % len(_PHASES)] for i in range(n)]


def _split(total: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """k positive integers summing to total (k ≤ total), roughly even."""
    weights = rng.uniform(0.6, 1.4, k)
    counts = 1 + rng.multinomial(total - k, weights / weights.sum())
    return counts


def _points_within(polygon, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """k points inside a polygon (rejection sampling in its bounds; the representative point
    fills up what a few rounds do not find)."""
    minx, miny, maxx, maxy = polygon.bounds
    xs, ys = [], []
    shapely.prepare(polygon)
    for _ in range(4):
        x = rng.uniform(minx, maxx, 4 * k)
        y = rng.uniform(miny, maxy, 4 * k)
        inside = shapely.contains_xy(polygon, x, y)
        xs.extend(x[inside])
        ys.extend(y[inside])
        if len(xs) >= k:
            break
    while len(xs) < k:
        p = polygon.representative_point()
        xs.append(p.x)
        ys.append(p.y)
    return np.round(np.array(xs[:k]), 6), np.round(np.array(ys[:k]), 6)


def demo_addresses(grids: gpd.GeoDataFrame, *, seed: int = 42) -> pd.DataFrame:
    """The demo register (:data:`gis.core.address.ADDRESS_COLUMNS`, WGS-84) for a grid layer
    with ``code, name, level, parent_code, households, geometry``."""
    rng = np.random.default_rng([seed, 6])
    micro = grids.loc[grids["level"] == "micro"].sort_values("code")
    names = dict(zip(grids["code"], grids["name"]))
    parents = dict(zip(grids["code"], grids["parent_code"]))
    levels = dict(zip(grids["code"], grids["level"]))
    estates_of = sorted(set(micro["parent_code"].dropna()))
    estate_name = dict(zip(estates_of, _estate_names(len(estates_of), rng)))
    next_number: dict[str, int] = {}
    lo, hi = BUILDINGS_PER_MICRO
    rows = []
    for code, parent, households, geom in zip(micro["code"], micro["parent_code"], micro["households"],
                                              micro.geometry):
        total = int(households) if pd.notna(households) else 0
        k = min(int(rng.integers(lo, hi + 1)), max(total, 1))
        counts = _split(total, k, rng) if total >= k else np.r_[total, np.zeros(k - 1, dtype=int)][:k]
        lon, lat = _points_within(geom, k, rng)
        community = parent
        while community is not None and levels.get(community) not in ("community", None):
            community = parents.get(community)
        estate = estate_name.get(parent, names.get(code, code))
        first = next_number.get(parent, 1)
        next_number[parent] = first + k
        for j in range(k):
            building = f"{first + j}号楼"
            rows.append((f"{estate}{building}", names.get(community, ""), estate, building, lon[j], lat[j],
                         int(counts[j]), code))
    return pd.DataFrame(rows, columns=list(ADDRESS_COLUMNS))
