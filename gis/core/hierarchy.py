"""The grid hierarchy: levels, their Chinese names, and walks up and down the tree."""

from __future__ import annotations

import pandas as pd

from gis.errors import InputError

LEVELS = ("district", "street", "community", "grid", "micro")
ALL_LEVELS = LEVELS + ("exclusive",)
#: The office that issues a unit's documents (bulletins, map prints): 航海西路街道办事处, 中原区人民政府.
OFFICE_SUFFIX = {"district": "人民政府", "street": "办事处", "community": "居民委员会"}


def issuing_office(name: str, level: str) -> str:
    """The office of a grid named ``name`` at ``level`` that issues its documents, e.g.
    ``航海西路街道`` → ``航海西路街道办事处``; a name that already ends so is kept."""
    suffix = OFFICE_SUFFIX.get(level, "")
    return name if name.endswith(suffix) else name + suffix


LEVEL_NAMES_ZH = {
    "district": "区", "street": "街道", "community": "社区", "grid": "三级网格",
    "micro": "微网格", "exclusive": "专属网格",
}
# What people type for a level, in Chinese, mapped to the level to suggest.
_LEVEL_HINTS = {
    "区": "district", "街道": "street", "镇": "street", "乡": "street",
    "社区": "community", "村": "community", "三级网格": "grid", "网格": "grid",
    "微网格": "micro", "专属网格": "exclusive",
}


def parent_level(level: str) -> str | None:
    """The level a grid of ``level`` must have as parent.

    Parameters
    ----------
    level
        One of :data:`ALL_LEVELS`.

    Returns
    -------
    str or None
        ``'district'`` for a street, …, ``'grid'`` for a micro-grid; None for
        the district (the root) and for exclusive grids, whose optional parent
        may be any level of :data:`LEVELS`.

    Raises
    ------
    InputError
        For a level outside :data:`ALL_LEVELS`.
    """
    if level not in ALL_LEVELS:
        raise InputError(f"unknown level {level!r}", field="level", fix=_level_fix(level))
    if level in ("district", "exclusive"):
        return None
    return LEVELS[LEVELS.index(level) - 1]


def _level_fix(level: object) -> str:
    hint = _LEVEL_HINTS.get(str(level).strip()) if level is not None else None
    if hint:
        return f"use '{hint}' for {level}"
    return f"use one of {', '.join(ALL_LEVELS)}"



# -- the grid tree ------------------------------------------------------------------------------


class GridTree:
    """Parent and child lookups over one grid version, built once and reused
    (a district has thousands of grids; pages ask these questions many times)."""

    def __init__(self, grids: pd.DataFrame) -> None:
        self.level = dict(zip(grids["code"], grids["level"]))
        self.name = dict(zip(grids["code"], grids["name"]))
        self.parent = dict(zip(grids["code"], grids["parent_code"]))
        self.children: dict[str | None, list[str]] = {}
        for code, parent in zip(grids["code"], grids["parent_code"]):
            self.children.setdefault(parent, []).append(code)
        self.micro = [c for c, lv in self.level.items() if lv == "micro"]
        self._units: dict[str, pd.Series] = {}
        self._under: dict[str, list[str]] = {}

    def unit_of_micro(self, level: str) -> pd.Series:
        """For every micro-grid code, its ancestor at ``level`` (itself for 'micro'; None if none)."""
        if level not in self._units:
            self._units[level] = pd.Series({code: self.ancestor(code, level) for code in self.micro}, dtype=object)
        return self._units[level].copy()

    def ancestor(self, code: str | None, level: str) -> str | None:
        """The grid at ``level`` above ``code`` (``code`` itself when it is at that level); None if none.

        The one walk up the tree: dispatch, roll-ups and breadcrumbs all use it.
        """
        while code is not None and self.level.get(code) != level:
            code = self.parent.get(code)
        return code

    def path(self, code: str) -> list[dict[str, str]]:
        """A grid and its ancestors, nearest first: ``[{'code', 'name', 'level'}, …]``."""
        out = []
        while code is not None and code in self.level:
            out.append({"code": code, "name": self.name[code], "level": self.level[code]})
            code = self.parent.get(code)
        return out

    def units_under(self, code: str, level: str) -> set[str]:
        """The grids at ``level`` that hold micro-grids below ``code``."""
        units = self.unit_of_micro(level)
        return set(units[units.index.isin(set(self.micro_under(code)))].dropna())

    def micro_under(self, code: str) -> list[str]:
        """The micro-grids below a grid (itself if micro), sorted."""
        if code not in self._under:
            out, stack = [], [code]
            while stack:
                node = stack.pop()
                if self.level.get(node) == "micro":
                    out.append(node)
                stack.extend(self.children.get(node, []))
            self._under[code] = sorted(out)
        return list(self._under[code])


def unit_of_micro(grids: pd.DataFrame, *, level: str) -> pd.Series:
    """For every micro-grid code, the code of its ancestor at ``level`` (the micro code itself for 'micro')."""
    return GridTree(grids).unit_of_micro(level)


def micro_codes_under(grids: pd.DataFrame, code: str | None) -> list[str] | None:
    """The micro-grids below a grid (itself if micro); None for no restriction."""
    return None if code is None else GridTree(grids).micro_under(code)


def child_level(level: str) -> str | None:
    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None
