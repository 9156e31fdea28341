"""Incident jobs: import, receive one case, lifecycle moves, escalation, history, export."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from gis import store
from gis.core import access, china_time, dispatch, intake, metrics, roster
from gis.core.address import AddressRegister
from gis.core.crs import parse_crs
from gis.core.hierarchy import LEVEL_NAMES_ZH
from gis.core.rules import config, deadlines, lifecycle, transitions
from gis.core.rules.tiers import next_escalation
from gis.errors import InputError
from gis.io import case_export, incident_files
from gis.io.paths import writable_path
from gis.store import access as access_store
from gis.workflows import dashboards
from gis.workflows.access import masked_reporter
from gis.workflows.addresses import (
    PLACED_BY_ADDRESS,
    address_register,
    place_by_address,
)
from gis.workflows.context import GridVersion, Services

# -- incidents ------------------------------------------------------------------------------


@dataclass
class IncidentImport:
    """What an incident import did."""

    batch_id: int
    format: str
    encoding: str | None
    accepted: int = 0
    inserted: int = 0
    updated: int = 0
    unassigned: int = 0
    rejected: int = 0
    warnings: list[str] = field(default_factory=list)
    rejects: pd.DataFrame | None = None

    def summary(self) -> str:
        unchanged = self.accepted - self.inserted - self.updated
        return (f"accepted {self.accepted} (new {self.inserted}, updated {self.updated}, unchanged {unchanged}), "
                f"unassigned {self.unassigned}, rejected {self.rejected}")


@dataclass(frozen=True)
class DispatchContext:
    """What assignment and dispatch need: the active grid version (None before any grids) and the roster."""

    version: GridVersion | None
    staff: pd.DataFrame

    @property
    def version_id(self) -> int | None:
        return None if self.version is None else self.version.id


def dispatch_context(services: Services, conn) -> DispatchContext:
    """The active version (from the services' cache, read through ``conn``) and the roster."""
    active = store.fetch_active_version(conn)
    if active is None:
        return DispatchContext(None, pd.DataFrame(columns=list(roster.STAFF_COLUMNS)))
    return DispatchContext(services.version(conn, active["id"]), store.fetch_staff(conn))


def prepare_incidents(incidents: pd.DataFrame, *, context: DispatchContext, rules: config.Rules,
                      register: AddressRegister | None = None) -> pd.DataFrame:
    """Assign checked rows to micro-grids and set tier, deadline and assignee (pure, vectorised).

    Address-only rows (lon/lat NaN) are first placed by the address ``register``
    (:func:`gis.workflows.addresses.place_by_address`): a confident match takes its
    building's point (``placed_by`` 'address', ``address_id``); the point's micro-grid wins,
    the register's fills in when the point falls in none. An unmatched row stays
    unassigned, with no point, no suggestion and its ``candidates``.

    An unassigned point gets the nearest micro-grid as ``suggested_code`` and its
    distance in metres as ``suggested_distance_m``, unless it lies farther than
    :data:`gis.core.intake.FAR_POINT_M` from every micro-grid: then
    ``far_from_grids`` is True and there is no suggestion (a grid 50 km or
    19,000 km off is no place to send a case; the distance is kept, NULL when
    it cannot be measured, and the import warns about the row).
    """
    out = place_by_address(incidents, register)
    version = context.version
    for c in ("micro_code", "exclusive_code", "suggested_code", "suggested_distance_m"):
        out[c] = pd.Series(None, index=out.index, dtype=float if c == "suggested_distance_m" else object)
    out["far_from_grids"] = False  # no grids to measure against, or no point to measure
    has_point = out["placed_by"].notna().to_numpy()
    if version is not None and len(version.index) and has_point.any():
        pointed = out.loc[has_point]
        hit = version.index.assign(pointed["lon"].to_numpy(), pointed["lat"].to_numpy())
        placed = intake.placement_columns(hit, index=pointed.index)
        for c in placed.columns:
            out.loc[has_point, c] = placed[c]
    out["micro_code"] = out["micro_code"].where(out["micro_code"].notna(), out.pop("register_micro_code"))
    tiers = {code: cat.tier for code, cat in rules.categories.items()}
    out["tier"] = out["category"].map(tiers).fillna("general")
    out["due_at"] = deadlines.due_at_many(out["reported_at"], out["category"], rules=rules)
    chosen = dispatches(out, context=context)
    out["assignee"], out["informed"] = chosen["assignee"], chosen["informed"]  # the 微网格长 is informed
    return out


def assignees(cases: pd.DataFrame, *, context: DispatchContext) -> pd.Series:
    """Who takes each case at its tier: the ``assignee`` of :func:`dispatches` alone (vectorised,
    for imports of a million rows)."""
    return dispatch.assignees_many(_dispatch_keys(cases), staff=context.staff, **_grid_lookups(context))


def dispatches(cases: pd.DataFrame, *, context: DispatchContext) -> pd.DataFrame:
    """Who takes each case, why, who is informed and (hard tier) the departments
    (:func:`gis.core.dispatch.dispatch_many`).

    Parameters
    ----------
    cases
        Columns ``tier``, ``micro_code``, ``exclusive_code`` and optionally ``category``.

    Returns
    -------
    DataFrame
        :data:`gis.core.dispatch.DISPATCH_COLUMNS`, same index as ``cases``.
    """
    return dispatch.dispatch_many(_dispatch_keys(cases), staff=context.staff, **_grid_lookups(context))


def rule_assignees(version: GridVersion | None, staff: pd.DataFrame, *, micro_code: pd.Series, tier: Any = "general",
                   category: Any = None, exclusive_code: Any = None) -> pd.Series:
    """Who the dispatch rules give cases with these keys under ``version`` and the roster
    ``staff`` (:func:`dispatches`' ``assignee``), indexed as ``micro_code``; each other key is a
    Series on that index or one value for all. For "who would take it under other grids":
    a planner's what-if, a commit's moved cases, a version diff."""
    keys = pd.DataFrame({"tier": tier, "category": category, "micro_code": micro_code,
                         "exclusive_code": exclusive_code}, index=micro_code.index)
    if not len(keys):
        return pd.Series([], index=keys.index, dtype=object)
    return dispatches(keys, context=DispatchContext(version, staff))["assignee"]


def _dispatch_keys(cases: pd.DataFrame) -> pd.DataFrame:
    return cases[[c for c in ("tier", "micro_code", "exclusive_code", "category") if c in cases]]


def _grid_lookups(context: DispatchContext) -> dict:
    """The grids' names, and each micro-grid's tertiary grid, community and street (the one
    walk up the grid tree, once per micro-grid)."""
    tree = context.version.tree if context.version is not None else None
    if tree is None:
        return {"names": None, "units": {}}
    units = {code: tuple(tree.ancestor(code, level) for level in ("grid", "community", "street"))
             for code in tree.micro}
    return {"names": tree.name, "units": units}


def store_incidents(services: Services, conn, chunks, *, batch_id: int, actor: str,
                    progress: Callable[[str, int, int], None] | None = None, total: int | None = None
                    ) -> IncidentImport:
    """Stage, assign and merge chunks of checked incident rows inside the caller's transaction."""
    rules = config.load_rules()
    context = dispatch_context(services, conn)
    store.save_incoming_table(conn)
    result = IncidentImport(batch_id=batch_id, format="", encoding=None)
    rejects = []
    implausible = intake.ImplausibleRows(now=datetime.now(china_time.CHINA_TZ))
    register, placements = None, []
    for chunk in chunks:
        if register is None and not chunk.incidents["lon"].notna().all():
            register = address_register(conn)  # read once, when the first address-only row comes
        prepared = prepare_incidents(chunk.incidents, context=context, rules=rules, register=register)
        implausible.add(prepared, far=prepared["far_from_grids"])
        store.save_incoming(conn, prepared)
        by_address = prepared["lon"].isna() | (prepared["placed_by"] == PLACED_BY_ADDRESS)
        if by_address.any():
            placements.append(prepared.loc[by_address, ["line", "source", "external_id", "placed_by", "address_id",
                                                        "candidates"]])
        result.accepted += len(prepared)
        result.unassigned += int(prepared["micro_code"].isna().sum())
        result.rejected += chunk.refused
        result.warnings.extend(chunk.warnings)
        if len(chunk.rejects):
            rejects.append(chunk.rejects)
        if progress:
            progress("staging", result.accepted + result.rejected, total or 0)
    counts = store.save_incoming_merged(conn, version_id=context.version_id, batch_id=batch_id, actor=actor,
                                        staged=result.accepted)
    result.inserted, result.updated = counts["inserted"], counts["updated"]
    if placements:
        placed = pd.concat(placements, ignore_index=True)
        store.save_incident_placements(conn, placed, batch_id=batch_id)
        unplaced = placed.loc[placed["placed_by"].isna(), "line"].tolist()
        if unplaced:
            result.warnings.append(
                f"{len(unplaced)} address-only row(s) matched no building of the address register confidently "
                f"(lines {', '.join(map(str, unplaced[:10]))}{' …' if len(unplaced) > 10 else ''}); stored unassigned "
                "with their address candidates for 待分派: check the address or add the building to the register")
    # warnings about the whole file come first, so that a long list of row warnings never hides them
    file_warnings = implausible.warnings()
    if counts["older"]:
        lines = ", ".join(map(str, counts["older_lines"])) + (" …" if counts["older"] > len(counts["older_lines"]) else "")
        file_warnings.append(f"{counts['older']} row(s) carry an earlier stage than the stored case (lines {lines}); "
                             "the stored stage was kept: an import never moves a case backwards")
    result.warnings[:0] = file_warnings
    result.rejects = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(
        columns=["line", "field", "reason", "raw"])
    store.save_import_rejects(conn, result.rejects, batch_id=batch_id)
    store.save_import_batch_done(conn, batch_id=batch_id, accepted=result.accepted, inserted=result.inserted,
                                 updated=result.updated, unassigned=result.unassigned, rejected=result.rejected)
    access_store.save_audit(conn, action="import", object=f"import_batch:{batch_id}",
                            detail={"actor": actor, "accepted": result.accepted, "inserted": result.inserted,
                                    "updated": result.updated, "rejected": result.rejected})
    return result


def import_incidents(services: Services, path: str | Path, *, crs: str = "wgs84", source: str | None = None,
                     rejects_path: str | Path | None = None, chunk_rows: int = 200_000,
                     progress: Callable[[str, int, int], None] | None = None) -> IncidentImport:
    """Load incidents from CSV, GeoJSON or Open311 JSON: checked, converted to WGS-84,
    assigned to micro-grids, dispatched and merged on (source, external_id).

    The whole file is one transaction: interrupted, the database is as before
    and a re-run finishes the job. Refused rows are counted, stored in
    ``import_reject`` and written to ``rejects_path``; the good rows are always stored.
    """

    if rejects_path is not None:  # before the work, not after the rows are stored
        rejects_path = writable_path(rejects_path, field="--rejects")
    reader = intake.read_incidents(path, crs=crs, source=source, chunk_rows=chunk_rows)
    with services.transaction() as conn:
        batch_id = store.save_import_batch(conn, kind="incidents", source_path=str(path),
                                           input_crs=parse_crs(crs), encoding=reader.encoding)
        result = store_incidents(services, conn, reader, batch_id=batch_id, actor=f"import:{Path(path).name}",
                                 progress=progress)
    result.format, result.encoding = reader.format, reader.encoding
    if rejects_path is not None:
        incident_files.rejects_to_csv(result.rejects, rejects_path)
    return result


def receive_incident(services: Services, record: dict[str, Any], *, crs: str = "wgs84",
                     actor: str = "受理窗口") -> dict[str, Any]:
    """Take one new case (a form, the hotline desk, an API call): checked like an imported
    row, assigned to its micro-grid by the same rule, dispatched and stored.

    Returns the stored incident (micro-grid, tier, deadline, assignee).

    Raises
    ------
    InputError
        Naming the field and the fix when the record is refused.
    """

    chunk = intake.check_records([record], crs=crs)
    if chunk.refused:
        reject = chunk.rejects.iloc[0]
        field_name = None if pd.isna(reject["field"]) else reject["field"]
        raise InputError(str(reject["reason"]), field=field_name)
    with services.transaction() as conn:
        batch_id = store.save_import_batch(conn, kind="incidents", source_path="receive_incident",
                                           input_crs=parse_crs(crs))
        store_incidents(services, conn, [chunk], batch_id=batch_id, actor=actor)
        return store.fetch_incident(conn, source=chunk.incidents["source"].iloc[0],
                                    external_id=chunk.incidents["external_id"].iloc[0])


def set_incident_status(services: Services, *, source: str, external_id: str, status: str, actor: str,
                        note: str = "") -> dict[str, Any]:
    """Move one case along its lifecycle, refusing what the rules do not allow; records an event."""
    new = lifecycle.status_from_text(status)
    with services.transaction() as conn:
        incident = store.fetch_incident(conn, source=source, external_id=external_id)
        if incident is None:
            raise InputError(f"no incident with source '{source}' and external_id '{external_id}'",
                             fix="check both values (python -m gis incidents export lists them)")
        transitions.check_transition(incident["status"], new, actor=actor, handler=incident["handler"], note=note)
        store.save_incident_status(conn, incident_id=incident["id"], status=new,
                                   handler=actor if new == "resolved" else None)
        store.save_incident_event(conn, incident_id=incident["id"], from_status=incident["status"],
                                  to_status=new, actor=actor, note=note)
        return {"source": source, "external_id": external_id, "from": incident["status"], "to": new}


def escalate_overdue(services: Services, *, now: datetime | None = None,
                     actor: str = "系统督办") -> dict[str, int]:
    """Escalate every open case whose deadline has passed, by the tier rules.

    general → complex (the community) → hard (the street's coordination desk),
    each with a new deadline from ``now`` at its new tier; a case already at the
    top tier goes under supervision (督办). One event per change.

    Returns
    -------
    dict
        ``{'escalated': n, 'supervised': m}``.
    """
    now = now or datetime.now(china_time.CHINA_TZ)
    rules = config.load_rules()
    with services.transaction() as conn:
        overdue = store.fetch_overdue(conn, now=now)
        if not len(overdue):
            return {"escalated": 0, "supervised": 0}
        context = dispatch_context(services, conn)
        step = [next_escalation(t, d, now, rules=rules) for t, d in zip(overdue["tier"], overdue["due_at"])]
        overdue["step"] = step
        supervise = (overdue["step"] == "supervised") & overdue["status"].map(
            lambda s: "supervised" in transitions.allowed_next(s, rules=rules))
        raise_tier = overdue["step"].isin(list(config.TIERS))
        out = overdue[supervise | raise_tier].copy()
        out["from_status"] = out["status"]
        up = out["step"] != "supervised"
        out.loc[~up, "status"] = "supervised"
        out["tier"] = out["tier"].where(~up, out["step"])
        start = pd.Series(pd.Timestamp(now), index=out.index)
        out["due_at"] = out["due_at"].where(~up, deadlines.due_at_many(start, out["category"], rules=rules,
                                                                      tiers=out["tier"]))
        out["assignee"] = assignees(out, context=context)
        out["note"] = ["逾期督办" if not u else f"逾期升级至{rules.tiers[t].label_zh}" for u, t in zip(up, out["tier"])]
        store.save_escalations(conn, out, now=now, actor=actor)
    return {"escalated": int(up.sum()), "supervised": int((~up).sum())}


def incident_history(services: Services, *, source: str, external_id: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """One case and its events, oldest first; the reporter's phone masked for roles that
    do not handle cases (:func:`gis.workflows.access.reveal_reporter` shows it, audited)."""
    with services.connection() as conn:
        incident = store.fetch_incident(conn, source=source, external_id=external_id)
        if incident is None:  # not stored, or outside the user's scope: the same answer
            raise InputError(f"no incident with source '{source}' and external_id '{external_id}'")
        events = store.fetch_incident_events(conn, incident_id=incident["id"])
    return {**incident, "reporter_phone": masked_reporter(services.principal, incident["reporter_phone"])}, events


def export_incidents(services: Services, path: str | Path, *, fmt: str | None = None) -> int:
    """Write incidents as CSV, GeoJSON or Open311 JSON (by ``fmt`` or the extension)."""

    fmt = fmt or {".csv": "csv", ".geojson": "geojson", ".json": "open311"}.get(Path(path).suffix.lower())
    writers = {"csv": incident_files.incidents_to_csv, "geojson": incident_files.incidents_to_geojson,
               "open311": incident_files.write_open311}
    if fmt not in writers:
        raise InputError(f"cannot tell the export format of '{path}'", field="format",
                         fix="use a .csv, .geojson or .json path, or --format csv|geojson|open311")
    path = writable_path(path, field="PATH")  # before reading every case, not after
    services.require(access.EXPORT, action_zh="导出工单")
    with services.transaction() as conn:
        frame = store.fetch_incidents_export(conn)
        access_store.save_audit(conn, action="export", object="incidents",
                                detail={"rows": len(frame), "format": fmt, "path": str(path)})
    writers[fmt](frame, path)
    return len(frame)


# -- the cases page's export: every matching case, streamed ------------------------------------

#: The export's formats: their file extension and MIME type.
CASE_EXPORT_FORMATS = {"csv": ("csv", "text/csv"),
                       "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
CASE_EXPORT_CHUNK_ROWS = 5000
#: The most cases an XLSX export holds (one worksheet); more must be narrowed or exported as CSV.
CASE_EXPORT_XLSX_MAX_ROWS = case_export.XLSX_MAX_ROWS

#: The columns of the export, in order: the codes (编号, 微网格编码) next to the names.
CASE_EXPORT_COLUMNS = (
    case_export.Column("编号", "code", 20), case_export.Column("来源", "text", 11),
    case_export.Column("类别", "text", 22), case_export.Column("状态", "text", 8),
    case_export.Column("层级", "text", 11), case_export.Column("受理时间", "time", 17),
    case_export.Column("办理时限", "time", 17), case_export.Column("结案时间", "time", 17),
    case_export.Column("街道", "text", 14), case_export.Column("社区", "text", 14),
    case_export.Column("微网格", "text", 16), case_export.Column("微网格编码", "code", 19),
    case_export.Column("专属网格", "text", 14), case_export.Column("责任人", "text", 10),
    case_export.Column("报告人电话", "code", 14), case_export.Column("地址", "text", 36),
    case_export.Column("描述", "text", 60),
)


def case_category_names() -> dict[str, str]:
    """Category code -> the Chinese label the cases page shows (``group · name``)."""
    return config.load_rules().category_names_zh()


def count_cases(services: Services, flt: metrics.CaseFilter, *, search: str | None = None, open_only: bool = False,
                now: datetime | None = None) -> int:
    """How many cases the user may see match the cases page's filter, search and open-only
    choice: the number :func:`export_cases` writes (no display limit)."""
    with services.connection() as conn:
        return store.fetch_cases_export_count(conn, dashboards._params(services, conn, flt, now),
                                              search=search or None, open_only=open_only)


def case_export_conditions(services: Services, flt: metrics.CaseFilter, *, search: str | None = None,
                           open_only: bool = False, now: datetime | None = None) -> list[tuple[str, str]]:
    """The filter as (condition, value) pairs in Chinese, as the export writes it into the file."""
    cats = case_category_names()
    with services.connection() as conn:
        tree = services.version(conn).history
    if flt.unit:
        level = LEVEL_NAMES_ZH.get(tree.level.get(flt.unit, ""), "")
        unit = f"{tree.name.get(flt.unit, flt.unit)}（{level} {flt.unit}）"
    else:
        principal = services.principal
        scope = principal.scope if principal else None
        unit = f"{tree.name[scope]}（本账号范围）" if scope in tree.name else "全部（本账号可见范围）"
    principal = services.principal
    moment = (now or datetime.now(china_time.CHINA_TZ)).astimezone(china_time.CHINA_TZ)

    def listed(values: tuple[str, ...] | None, names: dict[str, str]) -> str:
        return "、".join(names.get(v, v) for v in values) if values else "全部"
    masked = principal is None or principal.masks_personal_data
    return [
        ("受理时间", f"{flt.since} 至 {flt.until}（中国时间）"),
        ("范围", unit),
        ("类别", listed(flt.categories, cats)),
        ("来源", listed(flt.sources, metrics.SOURCES_ZH)),
        ("状态", listed(flt.statuses, {s: lifecycle.status_name_zh(s) for s in lifecycle.STATUSES})),
        ("搜索", search or "—"),
        ("只看未办结", "是" if open_only else "否"),
        ("报告人电话", "已脱敏" if masked else "完整（按角色权限）"),
        ("导出人", f"{principal.display_name or principal.name}（{principal.role_zh}）" if principal else "—"),
        ("导出时间", moment.strftime("%Y-%m-%d %H:%M")),
    ]


def case_export_file_name(services: Services, flt: metrics.CaseFilter, *, fmt: str, search: str | None = None,
                          open_only: bool = False) -> str:
    """The file name, with the filter's gist: ``工单_航海西路街道_2026-11-01_2026-11-30_未办结.csv``."""
    if fmt not in CASE_EXPORT_FORMATS:
        raise InputError(f"export format '{fmt}' is unknown", field="format", fix="use csv or xlsx")
    parts = ["工单"]
    if flt.unit:
        with services.connection() as conn:
            parts.append(services.version(conn).tree.name.get(flt.unit, flt.unit))
    parts += [str(flt.since), str(flt.until)]
    if open_only:
        parts.append("未办结")
    if search:
        parts.append(f"搜索{search[:20]}")
    name = "_".join(parts)
    name = "".join("_" if ch in '\\/:*?"<>|' or ord(ch) < 32 else ch for ch in name)
    return f"{name}.{CASE_EXPORT_FORMATS[fmt][0]}"


def export_cases(services: Services, flt: metrics.CaseFilter, out: BinaryIO | str | Path, *, fmt: str,
                 search: str | None = None, open_only: bool = False, now: datetime | None = None,
                 chunk_rows: int = CASE_EXPORT_CHUNK_ROWS) -> int:
    """Write EVERY case the user may see that matches the cases page's filter, search and
    open-only choice (no display limit) as ``fmt`` (``csv`` or ``xlsx``) to ``out`` (a binary
    file or a path); return the number of cases written.

    Runs under the services' principal (row-level security decides the rows); the reporter's
    phone is masked exactly as the page masks it (:func:`masked_reporter`). The cases stream
    from a server-side cursor ``chunk_rows`` at a time into the writers of
    :mod:`gis.io.case_export`, so memory stays bounded whatever the number of cases (see
    ``benchmarks/export.py``). Auditing is the caller's: the page's download button records
    each download (``record_export``).
    """
    if fmt not in CASE_EXPORT_FORMATS:
        raise InputError(f"export format '{fmt}' is unknown", field="format", fix="use csv or xlsx")
    principal = services.require(access.EXPORT, action_zh="导出工单")
    conditions = case_export_conditions(services, flt, search=search, open_only=open_only, now=now)
    rules = config.load_rules()
    cats, tiers = case_category_names(), {code: t.label_zh for code, t in rules.tiers.items()}
    statuses = {s: lifecycle.status_name_zh(s) for s in lifecycle.STATUSES}
    with services.connection() as conn:
        tree = services.version(conn).history
        params = dashboards._params(services, conn, flt, now)
        if fmt == "xlsx":
            total = store.fetch_cases_export_count(conn, params, search=search or None, open_only=open_only)
            if total > CASE_EXPORT_XLSX_MAX_ROWS:
                raise InputError(f"{total} cases match: more than an Excel worksheet holds "
                                 f"({CASE_EXPORT_XLSX_MAX_ROWS})", field="filter",
                                 fix="narrow the filter (dates, street), or export CSV")
        places: dict[str | None, tuple[str, str, str]] = {}

        def place(micro: str | None) -> tuple[str, str, str]:
            if micro not in places:
                street, community = tree.ancestor(micro, "street"), tree.ancestor(micro, "community")
                places[micro] = (tree.name.get(street, "") if street else "",
                                 tree.name.get(community, "") if community else "",
                                 tree.name.get(micro, "") if micro else "")
            return places[micro]

        def rows():
            for chunk in store.iter_cases_export(conn, params, search=search or None, open_only=open_only,
                                                 chunk_rows=chunk_rows):
                yield [(external_id, metrics.SOURCES_ZH.get(source, source), cats.get(category, category),
                        statuses.get(status, status), tiers.get(tier, tier), reported_at, due_at, closed_at,
                        *place(micro), micro, tree.name.get(exclusive, exclusive) if exclusive else None,
                        assignee, masked_reporter(principal, phone) or None, address, description)
                       for (external_id, source, category, status, tier, reported_at, due_at, closed_at, micro,
                            exclusive, assignee, phone, address, description) in chunk]

        writer = case_export.write_csv if fmt == "csv" else case_export.write_xlsx
        if isinstance(out, (str, Path)):
            with open(writable_path(out, field="PATH"), "wb") as handle:
                return writer(handle, CASE_EXPORT_COLUMNS, rows(), conditions=conditions)
        return writer(out, CASE_EXPORT_COLUMNS, rows(), conditions=conditions)
