#!/usr/bin/env bash
# Installs everything the demo and the tests need, from nothing: the lab's Debian packages
# and a virtualenv at .venv with certbot, the peers and this plugin (editable).
# Idempotent: a second run only checks. Run as root.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$top/lab/lab.sh" install
venv=$top/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || {
    apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
fi
stamp=$venv/.installed
want=$(cat "$top/lab/requirements.txt" "$top/setup.cfg" | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$top/lab/requirements.txt" 2> >(grep -v "is ignored: it is neither" >&2)
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$top" -c "$top/lab/requirements.txt" 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$want" >"$stamp"
fi
