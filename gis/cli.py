"""``python -m gis``: the command line (exit 0 done, 2 unusable input, 1 internal error)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import Callable, Sequence

from gis import workflows
from gis.errors import GisError, NotBuiltYet

Handler = Callable[[argparse.Namespace], int]


def _print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


# -- db ---------------------------------------------------------------------------


def cmd_db_init(args: argparse.Namespace) -> int:
    with workflows.connect(maxconn=1) as database:
        applied = workflows.init_database(database)
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


def not_built(verb: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        raise NotBuiltYet(f"'{verb}' is not built yet")
    return handler


# -- the parser ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gis", description="网格通 (Grid Governance GIS)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    dbp = verbs.add_parser("db", help="the database: init, start, stop, status, url")
    dbv = dbp.add_subparsers(dest="action", required=True, metavar="ACTION")
    dbv.add_parser("init", help="create or upgrade the schema").set_defaults(func=cmd_db_init)
    dbv.add_parser("start", help="start the embedded server").set_defaults(func=cmd_db_start)
    dbv.add_parser("stop", help="stop the embedded server").set_defaults(func=cmd_db_stop)
    st = dbv.add_parser("status", help="server, versions, schema")
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(func=cmd_db_status)
    dbv.add_parser("url", help="print the database URL").set_defaults(func=cmd_db_url)

    register_more(verbs)
    return parser


def register_more(verbs: argparse._SubParsersAction) -> None:
    """Verbs of the grid, incident and report jobs."""
    for verb in ("demo", "grids", "staff", "incidents", "locate", "report"):
        verbs.add_parser(verb, help="not built yet").set_defaults(func=not_built(verb))


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
