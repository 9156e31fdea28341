"""A static map figure for meetings and bulletins: no tiles, works offline (matplotlib).

The same colour classes as the web map (:func:`gis.maps.classes.classify`),
a legend that names the method and lists 无数据, unit names as labels when
there are few enough units, a scale bar, a north arrow, and the title,
subtitle and notes (date range, issuing office) a printed map needs.
"""

from __future__ import annotations

import functools
import io
import math
import subprocess
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import font_manager, patheffects, rc_context, rcParams
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from gis.errors import GisError, InputError
from gis.maps.classes import classify, format_value

#: Families with Simplified Chinese glyphs, in order of preference (Debian: fonts-noto-cjk,
#: fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-uming; the rest on other systems).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
                "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Droid Sans Fallback", "AR PL UMing CN",
                "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC")
#: Most units named on the figure; above this the names would overlap into a blur.
MAX_LABELS = 40
FORMATS = ("png", "pdf")


@functools.cache
def cjk_font() -> str:
    """The family name of a font on this machine that has Chinese glyphs.

    Looks first among the fonts matplotlib knows, then asks fontconfig
    (``fc-list :lang=zh``) and registers what it finds.

    Raises
    ------
    GisError
        When no such font is installed.
    """
    known = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in known:
            return family
    try:
        listing = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True,
                                 timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        listing = ""
    added = []
    for line in listing.splitlines():
        path = line.split(":", 1)[0].strip()
        if not path:
            continue
        try:
            font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError, ValueError):
            continue
        added.append(font_manager.FontProperties(fname=path).get_name())
    for family in CJK_FAMILIES:
        if family in added:
            return family
    if added:
        return added[0]
    raise GisError("no font with Chinese glyphs is installed, so the map figure cannot be drawn",
                   fix="install one, e.g. the Debian package fonts-noto-cjk "
                       "(sudo apt-get install fonts-noto-cjk), then restart the app")


def use_cjk_font() -> str:
    """Make matplotlib draw Chinese text (titles, axes, legends) with :func:`cjk_font`, for
    notebooks and scripts; returns the family."""
    family = cjk_font()
    rcParams["font.family"] = [family, "DejaVu Sans"]
    rcParams["axes.unicode_minus"] = False  # the CJK fonts lack U+2212
    return family


def draw_outlines(ax, shapes: gpd.GeoDataFrame, *, labels: bool = True, crs=None) -> None:
    """Outlines of ``shapes`` (e.g. the streets) over a matplotlib map, each named at a point
    inside it (``name``), in ``crs`` when given; the axes' frame and ticks are hidden."""
    shapes = shapes if crs is None else shapes.to_crs(crs)
    shapes.boundary.plot(ax=ax, color="#444444", linewidth=0.7)
    if labels:
        for point, name in zip(shapes.representative_point(), shapes["name"]):
            ax.annotate(name, (point.x, point.y), ha="center", va="center", fontsize=7.5, color="#222222",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.6})
    ax.set_axis_off()


def _local_metres(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Geometries in metres on a transverse Mercator centred on them: north is up, scale true."""
    wgs = geoms.set_crs("EPSG:4326") if geoms.crs is None else geoms.to_crs("EPSG:4326")
    min_lon, min_lat, max_lon, max_lat = wgs.total_bounds
    return wgs.to_crs(f"+proj=tmerc +lon_0={(min_lon + max_lon) / 2:.6f} +lat_0={(min_lat + max_lat) / 2:.6f} "
                      "+k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs")


def _nice_length(span_m: float) -> float:
    """A round scale-bar length near a fifth of the map's width: 1, 2 or 5 × 10ⁿ metres."""
    target = max(span_m / 5.0, 1.0)
    power = 10 ** math.floor(math.log10(target))
    return max(step * power for step in (1, 2, 5) if step * power <= target)


def _distance(metres: float) -> str:
    return f"{metres / 1000:g} 公里" if metres >= 1000 else f"{metres:g} 米"


def draw_map_figure(units: gpd.GeoDataFrame, *, metric: str, title: str, subtitle: str = "",
                    scheme: str = "quantiles", reference: float | None = None, notes: Sequence[str] = (),
                    size: tuple[float, float] = (11.7, 8.3)) -> Figure:
    """The figure :func:`map_figure` saves, for callers that want the matplotlib object.

    Same parameters as :func:`map_figure` (without ``fmt`` and ``dpi``).
    """
    for column in ("code", "name", "value"):
        if column not in units.columns:
            raise InputError(f"map figure units lack column {column!r}; they have {', '.join(map(str, units.columns))}",
                             field=column, fix="give columns code, name, value and geometry (EPSG:4326)")
    shown = units[units.geometry.notna() & ~units.geometry.is_empty]
    if shown.empty:
        raise InputError("the map figure got no unit with a geometry", field="geometry",
                         fix="give the units of the view with their polygons (EPSG:4326)")
    classes = classify(shown["value"], metric, scheme=scheme, reference=reference)
    metric_geoms = _local_metres(shown.geometry)
    family = cjk_font()

    with rc_context({"font.family": [family, "DejaVu Sans"], "pdf.fonttype": 42, "axes.unicode_minus": False}):
        fig = Figure(figsize=size, layout=None)
        fig.patch.set_facecolor("white")
        fig.text(0.04, 0.955, title, fontsize=18, va="top", ha="left")
        if subtitle:
            fig.text(0.04, 0.905, subtitle, fontsize=11.5, color="#444444", va="top", ha="left")
        ax = fig.add_axes((0.03, 0.05, 0.68, 0.82))
        ax.set_aspect("equal")
        ax.set_axis_off()
        frame = gpd.GeoDataFrame({"fill": list(classes.fills)}, geometry=metric_geoms.values, crs=metric_geoms.crs)
        frame.plot(ax=ax, color=frame["fill"].tolist(), edgecolor="#555555", linewidth=0.6)

        minx, miny, maxx, maxy = metric_geoms.total_bounds
        width, height = maxx - minx, maxy - miny
        pad = 0.06 * max(width, height, 1.0)
        ax.set_xlim(minx - pad, maxx + pad)
        ax.set_ylim(miny - 2.2 * pad, maxy + pad)

        if len(shown) <= MAX_LABELS:
            points = shapely.point_on_surface(np.asarray(metric_geoms.values, dtype=object))
            halo = [patheffects.withStroke(linewidth=2, foreground="white")]
            size_pt = 8 if len(shown) <= 15 else 6.5
            for point, name, value in zip(points, shown["name"], shown["value"]):
                label = "" if pd.isna(name) else str(name)
                label += f"\n{format_value(value, metric)}"
                ax.text(point.x, point.y, label, fontsize=size_pt, ha="center", va="center", color="#222222",
                        path_effects=halo, zorder=5)

        # scale bar, lower left, in two halves
        length = _nice_length(width + 2 * pad)
        x0, y0 = minx - pad * 0.6, miny - 1.6 * pad
        bar_h = 0.12 * pad
        for i, colour in enumerate(("#222222", "white")):
            ax.add_patch(Rectangle((x0 + i * length / 2, y0), length / 2, bar_h, facecolor=colour,
                                   edgecolor="#222222", linewidth=0.8, zorder=6))
        ax.text(x0, y0 + bar_h * 1.6, "0", fontsize=8, ha="center", va="bottom")
        ax.text(x0 + length, y0 + bar_h * 1.6, _distance(length), fontsize=8, ha="center", va="bottom")

        # north arrow, upper right
        ax.annotate("北", xy=(0.96, 0.97), xytext=(0.96, 0.87), xycoords="axes fraction",
                    textcoords="axes fraction", ha="center", va="center", fontsize=11,
                    arrowprops={"arrowstyle": "-|>", "color": "#222222", "linewidth": 1.5})

        handles = [Patch(facecolor=colour, edgecolor="#555555", label=label)
                   for colour, label in classes.legend_rows()]
        if classes.empty:
            legend_title = f"{classes.title}\n所选范围内没有可计算的单元"
        else:
            legend_title = f"{classes.title}\n分级：{classes.method}"
        legend = fig.legend(handles=handles, title=legend_title, loc="upper left", bbox_to_anchor=(0.73, 0.86),
                            frameon=False, fontsize=10, title_fontsize=10.5, alignment="left")
        legend.set_in_layout(False)

        note_lines = [str(n) for n in notes if str(n).strip()]
        if note_lines:
            fig.text(0.73, 0.06, "\n".join(note_lines), fontsize=9, color="#333333", va="bottom", ha="left",
                     linespacing=1.6, wrap=True)
    return fig


def map_figure(units: gpd.GeoDataFrame, *, metric: str, title: str, subtitle: str = "",
               scheme: str = "quantiles", reference: float | None = None, notes: Sequence[str] = (),
               fmt: str = "png", dpi: int = 150, size: tuple[float, float] = (11.7, 8.3)) -> bytes:
    """A printable map of units coloured by a metric, as PNG or PDF bytes (no tiles, offline).

    Parameters
    ----------
    units
        Columns ``code``, ``name``, ``value`` (display units, as
        ``METRICS[metric].display`` gives: rates in percent; NaN for 无数据)
        and polygon geometry in EPSG:4326.
    metric
        A key of :data:`gis.core.metrics.METRICS`: chooses the colour ramp's direction.
    title, subtitle
        Printed at the top, e.g. ``中原区 办结率`` and ``2026-11-01 至 2026-11-30``.
    scheme
        ``quantiles`` (分位数) or ``natural_breaks`` (自然断点), as on the web map.
    reference
        For a rate, the district's value in percent: the ramp diverges around it.
    notes
        Lines printed under the legend: date range, issuing office, data source.
    fmt
        ``png`` or ``pdf``.
    dpi
        Resolution of a PNG (and of any raster part of a PDF).
    size
        Inches, width × height; default A4 landscape.

    Returns
    -------
    bytes
        The image file.

    Raises
    ------
    InputError
        For a missing column, no unit with a geometry, an unknown metric,
        scheme or format.
    GisError
        When no font with Chinese glyphs is installed (install fonts-noto-cjk).
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown figure format {fmt!r}", field="fmt", fix="use 'png' or 'pdf'")
    fig = draw_map_figure(units, metric=metric, title=title, subtitle=subtitle, scheme=scheme,
                          reference=reference, notes=notes, size=size)
    buffer = io.BytesIO()
    metadata = {"Title": title, "Creator": "网格通"} if fmt == "pdf" else {"Title": title}
    with rc_context({"pdf.fonttype": 42}):
        fig.savefig(buffer, format=fmt, dpi=dpi, facecolor="white", metadata=metadata)
    return buffer.getvalue()
