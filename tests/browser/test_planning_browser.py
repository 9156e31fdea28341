"""The planning page (网格规划) in a real browser: a district planner uploads a new boundary file
for one demo community (two of its micro-grids merged), sees the what-if table, commits, and
sees the map change.

Runs its own app on a database of its own holding the demo district (a small case load), so
the commit never touches the shared demo database. Debian's chromium through Playwright, as in
tests/browser/test_browser.py; screenshots go to ``test-output/browser/planning-*.png``.
"""

from __future__ import annotations

import itertools

import pytest

from gis import workflows
from gis.core import grid_edits
from gis.errors import InputError
from tests.browser.test_browser import (  # noqa: F401  (browser: a fixture)
    MAP_FRAME,
    OUTPUT,
    _poll,
    assert_no_app_error,
    browser,
    new_context,
    serving,
    settle,
    sign_in,
)
from tests.ui.conftest import PASSWORD

pytestmark = pytest.mark.browser

DISTRICT, STREET, STREET_NAME = "410102", "410102009", "航海西路街道"


def merged_community_file(services, path):
    """The micro-grids of the street's first community with two adjacent ones of one tertiary
    grid merged, written as GeoJSON: ``(community code, name, micro count before, kept code,
    removed code)``."""
    grids = workflows.active_grids(services)
    tree = workflows.grid_tree(services)
    community = min(c for c in tree.children[STREET] if tree.level[c] == "community")
    micro = grids[grids["code"].isin(tree.micro_under(community))].reset_index(drop=True)
    for _, rows in micro.groupby("parent_code"):
        for a, b in itertools.combinations(sorted(rows["code"]), 2):
            try:
                merged = grid_edits.merge_grids(micro, [a, b])
            except InputError:
                continue
            merged.to_file(path, driver="GeoJSON")
            return community, tree.name[community], len(micro), a, b
    raise AssertionError(f"no two adjacent micro-grids in {community}")


@pytest.fixture
def planning_app(services):
    """The app on a fresh demo district (2,000 cases) with the district planner ``br_planner``
    (served without a file watcher: :func:`serving`)."""
    workflows.load_demo(services, incidents=2000, seed=7)
    workflows.add_user(services, "br_planner", role="planner", scope=DISTRICT, password=PASSWORD,
                       display_name="浏览器规划员")
    with serving(services.database.url, log_name="streamlit-planning.log") as url:
        yield url


def map_polygons(page) -> int:
    """How many interactive polygons the page's (one) map draws."""
    return page.frame_locator(MAP_FRAME).locator(".leaflet-overlay-pane path.leaflet-interactive").count()


def choose(page, box: str, option: str) -> None:
    page.locator("[data-testid='stSelectbox']").filter(has_text=box).first.click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def view(page, name: str) -> None:
    page.locator("[data-testid='stRadio']").filter(has_text="版本对比").get_by_text(name, exact=True).click()
    settle(page)


def test_a_planner_uploads_a_community_file_sees_the_what_if_commits_and_the_map_changes(
        browser, planning_app, services, tmp_path):  # noqa: F811
    path = tmp_path / "community.geojson"
    community, name, before, kept, removed = merged_community_file(services, path)
    context = new_context(browser)
    try:
        page = context.new_page()
        page.goto(f"{planning_app}/planning")
        sign_in(page, "br_planner")
        page.get_by_role("heading", name="网格规划").wait_for()
        choose(page, "街道", STREET_NAME)
        choose(page, "社区", name)
        page.get_by_role("button", name="新建草稿").click()
        page.get_by_text(f"地图上共 {before} 个微网格。").wait_for()
        page.frame_locator(MAP_FRAME).locator(".leaflet-draw-draw-polyline").wait_for()  # the drawing tools
        settle(page)
        assert map_polygons(page) == before + 1  # the micro-grids and the community's outline

        page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(path))
        page.get_by_text(f"地图上共 {before - 1} 个微网格（已修改，未保存）。").wait_for()
        page.get_by_text("校验通过").wait_for()
        settle(page)
        assert map_polygons(page) == before
        assert_no_app_error(page)
        page.screenshot(path=str(OUTPUT / "planning-upload.png"), full_page=True)

        view(page, "试算")
        page.get_by_role("button", name="试算", exact=True).click()
        page.get_by_text("各微网格调整前后").wait_for()
        settle(page)
        page.get_by_text("各微网格调整前后").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        # the tables are canvases; their grids keep a hidden copy of the cells in the DOM
        texts = [t.text_content() or "" for t in page.locator("[data-testid='stDataFrame']").all()]
        text = next((t for t in texts if "户数(前/后)" in t), "")
        for expected in ("户数(前/后)", "每人每周(前/后)", "转出/转入在办", removed, "撤销", kept, "调整边界"):
            assert expected in text, (expected, text[:500])
        assert page.get_by_text("案件数变异系数").count() == 1
        page.screenshot(path=str(OUTPUT / "planning-whatif.png"), full_page=True)

        view(page, "提交")
        page.locator("[data-testid='stForm']").get_by_label("说明").fill("合并两个微网格")
        page.get_by_role("button", name="提交", exact=True).click()
        page.get_by_text(f"已提交：{name}的新边界已生效").wait_for()
        page.get_by_text(f"地图上共 {before - 1} 个微网格（版本").wait_for()
        settle(page)
        _poll(lambda: map_polygons(page) == before, page, what="the committed map")
        assert_no_app_error(page)
        page.screenshot(path=str(OUTPUT / "planning-commit.png"), full_page=True)
        assert context.requests.remote() == []
    except Exception:
        page.screenshot(path=str(OUTPUT / "planning-failure.png"), full_page=True)
        raise
    finally:
        context.close()

    tree = workflows.grid_tree(services)
    after = set(tree.micro_under(community))
    assert len(after) == before - 1 and kept in after and removed not in after
    versions = workflows.grid_versions(services, drafts=False)
    active = versions[versions["status"] == "active"].iloc[0]
    assert active["note"] == "合并两个微网格" and active["scope_code"] == community
    assert workflows.drafts(services) == []


def point_on_map(page, lon: float, lat: float) -> tuple[float, float]:
    """Where ``lon, lat`` (WGS-84; the test's map has no basemap, so no shift) is on the page."""
    frame = page.locator(MAP_FRAME).element_handle().content_frame()
    x, y = frame.evaluate("([lat, lon]) => { const p = window.map.latLngToContainerPoint([lat, lon]);"
                          " return [p.x, p.y]; }", [lat, lon])
    box = frame.locator(".leaflet-container").bounding_box()
    return box["x"] + x, box["y"] + y


def test_a_planner_selects_a_grid_on_the_map_and_splits_it_along_a_drawn_line(browser, planning_app, services):  # noqa: F811
    tree = workflows.grid_tree(services)
    community = min(c for c in tree.children[STREET] if tree.level[c] == "community")
    grids = workflows.active_grids(services)
    micro = grids[grids["code"].isin(tree.micro_under(community))].sort_values("code")
    target = micro.iloc[len(micro) // 2]
    inside = target.geometry.representative_point()
    minx, _, maxx, _ = target.geometry.bounds
    context = new_context(browser)
    try:
        page = context.new_page()
        page.goto(f"{planning_app}/planning")
        sign_in(page, "br_planner")
        choose(page, "街道", STREET_NAME)
        choose(page, "社区", tree.name[community])
        page.get_by_role("button", name="新建草稿").click()
        page.get_by_text(f"地图上共 {len(micro)} 个微网格。").wait_for()
        page.frame_locator(MAP_FRAME).locator(".leaflet-overlay-pane path.leaflet-interactive").first.wait_for()
        settle(page)
        page.mouse.click(*point_on_map(page, inside.x, inside.y))  # selects the grid
        page.get_by_role("button", name="沿所画线拆分").and_(page.locator(":enabled")).wait_for()
        settle(page)
        # a line across the grid, drawn with Leaflet.draw's line tool (a second click on the end finishes it)
        page.frame_locator(MAP_FRAME).locator(".leaflet-draw-draw-polyline").click()
        start = point_on_map(page, minx - 0.0003, inside.y)
        end = point_on_map(page, maxx + 0.0003, inside.y)
        page.mouse.click(*start)
        page.wait_for_timeout(300)
        page.mouse.click(*end)
        page.wait_for_timeout(300)
        page.mouse.click(*end)
        settle(page)
        page.get_by_role("button", name="沿所画线拆分").click()
        page.get_by_text(f"地图上共 {len(micro) + 1} 个微网格（已修改，未保存）。").wait_for()
        page.get_by_text(f"本次修改：拆分 {target['name']}").wait_for()
        settle(page)
        assert_no_app_error(page)
        page.screenshot(path=str(OUTPUT / "planning-split.png"), full_page=True)
        page.get_by_role("button", name="保存草稿").click()
        page.get_by_text("草稿已保存。").wait_for()
        assert context.requests.remote() == []
    except Exception:
        page.screenshot(path=str(OUTPUT / "planning-failure.png"), full_page=True)
        raise
    finally:
        context.close()
    (draft,) = workflows.drafts(services)
    saved = workflows.draft_area(services, draft.id).grids
    parts = saved[saved["parent_code"] == target["parent_code"]]
    assert target["code"] in set(parts["code"]) and len(saved[saved["level"] == "micro"]) == len(micro) + 1
    assert workflows.grid_tree(services).micro_under(community) == tree.micro_under(community)  # live: unchanged
