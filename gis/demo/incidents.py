"""Synthetic incident history for the demo district: incidents and their events (pure).

:func:`demo_incidents` makes two years of cases over a micro-grid layer, in
the incident import format (see ``DESIGN.md``), with every status change as
an event row. Nothing here opens a database; the same seed, layer and ``now``
give the same frames.

What makes the history look like a street office's:

- **Categories** in the rules file's demo ``share``; each category has its
  own mix of the four sources (grid workers' patrols find garbage and ground
  locks, the 12345 hotline brings disputes and livelihood requests, the
  digital city-management platform street-order and municipal cases).
- **Places**: a few dozen hot spots (markets, old residential compounds,
  commercial streets, schools …; the exclusive grids when given) with
  category affinities, points drawn around them with a Gaussian of 100–300 m;
  the rest uniform over the micro-grids, weighted by households (dense
  housing weighs more for ground locks and fire / electric / gas hazards).
  About 1.5 % fall just outside every micro-grid (roads, the district edge):
  the importer stores them as *unassigned*.
- **Repeat locations and emerging trends** (what the analysts' notebooks look for): a few
  dozen fixed spots (a vendor at a market gate, a restaurant's gas cylinders, a broken
  streetlight …) reported again and again within metres for one to four months; and a few
  areas whose load changes over the last year: a building site whose complaints keep
  growing, a night market that opened six weeks ago, an old compound renovated into quiet.
  Both move existing cases of the right category and time, so the counts per category,
  source and day stay as drawn.
- **Time**: an hour-of-day profile per source (peaks 9–11 and 14–17; patrols
  only in working hours; 12345 and the residents' app also in the evening),
  fewer cases on days off (official calendar, 调休 included), more garbage in
  summer and more fire / gas hazards in the heating season, and a gentle
  growth of about 15 % a year.
- **Lifecycle**: 受理 → 派遣 → 处置 → 反馈 → 核查 → 结案 with durations drawn
  against the category's working-time limit (:func:`gis.core.rules.deadlines.due_at_many`),
  some overdue and then supervised (督办); a few returned (退回), extended
  (延期) or reworked (返工); a few stuck long past the deadline, and the
  recent ones still open at ``now``. As the street offices report: 办结率 of
  due cases about 98 % (12345 about 99.8 %), 按期办结率 about 87 %, with a few
  lagging communities (4 %) far below. Every move follows the rules file's
  transitions, and the verifier is never the handler.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.core.china_time import CHINA_TZ, is_working_day
from gis.core.rules.config import Rules, load_rules
from gis.core.rules.deadlines import add_working_time_many, due_at_many
from gis.errors import InputError

__all__ = ["EVENT_COLUMNS", "INCIDENT_COLUMNS", "SOURCES", "demo_incidents"]

#: Where cases come from: the 12345 hotline, grid workers' patrols, the
#: residents' mini-program (随手拍) and the digital city-management platform.
SOURCES: tuple[str, ...] = ("12345", "patrol", "resident_app", "city_platform")

#: Columns of the incidents frame: the incident import format plus ``handler``.
INCIDENT_COLUMNS: tuple[str, ...] = (
    "source", "external_id", "category", "status", "priority", "description", "address",
    "reporter_phone", "reported_at", "closed_at", "lon", "lat", "handler")

#: Columns of the events frame: one row per status change.
EVENT_COLUMNS: tuple[str, ...] = ("external_id", "source", "at", "from_status", "to_status",
                                  "actor", "note")

_YEARS = 2
_NS_PER_S = 1_000_000_000
_NS_PER_MIN = 60 * _NS_PER_S

# --- sources ------------------------------------------------------------------
_ID_PREFIX = {"12345": "12345", "patrol": "XC", "resident_app": "SSP", "city_platform": "SZCG"}
_SOURCE_ACTOR = {"12345": "12345市民服务热线", "patrol": None,   # a patrol is logged by the grid worker
                 "resident_app": "居民随手拍小程序", "city_platform": "数字化城管平台"}
_SOURCE_NOTE = {"12345": "市民来电反映", "patrol": "网格员巡查发现",
                "resident_app": "居民随手拍上报", "city_platform": "数字城管案件推送"}
# Shares of (12345, patrol, resident_app, city_platform) per group, then per code.
_SOURCE_MIX_GROUP = {
    "env": (0.15, 0.45, 0.15, 0.25),
    "safety": (0.20, 0.45, 0.20, 0.15),
    "municipal": (0.30, 0.20, 0.10, 0.40),
    "order": (0.20, 0.25, 0.15, 0.40),
    "ad": (0.10, 0.35, 0.10, 0.45),
    "dispute": (0.55, 0.20, 0.25, 0.00),
    "livelihood": (0.60, 0.10, 0.30, 0.00),
    "enterprise": (0.70, 0.10, 0.20, 0.00),
    "wish": (0.00, 0.40, 0.60, 0.00),
}
_SOURCE_MIX_CODE = {"order.ground_lock": (0.20, 0.50, 0.20, 0.10)}
_SOURCE_MIX_DEFAULT = (0.40, 0.20, 0.30, 0.10)

# --- time ---------------------------------------------------------------------
# Relative reports per hour of day (0..23), China time. Offices, patrols and
# the city-management collectors work by day; people call and post in the
# evening too.
_DAY = np.array([.06, .04, .03, .03, .04, .08, .2, .5, 1.0, 1.8, 2.0, 1.6,
                 .8, .9, 1.6, 1.8, 1.7, 1.1, .6, .45, .4, .3, .15, .08])
_HOUR_PROFILE = {
    "12345": _DAY + np.array([0] * 18 + [.3, .8, 1.0, .8, .4, .1]),
    "patrol": np.array([0] * 8 + [1.2, 2.0, 2.0, 1.5, .3, .4, 1.6, 1.9, 1.7, .8, .2, 0, 0, 0, 0, 0]),
    "resident_app": _DAY + np.array([0] * 18 + [.4, .9, .9, .6, .3, .1]),
    "city_platform": np.array([0] * 8 + [1.0, 1.8, 1.9, 1.4, .3, .4, 1.5, 1.8, 1.5, .7, .1, 0, 0, 0, 0, 0]),
}
# Share of a working day's reports that come on a day off (weekend, holiday).
_DAY_OFF = {"12345": 0.8, "patrol": 0.3, "resident_app": 0.9, "city_platform": 0.4}
_GROWTH_PER_YEAR = 0.15
# Seasonality: 1 + amplitude * cos(2π (day of year − peak) / 365).
_SEASON = {"garbage": (0.25, 200), "heating": (0.2, 15), "flat": (0.0, 0)}
_HEATING = {"safety.fire", "safety.gas", "safety.electric"}

# --- places -------------------------------------------------------------------
# Rough order of real 中原区 roads, north to south and west to east, for
# addresses that agree with where a point lies; not surveyed positions.
_ROADS_EW = ("冉屯路", "棉纺路", "建设路", "中原路", "伊河路", "颍河路", "汝河路",
             "淮河路", "陇海西路", "航海西路")
_ROADS_NS = ("须水河路", "西四环", "西三环", "华山路", "秦岭路", "伏牛路", "桐柏路",
             "嵩山路", "工人路")
_OLD_COMPOUNDS = ("国棉一厂家属院", "国棉三厂家属院", "国棉四厂家属院", "国棉五厂家属院",
                  "国棉六厂家属院", "郑纺机家属院", "郑州电缆厂家属院", "第二砂轮厂家属院",
                  "郑州煤矿机械厂家属院", "白鸽集团家属院", "省建一公司家属院",
                  "中原制药厂家属院", "郑州肉联厂家属院", "汝河小区", "淮河路小区",
                  "桐柏路小区", "伏牛路小区", "秦岭路小区", "工人路小区", "建设路小区")
_HOT_TYPE_SHARE = {"old_compound": .5, "market": .25, "commercial": .15, "school": .1}
_HOT_KEYWORDS = (("market", ("市场", "菜场", "夜市", "批发")),
                 ("commercial", ("购物", "商业", "商场", "超市", "联华", "广场", "步行街",
                                 "汽车城", "汽配城")),
                 ("school", ("学校", "小学", "中学", "幼儿园", "学院")),
                 ("hospital", ("医院", "卫生", "保健")),
                 ("industrial", ("工业园", "物流园", "产业园", "文创园")),
                 ("park", ("公园", "游园", "湖")))
_HOT_SUFFIXES = {"market": ("农贸市场", "菜市场", "夜市", "早市"),
                 "commercial": ("商业街", "美食街", "商业广场"),
                 "school": ("小学", "幼儿园", "中学"),
                 "old_compound": ("小区", "家属院", "老旧小区")}
_HOT_PARTS = {
    "market": ("北门", "南门", "东门", "西门", "门口", "内", "周边"),
    "old_compound": ("号楼东侧", "号楼西侧", "号楼楼下", "号楼单元门口", "号楼车棚旁", "号楼"),
    "commercial": ("中段", "东段", "西段", "入口处"),
    "school": ("门口", "东侧路段", "西侧路段"),
    "hospital": ("门口", "停车场入口", "东侧路段"),
    "industrial": ("大门口", "内部道路", "东侧路段"),
    "park": ("入口", "北门", "步道旁"),
}
# Affinity of each hot-spot type for categories (codes absent: none).
_AFFINITY = {
    "market": {"env.exposed_garbage": 3, "env.accumulated_garbage": 2, "env.dirty_road": 2,
               "order.street_vending": 4, "order.illegal_parking": 2, "ad.flyer": 1,
               "safety.gas": 1, "enterprise": .5},
    "old_compound": {"env.accumulated_garbage": 2, "env.exposed_garbage": 1, "safety.fire": 3,
                     "safety.electric": 3, "safety.gas": 2, "order.ground_lock": 2,
                     "municipal.manhole": 1, "municipal.streetlight": 1, "municipal.pavement": 1,
                     "ad.flyer": 2, "dispute": 2, "livelihood": 2, "wish": 1},
    "commercial": {"env.exposed_garbage": 2, "order.street_vending": 3,
                   "order.illegal_parking": 3, "ad.flyer": 2, "safety.gas": 1, "enterprise": 1},
    "school": {"order.illegal_parking": 3, "order.street_vending": 2, "ad.flyer": 1},
    "hospital": {"order.illegal_parking": 4, "order.street_vending": 1, "env.exposed_garbage": 1},
    "industrial": {"env.dirty_road": 3, "env.accumulated_garbage": 1, "enterprise": 3,
                   "municipal.pavement": 1, "safety.fire": 1},
    "park": {"env.exposed_garbage": 2, "ad.flyer": .5, "municipal.streetlight": 1},
}
# Share of a category's cases drawn around hot spots (the rest: background).
_HOT_SHARE_GROUP = {"env": .45, "safety": .4, "order": .4, "ad": .35, "municipal": .15,
                    "dispute": .2, "livelihood": .15, "enterprise": .25}
_HOT_SHARE_DEFAULT = .1
# Background weight: households × (household density / median) ** power.
_DENSITY_POWER = {"order.ground_lock": 1.0, "safety.fire": .7, "safety.electric": .7,
                  "safety.gas": .7, "enterprise": -.5}
_HOT_SIGMA_M = (100.0, 300.0)
_UNASSIGNED_SHARE = 0.015
# Repeat locations: one spot per this many cases (within the bounds), its category among these
# (weights), active for 30-120 days with a report every 3-10 days, points within metres of it.
_REPEAT_CASES_PER_SPOT, _REPEAT_SPOTS = 2500, (6, 60)
_REPEAT_CATEGORIES = {"order.street_vending": 3, "order.illegal_parking": 2, "env.exposed_garbage": 2,
                      "env.accumulated_garbage": 2, "safety.gas": 1, "safety.electric": 1,
                      "municipal.streetlight": 1, "municipal.manhole": 1, "order.ground_lock": 1,
                      "ad.flyer": 1}
_REPEAT_DAYS, _REPEAT_EVERY_DAYS, _REPEAT_SIGMA_M = (30, 120), (3, 10), 6.0
_REPEAT_PARTS = ("门口", "东侧", "西侧", "路口", "北侧", "南侧")
# Emerging areas: (trend, categories, share of those categories' cases moved there at the peak).
_WEEK_NS = 7 * 86400 * _NS_PER_S
_TREND_AREAS = (
    ("rising", ("env.dirty_road", "env.accumulated_garbage", "order.illegal_parking"), 0.06),   # building site
    ("new", ("order.street_vending", "env.exposed_garbage"), 0.08),                          # night market
    ("falling", ("safety.electric", "safety.fire", "safety.gas"), 0.06),                     # renovated compound
)
_TREND_SIGMA_M, _TREND_NEW_WEEKS, _TREND_SPAN_WEEKS = 120.0, 6, 52

# --- lifecycle ------------------------------------------------------------------
# Cases that stay open long past their deadline (stuck: waiting on a property owner, a
# dispute nobody settles), per source; lagging communities, their share of the
# communities, how many times more often their cases are stuck and how much slower
# they close. Chosen so that 办结率 of due cases is about 98 % (12345 about 99.8 %) and
# 按期办结率 about 85 %, as the seed reports for the street offices (issue 10).
_STUCK_SHARE, _STUCK_SHARE_12345 = 0.015, 0.002
_LAGGING_SHARE, _LAGGING_STUCK, _LAGGING_SLOWER = 0.04, 4.0, 1.7
_OUTSIDE_OFFSET_M = (3.0, 40.0)

# --- text ---------------------------------------------------------------------
_TEMPLATES = {
    "env.exposed_garbage": ("{a}路边有暴露垃圾，影响市容", "{a}垃圾桶满溢，周边散落生活垃圾",
                            "{a}绿化带内有塑料袋、饭盒等暴露垃圾", "{a}有人随意倾倒生活垃圾，无人清理"),
    "env.accumulated_garbage": ("{a}有积存垃圾，已两天未清运", "{a}堆放建筑垃圾渣土，未覆盖",
                                "{a}楼道口堆积装修垃圾，影响通行", "{a}积存垃圾散发异味，居民反映强烈"),
    "env.dirty_road": ("{a}路面有大量泥土、渣土撒漏", "{a}路面油污严重，行人易滑倒",
                       "{a}人行道落叶、垃圾未清扫"),
    "safety.fire": ("{a}楼道内堆放杂物，堵塞消防通道", "{a}消防通道被车辆占用",
                    "{a}消火栓损坏，无法正常使用", "{a}灭火器过期未更换"),
    "safety.electric": ("{a}有居民私拉电线给电动车飞线充电", "{a}电动车在楼道内充电，存在火灾隐患",
                        "{a}电线老化裸露，存在触电隐患", "{a}配电箱箱门损坏，线路外露"),
    "safety.gas": ("{a}沿街餐饮店液化气瓶违规存放", "{a}闻到燃气异味，疑似燃气泄漏",
                   "{a}燃气管道锈蚀严重", "{a}餐饮店未安装燃气报警器"),
    "municipal.manhole": ("{a}井盖破损，存在安全隐患", "{a}井盖缺失，已用锥桶临时围挡",
                          "{a}井盖松动，车辆经过时异响"),
    "municipal.pavement": ("{a}路面坑洼破损，雨天积水", "{a}人行道地砖松动、缺失",
                           "{a}路面塌陷，影响车辆通行"),
    "municipal.streetlight": ("{a}路灯不亮，夜间通行不便", "{a}多盏路灯损坏，已一周未修",
                              "{a}路灯白天常亮"),
    "order.ground_lock": ("{a}有人私装地锁占用公共车位", "{a}公共区域被私装地锁，影响居民停车",
                          "{a}消防通道旁私装地锁"),
    "order.street_vending": ("{a}有流动摊贩占道经营", "{a}商户店外经营，占用人行道",
                             "{a}早市摊点占道，影响通行"),
    "order.illegal_parking": ("{a}车辆乱停乱放，堵塞道路", "{a}共享单车乱停放，占用盲道",
                              "{a}机动车占用人行道停放"),
    "ad.flyer": ("{a}墙面张贴大量非法小广告", "{a}电线杆上乱贴乱画", "{a}楼道内喷涂办证小广告"),
    "dispute": ("{a}邻里因楼上漏水发生纠纷，请求调解", "{a}居民与物业因收费问题产生矛盾",
                "{a}商户与居民因噪音扰民发生争执", "{a}租户与房东因押金退还产生纠纷"),
    "livelihood": ("{a}居民反映小区停水，请求协调", "{a}居民咨询老旧小区加装电梯事宜",
                   "{a}独居老人需要上门帮扶", "{a}居民咨询医保、社保办理事宜"),
    "enterprise": ("{a}企业咨询营业执照变更办理流程", "{a}商户反映周边施工影响经营",
                   "{a}企业请求协助招聘用工"),
    "wish": ("{a}困难家庭儿童希望得到一套学习用品", "{a}独居老人希望有人定期陪伴聊天",
             "{a}残疾居民希望得到一辆轮椅"),
    "other": ("{a}居民反映其他问题，需进一步核实", "{a}流浪动物较多，居民担心安全",
              "{a}树木枝叶遮挡窗户，请求修剪"),
}
_TEMPLATE_DEFAULT = ("{a}发现{n}问题，请及时处置",)

_CENTRE = "街道网格化服务管理中心"
_SUPERVISOR = "街道督查督办室"
_NOTES = {
    "dispatched": ("派遣至责任网格", "派遣至责任网格，请按时限处置"),
    "returned": ("不属于本网格，请改派", "非本部门职责，请重新派遣", "地址不详，请核实后重派"),
    "redispatched": ("已改派至责任网格", "核实地址后重新派遣"),
    "in_progress": ("已到达现场", "正在处置", "已联系相关单位处置"),
    "extended": ("需协调产权单位，申请延期", "涉及多个部门，申请延期处置"),
    "resolved": ("已处置完毕", "已现场整改", "已协调解决，群众认可"),
    "reworked": ("现场核查未整改到位，请返工", "回访群众不满意，请重新处置"),
    "supervised": ("超过处置时限，督办",),
    "verified": ("现场核查已整改", "回访群众满意"),
    "closed": ("结案",),
    "closed_direct": ("重复上报，不予立案", "非公共事项，不予立案"),
}

_SURNAMES = tuple("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
_GIVEN = tuple("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕鹏辉建国志新海波宁欣怡晨阳浩然宇轩子涵梓萱雨婷佳琪嘉文博凯瑞雪梅兰晓东振宏俊峰丹慧颖")
_MOBILE_PREFIXES = tuple([f"13{d}" for d in range(10)] + ["150", "151", "152", "153", "155", "156",
                                                          "157", "158", "159", "166", "177"]
                         + [f"18{d}" for d in range(10)] + ["191", "199"])
_NUMBERS = np.array([str(i) for i in range(1000)], dtype=object)

# Lifecycle slots, in the order events happen; each row uses some of them.
_SLOTS = ("received", "dispatched", "returned", "dispatched", "in_progress", "extended",
          "resolved", "reworked", "in_progress", "supervised", "resolved", "verified", "closed")
(_REC, _DIS, _RET, _DIS2, _INP, _EXT, _RES1, _RWK, _INP2, _SUP, _RES, _VER, _CLO) = range(len(_SLOTS))
_INNER = (_RET, _DIS2, _INP, _EXT, _RES1, _RWK, _INP2)


def demo_incidents(micro: gpd.GeoDataFrame, *, n: int, seed: int = 42,
                   now: pd.Timestamp | None = None, exclusive: gpd.GeoDataFrame | None = None,
                   rules: Rules | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two years of synthetic incidents over a micro-grid layer, with their events.

    Parameters
    ----------
    micro
        Micro-grid polygons (``code``, ``name``, ``level``, ``parent_code``,
        ``households``, ``geometry``), lon/lat WGS-84 (another CRS is
        converted).
    n
        Number of incidents (up to a million takes seconds).
    seed
        Random seed: the same seed, layer, ``now`` and rules give the same frames.
    now
        End of the history; naive means China time. None: the current hour,
        China time (``pandas.Timestamp.now(tz='Asia/Shanghai')`` floored to the hour).
    exclusive
        Exclusive grids (markets, malls, schools …, with ``name``); when given,
        they become hot spots of the kind their name says.
    rules
        Dispatch rules (categories, shares, limits, transitions); None for the
        shipped rules.

    Returns
    -------
    incidents : DataFrame
        :data:`INCIDENT_COLUMNS`, one row per case in order of ``reported_at``:
        the import format (``reported_at``, ``closed_at`` tz-aware UTC; ``lon``,
        ``lat`` degrees WGS-84) plus ``handler``, who resolved the case (None
        while nobody has). ``external_id`` is unique per source, e.g.
        ``12345-2025-000123``.
    events : DataFrame
        :data:`EVENT_COLUMNS`, every status change in order (by incident, then
        time; ``at`` tz-aware UTC); the first event of a case moves it to
        ``received`` at ``reported_at``, the last to its current status.

    Raises
    ------
    InputError
        ``n`` is negative, or ``micro`` is empty or lacks a column.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InputError(f"n is {n!r}", fix="give the number of incidents as a whole number >= 0")
    n = int(n)
    rules = rules or load_rules()
    now = _china_now(now)
    layer = _Layer(micro, exclusive, seed)
    if n == 0:
        return _empty_frames()
    categories = list(rules.categories.values())
    codes = np.array([c.code for c in categories], dtype=object)
    shares = np.array([c.share for c in categories], dtype=float)

    cat = np.random.default_rng([seed, 1]).choice(len(codes), size=n, p=shares / shares.sum())
    src = _sources(cat, categories, np.random.default_rng([seed, 2]))
    reported_ns = _report_times(cat, src, codes, categories, now, np.random.default_rng([seed, 3]))
    order = np.argsort(reported_ns, kind="stable")
    cat, src, reported_ns = cat[order], src[order], reported_ns[order]

    lon, lat, home, hot_of = layer.points(cat, codes, categories, np.random.default_rng([seed, 4]))
    plant_rng = np.random.default_rng([seed, 9])
    layer.plant_trends(lon, lat, home, hot_of, cat, codes, reported_ns, now, plant_rng)
    spot_of = layer.plant_repeats(lon, lat, home, hot_of, cat, codes, reported_ns, plant_rng)
    text_rng = np.random.default_rng([seed, 5])
    address = layer.addresses(lon, lat, home, hot_of, text_rng)
    layer.name_repeat_spots(address, spot_of, lon, lat, text_rng)
    description = _descriptions(cat, codes, categories, address, text_rng)
    priority = _priorities(cat, codes, categories, text_rng)
    phone = _phones(src, text_rng)
    external_id = _external_ids(src, reported_ns)

    reported = _utc(reported_ns)
    life = _Lifecycle(reported, cat, src, codes, categories, home, layer, now, rules,
                      np.random.default_rng([seed, 6]))
    source_names = np.array(SOURCES, dtype=object)
    incidents = pd.DataFrame({
        "source": _text(source_names[src]),
        "external_id": _text(external_id),
        "category": _text(codes[cat]),
        "status": _text(life.status),
        "priority": _text(priority),
        "description": _text(description),
        "address": _text(address),
        "reporter_phone": _text(phone),            # None: not given (patrols, platforms)
        "reported_at": reported,
        "closed_at": _utc(life.closed_ns),
        "lon": lon,
        "lat": lat,
        "handler": _text(life.handler),            # None: not resolved yet
    })
    rows = life.event_rows
    events = pd.DataFrame({
        "external_id": _text(external_id[rows]),
        "source": _text(source_names[src][rows]),
        "at": _utc(life.event_ns),
        "from_status": _text(life.event_from),     # None for the first event
        "to_status": _text(life.event_to),
        "actor": _text(life.event_actor),
        "note": _text(life.event_note),
    })
    return incidents, events


# ---------------------------------------------------------------------------
# Sources, times, text
# ---------------------------------------------------------------------------

def _empty_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    def frame(columns, times):
        return pd.DataFrame({c: pd.Series([], dtype="datetime64[ns, UTC]" if c in times
                                          else "float64" if c in ("lon", "lat") else object)
                             for c in columns})
    return (frame(INCIDENT_COLUMNS, ("reported_at", "closed_at")), frame(EVENT_COLUMNS, ("at",)))


def _china_now(now: pd.Timestamp | None) -> pd.Timestamp:
    if now is None:
        return pd.Timestamp.now(tz=CHINA_TZ).floor("h")
    now = pd.Timestamp(now)
    if now.tzinfo is None:
        return now.tz_localize(CHINA_TZ)
    return now.tz_convert(CHINA_TZ)


def _sources(cat: np.ndarray, categories: list, rng: np.random.Generator) -> np.ndarray:
    mix = np.array([_SOURCE_MIX_CODE.get(c.code, _SOURCE_MIX_GROUP.get(c.group, _SOURCE_MIX_DEFAULT))
                    for c in categories], dtype=float)
    cumulative = np.cumsum(mix / mix.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(cat))
    return np.minimum((u[:, None] >= cumulative[cat]).sum(axis=1), len(SOURCES) - 1)


def _season_class(code: str, heat: str | None) -> str:
    if heat == "garbage":
        return "garbage"
    return "heating" if code in _HEATING else "flat"


def _report_times(cat, src, codes, categories, now: pd.Timestamp,
                  rng: np.random.Generator) -> np.ndarray:
    """Report instants (UTC ns): an hourly weight table per (source, season), then a second."""
    hours = _YEARS * 365 * 24
    starts = pd.date_range(end=now - pd.Timedelta(hours=1), periods=hours, freq="h")
    local_days = starts.tz_localize(None).normalize().to_numpy()
    day_keys, day_index = np.unique(local_days, return_inverse=True)
    working = np.array([is_working_day(pd.Timestamp(d).date()) for d in day_keys])[day_index]
    hour = starts.hour.to_numpy()
    doy = starts.day_of_year.to_numpy()
    years_back = (now - starts).total_seconds().to_numpy() / (365 * 86400)
    trend = (1 + _GROWTH_PER_YEAR) ** -years_back
    season_of = np.array([_season_class(c.code, c.heat) for c in categories])[cat]
    result = np.empty(len(cat), dtype=np.int64)
    start_ns = starts.tz_convert("UTC").as_unit("ns").asi8
    for s, source in enumerate(SOURCES):
        daily = np.where(working, 1.0, _DAY_OFF[source]) * _HOUR_PROFILE[source][hour] * trend
        for season, (amplitude, peak) in _SEASON.items():
            rows = np.flatnonzero((src == s) & (season_of == season))
            if not len(rows):
                continue
            weight = daily * (1 + amplitude * np.cos(2 * np.pi * (doy - peak) / 365))
            cumulative = np.cumsum(weight)
            slot = np.searchsorted(cumulative, rng.random(len(rows)) * cumulative[-1], side="right")
            slot = np.minimum(slot, hours - 1)
            result[rows] = start_ns[slot] + rng.integers(0, 3600, len(rows)) * _NS_PER_S
    return result


def _descriptions(cat, codes, categories, address: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    result = np.empty(len(cat), dtype=object)
    for c, category in enumerate(categories):
        rows = np.flatnonzero(cat == c)
        if not len(rows):
            continue
        templates = _TEMPLATES.get(category.code, _TEMPLATE_DEFAULT)
        tails = np.array([t.replace("{n}", category.name_zh).split("{a}", 1)[1] for t in templates],
                         dtype=object)
        result[rows] = address[rows] + tails[rng.integers(0, len(tails), len(rows))]
    return result


def _priorities(cat, codes, categories, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(len(cat))
    hazard = np.array([c.heat == "hazard" for c in categories])[cat]
    high = np.isin(codes[cat], ["municipal.manhole", "dispute"])
    priority = np.where(u < 0.03, "high", "normal").astype(object)
    priority[high] = "high"
    priority[hazard] = np.where(u[hazard] < 0.6, "urgent", "high")
    return priority


def _phones(src: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    phone = np.full(len(src), None, dtype=object)
    rows = np.flatnonzero(np.isin(src, [SOURCES.index("12345"), SOURCES.index("resident_app")]))
    prefixes = np.array(_MOBILE_PREFIXES, dtype=object)[rng.integers(0, len(_MOBILE_PREFIXES), len(rows))]
    high = np.array([f"{i:04d}" for i in range(10_000)], dtype=object)
    phone[rows] = (prefixes + high[rng.integers(0, 10_000, len(rows))]
                   + high[rng.integers(0, 10_000, len(rows))])
    return phone


def _external_ids(src: np.ndarray, reported_ns: np.ndarray) -> np.ndarray:
    """``<prefix>-<year>-<number>``, numbered per source and China-time year in report order."""
    year = _utc(reported_ns).dt.tz_convert(CHINA_TZ).dt.year.to_numpy()
    key = src.astype(np.int64) * 10_000 + year
    order = np.lexsort((reported_ns, key))
    sorted_key = key[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    number = np.empty(len(src), dtype=np.int64)
    number[order] = np.arange(len(order)) - run_start + 1
    keys, key_index = np.unique(key, return_inverse=True)
    heads = [f"{_ID_PREFIX[SOURCES[k // 10_000]]}-{k % 10_000}-" for k in keys]
    return np.array([heads[h] + f"{k:06d}" for h, k in zip(key_index.tolist(), number.tolist())],
                    dtype=object)


def _names(rng: np.random.Generator, k: int) -> np.ndarray:
    surname_w = 1.0 / np.arange(1, len(_SURNAMES) + 1) ** 0.8
    surnames = np.array(_SURNAMES, dtype=object)[
        rng.choice(len(_SURNAMES), size=k, p=surname_w / surname_w.sum())]
    given = np.array(_GIVEN, dtype=object)
    first = given[rng.integers(0, len(given), k)]
    second = np.where(rng.random(k) < 0.7, given[rng.integers(0, len(given), k)], "")
    return surnames + first + second


# ---------------------------------------------------------------------------
# Places
# ---------------------------------------------------------------------------

class _Layer:
    """The micro-grids, their hot spots and a road frame for addresses."""

    def __init__(self, micro: gpd.GeoDataFrame, exclusive: gpd.GeoDataFrame | None, seed: int) -> None:
        missing = [c for c in ("code", "name", "parent_code", "households", "geometry")
                   if c not in micro.columns]
        if missing:
            raise InputError("micro-grid layer lacks column " + ", ".join(missing),
                             fix="give a frame with code, name, level, parent_code, households, geometry")
        if len(micro) == 0:
            raise InputError("micro-grid layer is empty", fix="give at least one micro-grid polygon")
        micro = _wgs84(micro)
        # Fresh geometries: preparing them must not touch the caller's frame.
        self.geoms = shapely.transform(np.asarray(micro.geometry.array, dtype=object), lambda xy: xy)
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        bounds = shapely.bounds(self.geoms)
        self.minx, self.miny, self.maxx, self.maxy = bounds.T
        self.x0, self.y0, self.x1, self.y1 = micro.total_bounds
        lat0 = np.radians((self.y0 + self.y1) / 2)
        # Metres per degree near lat0 (spherical approximation, ~0.5 % off):
        # offsets of a few hundred metres need no better.
        self.m_lat = 110_574.0
        self.m_lon = 111_320.0 * np.cos(lat0)
        households = pd.to_numeric(micro["households"], errors="coerce").fillna(0).to_numpy(float)
        self.households = np.maximum(households, 1.0)
        area_m2 = shapely.area(self.geoms) * self.m_lat * self.m_lon
        density = self.households / np.maximum(area_m2, 1.0)
        self.density = density / np.median(density)
        names = micro["name"].astype(str).to_numpy()
        self.community = np.array([_community_of(s) for s in names], dtype=object)
        self.handler_key = micro["parent_code"].astype(str).to_numpy()
        # a few lagging communities (none among fewer than 10: a tiny layer has no ranking)
        communities = np.unique(self.community)
        k = round(_LAGGING_SHARE * len(communities)) if len(communities) >= 10 else 0
        chosen = np.random.default_rng([seed, 8]).choice(communities, size=k, replace=False)
        self.lagging = np.isin(self.community, chosen)
        self.hot = self._hot_spots(exclusive, np.random.default_rng([seed, 7]))

    # --- hot spots -----------------------------------------------------------
    def _hot_spots(self, exclusive: gpd.GeoDataFrame | None, rng: np.random.Generator) -> pd.DataFrame:
        k = int(np.clip(round(len(self.geoms) / 150), 4, 40))
        rows = []
        if exclusive is not None and len(exclusive):
            ex = _wgs84(exclusive)
            points = shapely.point_on_surface(np.asarray(ex.geometry.array, dtype=object))
            names = (ex["name"].astype(str) if "name" in ex.columns
                     else pd.Series([""] * len(ex))).to_numpy()
            for point, name in zip(points, names):
                kind = next((t for t, words in _HOT_KEYWORDS if any(w in name for w in words)), None)
                if kind is None:
                    continue
                rows.append((kind, name, point.x, point.y))
        # At least half come from the densest housing: old compounds above all.
        extra = max(k - len(rows), k // 2)
        if extra:
            weight = self.households * self.density
            home = rng.choice(len(self.geoms), size=extra, p=weight / weight.sum())
            x, y = self.points_in(home, rng)
            types = list(_HOT_TYPE_SHARE)
            p = np.array(list(_HOT_TYPE_SHARE.values()))
            kinds = rng.choice(len(types), size=extra, p=p / p.sum())
            compounds = iter(rng.permutation(len(_OLD_COMPOUNDS)).tolist())
            ew, ns = self.roads(x, y)
            used = {row[1] for row in rows}
            for i in range(extra):
                kind = types[kinds[i]]
                if kind == "old_compound" and (j := next(compounds, None)) is not None:
                    name = _OLD_COMPOUNDS[j]
                else:   # the first name not yet taken: 桐柏路农贸市场, then 伏牛路菜市场 …
                    roads = (ew[i], ns[i]) if rng.random() < 0.5 else (ns[i], ew[i])
                    names = [r + suffix for suffix in _HOT_SUFFIXES[kind] for r in roads]
                    name = next((c for c in names if c not in used), f"{names[0]}{i + 1}")
                used.add(name)
                rows.append((kind, name, x[i], y[i]))
        hot = pd.DataFrame(rows, columns=["kind", "name", "lon", "lat"])
        hot["sigma_m"] = rng.uniform(*_HOT_SIGMA_M, len(hot))
        hot["strength"] = rng.lognormal(0.0, 0.5, len(hot))
        return hot

    # --- sampling ------------------------------------------------------------
    def points_in(self, home: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Uniform points inside the given micro-grids: bounding boxes, then rejection."""
        x = np.empty(len(home))
        y = np.empty(len(home))
        todo = np.arange(len(home))
        for _ in range(200):
            if not len(todo):
                break
            g = home[todo]
            cx = self.minx[g] + rng.random(len(todo)) * (self.maxx[g] - self.minx[g])
            cy = self.miny[g] + rng.random(len(todo)) * (self.maxy[g] - self.miny[g])
            inside = shapely.contains_xy(self.geoms[g], cx, cy)
            x[todo[inside]], y[todo[inside]] = cx[inside], cy[inside]
            todo = todo[~inside]
        if len(todo):  # slivers: their representative point
            reps = shapely.point_on_surface(self.geoms[home[todo]])
            x[todo], y[todo] = shapely.get_x(reps), shapely.get_y(reps)
        return x, y

    def micro_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of a micro-grid covering each point (edges included), -1 for none."""
        found = np.full(len(x), -1, dtype=np.int64)
        if len(x):
            pairs = self.tree.query(shapely.points(x, y), predicate="intersects")
            found[pairs[0][::-1]] = pairs[1][::-1]   # the first hit wins
        return found

    def points(self, cat, codes, categories, rng: np.random.Generator):
        """lon, lat, home micro-grid index and hot-spot index (-1: background) per row."""
        m = len(cat)
        lon, lat = np.empty(m), np.empty(m)
        home = np.full(m, -1, dtype=np.int64)
        hot_of = np.full(m, -1, dtype=np.int64)
        u = rng.random(m)
        unassigned = u < _UNASSIGNED_SHARE
        hot_share = np.array([_HOT_SHARE_GROUP.get(c.group, _HOT_SHARE_DEFAULT)
                              for c in categories])[cat]
        hot = ~unassigned & (rng.random(m) < hot_share)
        kinds = self.hot["kind"].to_numpy()
        strength = self.hot["strength"].to_numpy()
        for c, code in enumerate(codes):
            rows = np.flatnonzero(hot & (cat == c))
            affinity = np.array([_AFFINITY[k].get(code, 0.0) for k in kinds]) * strength
            if not len(rows):
                continue
            if affinity.sum() <= 0:
                hot[rows] = False
                continue
            hot_of[rows] = rng.choice(len(kinds), size=len(rows), p=affinity / affinity.sum())
        # Around hot spots: Gaussian offsets, redrawn while they leave the micro-grids.
        todo = np.flatnonzero(hot)
        cx, cy = self.hot["lon"].to_numpy(), self.hot["lat"].to_numpy()
        sigma = self.hot["sigma_m"].to_numpy()
        for _ in range(20):
            if not len(todo):
                break
            h = hot_of[todo]
            px = cx[h] + rng.normal(0, 1, len(todo)) * sigma[h] / self.m_lon
            py = cy[h] + rng.normal(0, 1, len(todo)) * sigma[h] / self.m_lat
            found = self.micro_of(px, py)
            ok = found >= 0
            lon[todo[ok]], lat[todo[ok]], home[todo[ok]] = px[ok], py[ok], found[ok]
            todo = todo[~ok]
        hot_of[todo] = -1            # far outside the layer: fall back to background
        # Background: a micro-grid by households (density for some categories), then a point in it.
        background = np.flatnonzero(~unassigned & (hot_of < 0))
        power = np.array([_DENSITY_POWER.get(code, 0.0) for code in codes])[cat[background]]
        for value in np.unique(power):
            rows = background[power == value]
            weight = self.households * self.density ** value
            home[rows] = rng.choice(len(self.geoms), size=len(rows), p=weight / weight.sum())
        if len(background):
            lon[background], lat[background] = self.points_in(home[background], rng)
        rows = np.flatnonzero(unassigned)
        home[rows], lon[rows], lat[rows] = self._outside(len(rows), rng)
        return lon, lat, home, hot_of

    def _near(self, rows, cx, cy, sigma_m, rng, lon, lat, home, hot_of, *, tries: int = 20) -> np.ndarray:
        """Move ``rows`` to Gaussian offsets around (cx, cy) (per row) that land in a micro-grid;
        returns the rows moved (the others, after ``tries`` draws, stay where they were)."""
        todo, moved = np.arange(len(rows)), []
        for _ in range(tries):
            if not len(todo):
                break
            px = cx[todo] + rng.normal(0, 1, len(todo)) * sigma_m / self.m_lon
            py = cy[todo] + rng.normal(0, 1, len(todo)) * sigma_m / self.m_lat
            found = self.micro_of(px, py)
            ok = found >= 0
            r = rows[todo[ok]]
            lon[r], lat[r], home[r], hot_of[r] = px[ok], py[ok], found[ok], -1
            moved.append(r)
            todo = todo[~ok]
        return np.concatenate(moved) if moved else np.empty(0, dtype=np.int64)

    def _centres(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``k`` points in micro-grids drawn by households × density (where people live and shop)."""
        weight = self.households * self.density
        home = rng.choice(len(self.geoms), size=k, p=weight / weight.sum())
        x, y = self.points_in(home, rng)
        return home, x, y

    def plant_trends(self, lon, lat, home, hot_of, cat, codes, reported_ns, now: pd.Timestamp,
                     rng: np.random.Generator) -> None:
        """Areas whose load changes over the last year (in place): the share of their categories'
        cases moved there rises linearly (``rising``), starts some weeks ago (``new``) or falls to
        nothing (``falling``)."""
        index = {code: c for c, code in enumerate(codes)}
        now_ns = now.tz_convert("UTC").value
        age_weeks = (now_ns - reported_ns) / _WEEK_NS
        _, cx, cy = self._centres(len(_TREND_AREAS), rng)
        for a, (trend, names, peak) in enumerate(_TREND_AREAS):
            wanted = [index[n] for n in names if n in index]
            if not wanted:
                continue
            ramp = np.clip(1 - age_weeks / _TREND_SPAN_WEEKS, 0, 1)
            share = peak * {"rising": ramp, "new": (age_weeks < _TREND_NEW_WEEKS).astype(float),
                            "falling": 1 - ramp}[trend]
            rows = np.flatnonzero(np.isin(cat, wanted) & (rng.random(len(cat)) < share))
            self._near(rows, np.full(len(rows), cx[a]), np.full(len(rows), cy[a]), _TREND_SIGMA_M, rng,
                       lon, lat, home, hot_of)

    def plant_repeats(self, lon, lat, home, hot_of, cat, codes, reported_ns,
                      rng: np.random.Generator) -> np.ndarray:
        """Fixed spots reported again and again (in place): for each, cases of its category in its
        active window, one every few days, moved within metres of it. Returns the spot of each
        row (-1: none)."""
        spot_of = np.full(len(cat), -1, dtype=np.int64)
        names = [n for n in _REPEAT_CATEGORIES if n in set(codes)]
        if not names or not len(cat):
            return spot_of
        k = int(np.clip(round(len(cat) / _REPEAT_CASES_PER_SPOT), *_REPEAT_SPOTS))
        weight = np.array([_REPEAT_CATEGORIES[n] for n in names], dtype=float)
        chosen = rng.choice(len(names), size=k, p=weight / weight.sum())
        _, cx, cy = self._centres(k, rng)
        first, last = reported_ns.min(), reported_ns.max()
        code_index = {code: c for c, code in enumerate(codes)}
        for spot in range(k):
            days = rng.uniform(*_REPEAT_DAYS)
            start = rng.uniform(first, max(first, last - days * 86400 * _NS_PER_S))
            window = (reported_ns >= start) & (reported_ns < start + days * 86400 * _NS_PER_S)
            candidates = np.flatnonzero(window & (cat == code_index[names[chosen[spot]]]) & (spot_of < 0))
            wanted = max(3, int(days / rng.uniform(*_REPEAT_EVERY_DAYS)))
            if len(candidates) < 3:
                continue
            # spread over the window, as the same problem comes back
            rows = candidates[np.linspace(0, len(candidates) - 1, min(wanted, len(candidates))).astype(np.int64)]
            moved = self._near(rows, np.full(len(rows), cx[spot]), np.full(len(rows), cy[spot]),
                               _REPEAT_SIGMA_M, rng, lon, lat, home, hot_of)
            spot_of[moved] = spot
        return spot_of

    def name_repeat_spots(self, address: np.ndarray, spot_of: np.ndarray, lon, lat,
                          rng: np.random.Generator) -> None:
        """Reports of one repeat spot name it alike (in place): its first report's address and a side."""
        for spot in np.unique(spot_of[spot_of >= 0]):
            rows = np.flatnonzero(spot_of == spot)
            base = str(address[rows[0]])
            address[rows] = base if base.endswith(_REPEAT_PARTS) else base + _REPEAT_PARTS[
                int(rng.integers(len(_REPEAT_PARTS)))]

    def _outside(self, k: int, rng: np.random.Generator):
        """Points just off a micro-grid's edge that no micro-grid covers (roads, the district edge).

        Micro-grids that tile the district leave gaps only at its edge, so the
        grids that gave such points are tried again more often.
        """
        home = np.empty(k, dtype=np.int64)
        x, y = np.empty(k), np.empty(k)
        weight = self.households.copy()
        boundaries = shapely.boundary(self.geoms)
        done = 0
        for _ in range(50):
            if done >= k:
                break
            size = max(4 * (k - done), min(4 * len(self.geoms), 50_000))
            g = rng.choice(len(self.geoms), size=size, p=weight / weight.sum())
            on_edge = shapely.line_interpolate_point(boundaries[g], rng.random(size), normalized=True)
            distance = rng.uniform(*_OUTSIDE_OFFSET_M, size)
            angle = rng.uniform(0, 2 * np.pi, size)
            px = shapely.get_x(on_edge) + distance * np.cos(angle) / self.m_lon
            py = shapely.get_y(on_edge) + distance * np.sin(angle) / self.m_lat
            outside = self.micro_of(px, py) < 0
            good = np.flatnonzero(outside)[: k - done]
            home[done:done + len(good)], x[done:done + len(good)], y[done:done + len(good)] = \
                g[good], px[good], py[good]
            done += len(good)
            useful = np.zeros(len(self.geoms), dtype=bool)
            useful[g[outside]] = True
            if useful.any():
                weight = np.where(useful, self.households, self.households * 1e-3)
        if done < k:  # no gaps found at all: stay at the edge of the busiest grid
            home[done:] = int(np.argmax(self.households))
            reps = shapely.point_on_surface(self.geoms[home[done:]])
            x[done:], y[done:] = shapely.get_x(reps), shapely.get_y(reps)
        return home, x, y

    # --- addresses -----------------------------------------------------------
    def roads(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The east-west and the north-south road nearest to each point."""
        return (np.array(_ROADS_EW, dtype=object)[self._band(y, self.y1, self.y0, len(_ROADS_EW))],
                np.array(_ROADS_NS, dtype=object)[self._band(x, self.x0, self.x1, len(_ROADS_NS))])

    @staticmethod
    def _band(v, start, end, k):
        span = end - start if end != start else 1.0
        return np.clip(((v - start) / span * k).astype(np.int64), 0, k - 1)

    def addresses(self, lon, lat, home, hot_of, rng: np.random.Generator) -> np.ndarray:
        m = len(lon)
        k_ew, k_ns = len(_ROADS_EW), len(_ROADS_NS)
        i = self._band(lat, self.y1, self.y0, k_ew)
        j = self._band(lon, self.x0, self.x1, k_ns)
        # Road lines run through the middle of each band.
        road_y = self.y1 - (i + 0.5) * (self.y1 - self.y0) / k_ew
        road_x = self.x0 + (j + 0.5) * (self.x1 - self.x0) / k_ns
        ew = np.array(_ROADS_EW, dtype=object)[i]
        ns = np.array(_ROADS_NS, dtype=object)[j]
        # House numbers grow along the road, odd on one side and even on the other.
        along_ew = np.clip((lon - self.x0) / max(self.x1 - self.x0, 1e-9), 0, 1)
        along_ns = np.clip((self.y1 - lat) / max(self.y1 - self.y0, 1e-9), 0, 1)
        near_ew = np.abs(lat - road_y) * self.m_lat < np.abs(lon - road_x) * self.m_lon
        along = np.where(near_ew, along_ew, along_ns)
        side = np.where(near_ew, lat >= road_y, lon >= road_x)
        number = np.clip((along * 150).astype(np.int64) * 2 + 1 + rng.integers(0, 4, m) * 2
                         + np.where(side, 0, 1), 1, 999)
        road = np.where(near_ew, ew, ns)
        building = rng.integers(1, 21, m)
        u = rng.random(m)
        address = np.empty(m, dtype=object)
        # A crossing: 建设路与桐柏路交叉口东南角.
        rows = np.flatnonzero(u < 0.35)
        corner = (np.where(lon[rows] >= road_x[rows], "东", "西").astype(object)
                  + np.where(lat[rows] >= road_y[rows], "北", "南").astype(object))
        address[rows] = ew[rows] + "与" + ns[rows] + "交叉口" + corner + "角"
        # A house number: 桐柏路213号.
        rows = np.flatnonzero((u >= 0.35) & (u < 0.8))
        address[rows] = road[rows] + _NUMBERS[number[rows]] + "号"
        # A yard and building in a community: 碧沙岗社区建设路12号院3号楼.
        rows = np.flatnonzero(u >= 0.8)
        address[rows] = (self.community[np.maximum(home[rows], 0)] + road[rows]
                         + _NUMBERS[number[rows]] + "号院" + _NUMBERS[building[rows]] + "号楼")
        # Near a hot spot, people name the place.
        rows = np.flatnonzero((hot_of >= 0) & (rng.random(m) < 0.7))
        if len(rows):
            names = self.hot["name"].to_numpy().astype(object)[hot_of[rows]]
            kinds = self.hot["kind"].to_numpy()[hot_of[rows]]
            part = np.empty(len(rows), dtype=object)
            for kind, parts in _HOT_PARTS.items():
                sel = np.flatnonzero(kinds == kind)
                choice = np.array(parts, dtype=object)[rng.integers(0, len(parts), len(sel))]
                if kind == "old_compound":
                    choice = _NUMBERS[rng.integers(1, 31, len(sel))] + choice
                part[sel] = choice
            address[rows] = names + part
        return address


def _text(values: np.ndarray) -> pd.Series:
    """Python strings (None kept), without a costly conversion to an Arrow string column."""
    return pd.Series(values, dtype=object, copy=False)


def _utc(ns: np.ndarray) -> pd.Series:
    """A tz-aware UTC Series from nanoseconds since 1970 (int64 minimum: NaT)."""
    return pd.Series(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).dt.tz_localize("UTC")


def _ns(times: pd.Series) -> np.ndarray:
    """UTC nanoseconds since 1970 of a datetime Series."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def _wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        return frame.to_crs(4326)
    return frame


def _community_of(name: str) -> str:
    """The community part of a micro-grid name (碧沙岗社区第1网格第1微网格 → 碧沙岗社区)."""
    match = re.match(r"^(.+?(?:社区|村))", name)
    return match.group(1) if match else ""


# ---------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------

class _Lifecycle:
    """Slots of the case cycle per row: which happen, when, by whom; then the events."""

    def __init__(self, reported: pd.Series, cat, src, codes, categories, home, layer: _Layer,
                 now: pd.Timestamp, rules: Rules, rng: np.random.Generator) -> None:
        m = len(reported)
        now_ns = now.tz_convert("UTC").as_unit("ns").value
        reported_ns = _ns(reported)
        due_ns = _ns(due_at_many(reported, pd.Series(codes[cat]), rules=rules))
        per_day = rules.work_hours_per_day
        limit_h = np.array([c.limit_hours if c.limit_hours is not None else c.limit_days * per_day
                            for c in categories])[cat]
        by_days = np.array([c.limit_days is not None for c in categories])[cat]
        slow = np.isin(codes[cat], ["dispute", "livelihood", "enterprise", "municipal.pavement"])
        patrol = src == SOURCES.index("patrol")

        # Who: the micro-grid's worker for general cases, the grid head for
        # the others; verifiers from the street's own pool, never the handler.
        name_rng = np.random.default_rng(rng.integers(2**63))
        workers = _names(name_rng, len(layer.geoms))
        keys, key_index = np.unique(layer.handler_key, return_inverse=True)
        heads = _names(name_rng, len(keys))
        verifiers = np.unique(_names(name_rng, 40))
        home_ok = np.maximum(home, 0)
        general = np.array([c.tier == "general" for c in categories])[cat]
        handler = np.where(general, workers[home_ok], heads[key_index[home_ok]])
        pick = rng.integers(0, len(verifiers), m)
        pick = np.where(verifiers[pick] == handler, (pick + 1) % len(verifiers), pick)
        verifier = verifiers[pick]

        # What happens. A few lagging communities (落后社区) work slower and leave more
        # cases stuck, so that the ranking of the weekly bulletin means something; the
        # 12345 hotline's cases are followed up by the city and almost never stay stuck.
        age_days = (now_ns - reported_ns) / (86400 * _NS_PER_S)
        lagging = layer.lagging[np.maximum(home, 0)] & (home >= 0)
        hotline = src == SOURCES.index("12345")
        direct = (~patrol) & (rng.random(m) < 0.02)             # 不予立案
        stuck_share = np.where(hotline, _STUCK_SHARE_12345, _STUCK_SHARE) * np.where(lagging, _LAGGING_STUCK, 1.0)
        stuck = ~direct & (rng.random(m) < stuck_share)
        active = np.zeros((m, len(_SLOTS)), dtype=bool)
        active[:, _REC] = True
        normal = ~direct
        active[:, _DIS] = normal
        returned = normal & (rng.random(m) < 0.04)
        active[:, _RET] = returned
        active[:, _DIS2] = returned
        on_the_spot = patrol & ~by_days & (rng.random(m) < 0.25)
        active[:, _INP] = normal & ~on_the_spot
        active[:, _EXT] = normal & (rng.random(m) < np.where(by_days, 0.06, 0.01))
        rework = normal & (rng.random(m) < 0.04)
        active[:, [_RES1, _RWK, _INP2]] = rework[:, None]
        active[:, [_RES, _VER, _CLO]] = normal[:, None] & ~stuck[:, None]
        active[:, _CLO] |= direct

        # When, in working hours after the report: the case closes (结案) at a
        # lognormal fraction of the limit (median one half; slow kinds spread
        # wider, lagging communities take longer, so more of them run late),
        # resolved (反馈) well before and verified (核查) in between; stuck cases
        # would finish long after now. The deadline counts the same working time,
        # so a fraction up to 1 closes on time (按期办结).
        fraction = np.exp(rng.normal(np.log(0.5), np.where(slow, 0.75, 0.55))) * np.where(lagging, _LAGGING_SLOWER, 1.0)
        elapsed_h = np.maximum(age_days, 0) * per_day * 5 / 7
        close_h = np.where(stuck, (elapsed_h + limit_h) * rng.uniform(1.3, 3.0, m), fraction * limit_h)
        resolve_h = close_h * rng.uniform(0.55, 0.85, m)
        offset = np.zeros((m, len(_SLOTS)))
        offset[:, _DIS] = np.minimum(resolve_h * rng.uniform(0.02, 0.12, m), rng.exponential(1.0, m))
        inner = np.array(_INNER)
        u = np.where(active[:, inner], rng.random((m, len(inner))), 2.0)
        rank = np.cumsum(active[:, inner], axis=1) - 1
        ordered = np.take_along_axis(np.sort(u, axis=1), np.maximum(rank, 0), axis=1)
        offset[:, inner] = offset[:, [_DIS]] + (resolve_h - offset[:, _DIS])[:, None] * ordered
        offset[:, _RES] = resolve_h
        offset[:, _VER] = resolve_h + (close_h - resolve_h) * rng.uniform(0.3, 0.9, m)
        offset[:, _CLO] = np.where(direct, 0.05 + rng.exponential(0.5, m), close_h)
        at = np.zeros((m, len(_SLOTS)), dtype=np.int64)      # 0: no such event
        at[:, _REC] = reported_ns
        timed = active.copy()
        timed[:, [_REC, _SUP]] = False
        rows, slots = np.nonzero(timed)
        moved = add_working_time_many(_utc(reported_ns[rows]),
                                      hours=offset[rows, slots], rules=rules)
        at[rows, slots] = _ns(moved)

        # 督办: overdue cases go under supervision soon after the deadline.
        finish = np.where(stuck, np.iinfo(np.int64).max, at[:, _RES])
        overdue = normal & (finish > due_ns)
        supervise = overdue & (rng.random(m) < 0.7)
        sup_at = due_ns + rng.integers(1, 31, m) * _NS_PER_MIN
        sup_at = np.where(stuck, sup_at, np.minimum(sup_at, due_ns + (finish - due_ns) // 2))
        active[:, _SUP] = supervise
        at[:, _SUP] = np.where(supervise, sup_at, at[:, _SUP])

        # Times never go back, are whole seconds, and stop at now.
        at = np.maximum.accumulate(np.where(active, at, 0), axis=1)
        at = at // _NS_PER_S * _NS_PER_S
        active &= at < now_ns
        last = len(_SLOTS) - 1 - np.argmax(active[:, ::-1], axis=1)
        slot_status = np.array(_SLOTS, dtype=object)
        self.status = slot_status[last]
        closed = last == _CLO
        self.closed_ns = np.where(closed, at[np.arange(m), last], np.iinfo(np.int64).min)
        resolved = active[:, _RES1] | active[:, _RES]
        self.handler = np.where(resolved, handler, None)

        # Events, incident by incident then slot by slot.
        rows, slots = np.nonzero(active)
        self.event_rows = rows
        self.event_ns = at[rows, slots]
        self.event_to = slot_status[slots]
        first = np.r_[True, rows[1:] != rows[:-1]]
        self.event_from = np.where(first, None, np.r_[None, self.event_to[:-1]])
        actor = np.empty(len(rows), dtype=object)
        note = np.empty(len(rows), dtype=object)
        source_actor = np.array([_SOURCE_ACTOR[s] or "" for s in SOURCES], dtype=object)[src[rows]]
        actor[:] = _CENTRE
        by_handler = np.isin(slots, [_RET, _INP, _EXT, _RES1, _INP2, _RES])
        actor[by_handler] = handler[rows[by_handler]]
        by_verifier = np.isin(slots, [_RWK, _VER])
        actor[by_verifier] = verifier[rows[by_verifier]]
        actor[slots == _SUP] = _SUPERVISOR
        received = slots == _REC
        actor[received] = np.where(source_actor[received] == "", workers[home_ok[rows[received]]],
                                   source_actor[received])
        note[received] = np.array([_SOURCE_NOTE[s] for s in SOURCES], dtype=object)[src[rows[received]]]
        kinds = {_DIS: "dispatched", _RET: "returned", _DIS2: "redispatched", _INP: "in_progress",
                 _EXT: "extended", _RES1: "resolved", _RWK: "reworked", _INP2: "in_progress",
                 _SUP: "supervised", _RES: "resolved", _VER: "verified", _CLO: "closed"}
        for slot, kind in kinds.items():
            sel = np.flatnonzero(slots == slot)
            if slot == _CLO:
                sel_direct = sel[direct[rows[sel]]]
                sel = sel[~direct[rows[sel]]]
                texts = np.array(_NOTES["closed_direct"], dtype=object)
                note[sel_direct] = texts[rng.integers(0, len(texts), len(sel_direct))]
            texts = np.array(_NOTES[kind], dtype=object)
            note[sel] = texts[rng.integers(0, len(texts), len(sel))]
        self.event_actor = actor
        self.event_note = note
