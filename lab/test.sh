#!/usr/bin/env bash
# The whole test suite, from nothing: installs the lab and the venv, then runs pytest.
# The tests start the lab themselves (and stop it again if they started it).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$top/lab/bootstrap.sh"
cd "$top"
"$top/.venv/bin/ruff" check certbot_dns_autopilot tests bench
exec "$top/.venv/bin/python" -m pytest "$@"
