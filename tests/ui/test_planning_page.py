"""The planning page (ui/pages/planning.py) headless with ``streamlit.testing.v1.AppTest``, signed
in as a district planner, on a demo district of its own (drafts are writes: the shared demo
database is left alone)."""

from __future__ import annotations

import itertools
import re

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from gis import workflows
from gis.core import grid_edits
from gis.errors import InputError
from gis.settings import PROJECT_ROOT
from ui import auth

DISTRICT, STREET = "410102", "410102009"
PASSWORD = "ui-test-password-1"
# Latin letters in a text shown to the user (codes and figures are digits)
ENGLISH = re.compile(r"[A-Za-z]{3,}")


@pytest.fixture
def planning(monkeypatch, services):
    """``planning(role)``: an AppTest of the planning page, not yet run, on a fresh demo district
    (1,000 cases), signed in as ``pl_<role>`` (district scope)."""
    workflows.load_demo(services, incidents=1000, seed=7)
    monkeypatch.setenv("DATABASE_URL", services.database.url)
    st.cache_data.clear()
    st.cache_resource.clear()
    made = {}

    def make(role: str = "planner") -> AppTest:
        if role not in made:
            workflows.add_user(services, f"pl_{role}", role=role, scope=DISTRICT, password=PASSWORD,
                               display_name=f"测试{role}")
            made[role] = workflows.sign_in(services, f"pl_{role}", PASSWORD)
        at = AppTest.from_file(str(PROJECT_ROOT / "ui" / "pages" / "planning.py"), default_timeout=180)
        at.session_state[auth.SESSION_KEY] = made[role]
        return at

    yield make
    st.cache_data.clear()
    st.cache_resource.clear()


def ran(target) -> AppTest:
    at = target.run()
    assert not at.exception, "\n".join(str(e.value) for e in at.exception)
    assert not at.error, [e.value for e in at.error]
    return at


def first_community(services) -> tuple[str, str]:
    tree = workflows.grid_tree(services)
    code = min(c for c in tree.children[STREET] if tree.level[c] == "community")
    return code, tree.name[code]


def take_draft(at: AppTest, community: str) -> AppTest:
    at.selectbox(key="plan_pick_street").set_value(STREET)
    ran(at)
    at.selectbox(key="plan_pick_community").set_value(community)
    ran(at)
    return ran(at.button(key="plan_take").click())


def visible_texts(at: AppTest) -> list[str]:
    out = [e.value for kind in ("title", "subheader", "caption", "info", "success", "warning", "markdown")
           for e in getattr(at, kind)]
    out += [w.label for kind in ("selectbox", "button", "radio", "multiselect", "text_input") for w in getattr(at, kind)]
    return [str(t) for t in out]


def test_a_planner_opens_the_page_in_chinese_with_no_draft(planning):
    at = ran(planning())
    assert [t.value for t in at.title] == ["网格规划"]
    assert "请新建或打开一个草稿。" in [i.value for i in at.info]
    assert [r.options for r in at.radio if r.key == "plan_view"] == [["编辑与校验", "试算", "提交", "版本对比"]]
    english = [t for t in visible_texts(at) if ENGLISH.search(t.replace("GeoJSON", "").replace("GeoPackage", ""))]
    assert english == []


def test_a_role_without_the_planning_right_is_refused(planning):
    at = ran(planning("analyst"))
    assert [w.value for w in at.warning] == ["您的账号无权查看此页面。"]
    assert not at.button


def test_taking_a_draft_shows_its_micro_grids_and_a_passing_validation(planning, services):
    community, name = first_community(services)
    micro = len(workflows.grid_tree(services).micro_under(community))
    at = take_draft(ran(planning()), community)
    (draft,) = workflows.drafts(services)
    assert draft.area_code == community and draft.author == "pl_planner"
    assert next(s.value for s in at.subheader) == f"草稿 {draft.id}：{name}（社区）"
    assert f"地图上共 {micro} 个微网格。" in [c.value for c in at.caption]
    assert any(s.value.startswith("校验通过") for s in at.success)
    assert [r.options for r in at.radio if r.key == "plan_color"] == [["户数", "每人每周案件", "专职网格员"]]


def test_merging_two_micro_grids_then_the_what_if_shows_the_table_before_and_after(planning, services):
    community, _ = first_community(services)
    grids = workflows.active_grids(services)
    micro = grids[grids["code"].isin(workflows.grid_tree(services).micro_under(community))]
    pair = next(list(p) for _, rows in micro.groupby("parent_code")
                for p in itertools.combinations(sorted(rows["code"]), 2) if _mergeable(micro, p))
    at = take_draft(ran(planning()), community)
    (draft,) = workflows.drafts(services)
    at.multiselect(key=f"plan_selected_{draft.id}").set_value(pair)
    at = ran(ran(at).button(key="plan_merge").click())
    assert f"地图上共 {len(micro) - 1} 个微网格（已修改，未保存）。" in [c.value for c in at.caption]
    assert at.multiselect(key=f"plan_selected_{draft.id}").value == []  # cleared after the edit

    at.radio(key="plan_view").set_value("试算")
    at = ran(ran(at).button(key="plan_run_whatif").click())
    table = next(d.value for d in at.dataframe if "户数(前/后)" in d.value.columns)
    assert list(table.columns) == ["网格", "编码", "变化", "户数(前/后)", "案件(前/后)", "专职网格员(前/后)",
                                   "每人每周(前/后)", "转出/转入在办"]
    changes = dict(zip(table["编码"], table["变化"]))
    assert changes[pair[0]] == "调整边界" and changes[pair[1]] == "撤销"
    assert set(changes.values()) == {"调整边界", "撤销", "不变"}
    assert {m.label for m in at.metric} == {"案件数变异系数", "案件数最大/最小", "户数变异系数", "户数最大/最小"}
    # the what-if of an unsaved edit leaves the draft as stored
    assert len(workflows.draft_area(services, draft.id).grids.query("level == 'micro'")) == len(micro)


def _mergeable(micro, pair) -> bool:
    try:
        grid_edits.merge_grids(micro, list(pair))
    except InputError:
        return False
    return True


def test_a_stale_draft_is_refused_on_the_page_with_the_changes(planning, services):
    community, name = first_community(services)
    at = take_draft(ran(planning()), community)
    (mine,) = workflows.drafts(services)
    # meanwhile another planner commits a merge in the same community
    planner = services.as_user(at.session_state[auth.SESSION_KEY])
    other = workflows.take_draft(planner, community, note="另一位规划员")
    area = workflows.draft_area(planner, other.id).grids
    micro = area[area["level"] == "micro"]
    pair = next(list(p) for _, rows in micro.groupby("parent_code")
                for p in itertools.combinations(sorted(rows["code"]), 2) if _mergeable(area, p))
    workflows.save_draft(planner, other.id, grid_edits.merge_grids(area, pair))
    workflows.commit_draft(planner, other.id, note="另一位规划员的调整")

    at.radio(key="plan_view").set_value("提交")
    at = ran(at)
    at = at.button[[b.label for b in at.button].index("提交")].click().run()
    assert not at.exception
    (message,) = [e.value for e in at.error]
    assert message.startswith(f"在您取得草稿（基于版本 {mine.base_version_id}）之后") and name in message
    changes = next(d.value for d in at.dataframe if "变化" in d.value.columns)
    assert set(changes["编码"]) >= set(pair)
    assert [d.id for d in workflows.drafts(services)] == [mine.id]  # kept, for the planner to redo


def test_two_versions_are_compared_with_a_map_and_a_table(planning, services):
    community, _ = first_community(services)
    at = ran(planning())
    planner = services.as_user(at.session_state[auth.SESSION_KEY])
    d = workflows.take_draft(planner, community)
    area = workflows.draft_area(planner, d.id).grids
    micro = area[area["level"] == "micro"]
    pair = next(list(p) for _, rows in micro.groupby("parent_code")
                for p in itertools.combinations(sorted(rows["code"]), 2) if _mergeable(area, p))
    workflows.save_draft(planner, d.id, grid_edits.merge_grids(area, pair))
    committed = workflows.commit_draft(planner, d.id, note="合并")

    at.radio(key="plan_view").set_value("版本对比")
    at = ran(at)
    assert at.selectbox(key="plan_version_b").value == committed.version_id
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["撤销"] == "1 个" and metrics["调整边界"] == "1 个" and metrics["新增"] == "0 个"
    table = next(d.value for d in at.dataframe if "变化" in d.value.columns and "户数(前/后)" in d.value.columns)
    assert dict(zip(table["编码"], table["变化"])) == {pair[0]: "调整边界", pair[1]: "撤销"}


def test_a_retired_version_is_restored_from_the_page(planning, services):
    community, _ = first_community(services)
    at = ran(planning())
    planner = services.as_user(at.session_state[auth.SESSION_KEY])
    before = workflows.grid_tree(services).micro_under(community)
    d = workflows.take_draft(planner, community)
    area = workflows.draft_area(planner, d.id).grids
    pair = next(list(p) for _, rows in area[area["level"] == "micro"].groupby("parent_code")
                for p in itertools.combinations(sorted(rows["code"]), 2) if _mergeable(area, p))
    workflows.save_draft(planner, d.id, grid_edits.merge_grids(area, pair))
    versions = workflows.grid_versions(services, drafts=False)
    first = int(versions.loc[versions["status"] == "active", "id"].iloc[0])
    workflows.commit_draft(planner, d.id)
    assert len(workflows.grid_tree(services).micro_under(community)) == len(before) - 1

    at.radio(key="plan_view").set_value("版本对比")
    at = ran(at)
    at.selectbox(key="plan_restore_id").set_value(first)
    at = ran(at.button(key="plan_restore").click())
    assert any(s.value.startswith(f"已恢复版本 {first} 为当前版本") for s in at.success)
    assert workflows.grid_tree(services).micro_under(community) == before


def test_the_draft_box_resumes_a_draft_and_then_follows_a_newly_taken_one(planning, services):
    community, name = first_community(services)
    tree = workflows.grid_tree(services)
    other = sorted(c for c in tree.children[STREET] if tree.level[c] == "community")[1]
    at = take_draft(ran(planning()), community)
    planner = services.as_user(at.session_state[auth.SESSION_KEY])
    theirs = workflows.take_draft(planner, other)
    at = ran(at)
    at.selectbox(key="plan_resume").set_value(theirs.id)
    at = ran(at)
    assert next(s.value for s in at.subheader).startswith(f"草稿 {theirs.id}：{tree.name[other]}")
    at = ran(at.button(key="plan_take").click())  # the boxes still name the first community
    newest = max(d.id for d in workflows.drafts(services))
    assert next(s.value for s in at.subheader) == f"草稿 {newest}：{name}（社区）"
    assert at.selectbox(key="plan_resume").value == newest


def test_an_edit_that_overlaps_a_neighbour_is_listed_in_chinese_and_cannot_be_saved(planning, services):
    community, _ = first_community(services)
    at = take_draft(ran(planning()), community)
    (draft,) = workflows.drafts(services)
    edit = at.session_state[f"plan_edit_{draft.id}"].copy()
    first = edit.index[edit["level"] == "micro"][0]
    grown = edit.geometry.loc[first].buffer(0.0005)  # about 50 m into its neighbours
    edit.loc[first, "geometry"] = grown
    at.session_state[f"plan_edit_{draft.id}"] = edit  # as an edit on the page leaves it
    at.session_state[f"plan_rev_{draft.id}"] += 1
    at = at.run()
    assert not at.exception
    (summary,) = [e.value for e in at.error]
    assert summary.startswith("有 ") and "个错误" in summary
    table = next(d.value for d in at.dataframe if "问题" in d.value.columns)
    assert list(table.columns) == ["严重程度", "问题", "网格", "网格编码", "相关网格编码", "面积(平方米)"]
    assert "网格重叠" in set(table["问题"]) and set(table["严重程度"]) <= {"错误", "警告"}
    at = at.button(key="plan_save").click().run()
    assert any(e.value.startswith("草稿未保存：有 ") for e in at.error)
    stored = workflows.draft_area(services, draft.id).grids
    assert stored.geometry.loc[stored["code"] == edit.loc[first, "code"]].iloc[0].equals(
        workflows.active_grids(services).set_index("code").geometry.loc[edit.loc[first, "code"]])


def test_a_balanced_proposal_for_a_tertiary_grid_opens_as_a_draft(planning, services):
    community, _ = first_community(services)
    tree = workflows.grid_tree(services)
    tertiary = min(c for c in tree.children[community] if tree.level[c] == "grid")
    at = ran(planning())
    at.selectbox(key="plan_pick_street").set_value(STREET)
    at = ran(at)
    at.selectbox(key="plan_pick_community").set_value(community)
    at = ran(at)
    at.selectbox(key="plan_pick_grid").set_value(tertiary)
    at = ran(at)
    at.number_input(key="plan_min_households").set_value(40)
    at.number_input(key="plan_max_households").set_value(200)
    at = ran(ran(at).button(key="plan_propose").click())
    (draft,) = workflows.drafts(services)
    assert draft.area_code == tertiary and draft.note.startswith("方案：")
    (message,) = [s.value for s in at.success if s.value.startswith("已生成方案")]
    assert f"草稿 {draft.id}" in message
    assert next(s.value for s in at.subheader).startswith(f"草稿 {draft.id}：")
