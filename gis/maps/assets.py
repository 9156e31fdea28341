"""Vendored Leaflet assets: every script and stylesheet served by the app, never a CDN."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any

import branca.colormap
import folium
import folium.plugins
from branca.element import CssLink, Element, JavascriptLink
from folium.elements import JSCSSMixin

from gis.errors import GisError
from gis.settings import PROJECT_ROOT

#: Where the vendored browser code lives on disk, and the URL Streamlit serves
#: it at (``./static/`` beside app.py is served at ``/app/static/``).
VENDOR_DIR = PROJECT_ROOT / "static" / "vendor"
VENDOR_URL = "/app/static/vendor"

# folium/branca asset name -> file under static/vendor/.
_VENDORED: Mapping[str, str] = MappingProxyType({
    "leaflet": "leaflet/dist/leaflet.js",
    "leaflet_css": "leaflet/dist/leaflet.css",
    # folium's Popup builds its content with $(`...`), so jQuery stays.
    "jquery": "jquery/dist/jquery.min.js",
    "leaflet-heat.js": "leaflet.heat/dist/leaflet-heat.min.js",
    # folium.plugins.MarkerCluster (and FastMarkerCluster): the case points.
    "markerclusterjs": "leaflet.markercluster/dist/leaflet.markercluster.js",
    "markerclustercss": "leaflet.markercluster/dist/MarkerCluster.css",
    "markerclusterdefaultcss": "leaflet.markercluster/dist/MarkerCluster.Default.css",
    # folium.plugins.Draw: drawing and reshaping micro-grids on the planning page.
    "leaflet_draw_js": "leaflet.draw/dist/leaflet.draw.js",
    "leaflet_draw_css": "leaflet.draw/dist/leaflet.draw.css",
})
# Assets folium.Map lists by default that no map here uses: Bootstrap and
# glyphicons (folium's own widgets), Font Awesome and awesome-markers (only
# folium.Icon).  Dropped rather than vendored: ~1 MB of fonts and CSS for nothing.
_UNUSED = frozenset({
    "bootstrap", "bootstrap_css", "glyphicons_css", "awesome_markers",
    "awesome_markers_css", "awesome_markers_font_css", "awesome_rotate_css",
})
# streamlit-folium adds these for any branca ColorMap it finds in the tree.
_D3_URLS = ("https://d3js.org/d3.v4.min.js",
            "https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js")


# --------------------------------------------------------------------------
# Assets
# --------------------------------------------------------------------------

def _is_remote(url: str) -> bool:
    return url.lower().startswith(("http://", "https://", "//"))


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _local_links(element: Element, links: Sequence[tuple[str, str]], *, base_url: str
                 ) -> list[tuple[str, str]]:
    local = []
    for name, url in links:
        if name in _VENDORED:
            local.append((name, f"{base_url}/{_VENDORED[name]}"))
        elif name in _UNUSED:
            continue
        elif _is_remote(url):
            raise GisError(
                f"{type(element).__name__} loads {name!r} from {url}, which is not vendored",
                fix="add it to scripts/vendor_assets.sh and to gis.maps._VENDORED, "
                    "or draw the layer without that plugin")
        else:
            local.append((name, url))
    return local


def localise_assets(m: Element, *, base_url: str = VENDOR_URL) -> Element:
    """Point every script and stylesheet of a map (or layer) at the vendored copies.

    Rewrites, in place, the ``default_js``/``default_css`` of ``m`` and of
    every element below it, and the links already placed in its figure's
    ``<head>``, to ``{base_url}/<package>/...``.  Assets folium lists but no map
    here uses (Bootstrap, Font Awesome, awesome-markers) are dropped.

    Parameters
    ----------
    m
        A :class:`folium.Map` or any layer; changed in place.
    base_url
        URL prefix of ``static/vendor/``: ``/app/static/vendor`` under
        Streamlit, a relative path such as ``static/vendor`` for an HTML file
        saved beside ``static/``.

    Returns
    -------
    Element
        ``m`` itself.

    Raises
    ------
    GisError
        When an element needs code that is not vendored: a plugin with a CDN
        URL, :class:`folium.Icon` (awesome-markers) or a branca colormap
        (streamlit-folium adds d3 from a CDN for those).
    """
    base_url = base_url.rstrip("/")
    if isinstance(m, OfflineMap):
        m.asset_base_url = base_url
    for element in _walk(m):
        if isinstance(element, branca.colormap.ColorMap):
            raise GisError("a branca colormap on the map loads d3 from a CDN",
                           fix="use the ClassLegend from gis.maps.choropleth_layer")
        if isinstance(element, folium.Icon):
            raise GisError("folium.Icon needs Font Awesome and awesome-markers, which are not vendored",
                           fix="draw points with folium.CircleMarker (see gis.maps.points_layer)")
        if isinstance(element, JSCSSMixin):
            # Instance attributes: the class lists are shared by every map in
            # the process (and JSCSSMixin.add_js_link mutates them in place).
            element.default_js = _local_links(element, element.default_js, base_url=base_url)
            element.default_css = _local_links(element, element.default_css, base_url=base_url)
    root = m.get_root()
    header = getattr(root, "header", None)
    if header is not None and root is not m:
        for name, link in list(header._children.items()):
            if isinstance(link, (JavascriptLink, CssLink)):
                kept = _local_links(root, [(name, link.url)], base_url=base_url)
                if kept:
                    link.url = kept[0][1]
                else:
                    del header._children[name]
    return m


class OfflineMap(folium.Map):
    """A :class:`folium.Map` that loads no code from a CDN.

    Same arguments as :class:`folium.Map`, plus ``asset_base_url`` (see
    :func:`localise_assets`).  Each render localises the whole tree again, so
    layers added after :func:`base_map` returned are covered too.
    """

    def __init__(self, *args: Any, asset_base_url: str = VENDOR_URL, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asset_base_url = asset_base_url
        localise_assets(self, base_url=asset_base_url)

    def render(self, **kwargs: Any) -> None:
        localise_assets(self, base_url=self.asset_base_url)
        super().render(**kwargs)


class _AssetParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"])
        elif (tag == "link" and attributes.get("href")
              and "stylesheet" in (attributes.get("rel") or "").lower()):
            self.urls.append(attributes["href"])


def asset_urls(m: folium.Map) -> list[str]:
    """Every script and stylesheet URL a map loads, standalone or in streamlit-folium.

    Renders the map's figure and reads its ``<script src>`` and stylesheet
    ``<link href>`` (tile URL templates are image sources inside scripts and
    are not listed), then adds what streamlit-folium loads: each element's
    ``default_js``/``default_css`` and, for a branca colormap, d3.

    Parameters
    ----------
    m
        A map inside a figure (every :class:`folium.Map` is).

    Returns
    -------
    list of str
        URLs in load order, without duplicates.
    """
    parser = _AssetParser()
    parser.feed(m.get_root().render())
    urls = list(parser.urls)
    for element in _walk(m):
        if isinstance(element, branca.colormap.ColorMap):
            urls.extend(_D3_URLS)
        urls.extend(url for _, url in getattr(element, "default_js", []))
        urls.extend(url for _, url in getattr(element, "default_css", []))
    return list(dict.fromkeys(urls))
