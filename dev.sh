#!/usr/bin/env bash
# 网格通 set-up and everyday commands, for a fresh Debian/Ubuntu machine.
#
#   ./dev.sh demo    set everything up, load the demo district, serve the app on :8501
#   ./dev.sh test    set everything up and run every test
#   ./dev.sh lab     set everything up and open JupyterLab on notebooks/ (analysts; on 127.0.0.1)
#   ./dev.sh setup   only install what is missing (system packages, .venv)
#
# Each step checks first and is skipped when already done, so a second run is fast.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY_MIN_MINOR=11

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

# -- system packages (apt) ------------------------------------------------------------
APT_UPDATED=""
apt_install() {
    # apt_install PKG...: install what is missing, as root or through sudo
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"
        else die "missing system packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}"; fi
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing system packages: ${missing[*]} (no apt-get here: install them with your package manager)"
    say "installing system packages: ${missing[*]}"
    if [ -z "$APT_UPDATED" ]; then $sudo apt-get update -qq; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

have_postgis() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null &&
        compgen -G "/usr/share/postgresql/*/extension/postgis.control" >/dev/null
}

setup_postgis() {
    have_postgis && return 0
    # Debian: postgresql-postgis follows the default PostgreSQL; older Ubuntu names the versioned one
    apt_install postgresql postgresql-postgis 2>/dev/null || apt_install postgresql postgis
    have_postgis || die "PostGIS is still missing after apt; install postgresql-NN-postgis-3 for your PostgreSQL"
}

setup_browser() {
    command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" && return 0
    # Debian's chromium (browser downloads are not possible offline); a CJK font for screenshots
    apt_install chromium fonts-wqy-microhei
}

setup_pdf() {
    # WeasyPrint (the bulletins' PDF) loads Pango, PangoFT2 and HarfBuzz's subsetter at run time, and
    # a bulletin needs a font with Chinese glyphs (also for the map figure); each is checked first
    apt_install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
    fc-list :lang=zh family 2>/dev/null | grep -q . || apt_install fonts-noto-cjk
}

# -- Python -----------------------------------------------------------------------------------
find_python() {
    # the newest interpreter >= 3.11 on PATH or in pyenv/uv/system folders
    local best="" best_minor=0 cand minor
    for cand in python3 python3.{11..15} /usr/bin/python3* /usr/local/bin/python3* \
                "$HOME"/.pyenv/versions/*/bin/python3 "$HOME"/.local/share/uv/python/*/bin/python3; do
        command -v "$cand" >/dev/null 2>&1 || continue
        minor=$("$cand" -c 'import sys, venv; print(sys.version_info[1] if sys.version_info[0] == 3 else 0)' 2>/dev/null) || continue
        if [ "$minor" -ge "$PY_MIN_MINOR" ] && [ "$minor" -gt "$best_minor" ]; then best=$(command -v "$cand"); best_minor=$minor; fi
    done
    echo "$best"
}

setup_venv() {
    local py stamp want
    if [ ! -x "$VENV/bin/python" ]; then
        py=$(find_python)
        if [ -z "$py" ]; then
            apt_install python3 python3-venv python3-dev
            py=$(find_python)
            [ -n "$py" ] || die "no Python >= 3.$PY_MIN_MINOR found; install python3 (>= 3.$PY_MIN_MINOR) and python3-venv"
        fi
        say "creating .venv with $py ($("$py" --version))"
        "$py" -m venv "$VENV"
    fi
    want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
    stamp="$VENV/.installed-$want"
    if [ ! -f "$stamp" ]; then
        say "installing Python packages into .venv (pinned by constraints.txt)"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[test,notebooks]"
        rm -f "$VENV"/.installed-*
        touch "$stamp"
    fi
}

setup() {
    setup_postgis
    setup_pdf
    setup_venv
}

cmd=${1:-help}
shift || true
case "$cmd" in
    setup)
        setup ;;
    demo)
        setup
        "$VENV/bin/python" -m gis db init
        "$VENV/bin/python" -m gis demo --if-empty
        say "serving the app at http://localhost:${PORT:-8501}"
        exec "$VENV/bin/python" -m streamlit run app.py --server.port "${PORT:-8501}" --server.headless true "$@" ;;
    test)
        setup
        setup_browser
        exec "$VENV/bin/python" -m pytest "$@" ;;
    lab)
        # the notebooks connect by themselves (DATABASE_URL, else the embedded server), as an analyst
        setup
        exec "$VENV/bin/python" -m jupyter lab notebooks/ --no-browser --ip 127.0.0.1 "$@" ;;
    *)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
        [ "$cmd" = help ] || exit 2 ;;
esac
