"""Open311 GeoReport v2 documents, and the service-code → category table."""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pyarrow as pa

from gis.core.intake.checks import _TEXT_FIELDS, OPEN311_RULES_PATH, _as_text
from gis.core.intake.geojson import _json_columns
from gis.core.rules.config import Rules, category_from_text, load_rules
from gis.core.rules.lifecycle import status_from_text
from gis.errors import InputError

_OPEN311_DISPLAY = MappingProxyType({
    "external_id": "service_request_id", "lon": "long", "reported_at": "requested_datetime",
    "closed_at": "updated_datetime", "category": "service_code",
})


def _open311_table(document: list, path: Path, *, codes: Mapping[str, str],
                   rules: Rules) -> tuple[pa.Table, list]:
    columns: dict[str, list] = {name: [] for name in _TEXT_FIELDS}
    notes, pre_reason = [], []
    lookup = {_code_key(k): v for k, v in codes.items()}
    resolved: dict[tuple[str, str], tuple[str, str | None]] = {}
    for item in document:
        request = item if isinstance(item, dict) else {}
        extended = request.get("extended_attributes")
        extended = extended if isinstance(extended, dict) else {}
        status = _as_text(extended.get("stage")) or _as_text(request.get("status"))
        try:
            closed = status_from_text(status) == "closed"
        except InputError:
            closed = False
        values = {
            "external_id": _as_text(request.get("service_request_id")),
            "status": status,
            "description": _as_text(request.get("description")),
            "address": _as_text(request.get("address")),
            "reported_at": _as_text(request.get("requested_datetime")),
            "closed_at": _as_text(request.get("updated_datetime")) if closed else None,
            "lon": _as_text(request.get("long")),
            "lat": _as_text(request.get("lat")),
        }
        code = (_as_text(request.get("service_code")) or "").strip()
        name = (_as_text(request.get("service_name")) or "").strip()
        if (code, name) not in resolved:
            resolved[code, name] = _open311_category(code, name, lookup, rules)
        values["category"], note = resolved[code, name]
        for column in _TEXT_FIELDS:
            columns[column].append(values.get(column))
        notes.append(note)
        pre_reason.append(None if isinstance(item, dict) else
                          f"the item is a JSON {type(item).__name__}, not a service request object")
    table = _json_columns(columns, len(document), pre_reason=pre_reason)
    table = table.append_column("__category_note", pa.array(notes, type=pa.string()))
    return table, document


def _open311_category(code: str, name: str, lookup: Mapping[str, str],
                      rules: Rules) -> tuple[str, str | None]:
    """Our category for an Open311 service: code table, our own code, then the name."""
    if _code_key(code) in lookup:
        return lookup[_code_key(code)], None
    if code in rules.categories:
        return code, None
    if name:
        category, warning = category_from_text(name, rules=rules)
        if warning is None:
            return category, None
    return "other", (f"service_code {code!r} (service_name {name!r}) unknown, stored as 'other'; "
                     "add the code to gis/core/rules/open311.toml")


def _code_key(code: str) -> str:
    return code.strip().casefold()


def load_open311_codes(path: str | os.PathLike | None = None, *,
                       rules: Rules | None = None) -> Mapping[str, str]:
    """Read the Open311 service-code table (``gis/core/rules/open311.toml``).

    Parameters
    ----------
    path
        A TOML file with ``version = 1`` and a ``[service_codes]`` table of
        service code → category code; None for the shipped table.
    rules
        Dispatch rules whose category codes the values must be; None for
        the shipped rules.

    Returns
    -------
    Mapping
        Service code → category code, in file order (the first code of a
        category is the one written on export).

    Raises
    ------
    InputError
        The file is missing or not TOML, or a value is not a category code
        (the message names the key).
    """
    rules = rules or load_rules()
    if path is None and rules is load_rules():
        return _default_open311_codes()
    return _read_open311_codes(Path(path) if path is not None else OPEN311_RULES_PATH, rules)


@functools.lru_cache(maxsize=1)
def _default_open311_codes() -> Mapping[str, str]:
    return _read_open311_codes(OPEN311_RULES_PATH, load_rules())


def _read_open311_codes(path: Path, rules: Rules) -> Mapping[str, str]:
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise InputError(f"Open311 code table {path} not found",
                         fix="give the path of an open311 .toml file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"Open311 code table {path} is not valid UTF-8 TOML: {exc}",
                         fix="fix the syntax at the place named") from None
    table = doc.get("service_codes")
    if not isinstance(table, dict):
        raise InputError(f"Open311 code table {path} has no [service_codes] table",
                         field="service_codes", fix="add [service_codes] with code = \"category\" lines")
    seen: dict[str, str] = {}
    for code, category in table.items():
        if not isinstance(category, str) or category not in rules.categories:
            raise InputError(f"service_codes.{code} = {category!r} in {path} is not a category code",
                             field=f"service_codes.{code}",
                             fix="use one of " + ", ".join(rules.categories))
        if _code_key(code) in seen:
            raise InputError(f"service code {code!r} in {path} repeats {seen[_code_key(code)]!r} "
                             "(codes are compared ignoring case)", field=f"service_codes.{code}",
                             fix="keep one of them")
        seen[_code_key(code)] = code
    return MappingProxyType(dict(table))
