#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or explain what to install and exit 1.
# Order: python3.13, python3.12, python3 on PATH (each checked to really run), then pyenv's versions.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
for cand in python3.13 python3.12 python3; do
  if command -v "$cand" >/dev/null 2>&1 && ok "$cand"; then command -v "$cand"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root 2>/dev/null)
  for d in $(ls -d "$root"/versions/3.1[2-9]* "$root"/versions/3.[2-9][0-9]* 2>/dev/null | sort -rV); do
    if [ -x "$d/bin/python3" ] && ok "$d/bin/python3"; then echo "$d/bin/python3"; exit 0; fi
  done
fi
echo "rdshare needs Python >= 3.12 (PyMC 6 requires it) and none was found." >&2
echo "Install one (e.g. 'apt install python3.12', 'brew install python@3.12' or 'pyenv install 3.12')," >&2
echo "or run: make PYTHON=/path/to/python3.12 ..." >&2
exit 1
