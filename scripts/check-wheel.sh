#!/usr/bin/env bash
# Build a wheel from this checkout, install it into a fresh virtual environment outside the checkout, and
# run the installed rdshare from a folder that is not the checkout: the priors, evidence and scenarios it
# ships must be inside the package. CI runs this through `make test` (target `wheel-check`).
#
# Usage: scripts/check-wheel.sh [PYTHON]   (default: the interpreter .venv was made with)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv_py="$repo/.venv/bin/python"
py=${1:-$("$venv_py" -c 'import sys; print(sys._base_executable)')}
work=$(mktemp -d "${TMPDIR:-/tmp}/rdshare-wheel-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s\n' "$*"; }

step "build the wheel"
"$venv_py" -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$work/dist" "$repo"
wheel=$(ls "$work"/dist/rdshare-*.whl)
echo "$wheel"

step "the wheel holds the package data"
"$venv_py" - "$wheel" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = [
    "rdshare/data/disclosures.csv",
    "rdshare/data/priors/default.toml",
    "rdshare/data/priors/epoch-2024.toml",
    "rdshare/data/priors/skeptical.toml",
    "rdshare/data/scenarios/essay-claims.toml",
    "rdshare/report/report.css",
]
missing = [n for n in need if n not in names]
if missing:
    sys.exit(f"the wheel lacks: {', '.join(missing)}")
print(f"ok: {len(names)} files, every shipped data file present")
PY

step "install it into a fresh virtual environment ($py)"
"$py" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet "$wheel"
rd="$work/venv/bin/rdshare"

mkdir "$work/elsewhere"
cd "$work/elsewhere"
step "run it from outside the checkout"
"$work/venv/bin/python" - "$repo" <<'PY'
import sys
from pathlib import Path
import rdshare
where = Path(rdshare.__file__).resolve()
if Path(sys.argv[1]).resolve() in where.parents:
    sys.exit(f"rdshare was imported from the checkout ({where}), not from the wheel")
print(f"rdshare {rdshare.__version__} from {where.parent}")
PY
"$rd" --version
"$rd" priors show default
"$rd" data check
"$rd" fit --draws 200 --tune 300 --chains 2 --out "$work/elsewhere/run" --allow-unconverged
test -f "$work/elsewhere/run/report.html"
"$rd" forecast "$work/elsewhere/run" --scenario essay-claims
test -f "$work/elsewhere/run/forecast/squiggle.txt"
step "wheel check passed"
