#!/usr/bin/env bash
# Make sure LibreOffice Calc can run headless (`soffice`): the spreadsheet tests open samples.xlsx in
# it under a German locale. `make test` runs this. When soffice is missing and this runs as root on a
# Debian/Ubuntu machine (CI), it installs Debian's libreoffice-calc-nogui (about 20 s); otherwise it
# says what to install and exits 1.
set -euo pipefail
if command -v soffice >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing LibreOffice Calc (libreoffice-calc-nogui) for the spreadsheet tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends libreoffice-calc-nogui >/dev/null
  command -v soffice >/dev/null 2>&1 && exit 0
fi
cat >&2 <<'EOF'
LibreOffice Calc (the `soffice` command) is needed by the spreadsheet tests and was not found.
Install it, then run make test again:
  Debian/Ubuntu: sudo apt-get install --no-install-recommends libreoffice-calc-nogui
  macOS:         brew install --cask libreoffice   (puts soffice in the app bundle: add
                 /Applications/LibreOffice.app/Contents/MacOS to PATH)
EOF
exit 1
