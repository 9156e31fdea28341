#!/usr/bin/env bash
# Rebuild static/vendor/: the browser code that the maps load, served by the
# app itself (Streamlit's static serving, /app/static/vendor/...), so that a
# map draws with no CDN: offline CI, government intranets, mainland China.
#
# Exact versions; only the files the maps use are kept. Sources:
#   leaflet, jquery, leaflet.heat (licence), leaflet.markercluster,
#   leaflet-draw
#                                            the npm registry, `npm pack`
#   leaflet-heat.min.js                      folium's wheel on PyPI: Leaflet.heat
#                                            0.2.0 with the weights patch of
#                                            Leaflet/Leaflet.heat#78 (npm's 0.2.0
#                                            ignores weights, folium#1271)
# Afterwards the files are checked against static/vendor/SHA256SUMS; run with
# --update to accept new bytes (after a deliberate version bump) and rewrite it.
#
# Usage: scripts/vendor_assets.sh [--update]     (needs npm and python3 with pip)
set -euo pipefail

LEAFLET=1.9.4
JQUERY=3.7.1
LEAFLET_HEAT=0.2.0
MARKERCLUSTER=1.5.3
LEAFLET_DRAW=1.0.4
FOLIUM=0.20.0

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/static/vendor"
python="${PYTHON:-python3}"
[ -x "$root/.venv/bin/python" ] && python="${PYTHON:-$root/.venv/bin/python}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "leaflet@$LEAFLET" "jquery@$JQUERY" "leaflet.heat@$LEAFLET_HEAT" \
    "leaflet.markercluster@$MARKERCLUSTER" "leaflet-draw@$LEAFLET_DRAW" >/dev/null)
for pkg in "leaflet-$LEAFLET" "jquery-$JQUERY" "leaflet.heat-$LEAFLET_HEAT" "leaflet.markercluster-$MARKERCLUSTER" \
    "leaflet-draw-$LEAFLET_DRAW"; do
    mkdir -p "$tmp/$pkg"
    tar -xzf "$tmp/$pkg.tgz" -C "$tmp/$pkg"
done
"$python" -m pip download --quiet --no-deps --only-binary=:all: \
    "folium==$FOLIUM" -d "$tmp/wheel"

rm -rf "$vendor/leaflet" "$vendor/jquery" "$vendor/leaflet.heat" "$vendor/leaflet.markercluster" "$vendor/leaflet.draw"
mkdir -p "$vendor/leaflet/dist/images" "$vendor/jquery/dist" "$vendor/leaflet.heat/dist" \
    "$vendor/leaflet.markercluster/dist" "$vendor/leaflet.draw/dist/images"

src="$tmp/leaflet-$LEAFLET/package"
cp "$src/dist/leaflet.js" "$src/dist/leaflet.css" "$vendor/leaflet/dist/"
# leaflet.css refers to images/ beside it (layer switcher, default marker).
cp "$src"/dist/images/*.png "$vendor/leaflet/dist/images/"
cp "$src/LICENSE" "$vendor/leaflet/LICENSE"

src="$tmp/jquery-$JQUERY/package"
cp "$src/dist/jquery.min.js" "$vendor/jquery/dist/"
cp "$src/LICENSE.txt" "$vendor/jquery/LICENSE.txt"

src="$tmp/leaflet.markercluster-$MARKERCLUSTER/package"
cp "$src/dist/leaflet.markercluster.js" "$src/dist/MarkerCluster.css" "$src/dist/MarkerCluster.Default.css" "$vendor/leaflet.markercluster/dist/"
cp "$src/MIT-LICENCE.txt" "$vendor/leaflet.markercluster/MIT-LICENCE.txt"

# leaflet.draw.css refers to images/ beside it (the toolbar's sprites). The package ships no
# licence file; its package.json says MIT, and that file is kept as the record.
src="$tmp/leaflet-draw-$LEAFLET_DRAW/package"
cp "$src/dist/leaflet.draw.js" "$src/dist/leaflet.draw.css" "$vendor/leaflet.draw/dist/"
cp "$src"/dist/images/spritesheet* "$vendor/leaflet.draw/dist/images/"
cp "$src/package.json" "$vendor/leaflet.draw/package.json"

cp "$tmp/leaflet.heat-$LEAFLET_HEAT/package/LICENSE" "$vendor/leaflet.heat/LICENSE"
"$python" - "$tmp/wheel" "$vendor/leaflet.heat/dist/leaflet-heat.min.js" <<'EOF'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("folium-*.whl"))
with zipfile.ZipFile(wheel) as z:
    pathlib.Path(sys.argv[2]).write_bytes(z.read("folium/templates/leaflet_heat.min.js"))
EOF

cd "$vendor"
if [ "${1:-}" = "--update" ]; then
    find leaflet jquery leaflet.heat leaflet.markercluster leaflet.draw -type f | LC_ALL=C sort | xargs sha256sum > SHA256SUMS
    echo "wrote $vendor/SHA256SUMS"
else
    sha256sum --quiet -c SHA256SUMS
fi
du -sh "$vendor"
