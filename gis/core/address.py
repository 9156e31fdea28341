"""The standard address register (标准地址, 楼栋): normalising and matching the addresses of
address-only tickets (12345 tickets usually carry an address and no coordinates).

An address is read as *estate* (小区, with whatever road or place names precede it) plus a
*building* (楼栋). Normalisation makes the forms operators type comparable: full-width
characters become half-width (NFKC), 号楼/栋/幢/座/#/号 become one building key, Chinese
numerals of building numbers become digits, the 省/市/区/街道/社区 prefixes, spaces,
punctuation and a trailing 小区 are dropped, and everything after the building (单元, 层,
室, a description typed into the address) is ignored.

Matching scores the estate with ``rapidfuzz`` (0–100; a query that ends with the register's
estate name scores 100, so a road before the estate does not count against it) and takes the
building by its exact key. The *confidence* is the score discounted when another estate scores
close to it (an ambiguous address) and 0 when the building does not exist or none is given. A
case is placed only when the confidence reaches :data:`MATCH_THRESHOLD`; below it the case stays
unplaced with its top candidates, never in a wrong grid.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

#: Columns of a register (CSV and frame), in order.
ADDRESS_COLUMNS: tuple[str, ...] = ("address", "community", "estate", "building", "lon", "lat",
                                    "households", "micro_code")

#: The one threshold: a case is placed when its confidence (0–100) is at least this. 80 lets one
#: typo in an estate name of five or more characters through (ratio 80) and keeps out another
#: estate of a similar name (绿城花园 against 绿城百合 scores 50) and an ambiguous pair.
MATCH_THRESHOLD = 80.0
#: Score gap (points) to the next estate below which the confidence is scaled down (ambiguity).
MATCH_MARGIN = 10.0
#: Candidates kept for an unplaced case (shown in the 待分派 queue).
CANDIDATES_KEPT = 3

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_NUMBER = re.compile(r"([零〇一二两三四五六七八九十]{1,4})(?=号楼|号院|栋|幢|座|号|楼|单元|层|室)")
_PUNCT = re.compile(r"[\s,，。.、·;；:：'\"“”‘’()（）\[\]【】<>《》!！?？/\\]+")
_DASHES = re.compile(r"[—–~～_]")
_HASH = re.compile(r"(\d+|[A-Za-z])#(?:楼)?")
# administrative prefixes, stripped from the start again and again (市场, 小区, 园区… are kept)
_PREFIXES = (
    re.compile(r"^中华人民共和国"),
    re.compile(r"^[\u4e00-\u9fff]{2,3}省"),
    re.compile(r"^(?:河南|郑州)(?![\u4e00-\u9fff]{0,1}大学)(?:省|市)?"),
    re.compile(r"^[\u4e00-\u9fff]{2,4}?市(?!场)"),
    re.compile(r"^[\u4e00-\u9fff]{1,2}[\u4e00-\u9fff](?<![小园校社厂营宅景])区"),
    re.compile(r"^[\u4e00-\u9fff]{2,8}?街道(?:办事处)?"),
    re.compile(r"^[\u4e00-\u9fff]{2,8}?办事处"),
    re.compile(r"^[\u4e00-\u9fff]{2,8}?社区(?:居委会|居民委员会)?"),
)
# a building: strong forms first (号楼, 栋, 幢, 座, 楼 after a number), then 3-2-501, then a bare 号
_BUILDING_STRONG = re.compile(r"(\d+|[A-Za-z])(?:号楼|号院楼|栋|幢|座|楼|号(?=单元|\d+单元))")
_BUILDING_DASH = re.compile(r"(\d+)-\d+(?:-\d+)?")
_BUILDING_WEAK = re.compile(r"(\d+)号(?!院)")
_ESTATE_NOISE = re.compile(r"(?:小区|住宅区|生活区|家属区)$")


def _cn_to_int(text: str) -> int | None:
    if "十" not in text:
        if all(c in _CN_DIGITS for c in text):
            return int("".join(str(_CN_DIGITS[c]) for c in text))
        return None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or (tens and tens not in _CN_DIGITS) or (ones and ones not in _CN_DIGITS):
        return None
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def _digits(match: re.Match) -> str:
    value = _cn_to_int(match.group(1))
    return match.group(0) if value is None else str(value)


def normalize_address(text: Any) -> str:
    """An address in one canonical spelling: half-width, no spaces or punctuation, Chinese
    numerals of buildings as digits, 号楼/栋/幢/座/# as 号楼, administrative prefixes dropped."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    out = unicodedata.normalize("NFKC", str(text))
    out = _DASHES.sub("-", out)
    out = _PUNCT.sub("", out)
    out = _HASH.sub(r"\1号楼", out)
    out = _CN_NUMBER.sub(_digits, out)
    out = re.sub(r"(\d+|[A-Za-z])(?:号院楼|栋|幢|座)", r"\1号楼", out)
    out = out.upper()
    before = None
    while before != out:
        before = out
        for prefix in _PREFIXES:
            stripped = prefix.sub("", out, count=1)
            if len(stripped) >= 2:  # never strip an address down to nothing
                out = stripped
    return out


@dataclass(frozen=True)
class ParsedAddress:
    """An address read as estate text and building key (None when no building is named)."""

    estate: str
    building: str | None


def parse_address(text: Any) -> ParsedAddress:
    """Split a (messy) address into its estate text and building key (``"3"``, ``"A"``)."""
    norm = normalize_address(text)
    found = _BUILDING_STRONG.search(norm) or _BUILDING_DASH.search(norm) or _BUILDING_WEAK.search(norm)
    if found is None:
        return ParsedAddress(_clean_estate(norm), None)
    return ParsedAddress(_clean_estate(norm[:found.start()]), found.group(1).lstrip("0") or "0")


def building_key(text: Any) -> str | None:
    """The key of a register's ``building`` value (``3号楼``, ``3栋``, ``三号楼``, ``3``)."""
    norm = normalize_address(text)
    if re.fullmatch(r"\d+|[A-Z]", norm):
        return norm.lstrip("0") or "0"
    return parse_address(norm).building


def _clean_estate(text: str) -> str:
    text = text.rstrip("-")
    return _ESTATE_NOISE.sub("", text)


@dataclass
class AddressMatch:
    """The answer for one address: the building placed (its register ``id``), or none."""

    address_id: Any = None
    score: float = 0.0          # estate similarity of the best candidate, 0–100
    confidence: float = 0.0     # score discounted for ambiguity; 0 without the building
    candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def placed(self) -> bool:
        return self.address_id is not None


class AddressRegister:
    """A register of buildings to match addresses against.

    Parameters
    ----------
    buildings : DataFrame
        :data:`ADDRESS_COLUMNS` (lon/lat in WGS-84 degrees) and an ``id``; without ``id``
        the frame's index is the id.
    """

    def __init__(self, buildings: pd.DataFrame):
        frame = buildings.copy()
        if "id" not in frame:
            frame["id"] = frame.index
        # the distinct names only: a district has ~1,000 estates but ~50,000 buildings
        frame["estate_key"] = frame["estate"].map({e: _clean_estate(normalize_address(e))
                                                   for e in frame["estate"].unique()})
        frame["building_key"] = frame["building"].map({b: building_key(b) for b in frame["building"].unique()})
        self.buildings = frame.reset_index(drop=True)
        self.estates: list[str] = sorted(k for k in frame["estate_key"].unique() if k)
        self._estate_set = set(self.estates)
        # (estate, building) → row positions (an estate name may repeat across communities)
        self._rows: dict[tuple[str, str | None], list[int]] = {}
        for pos, key in enumerate(zip(self.buildings["estate_key"], self.buildings["building_key"])):
            self._rows.setdefault(key, []).append(pos)
        self._first: dict[str, int] = {}
        for pos, key in enumerate(self.buildings["estate_key"]):
            self._first.setdefault(key, pos)

    def __len__(self) -> int:
        return len(self.buildings)

    def _estate_scores(self, estate: str) -> list[tuple[str, float]]:
        """The best-scoring estates for one query estate text, highest first."""
        if not estate or not self.estates:
            return []
        scored = {e: float(s) for e, s, _ in process.extract(estate, self.estates, scorer=fuzz.ratio,
                                                               limit=CANDIDATES_KEPT + 2)}
        # a road or place before the estate name does not count against it
        for start in range(len(estate) - 1):
            tail = estate[start:]
            if tail in self._estate_set:
                scored[tail] = 100.0
                break
        return sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))

    def _candidate(self, pos: int, score: float, reason: str) -> dict[str, Any]:
        row = self.buildings.iloc[pos]
        return {"id": _plain(row["id"]), "address": row["address"], "estate": row["estate"],
                "building": row["building"], "micro_code": _plain(row["micro_code"]),
                "score": round(score, 1), "reason": reason}

    def match(self, text: Any) -> AddressMatch:
        """Match one address; placed only when the confidence reaches :data:`MATCH_THRESHOLD`."""
        parsed = parse_address(text)
        scores = self._estate_scores(parsed.estate)
        if not scores:
            return AddressMatch()
        candidates = []
        for estate, score in scores:
            rows = self._rows.get((estate, parsed.building)) if parsed.building else None
            if rows:
                candidates.extend(self._candidate(p, score, "building found") for p in rows)
            else:
                reason = "no building given" if parsed.building is None else f"no building {parsed.building}"
                candidates.append(self._candidate(self._first[estate], score, reason))
        best = candidates[0]
        runner_up = candidates[1]["score"] if len(candidates) > 1 else 0.0
        found = best["reason"] == "building found"
        margin = best["score"] - runner_up
        confidence = best["score"] * min(1.0, margin / MATCH_MARGIN) if found else 0.0
        result = AddressMatch(score=best["score"], confidence=round(confidence, 1),
                              candidates=candidates[:CANDIDATES_KEPT])
        if found and confidence >= MATCH_THRESHOLD:
            result.address_id = best["id"]
        return result

    def match_many(self, texts) -> pd.DataFrame:
        """Match many addresses: one row each with ``address_id`` (None when not placed),
        ``score``, ``confidence`` and ``candidates`` (a list of dicts, empty when placed)."""
        cache: dict[str, AddressMatch] = {}
        rows = []
        for text in texts:
            key = normalize_address(text)
            hit = cache.get(key)
            if hit is None:
                hit = cache[key] = self.match(text)
            rows.append((hit.address_id, hit.score, hit.confidence, [] if hit.placed else hit.candidates))
        return pd.DataFrame(rows, columns=["address_id", "score", "confidence", "candidates"])

    def building(self, address_id: Any) -> dict[str, Any]:
        """One building of the register by id."""
        row = self.buildings.loc[self.buildings["id"] == address_id].iloc[0]
        return {c: _plain(row[c]) for c in ("id",) + ADDRESS_COLUMNS}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value
