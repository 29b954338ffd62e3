#!/usr/bin/env bash
# Start-up cost of the plugin (certbot plugins with/without it): see bench/startup.py.
# Needs the dev venv (lab/bootstrap.sh) for `build`; installs its own two venvs from PyPI.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ -x "$top/.venv/bin/python" ] || "$top/lab/bootstrap.sh"
exec "$top/.venv/bin/python" "$top/bench/startup.py" "$@"
