"""Speed and payload of the situation map (态势地图) at 10k / 100k / 1M demo incidents.

    .venv/bin/python benchmarks/map.py [--sizes 10000,100000,1000000] [--seed 42]

For each size, on the demo district (中原区) in a throw-away PostGIS, it prints:
- the page's data queries (KPIs of two periods, the choropleth's per-unit stats,
  the three heat layers in one pass, categories, open cases, the daily trend) for the district,
  a street and a community view: cold (first run) and warm (second run);
- the HTML sent to the browser for the district view, next to a naive baseline
  measured in the same run: a HeatMap of every incident point of the window plus
  the unsimplified micro-grid polygons (ratio = ours / naive); the map is the page's
  own ``gis.maps.situation_map`` call with the page's arguments;
- a filter change (another category set) re-rendered once warm: queries + map + HTML.
Goals (issue): queries < 1 s, payload ≤ 3 MB, re-render < 2 s at 1M incidents.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import folium
import folium.plugins
from _common import BenchServer, machine, server_versions, table  # noqa: I001 (script-local helper)

from gis.core.access import SYSTEM
from gis import maps, workflows
from gis.core import hierarchy, metrics
from gis.core.metrics import METRICS_ZH
from gis.core.rules.config import load_rules
from gis.workflows import Services

ZOOM = {"district": 12, "street": 14, "community": 15, "grid": 16}


def page_queries(services: Services, flt: metrics.CaseFilter, *, unit: str | None, level: str | None) -> dict:
    """What the situation page asks the library for (through ui.cached), in the order it asks."""
    unit_flt = replace(flt, unit=unit)
    return {
        "kpis": workflows.kpis(services, unit_flt),
        "stats": workflows.unit_stats(services, unit_flt, level=level, within=unit) if level else None,
        "heat": workflows.heat_layers(services, unit_flt),
        "categories": workflows.category_counts(services, unit_flt),
        "open": workflows.cases(services, unit_flt, open_only=True, limit=200),
        "daily": workflows.daily_counts(services, unit_flt),
    }


_SIMPLIFIED: dict[tuple, tuple] = {}


def simplified(grids, level: str, unit: str | None, zoom: int):
    """Coverage-simplified shapes, kept per view as the app keeps them (ui.cached)."""
    key = (level, unit, zoom)
    if key not in _SIMPLIFIED:
        shapes = grids[grids["level"] == level]
        if unit is not None:
            shapes = shapes[shapes["code"].isin(hierarchy.GridTree(grids).units_under(unit, level))]
        _SIMPLIFIED[key] = (shapes, maps.simplify_coverage(shapes[["code", "name", "geometry"]],
                                                           tolerance_m=maps.tolerance_for_zoom(zoom)))
    return _SIMPLIFIED[key]


def build_map(grids, data: dict, *, level: str, unit: str | None, metric: str = "received",
              basemap: str = "osm", scheme: str = "quantiles"):
    """The map the situation page draws: the same ``maps.situation_map`` call with the same arguments
    (ui/pages/situation.py), from the page's data."""
    by_code = grids.set_index("code")
    zoom = ZOOM[by_code.at[unit, "level"] if unit else "district"]
    bounds = tuple(by_code.loc[[unit]].total_bounds) if unit else tuple(grids[grids["level"] == "district"].total_bounds)
    _, simplified_shapes = simplified(grids, level, unit, zoom)
    units = simplified_shapes[["code", "name", "geometry"]].merge(data["stats"].drop(columns=["name", "geometry"]),
                                                                  on="code", how="left")
    units["value"] = units[metric].astype(float) * (100 if metric.endswith("_rate") else 1)  # widgets.metric_value
    exclusive = grids[grids["level"] == "exclusive"].cx[bounds[0]:bounds[2], bounds[1]:bounds[3]]
    current = metrics.METRICS[metric]
    reference = current.display(data["kpis"]["current"].get(metric)) if current.is_rate else None
    return maps.situation_map(
        bounds=bounds, zoom=zoom, basemap=basemap, units=units, metric=metric, scheme=scheme,
        reference=reference, reference_name=by_code.at[unit, "name"] if unit else "中原区", mode="choropleth",
        units_name=f"{hierarchy.LEVEL_NAMES_ZH[level]} · {METRICS_ZH[metric]}",
        heat={f"热力 · {label}": (data["heat"][key], key != "garbage") for key, label in workflows.HEAT_LAYERS.items()},
        exclusive=exclusive, outline=None, outline_name=by_code.at[unit, "name"] if unit else "")


def build_html(grids, data: dict, *, level: str, unit: str | None) -> str:
    """The map the page draws, rendered to the HTML the browser receives."""
    return build_map(grids, data, level=level, unit=unit).get_root().render()


def naive_html(grids, services: Services, flt: metrics.CaseFilter) -> str:
    """What a straightforward folium page would send: every point, every micro polygon as stored."""
    points = workflows.cases(services, flt, limit=10_000_000)
    m = folium.Map(location=[34.75, 113.6], zoom_start=12, tiles=None)
    folium.plugins.HeatMap(points[["lat", "lon"]].to_numpy().tolist()).add_to(m)
    micro = grids[grids["level"] == "micro"][["code", "name", "geometry"]]
    folium.GeoJson(micro.to_json()).add_to(m)
    return m.get_root().render()


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    rows = []
    with BenchServer() as bench:
        url = bench.create_database("bench_map")
        print("server: " + ", ".join(f"{k} {v}" for k, v in server_versions(url).items()))
        services = Services.for_url(url, principal=SYSTEM, maxconn=8)   # as the app: one Services, pool of 8
        _, grid_s = timed(workflows.load_demo, services, incidents=0, seed=args.seed)
        print(f"demo grids loaded in {grid_s:.1f} s")
        grids = workflows.active_grids(services)
        street = "410102009"                                   # 航海西路街道
        community = grids.loc[(grids["level"] == "community") & (grids["parent_code"] == street), "code"].iloc[0]
        for n in sizes:
            _, load_s = timed(workflows.load_demo_incidents, services, n=n, seed=args.seed)
            flt = metrics.last_days(30)
            views = {"district": (None, "street"), "street": (street, "community"), "community": (community, "grid")}
            cold = {name: timed(page_queries, services, flt, unit=u, level=lv)[1] for name, (u, lv) in views.items()}
            warm = {}
            for name, (u, lv) in views.items():
                data, warm[name] = timed(page_queries, services, flt, unit=u, level=lv)
                if name == "district":
                    district_data = data
            html, build_s = timed(build_html, grids, district_data, level="street", unit=None)
            naive, _ = timed(naive_html, grids, services, flt)
            changed = replace(flt, categories=tuple(c for c in load_rules().categories if c.startswith("env.")))

            def rerender() -> str:
                data = page_queries(services, changed, unit=street, level="community")
                return build_html(grids, data, level="community", unit=street)
            street_html, rerender_s = timed(rerender)
            rows.append([f"{n:,}", f"{load_s:.1f}", f"{cold['district']:.2f}", f"{warm['district']:.2f}",
                         f"{warm['street']:.2f}", f"{warm['community']:.2f}", f"{len(html) / 1e6:.2f}",
                         f"{len(naive) / 1e6:.1f}", f"{len(html) / len(naive):.3f}", f"{len(street_html) / 1e6:.2f}",
                         f"{rerender_s:.2f}", f"{build_s:.2f}"])
            print(f"{n:,} incidents done", flush=True)
        services.close()
    print()
    print(table(rows, ["incidents", "load s", "queries cold s (district)", "warm district", "warm street",
                       "warm community", "HTML MB", "naive MB", "ratio", "street HTML MB",
                       "filter change s", "map build s"]))
    print("goals: queries < 1 s, HTML ≤ 3 MB, filter change < 2 s (warm) at 1,000,000 incidents")


if __name__ == "__main__":
    main()
