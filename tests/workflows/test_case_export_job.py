"""The cases page's export job against the demo district: every matching case (not the screen's
limit), codes as text in the CSV and the XLSX, China-time date cells, the filter inside the file,
phones masked as the role sees them, and the right to export."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import openpyxl
import pandas as pd
import psycopg2
import pytest

from gis import workflows
from gis.core import access
from gis.core.access import SYSTEM
from gis.core.china_time import CHINA_TZ
from gis.core.hierarchy import GridTree
from gis.core.metrics import CaseFilter
from gis.core.rules import lifecycle
from gis.errors import InputError, PermissionDenied
from gis.io import case_export
from gis.workflows import Services

DISTRICT, STREET = "410102", "410102009"
PASSWORD = "export-test-password-1"
EVERYTHING = CaseFilter(since=date(2000, 1, 1), until=date.today() + timedelta(days=1))
SCREEN_LIMIT = 2000  # the cases page shows at most this many rows by default


@pytest.fixture(scope="module")
def people(demo_database_url):
    """Services bound to one account per role the tests need (accounts ``xp_<role>``)."""
    with Services.for_url(demo_database_url, principal=SYSTEM, maxconn=4) as system:
        grids = workflows.active_grids(system)
        community = grids.loc[(grids["level"] == "community") & (grids["parent_code"] == STREET), "code"].min()
        scopes = {"analyst": DISTRICT, "leader": STREET, "community": community, "planner": DISTRICT}
        existing = set(workflows.list_users(system)["name"])
        out = {}
        for role, scope in scopes.items():
            name = f"xp_{role}"
            if name in existing:
                workflows.set_password(system, name, password=PASSWORD)
            else:
                workflows.add_user(system, name, role=role, scope=scope, password=PASSWORD,
                                   display_name=f"导出{role}")
            out[role] = system.as_user(workflows.sign_in(system, name, PASSWORD))
        out["tree"] = GridTree(grids)
        yield out


def owner_rows(url: str, statement: str, params=None) -> list[tuple]:
    conn = psycopg2.connect(url)  # the owner: no row-level security, the database's own answer
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()
    finally:
        conn.close()


def csv_of(services, flt, **kwargs) -> tuple[bytes, int]:
    buf = io.BytesIO()
    n = workflows.export_cases(services, flt, buf, fmt="csv", **kwargs)
    return buf.getvalue(), n


def test_the_csv_export_holds_every_matching_case_beyond_the_screen_limit(people, demo_database_url):
    analyst = people["analyst"]
    expected = owner_rows(demo_database_url, "SELECT external_id FROM incident WHERE reported_at >= %s "
                          "AND reported_at < %s", (datetime(2000, 1, 1, tzinfo=CHINA_TZ),
                                                   datetime.combine(EVERYTHING.until + timedelta(days=1),
                                                                    datetime.min.time(), CHINA_TZ)))
    assert len(expected) > SCREEN_LIMIT
    data, n = csv_of(analyst, EVERYTHING)
    frame = pd.read_csv(io.BytesIO(data), **case_export.CSV_READ_OPTIONS)
    assert n == len(frame) == len(expected) == workflows.count_cases(analyst, EVERYTHING)
    assert sorted(frame["编号"]) == sorted(e for (e,) in expected)
    # the page's own query, unlimited, agrees (same filter semantics as the table on screen)
    assert len(workflows.cases(analyst, EVERYTHING, limit=10 ** 7)) == n


def test_the_export_follows_the_search_the_open_only_switch_and_the_unit(people, demo_database_url):
    analyst, tree = people["analyst"], people["tree"]
    open_street = CaseFilter(since=EVERYTHING.since, until=EVERYTHING.until, unit=STREET)
    shown = workflows.cases(analyst, open_street, open_only=True, limit=10 ** 7)
    data, n = csv_of(analyst, open_street, open_only=True)
    frame = pd.read_csv(io.BytesIO(data), **case_export.CSV_READ_OPTIONS)
    assert 0 < n == len(shown) == len(frame)
    assert set(frame["编号"]) == set(shown["external_id"])
    assert set(frame["状态"]) <= {lifecycle.status_name_zh(s) for s in lifecycle.OPEN_STATUSES}
    assert set(frame["微网格编码"]) - {""} <= set(tree.micro_under(STREET))
    word = shown["address"].dropna().iloc[0][:4]
    searched = workflows.cases(analyst, open_street, search=word, open_only=True, limit=10 ** 7)
    assert workflows.count_cases(analyst, open_street, search=word, open_only=True) == len(searched) > 0
    assert csv_of(analyst, open_street, search=word, open_only=True)[1] == len(searched)


def test_csv_codes_stay_text_dates_are_china_time_and_the_filter_is_the_first_line(people, demo_database_url):
    analyst = people["analyst"]
    flt = CaseFilter(since=EVERYTHING.since, until=EVERYTHING.until, unit=STREET, sources=("12345",))
    data, n = csv_of(analyst, flt)
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: Excel reads the Chinese right
    first = data.decode("utf-8-sig").splitlines()[0]
    assert first.startswith("# 筛选条件: ") and "," not in first
    assert "航海西路街道" in first and "12345热线" in first and f"{flt.since} 至 {flt.until}" in first
    frame = pd.read_csv(io.BytesIO(data), **case_export.CSV_READ_OPTIONS)
    assert n == len(frame) > 0
    codes = frame["微网格编码"][frame["微网格编码"] != ""]
    assert len(codes) > 0 and codes.str.fullmatch(r"\d{16}").all()  # not 4.101020e+15
    # the documented alternative reads the same (every field is quoted, so a '#' in an address is safe)
    by_comment = pd.read_csv(io.BytesIO(data), comment="#", dtype=str, keep_default_na=False)
    assert by_comment.equals(frame)
    # every code is a quoted field in the file itself
    assert f'"{codes.iloc[0]}"' in data.decode("utf-8-sig")
    # dates: ISO China time to the minute, equal to the stored instants
    stored = dict(owner_rows(demo_database_url, "SELECT external_id, reported_at FROM incident "
                             "WHERE external_id = ANY(%s)", (list(frame["编号"].head(50)),)))
    for _, row in frame.head(50).iterrows():
        assert row["受理时间"] == stored[row["编号"]].astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    assert list(frame.columns) == [c.header for c in workflows.CASE_EXPORT_COLUMNS]
    # names next to the codes
    tree = people["tree"]
    some = frame[frame["微网格编码"] != ""].iloc[0]
    assert some["微网格"] == tree.name[some["微网格编码"]] and some["街道"] == "航海西路街道"


def test_xlsx_has_text_code_cells_date_cells_widths_a_frozen_header_and_the_filter_sheet(people):
    analyst = people["analyst"]
    flt = CaseFilter(since=date.today() - timedelta(days=30), until=date.today(), unit=STREET)
    buf = io.BytesIO()
    n = workflows.export_cases(analyst, flt, buf, fmt="xlsx")
    assert n == workflows.count_cases(analyst, flt) > 0
    book = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))
    assert book.sheetnames == ["工单", "筛选条件"]
    sheet = book["工单"]
    headers = [c.value for c in sheet[1]]
    assert headers == [c.header for c in workflows.CASE_EXPORT_COLUMNS]
    assert sheet.max_row == n + 1
    assert sheet.freeze_panes == "A2"
    col = {h: i + 1 for i, h in enumerate(headers)}
    letter = openpyxl.utils.get_column_letter
    assert sheet.column_dimensions[letter(col["描述"])].width == 60
    assert sheet.column_dimensions[letter(col["微网格编码"])].width >= 17
    code_cells = [sheet.cell(r, col["微网格编码"]) for r in range(2, n + 2)]
    filled = [c for c in code_cells if c.value is not None]
    assert filled and all(c.data_type == "s" and c.number_format == "@" and len(c.value) == 16 for c in filled)
    ids = [sheet.cell(r, col["编号"]) for r in range(2, n + 2)]
    assert all(c.data_type == "s" for c in ids)
    times = [sheet.cell(r, col["受理时间"]) for r in range(2, n + 2)]
    assert all(c.is_date and isinstance(c.value, datetime) and c.value.tzinfo is None for c in times)
    assert all(c.number_format == case_export.XLSX_TIME_FORMAT for c in times)
    # China time: every case was received within the filter's China-time dates
    assert all(flt.since <= c.value.date() <= flt.until for c in times)
    about = {row[0]: row[1] for row in book["筛选条件"].iter_rows(min_row=2, values_only=True)}
    assert about["受理时间"].startswith(f"{flt.since} 至 {flt.until}")
    assert "航海西路街道" in about["范围"] and about["只看未办结"] == "否"
    assert about["导出条数"] == str(n)


def test_a_leader_gets_masked_phones_and_a_community_account_clear_ones(people):
    leader, community = people["leader"], people["community"]
    assert leader.principal.masks_personal_data and not community.principal.masks_personal_data
    led = pd.read_csv(io.BytesIO(csv_of(leader, EVERYTHING)[0]), **case_export.CSV_READ_OPTIONS)
    phones = led["报告人电话"][led["报告人电话"] != ""]
    assert len(phones) > 0 and phones.str.fullmatch(r"\d{3}\*{4}\d{4}").all()
    own = pd.read_csv(io.BytesIO(csv_of(community, EVERYTHING)[0]), **case_export.CSV_READ_OPTIONS)
    clear = own["报告人电话"][own["报告人电话"] != ""]
    assert len(clear) > 0 and clear.str.fullmatch(r"\d{11}").all()
    # each exports its own scope only: the community's cases are some of the leader's street's
    assert 0 < len(own) < len(led) and set(own["编号"]) <= set(led["编号"])
    conditions = dict(workflows.case_export_conditions(leader, EVERYTHING))
    assert conditions["报告人电话"] == "已脱敏"


def test_an_xlsx_of_more_cases_than_a_worksheet_holds_is_refused_before_writing(people, monkeypatch):
    from gis.workflows import incidents
    analyst = people["analyst"]
    monkeypatch.setattr(incidents, "CASE_EXPORT_XLSX_MAX_ROWS", 10)
    out = io.BytesIO()
    with pytest.raises(InputError, match="more than an Excel worksheet holds") as refused:
        workflows.export_cases(analyst, EVERYTHING, out, fmt="xlsx")
    assert refused.value.fix == "narrow the filter (dates, street), or export CSV"
    assert out.getvalue() == b""
    assert csv_of(analyst, EVERYTHING)[1] > 10  # CSV has no such limit


def test_a_role_without_the_export_right_is_refused(people):
    planner = people["planner"]
    assert not planner.principal.can(access.EXPORT)
    with pytest.raises(PermissionDenied):
        workflows.export_cases(planner, EVERYTHING, io.BytesIO(), fmt="csv")


def test_the_file_name_carries_the_filter(people):
    analyst = people["analyst"]
    flt = CaseFilter(since=date(2026, 11, 1), until=date(2026, 11, 30), unit=STREET)
    assert workflows.case_export_file_name(analyst, flt, fmt="xlsx", open_only=True) == \
        "工单_航海西路街道_2026-11-01_2026-11-30_未办结.xlsx"
    assert workflows.case_export_file_name(analyst, EVERYTHING, fmt="csv", search='a/b"c') == \
        f"工单_{EVERYTHING.since}_{EVERYTHING.until}_搜索a_b_c.csv"
