"""Hostile-input, concurrency, fault and access probes of the trust issue, as a table.

    .venv/bin/python benchmarks/probes.py [--rows 200000]

Each probe does what a user, a bad file or a fault would, through the command line
(``python -m gis``, ``DATABASE_URL`` pointing at a throw-away PostGIS holding the demo
grids) or raw SQL as the app's role, and checks the promise: every good row stored,
the bad one refused alone with a reason, one clear line and exit 2 for unusable input,
nothing half-written, nobody seeing what their scope does not hold. The table gives
tried / held / rows lost per probe; the file ends with the totals.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
from _common import BenchServer, table  # noqa: I001 (script-local helper)

from gis import workflows
from gis.core import access
from gis.settings import PROJECT_ROOT, Settings
from gis.store import embedded, migrate

HEADER = ["source", "external_id", "category", "lon", "lat", "reported_at", "status", "description", "address"]
PASSWORD = "probe password 1"


class Probes:
    def __init__(self, url: str, work: Path, rows: int) -> None:
        self.url, self.work, self.rows = url, work, rows
        self.results: list[list[str]] = []
        with workflows.Services.for_url(url, principal=access.SYSTEM, maxconn=2) as services:
            micro = workflows.grid_version(services).level("micro")
        points = micro.geometry.representative_point()
        self.points = list(zip(points.x, points.y))

    # -- helpers ---------------------------------------------------------------------------------

    def cli(self, *args: str, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        full = {k: v for k, v in os.environ.items() if k not in ("GIS_HOME", "GIS_PORT")}
        full.update({"DATABASE_URL": self.url, **(env or {})})
        return subprocess.run([sys.executable, "-m", "gis", *args], capture_output=True, text=True, env=full,
                              cwd=PROJECT_ROOT, input=input, timeout=900)

    def sql(self, statement: str, params=None, *, user: str | None = None):
        conn = psycopg2.connect(self.url)
        try:
            with conn, conn.cursor() as cur:
                if user is not None:
                    cur.execute(f"SET ROLE {migrate.APP_ROLE}")
                    cur.execute("SELECT set_config('gis.user', %s, true)", (user,))
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else cur.rowcount
        finally:
            conn.close()

    def stored(self, source: str) -> int:
        return self.sql("SELECT count(*) FROM incident WHERE source = %s", (source,))[0][0]

    def rows_for(self, source: str, n: int, *, status: str = "received", start: int = 0) -> list[list[str]]:
        out = []
        for i in range(start, start + n):
            lon, lat = self.points[i % len(self.points)]
            out.append([source, f"{source}-{i:07d}", "暴露垃圾", f"{lon:.6f}", f"{lat:.6f}",
                        "2026-11-20T10:00:00", status, f"描述 {i}", f"测试路{i}号"])
        return out

    def write(self, name: str, rows: list[list[str]], *, raw_tail: str = "") -> Path:
        path = self.work / name
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(rows)
            fh.write(raw_tail)
        return path

    def record(self, tried: str, held: bool, lost: int, note: str) -> None:
        self.results.append([tried, "held" if held else "FAILED", str(lost), note])
        print(f"  {'held  ' if held else 'FAILED'} {tried}: {note}", flush=True)

    def one_bad_row(self, tried: str, source: str, bad_field: str, bad_value: str, *, n: int, reason: str) -> None:
        rows = self.rows_for(source, n)
        rows[n // 2][HEADER.index(bad_field)] = bad_value
        path = self.write(f"{source}.csv", rows)
        done = self.cli("incidents", "import", str(path), "--rejects", str(self.work / f"{source}-rejects.csv"))
        stored = self.stored(source)
        rejects = (self.work / f"{source}-rejects.csv")
        named = rejects.exists() and reason in rejects.read_text(encoding="utf-8-sig")
        self.record(tried, done.returncode == 0 and stored == n - 1 and named, (n - 1) - stored,
                    f"exit {done.returncode}, {stored} of {n - 1} good rows stored, the bad one refused"
                    f"{' with its reason' if named else ' WITHOUT the expected reason'}")

    # -- rows lost to bad input ---------------------------------------------------------------------

    def nul_byte(self) -> None:
        self.one_bad_row("a NUL byte in one field", "nul", "description", "bad\x00byte", n=self.rows, reason="NUL")

    def long_key(self) -> None:
        self.one_bad_row("a 10,000-character external_id", "longkey", "external_id", "k" * 10_000, n=1000,
                         reason="200")

    def large_field(self) -> None:
        self.one_bad_row("a 10 MB description", "bigfield", "description", "长" * (10 * 1024 * 1024 // 3), n=1000,
                         reason="64 KB")

    def unclosed_quote(self) -> None:
        rows = self.rows_for("quote", 12)
        path = self.work / "quote.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(rows[:4])
            broken = list(rows[4])
            fh.write(",".join(broken[:7]) + ',"an unclosed quote,' + broken[8] + "\n")
            writer.writerows(rows[5:])
        done = self.cli("incidents", "import", str(path))
        stored = self.stored("quote")
        reported = "rejected 1" in done.stdout
        self.record("an unclosed quote in the middle of a CSV", done.returncode == 0 and stored == 11 and reported,
                    11 - stored, f"exit {done.returncode}, {stored} of 11 good rows stored; "
                                 f"summary: {done.stdout.strip().splitlines()[-1] if done.stdout.strip() else '-'}")

    def deep_json(self) -> None:
        path = self.work / "deep.geojson"
        path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
        done = self.cli("incidents", "import", str(path))
        one_line = done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
        self.record("deeply nested JSON", one_line, 0, f"exit {done.returncode}: {done.stderr.strip()[:90]}")

    def far_and_future(self) -> None:
        rows = self.rows_for("odd", 3)
        rows[0][3:5] = ["0", "0"]
        rows[1][5] = "2099-01-01T10:00:00"
        path = self.write("odd.csv", rows)
        done = self.cli("incidents", "import", str(path))
        warned_far = "50" in done.stderr and "km" in done.stderr
        warned_future = "after the import" in done.stderr
        self.record("a point at (0,0) and a report dated 2099", done.returncode == 0 and warned_far and warned_future,
                    3 - self.stored("odd"), f"stored {self.stored('odd')} of 3; warned: far {warned_far}, "
                                            f"future {warned_future}")

    # -- status -------------------------------------------------------------------------------------

    def older_file(self) -> None:
        path_new = self.write("later.csv", self.rows_for("older", 100, status="dispatched"))
        path_old = self.write("earlier.csv", self.rows_for("older", 100, status="received"))
        self.cli("incidents", "import", str(path_new))
        done = self.cli("incidents", "import", str(path_old))
        moved = self.sql("SELECT count(*) FROM incident WHERE source = 'older' AND status = 'received'")[0][0]
        self.record("re-importing an older file", moved == 0 and "never moves a case backwards" in done.stderr, 0,
                    f"{moved} of 100 cases moved back; warned: {'backwards' in done.stderr}")

    # -- concurrency ----------------------------------------------------------------------------------

    def concurrent(self, *, opposite: bool) -> None:
        source = "conc_opp" if opposite else "conc_same"
        n = min(self.rows, 60_000)
        a = self.rows_for(source, n)
        b = self.rows_for(source, n, start=n // 2)
        if opposite:
            b = b[::-1]
        paths = [self.write(f"{source}-a.csv", a), self.write(f"{source}-b.csv", b)]
        results: list[subprocess.CompletedProcess] = [None, None]  # type: ignore[list-item]

        def run(i: int) -> None:
            results[i] = self.cli("incidents", "import", str(paths[i]))
        threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        distinct = n + n // 2
        new = sum(int(r.stdout.split("(new ")[1].split(",")[0]) for r in results if "(new " in r.stdout)
        events = self.sql("SELECT count(*) FROM incident_event e JOIN incident i ON i.id = e.incident_id "
                          "WHERE i.source = %s AND e.from_status IS NULL", (source,))[0][0]
        ok = all(r.returncode == 0 for r in results) and new == distinct == self.stored(source) == events
        self.record(f"two overlapping imports at once, {'opposite' if opposite else 'same'} row order", ok,
                    distinct - self.stored(source),
                    f"exits {[r.returncode for r in results]}, reported new {new}, stored {self.stored(source)}, "
                    f"creation events {events}, distinct {distinct}")

    # -- paths checked first --------------------------------------------------------------------------

    def unwritable(self) -> None:
        blocked = "/proc/no/such/dir/out"
        path = self.write("paths.csv", self.rows_for("paths", 50))
        started = time.perf_counter()
        done = self.cli("incidents", "import", str(path), "--rejects", blocked + ".csv")
        self.record("an unwritable --rejects path", done.returncode == 2 and self.stored("paths") == 0, 0,
                    f"exit {done.returncode} before storing ({self.stored('paths')} stored), "
                    f"{time.perf_counter() - started:.1f} s")
        for args in (("incidents", "export", blocked + ".csv"), ("report", "weekly", "--week", "2026-W47",
                                                                "--out", blocked + ".xlsx")):
            started = time.perf_counter()
            done = self.cli(*args)
            self.record(f"an unwritable path for {' '.join(args[:2])}", done.returncode == 2, 0,
                        f"exit {done.returncode} in {time.perf_counter() - started:.1f} s")
        done = self.cli("report", "weekly", "--week", "9999-W52", "--out", str(self.work / "r.xlsx"))
        self.record("report --week 9999-W52", done.returncode == 2 and "Traceback" not in done.stderr, 0,
                    f"exit {done.returncode}: {done.stderr.strip()[:80]}")

    # -- who may see and do what ------------------------------------------------------------------------

    def access(self) -> None:
        with workflows.Services.for_url(self.url, principal=access.SYSTEM, maxconn=1) as services:
            tree = workflows.grid_tree(services)
            communities = sorted(tree.units_under("410102009", "community"))[:2]
            for i, code in enumerate(communities):
                workflows.add_user(services, f"probe_c{i}", role="community", scope=code, password=PASSWORD)
        total = self.sql("SELECT count(*) FROM incident")[0][0]
        mine = self.sql("SELECT count(*) FROM incident", user="probe_c0")[0][0]
        outside = self.sql("SELECT count(*) FROM incident i WHERE NOT EXISTS (SELECT 1 FROM grid_ancestry a "
                           "JOIN grid_version v ON v.id = a.version_id AND v.status = 'active' "
                           "WHERE a.code = i.micro_code AND a.ancestor_code = %s)", (communities[0],))[0][0]
        seen_outside = self.sql("SELECT count(*) FROM incident i WHERE micro_code IS NULL OR micro_code NOT IN "
                                "(SELECT code FROM grid_ancestry WHERE ancestor_code = %s)", (communities[0],),
                                user="probe_c0")[0][0]
        self.record("a community account reads every case in raw SQL", seen_outside == 0, 0,
                    f"sees {mine} of {total}; of the {outside} outside its scope, {seen_outside}")
        changed = self.sql("UPDATE incident SET status = 'closed' WHERE micro_code IS NULL OR micro_code NOT IN "
                           "(SELECT code FROM grid_ancestry WHERE ancestor_code = %s)", (communities[0],),
                           user="probe_c0")
        self.record("a community account closes other communities' cases in raw SQL", changed == 0, 0,
                    f"{changed} rows changed")
        nobody = self.sql("SELECT count(*) FROM incident", user="")[0][0]
        self.record("a connection that names no user", nobody == 0, 0, f"sees {nobody} cases")
        try:
            self.sql("SELECT password_hash FROM app_user", user="probe_c0")
            hashes = "readable"
        except psycopg2.errors.InsufficientPrivilege:
            hashes = "refused"
        self.record("the app's role reads password hashes", hashes == "refused", 0, hashes)
        try:
            self.sql("DELETE FROM audit_log")
            audit = "deleted"
        except psycopg2.errors.InsufficientPrivilege:
            audit = "refused"
        self.record("the owner deletes the audit trail", audit == "refused", 0, audit)
        role = self.sql("SELECT current_user", user="probe_c0")
        with workflows.Services.for_url(self.url, principal=access.SYSTEM, maxconn=1) as services:
            with services.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
                job_role, superuser = cur.fetchone()
        self.record("the jobs' database role", job_role == migrate.APP_ROLE and not superuser, 0,
                    f"{job_role}, superuser {superuser} (raw probe as {role[0][0]})")
        bind = (PROJECT_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8")
        self.record("the app's default address", 'address = "127.0.0.1"' in bind, 0,
                    "127.0.0.1 in .streamlit/config.toml" if 'address = "127.0.0.1"' in bind else "all interfaces")

    # -- the embedded server ------------------------------------------------------------------------------

    def server_faults(self) -> None:
        home = Path(tempfile.mkdtemp(prefix="gis-probe-", dir="/tmp"))
        home.chmod(0o755)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {"GIS_HOME": str(home), "GIS_PORT": str(port), "DATABASE_URL": ""}
        settings = Settings(database_url=None, gis_home=home, port=port, pg_bin=None)
        server = embedded.EmbeddedServer(settings)
        try:
            self.cli("db", "start", env=env)
            self.sql_at(server.url())
            self.cli("db", "stop", env=env)
            started = time.perf_counter()
            done = self.cli("db", "start", env=env)
            self.record("db stop, then db start on a pinned port", done.returncode == 0, 0,
                        f"exit {done.returncode} in {time.perf_counter() - started:.1f} s")
            for label, content in (("an empty postmaster.pid", ""), ("a garbage postmaster.pid", "garbage\n\x00")):
                self.cli("db", "stop", env=env)
                (server.cluster / "postmaster.pid").write_text(content)
                done = self.cli("db", "start", env=env)
                self.record(label, done.returncode == 0, 0, f"exit {done.returncode}: "
                                                            f"{(done.stdout or done.stderr).strip()[:70]}")
            self.cli("db", "stop", env=env)
            impostor = subprocess.Popen(["bash", "-c", "exec -a postgres sleep 60"])
            try:
                (server.cluster / "postmaster.pid").write_text(f"{impostor.pid}\n{server.cluster}\n")
                started = time.perf_counter()
                done = self.cli("db", "stop", env=env)
                alive = impostor.poll() is None
                self.record("a postmaster.pid naming another program called postgres", alive, 0,
                            f"exit {done.returncode} in {time.perf_counter() - started:.1f} s; the other program "
                            f"{'untouched' if alive else 'was signalled'}")
            finally:
                impostor.kill()
        finally:
            self.cli("db", "stop", env=env)
            subprocess.run(["rm", "-rf", str(home)])

    @staticmethod
    def sql_at(url: str) -> None:
        psycopg2.connect(url).close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the large files (the NUL-byte probe)")
    args = parser.parse_args()
    with BenchServer() as bench, tempfile.TemporaryDirectory(prefix="gis-probes-") as work:
        url = bench.create_database("probes")
        with workflows.Services.for_url(url, principal=access.SYSTEM, maxconn=2) as services:
            workflows.load_demo(services, incidents=20_000, seed=5)
        probes = Probes(url, Path(work), args.rows)
        for step in (probes.nul_byte, probes.long_key, probes.large_field, probes.unclosed_quote, probes.deep_json,
                     probes.far_and_future, probes.older_file, lambda: probes.concurrent(opposite=False),
                     lambda: probes.concurrent(opposite=True), probes.unwritable, probes.access,
                     probes.server_faults):
            step()
    held = sum(r[1] == "held" for r in probes.results)
    lost = sum(int(r[2]) for r in probes.results)
    print()
    print(table(probes.results, ["tried", "outcome", "rows lost", "what happened"]))
    print(f"\n{len(probes.results)} probes: {held} held, {len(probes.results) - held} failed; {lost} good rows lost")
    print(json.dumps({"probes": len(probes.results), "held": held, "rows_lost": lost}))


if __name__ == "__main__":
    main()
