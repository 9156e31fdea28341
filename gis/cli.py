"""``python -m gis``: the command line (exit 0 done, 2 unusable input, 1 internal error)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from gis import workflows
from gis.core import access
from gis.core import analytics as core_analytics
from gis.core.hierarchy import ALL_LEVELS
from gis.errors import GisError, InputError

Handler = Callable[[argparse.Namespace], int]


def _print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


# -- db ---------------------------------------------------------------------------


def cmd_db_init(args: argparse.Namespace) -> int:
    applied = workflows.init_database()
    print(f"schema up to date; applied now: {', '.join(applied) or 'nothing'}")
    return 0


def cmd_db_start(args: argparse.Namespace) -> int:
    status = workflows.start_server()
    print(f"embedded PostgreSQL running on 127.0.0.1:{status['port']} (pid {status['pid']}, data in {status['home']})")
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    print("stopped" if workflows.stop_server() else "not running")
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    status = workflows.server_status()
    if args.json:
        _print_json(status)
        return 0
    if status["mode"] == "embedded":
        state = "running" if status["running"] else ("stopped" if status["initialised"] else "not initialised")
        print(f"server:     embedded, {state} ({status['home']})")
        if not status["running"]:
            return 0
    else:
        print(f"server:     {status['url']} (DATABASE_URL)")
    print(f"address:    {status['host']}:{status['port']}, database {status['database']}")
    print(f"PostgreSQL: {status['postgresql']}")
    print(f"PostGIS:    {status['postgis'] or 'not installed in this database (run: python -m gis db init)'}")
    schema = status["schema_version"]
    latest = status["schema_latest"]
    print(f"schema:     {'none (run: python -m gis db init)' if schema is None else schema}"
          f"{'' if schema == latest else f' (latest {latest})'}")
    return 0


def cmd_db_url(args: argparse.Namespace) -> int:
    print(workflows.server_url())
    return 0


def cmd_db_backup(args: argparse.Namespace) -> int:
    done = workflows.backup_database(args.path)
    print(f"backup written to {done['path']} ({done['bytes'] / 1e6:.1f} MB in {done['seconds']:.1f} s)")
    return 0


def cmd_db_restore(args: argparse.Namespace) -> int:
    done = workflows.restore_database(args.path)
    print(f"restored {done['path']} (schema version {done['schema_version']}) in {done['seconds']:.1f} s")
    return 0


# -- grids, staff, locate, demo ------------------------------------------------------------


def _date(text: str):
    """An argparse type: a calendar date written YYYY-MM-DD."""
    from datetime import date
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; write it as YYYY-MM-DD") from None


def _print_problems(problems, *, out: str | None) -> None:
    from gis.core import topology
    from gis.io import grid_files
    if len(problems):
        print(topology.problems_table(problems))
    if out:
        grid_files.problems_to_geojson(problems, out)
        print(f"problem spots written to {out}")


def cmd_grids_import(args: argparse.Namespace) -> int:
    from gis.errors import ValidationError
    with workflows.connect(maxconn=2) as services:
        try:
            result = workflows.import_grids(services, args.path, crs=args.crs, fix=args.fix, strict=args.strict,
                                            tolerance_m2=args.tolerance_m2, note=args.note or "",
                                            within=args.within, replace_all=args.replace_all,
                                            effective_date=args.effective_date)
        except ValidationError as exc:
            if exc.problems is not None:
                _print_problems(exc.problems, out=args.problems)
            raise
    for note in result.notes:
        print(note)
    _print_problems(result.problems, out=args.problems)
    counts = ", ".join(f"{level} {n}" for level, n in result.counts.items())
    print(f"grid version {result.version_id} active: {counts}")
    _print_activation(result.activation)
    return 0


def _print_activation(activation) -> None:
    """What an activation did to open cases and the roster (closed cases never move)."""
    print(f"open cases moved to another grid: {len(activation.moves)} of {activation.open_cases} "
          "(each re-dispatched, with an event); closed cases keep their grid")
    staff = activation.staff_to_reassign
    if len(staff):
        print(f"staff on duty for grids this version no longer has ({len(staff)}), to reassign:")
        for row in staff.itertuples():
            print(f"  {row.grid_code}  {row.role}  {row.name}  {row.phone}")


def cmd_grids_versions(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=2) as services:
        table = workflows.grid_versions(services, drafts=args.drafts)
    if not len(table):
        print("no grid versions stored")
        return 0
    import pandas as pd
    shown = table.assign(
        scope=table["scope_code"].fillna("(all)") + table["scope_name"].map(lambda n: f" {n}" if n else ""),
        committed=table["committed_at"].map(lambda t: "" if t is None or pd.isna(t) else f"{t:%Y-%m-%d %H:%M}"))
    columns = ["id", "status", "effective_date", "committed", "author", "scope", "streets", "communities", "grids",
               "micro", "exclusive", "note"]
    print(shown[columns].to_string(index=False))
    return 0


def cmd_grids_activate(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=2) as services:
        activation = workflows.activate_version(services, args.version, effective_date=args.effective_date)
    print(f"grid version {activation.version_id} active again (was {activation.previous_id})")
    _print_activation(activation)
    return 0


def cmd_grids_diff(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=2) as services:
        if args.out:
            diff, written = workflows.export_version_diff(services, args.a, args.b, args.out)
        else:
            diff, written = workflows.diff_versions(services, args.a, args.b), []
    counts = ", ".join(f"{kind} {n}" for kind, n in diff.counts().items())
    print(f"version {args.a} → {args.b}: {counts}")
    if len(diff.grids):
        table = diff.grids.assign(changed_m2=diff.grids["changed_m2"].round(1))
        print(table[["level", "code", "name", "change", "changed_m2"]].to_string(index=False))
    print(f"open cases that would change hands: {len(diff.cases)}")
    if len(diff.cases):
        print(diff.cases.head(args.limit).to_string(index=False))
    for path in written:
        print(f"written to {path}")
    return 0


def cmd_grids_validate(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=2) as services:
        problems, notes = workflows.validate_grid_file(services, args.path, crs=args.crs, fix=args.fix,
                                                       strict=args.strict, tolerance_m2=args.tolerance_m2,
                                                       within=args.within)
    for note in notes:
        print(note)
    _print_problems(problems, out=args.problems)
    if not len(problems):
        print("no problems found")
    return 2 if (problems["severity"] == "error").any() else 0


def cmd_grids_propose(args: argparse.Namespace) -> int:
    from gis.io.paths import writable_path
    if args.out:  # before the work, not after it
        writable_path(args.out, field="--out")
    progress, close = _tqdm_progress()
    draft = None
    with workflows.connect(maxconn=2) as services:
        try:
            if args.draft:
                proposal, draft = workflows.propose_draft(
                    services, args.code, min_households=args.min_households, max_households=args.max_households,
                    months=args.months, seed=args.seed, progress=progress)
            else:
                proposal = workflows.propose_grids(
                    services, args.code, level=args.level, min_households=args.min_households,
                    max_households=args.max_households, months=args.months, seed=args.seed, progress=progress)
        finally:
            close()
    before, after = proposal.before, proposal.after

    def span(frame) -> str:
        return f"{frame['households'].min()}–{frame['households'].max()}" if len(frame) else "none"

    def cv(value) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    kind = "tertiary grid" if proposal.level == "grid" else proposal.level
    print(f"proposal for {kind} {proposal.code} {proposal.name} (grid version {proposal.version_id}), "
          f"cases reported {proposal.since:%Y-%m-%d} – {proposal.until:%Y-%m-%d}")
    print(f"micro-grids proposed: {len(after)} (now {len(before)})")
    print(f"households per micro-grid: {span(after)} (now {span(before)}; band "
          f"{proposal.min_households}–{proposal.max_households})")
    print(f"expected cases per micro-grid ({proposal.months} months): CV {cv(proposal.cv_before)} → "
          f"{cv(proposal.cv_after)}")
    print(after.to_string(index=False))
    for note in proposal.notes:
        print(note)
    if args.out:
        n = workflows.write_proposal(proposal, args.out)
        print(f"{n} micro-grids written to {args.out} (check or import with --within {proposal.code})")
    if draft is not None:
        print(f"opened as draft {draft.id} of {draft.area_name}: edit, try (what-if) and commit it on the "
              "网格规划 page")
    return 0


def cmd_grids_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gis.workflows import scale
    with workflows.connect(maxconn=2) as services:
        if args.version is not None or Path(args.path).suffix.lower() == ".parquet":
            n = scale.export_grids_file(services, args.path, version_id=args.version, level=args.level)
        else:
            n = workflows.export_grids(services, args.path, level=args.level)
    print(f"{n} grids written to {args.path}")
    return 0


def cmd_staff_import(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=2) as services:
        n = workflows.import_staff(services, args.path)
    print(f"{n} staff stored")
    return 0


def cmd_addresses_import(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=2) as services:
        result = workflows.import_addresses(services, args.path)
    for r in result.rejects.itertuples(index=False):
        print(f"refused: line {r.line}, field '{r.field}': {r.reason} (fix: {r.fix})", file=sys.stderr)
    for r in result.outside.itertuples(index=False):
        print(f"outside every micro-grid: line {r.line}, {r.address} ({r.lon:g}, {r.lat:g}); stored without "
              "micro_code: check lon/lat or give micro_code", file=sys.stderr)
    print(result.summary())
    return 0


def cmd_addresses_export(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=2) as services:
        n = workflows.export_addresses(services, args.path)
    print(f"{n} buildings written to {args.path}")
    return 0


def cmd_locate(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=2) as services:
        _print_json(workflows.locate(services, args.lon, args.lat, crs=args.crs))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    progress, close = _tqdm_progress()
    with workflows.connect(maxconn=2) as services:
        try:
            summary = workflows.load_demo(services, incidents=args.incidents, seed=args.seed,
                                          if_empty=args.if_empty, progress=progress)
        finally:
            close()
    print(summary)
    return 0


def _tqdm_progress():
    """A progress callback: a bar per stage on a terminal; in a log or a pipe, one
    summary line per finished stage (no carriage-return frames)."""
    import time

    from tqdm import tqdm
    bars: dict[str, tqdm] = {}
    stages: dict[str, list] = {}   # step -> [started, done, total]
    interactive = sys.stderr.isatty()

    def finish(step: str) -> None:
        started, done, total = stages.pop(step)
        if not interactive:
            of = f"/{total}" if total else ""
            print(f"{step}: {done}{of} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    def progress(step: str, done: int, total: int) -> None:
        if step not in stages:
            for other in list(stages):
                finish(other)
            stages[step] = [time.perf_counter(), done, total]
        stages[step][1:] = [done, total]
        if not interactive:
            return
        bar = bars.get(step)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[step] = tqdm(total=total, desc=step, leave=False, file=sys.stderr)
        bar.total = total or None  # unknown length: a plain counter
        bar.n = done
        bar.refresh()

    def close() -> None:
        for step in list(stages):
            finish(step)
        for bar in bars.values():
            bar.close()
    return progress, close


# -- users ---------------------------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str:
    """The first line of stdin with ``--password-stdin``; else asked twice on the terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError("no terminal to ask for the password", field="password",
                         fix="pass --password-stdin and the password on the first line of standard input")
    import getpass
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise InputError("the two passwords differ", field="password", fix="type the same password twice")
    return first


def cmd_users_add(args: argparse.Namespace) -> int:
    access.check_account(args.name, role=args.role, scope=args.scope)  # before asking for a password
    password = _read_password(args)
    with workflows.connect(maxconn=1) as services:
        user = workflows.add_user(services, args.name, role=args.role, scope=args.scope, password=password,
                                  display_name=args.display_name)
    print(f"account {user.name} added: {user.role} ({user.role_zh}), scope {user.scope}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=1) as services:
        users = workflows.list_users(services)
    if not len(users):
        print("no accounts (python -m gis users add NAME --role R --scope CODE)")
        return 0
    for u in users.itertuples(index=False):
        last = "never" if u.last_sign_in_at is None else u.last_sign_in_at.strftime("%Y-%m-%d %H:%M")
        print(f"{u.name:<20} {u.role:<11} {u.scope_code:<16} {u.state:<9} last sign-in {last}  {u.display_name}")
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=1) as services:
        workflows.disable_user(services, args.name)
    print(f"account {args.name} disabled")
    return 0


def cmd_users_set_password(args: argparse.Namespace) -> int:
    password = _read_password(args)
    with workflows.connect(maxconn=1) as services:
        workflows.set_password(services, args.name, password=password)
    print(f"password of {args.name} set")
    return 0


def cmd_incidents_import(args: argparse.Namespace) -> int:
    progress, close = _tqdm_progress()
    with workflows.connect(maxconn=2) as services:
        try:
            result = workflows.import_incidents(services, args.path, crs=args.crs, source=args.source,
                                                rejects_path=args.rejects, progress=progress)
        finally:
            close()
    for warning in result.warnings[:20]:
        print(f"warning: {warning}", file=sys.stderr)
    if len(result.warnings) > 20:
        print(f"warning: … and {len(result.warnings) - 20} more", file=sys.stderr)
    print(f"{result.format}, {result.encoding or 'utf-8'}: {result.summary()}"
          + (f"; rejects written to {args.rejects}" if args.rejects and result.rejected else ""))
    return 0


def cmd_incidents_export(args: argparse.Namespace) -> int:
    if args.format == "parquet":
        return _export_history(args)
    with workflows.connect(maxconn=2) as services:
        n = workflows.export_incidents(services, args.path, fmt=args.format)
    print(f"{n} incidents written to {args.path}")
    return 0


def _export_history(args: argparse.Namespace) -> int:
    """``incidents export DIR --format parquet``: GeoParquet partitioned by month, streamed."""
    from gis.workflows import scale
    progress, close = _tqdm_progress()
    with workflows.connect(maxconn=2) as services:
        try:
            done = scale.export_history(services, args.path, progress=progress)
        finally:
            close()
    span = f", {done.months[0]} – {done.months[-1]}" if done.months else ""
    print(f"{done.rows} incidents written to {done.directory} as GeoParquet: {len(done.files)} files, "
          f"{len(done.months)} months{span}")
    return 0


def cmd_incidents_set_status(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=2) as services:
        done = workflows.set_incident_status(services, source=args.source, external_id=args.external_id,
                                             status=args.status, actor=args.actor, note=args.note or "")
    print(f"{done['source']}/{done['external_id']}: {done['from']} → {done['to']}")
    return 0


def cmd_incidents_escalate(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=2) as services:
        done = workflows.escalate_overdue(services)
    print(f"escalated {done['escalated']} case(s) to the next tier; {done['supervised']} put under supervision (督办)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """``report weekly|monthly|yearly``: the bulletin of one period as .xlsx, .html or .pdf."""
    from pathlib import Path

    from gis.io import bulletin as report
    from gis.io.paths import writable_path
    kind = {"weekly": "week", "monthly": "month", "yearly": "year"}[args.action]
    suffix = Path(args.out).suffix.lower()
    if suffix not in (".xlsx", ".html", ".htm", ".pdf"):
        raise InputError(f"cannot tell the report format of '{args.out}'", field="--out",
                         fix="use an .xlsx, .html or .pdf file name")
    period = getattr(args, kind)
    if period is not None:
        workflows.bulletin_period(kind, period)       # a bad --week/--month/--year fails before the database
    workflows.bulletin_source(args.source)
    writable_path(args.out, field="--out")
    with workflows.connect(maxconn=2) as services:
        bulletin = workflows.period_bulletin(services, kind, period, street=args.street, source=args.source,
                                             min_due=args.min_due)
    if suffix == ".xlsx":
        data = report.bulletin_to_xlsx(bulletin)
    elif suffix == ".pdf":
        data = report.bulletin_to_pdf(bulletin)
    else:
        data = report.bulletin_to_html(bulletin).encode("utf-8")
    Path(args.out).write_bytes(data)
    t = bulletin.totals
    print(f"{bulletin.week}: received {int(t['received'])}, completed {int(t['completed'])}, "
          f"{len(bulletin.communities)} communities; written to {args.out}")
    return 0


# -- analytics -----------------------------------------------------------------------------


def cmd_hotspots(args: argparse.Namespace) -> int:
    """``hotspots``: Gi* hot and cold spots per grid of one level, as CSV or GeoJSON."""
    from gis.io import analytics_files
    from gis.io.paths import writable_path
    from gis.workflows import analytics

    analytics_files.file_format(args.out)                 # a bad --out fails before the database
    writable_path(args.out, field="--out")
    with workflows.connect(maxconn=2) as services:
        spots = analytics.hot_spots_job(services, level=args.level, since=args.since, until=args.until,
                                        category=args.category, source=args.source, value=args.value,
                                        within=args.within, permutations=args.permutations, seed=args.seed,
                                        p_value=args.p_value)
    analytics_files.write_hot_spots(spots, args.out)
    counts = spots["class"].value_counts()
    print(f"{len(spots)} grids: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; written to {args.out}")
    return 0


def cmd_repeats(args: argparse.Namespace) -> int:
    """``repeats``: 高频点位, the same category reported ≥ k times within d metres and t days."""
    from gis.io import analytics_files
    from gis.io.paths import writable_path
    from gis.workflows import analytics

    analytics_files.file_format(args.out)
    writable_path(args.out, field="--out")
    with workflows.connect(maxconn=2) as services:
        found = analytics.repeats(services, since=args.since, until=args.until, k=args.k, d_m=args.d_m,
                                  t_days=args.t_days, category=args.category, source=args.source)
    analytics_files.write_repeats(found, args.out)
    print(f"{len(found)} repeat locations ({int(found['count'].sum()) if len(found) else 0} cases); "
          f"written to {args.out}")
    return 0


def cmd_aggregate(args: argparse.Namespace) -> int:
    """``aggregate DIR``: counts per grid × period of a GeoParquet history, on Dask (or in this process)."""
    from gis.core import scale as core_scale
    from gis.io import history_files
    from gis.io.paths import writable_path
    from gis.workflows import scale

    core_scale.check_level(args.level)                     # bad input fails before any cluster starts
    core_scale.check_period(args.by)
    history_files.counts_format(args.out)
    writable_path(args.out, field="--out")
    history_files.history_files(args.directory)
    if args.grids:
        grids = history_files.grids_from_parquet(args.grids)
    else:
        with workflows.connect(maxconn=1) as services:
            grids = scale.grids_of_version(services, version_id=args.version)
    progress, close = _tqdm_progress()
    try:
        if args.scheduler is None and args.workers == 0:
            result = scale.aggregate_history(args.directory, grids=grids, level=args.level, by=args.by,
                                             categories=args.category, by_category=args.by_category,
                                             progress=progress)
        else:
            with scale.dask_client(scheduler=args.scheduler, workers=args.workers) as client:
                result = scale.aggregate_history(args.directory, grids=grids, level=args.level, by=args.by,
                                                 categories=args.category, by_category=args.by_category,
                                                 client=client, progress=progress)
    finally:
        close()
    history_files.write_counts(result.counts, args.out)
    rate = result.points / result.seconds if result.seconds > 0 else 0.0
    print(f"{result.points} points in {result.partitions} partitions on {result.where}: {result.seconds:.1f} s "
          f"({rate:,.0f} points/s); {result.outside} outside every micro-grid; {len(result.counts)} rows "
          f"({args.level} × {args.by}) written to {args.out}")
    return 0


# -- the parser ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gis", description="网格通 (Grid Governance GIS)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    dbp = verbs.add_parser("db", help="the database: init, start, stop, status, url, backup, restore")
    dbv = dbp.add_subparsers(dest="action", required=True, metavar="ACTION")
    dbv.add_parser("init", help="create or upgrade the schema").set_defaults(func=cmd_db_init)
    dbv.add_parser("start", help="start the embedded server").set_defaults(func=cmd_db_start)
    dbv.add_parser("stop", help="stop the embedded server").set_defaults(func=cmd_db_stop)
    st = dbv.add_parser("status", help="server, versions, schema")
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(func=cmd_db_status)
    dbv.add_parser("url", help="print the database URL").set_defaults(func=cmd_db_url)
    bk = dbv.add_parser("backup", help="write the whole database to a file (pg_dump custom format)")
    bk.add_argument("path", metavar="PATH", help="the archive to write (replaced when complete)")
    bk.set_defaults(func=cmd_db_backup)
    rs = dbv.add_parser("restore", help="replace the database's contents with a backup (one transaction)")
    rs.add_argument("path", metavar="PATH", help="an archive written by db backup")
    rs.set_defaults(func=cmd_db_restore)

    register_more(verbs)
    return parser


def register_more(verbs: argparse._SubParsersAction) -> None:
    """Verbs of the grid, incident and report jobs."""
    crs_help = "coordinates: wgs84 (default), gcj02 (Amap, Tencent), bd09 (Baidu) or EPSG:<code>"

    gp = verbs.add_parser("grids", help="grid boundaries: import, validate, export")
    gv = gp.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, func, help_text in (("import", cmd_grids_import, "validate and store a layer as the active version"),
                                    ("validate", cmd_grids_validate, "report problems without storing")):
        a = gv.add_parser(action, help=help_text)
        a.add_argument("path", help="GeoJSON, GeoPackage or Shapefile")
        a.add_argument("--crs", default="wgs84", help=crs_help)
        a.add_argument("--fix", action="store_true", help="repair invalid geometry with make_valid and say what changed")
        a.add_argument("--strict", action="store_true", help="treat warnings (gaps, slivers) as errors")
        a.add_argument("--tolerance-m2", type=float, default=1.0, help="overlap/overhang tolerance in m² (default 1)")
        a.add_argument("--problems", metavar="GEOJSON", help="write the problem spots to this GeoJSON file")
        a.add_argument("--within", metavar="CODE",
                       help="the file holds only the area under this street, community or tertiary grid: "
                            "replace that area, carry everything else over unchanged")
        if action == "import":
            a.add_argument("--note", help="a note for the new grid version")
            a.add_argument("--effective-date", type=_date, metavar="YYYY-MM-DD",
                           help="the date the boundaries take effect (default today)")
            a.add_argument("--replace-all", action="store_true",
                           help="replace the whole level(s) the file holds, even if grids of the active version "
                                "are dropped (refused otherwise)")
        a.set_defaults(func=func)
    ve = gv.add_parser("versions", help="list the grid versions: status, dates, author, scope, counts")
    ve.add_argument("--drafts", action="store_true", help="list planners' drafts too")
    ve.set_defaults(func=cmd_grids_versions)
    ac = gv.add_parser("activate", help="make a retired version active again (undo): open cases move back")
    ac.add_argument("version", type=int, metavar="ID")
    ac.add_argument("--effective-date", type=_date, metavar="YYYY-MM-DD", help="default today")
    ac.set_defaults(func=cmd_grids_activate)
    di = gv.add_parser("diff", help="grids added, removed, reshaped and renamed from version A to B, "
                                    "and the open cases that would change hands")
    di.add_argument("a", type=int, metavar="A")
    di.add_argument("b", type=int, metavar="B")
    di.add_argument("--out", metavar="FILE", help=".gpkg (grids and cases) or .geojson (cases beside as _cases.csv)")
    di.add_argument("--limit", type=int, default=50, help="open cases printed (all are written to --out)")
    di.set_defaults(func=cmd_grids_diff)
    from gis.workflows.proposals import PROPOSAL_LEVELS
    pr = gv.add_parser("propose", help="balanced micro-grids for a tertiary grid or community: a household "
                                       "band, even case load (nothing stored)")
    pr.add_argument("code", metavar="CODE", help="a tertiary grid (三级网格) or community (二级网格) code")
    pr.add_argument("--level", default="micro", choices=list(PROPOSAL_LEVELS), help="the level to draw (micro)")
    pr.add_argument("--min-households", type=int, required=True, help="fewest households of a micro-grid")
    pr.add_argument("--max-households", type=int, required=True, help="most households of a micro-grid")
    pr.add_argument("--months", type=int, default=12, help="months of cases that make the expected load (default 12)")
    pr.add_argument("--seed", type=int, default=0, help="seed of the regionalisation (default 0)")
    pr.add_argument("--out", metavar="FILE", help="write the proposed micro-grids (.geojson, .gpkg, .shp)")
    pr.add_argument("--draft", action="store_true", help="open the proposal as a planner's draft of the area")
    pr.set_defaults(func=cmd_grids_propose)
    ex = gv.add_parser("export", help="write the active grids (by file extension: .geojson, .gpkg, .shp, "
                                      ".parquet for GeoParquet)")
    ex.add_argument("path")
    ex.add_argument("--level", choices=list(ALL_LEVELS))
    ex.add_argument("--version", type=int, metavar="ID", help="the grids of this version (default the active one)")
    ex.set_defaults(func=cmd_grids_export)

    sp = verbs.add_parser("staff", help="the grid staff roster")
    sv = sp.add_subparsers(dest="action", required=True, metavar="ACTION")
    si = sv.add_parser("import", help="load a roster CSV: grid_code, role, name, phone")
    si.add_argument("path")
    si.set_defaults(func=cmd_staff_import)

    ap = verbs.add_parser("addresses", help="the standard address register (标准地址, 楼栋 → micro-grid)")
    av = ap.add_subparsers(dest="action", required=True, metavar="ACTION")
    ai = av.add_parser("import", help="load a register CSV: address, community, estate, building, lon, lat, "
                                      "households, micro_code (missing micro_code filled by assignment)")
    ai.add_argument("path")
    ai.set_defaults(func=cmd_addresses_import)
    ae = av.add_parser("export", help="write the register as CSV (WGS-84)")
    ae.add_argument("path")
    ae.set_defaults(func=cmd_addresses_export)

    lp = verbs.add_parser("locate", help="grid path, worker and the reason for one point, as JSON")
    lp.add_argument("lon", type=float)
    lp.add_argument("lat", type=float)
    lp.add_argument("--crs", default="wgs84", help=crs_help)
    lp.set_defaults(func=cmd_locate)

    dp = verbs.add_parser("demo", help="load the demo district (中原区), reproducibly")
    dp.add_argument("--incidents", type=int, default=100_000, help="how many demo incidents (default 100000)")
    dp.add_argument("--seed", type=int, default=42)
    dp.add_argument("--if-empty", action="store_true", help="do nothing when grids are already stored")
    dp.set_defaults(func=cmd_demo)

    up = verbs.add_parser("users", help="local accounts (argon2): add, list, disable, set-password")
    uv = up.add_subparsers(dest="action", required=True, metavar="ACTION")
    ua = uv.add_parser("add", help="create an account; prompts for the password")
    ua.add_argument("name", metavar="NAME", help="account name (2–64 letters, digits or _ . @ -)")
    ua.add_argument("--role", required=True, choices=access.USER_ROLES, help="what the user may do")
    ua.add_argument("--scope", required=True, metavar="CODE", help="grid code whose cases the user sees")
    ua.add_argument("--display-name", default="", help="the person's name as the roster spells it")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    ua.set_defaults(func=cmd_users_add)
    uv.add_parser("list", help="every account, without passwords").set_defaults(func=cmd_users_list)
    ud = uv.add_parser("disable", help="stop an account from signing in")
    ud.add_argument("name", metavar="NAME")
    ud.set_defaults(func=cmd_users_disable)
    usp = uv.add_parser("set-password", help="set a new password and lift a lock-out")
    usp.add_argument("name", metavar="NAME")
    usp.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    usp.set_defaults(func=cmd_users_set_password)

    ip = verbs.add_parser("incidents", help="incidents: import, export, set-status")
    iv = ip.add_subparsers(dest="action", required=True, metavar="ACTION")
    ii = iv.add_parser("import", help="load CSV, GeoJSON or Open311 JSON; print accepted/unassigned/rejected")
    ii.add_argument("path")
    ii.add_argument("--crs", default="wgs84", help=crs_help)
    ii.add_argument("--source", help="the channel, when the file has no source column (e.g. 12345)")
    ii.add_argument("--rejects", metavar="CSV", help="write refused rows (line, field, reason, raw) here")
    ii.set_defaults(func=cmd_incidents_import)
    ie = iv.add_parser("export", help="write incidents (CSV, GeoJSON, Open311 JSON, or a folder of GeoParquet "
                                      "partitioned by month)")
    ie.add_argument("path", help="the file, or with --format parquet a new or empty folder")
    ie.add_argument("--format", choices=["csv", "geojson", "open311", "parquet"],
                    help="default from the extension; parquet: DIR/month=YYYY-MM/part-NNN.parquet (WGS-84)")
    ie.set_defaults(func=cmd_incidents_export)
    iss = iv.add_parser("set-status", help="move a case along its lifecycle")
    iss.add_argument("source")
    iss.add_argument("external_id")
    iss.add_argument("status", help="stage code or Chinese name (e.g. dispatched / 派遣)")
    iss.add_argument("--actor", required=True, help="who does it")
    iss.add_argument("--note", help="reason or remark (required for 退回 returned)")
    iss.set_defaults(func=cmd_incidents_set_status)
    iv.add_parser("escalate", help="escalate overdue cases by the tier rules (run it e.g. every 15 minutes)"
                  ).set_defaults(func=cmd_incidents_escalate)

    rp = verbs.add_parser("report", help="reports: bulletins of a week, month or year")
    rv = rp.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, option, example, help_text in (
            ("weekly", "--week", "2026-W47", "周通报 of one ISO week"),
            ("monthly", "--month", "2026-11", "月汇总 of one calendar month"),
            ("yearly", "--year", "2026", "年度考核 ranking of one year")):
        rw = rv.add_parser(action, help=f"{help_text} as .xlsx, printable .html or .pdf")
        rw.add_argument(option, help=f"e.g. {example}; default the last complete one")
        rw.add_argument("--street", metavar="CODE", help="a street's code: the street office's own bulletin")
        rw.add_argument("--source", default="all", help="all (every channel, default) or hotline12345 (12345 only)")
        rw.add_argument("--out", required=True, help="FILE.xlsx, FILE.html or FILE.pdf")
        rw.add_argument("--min-due", type=int, default=5, help="cases due below which a community is not ranked")
        rw.set_defaults(func=cmd_report)

    hp = verbs.add_parser("hotspots", help="Gi* hot and cold spots per grid (queen contiguity, 999 permutations, "
                                           "FDR) as .csv or .geojson")
    hp.add_argument("--level", required=True, choices=["street", "community", "grid", "micro"])
    hp.add_argument("--since", required=True, type=_date, help="first day, YYYY-MM-DD (China time)")
    hp.add_argument("--until", required=True, type=_date, help="last day, YYYY-MM-DD (included)")
    hp.add_argument("--category", help="one category code (e.g. env.exposed_garbage); default all")
    hp.add_argument("--source", help="one channel (e.g. 12345); default all")
    hp.add_argument("--within", metavar="CODE", help="only the grids under this street, community or grid")
    hp.add_argument("--value", default="count", choices=["count", "per_1000"],
                    help="cases, or cases per 1,000 households")
    hp.add_argument("--permutations", type=int, default=999)
    hp.add_argument("--seed", type=int, default=0)
    hp.add_argument("--p-value", dest="p_value", default=core_analytics.DEFAULT_P_VALUE,
                    choices=core_analytics.P_VALUES,
                    help="which p the classes use: the normal p of z, as ArcGIS, or the stricter permutation p "
                         f"(default {core_analytics.DEFAULT_P_VALUE})")
    hp.add_argument("--out", required=True, help="FILE.csv or FILE.geojson")
    hp.set_defaults(func=cmd_hotspots)

    rpp = verbs.add_parser("repeats", help="高频点位: the same category reported ≥ k times within d metres and "
                                           "t days, with grid and worker, as .csv or .geojson")
    rpp.add_argument("--since", required=True, type=_date, help="first day, YYYY-MM-DD (China time)")
    rpp.add_argument("--until", required=True, type=_date, help="last day, YYYY-MM-DD (included)")
    rule = core_analytics.REPEAT_RULE
    rpp.add_argument("--k", type=int, default=rule.k, help=f"reports at least (default {rule.k})")
    rpp.add_argument("--d-m", dest="d_m", type=float, default=rule.d_m, help=f"within metres (default {rule.d_m:g})")
    rpp.add_argument("--t-days", dest="t_days", type=float, default=rule.t_days,
                     help=f"within days (default {rule.t_days:g})")
    rpp.add_argument("--category", help="one category code; default all")
    rpp.add_argument("--source", help="one channel; default all")
    rpp.add_argument("--out", required=True, help="FILE.csv or FILE.geojson")
    rpp.set_defaults(func=cmd_repeats)

    agp = verbs.add_parser("aggregate", help="city scale: counts per grid × day/week/month of a GeoParquet history "
                                             "(incidents export DIR --format parquet) on a Dask cluster")
    agp.add_argument("directory", metavar="DIR", help="the GeoParquet history (a folder of month=YYYY-MM parts)")
    agp.add_argument("--level", required=True, metavar="L", help="district, street, community, grid or micro")
    agp.add_argument("--by", default="week", metavar="PERIOD",
                     help="day (2026-05-01), week (ISO, 2026-W05) or month (2026-05), China time; default week")
    agp.add_argument("--category", nargs="+", metavar="C", help="only these category codes; default all")
    agp.add_argument("--by-category", action="store_true", help="count each category apart (a category column)")
    where = agp.add_mutually_exclusive_group()
    where.add_argument("--grids", metavar="FILE.parquet", help="the grids (python -m gis grids export FILE.parquet); "
                                                               "no database needed")
    where.add_argument("--version", type=int, metavar="ID", help="a stored grid version (default the active one)")
    run = agp.add_mutually_exclusive_group()
    run.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="a running Dask scheduler (dask-scheduler)")
    run.add_argument("--workers", type=int, default=2, metavar="N",
                     help="workers of a local cluster (default 2; 0: in this process, without Dask)")
    agp.add_argument("--out", required=True, metavar="FILE", help="FILE.csv or FILE.parquet")
    agp.set_defaults(func=cmd_aggregate)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except GisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: a bug to report, not a user's fault
        if os.environ.get("GIS_DEBUG"):
            traceback.print_exc()
        print(f"internal error: {type(exc).__name__}: {exc} (set GIS_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
