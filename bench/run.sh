#!/usr/bin/env bash
# The benchmark, from nothing: the venv and lab (bootstrap), the peers' tools (lego from
# Debian; certbot-dns-rfc2136 is in the venv) and tcpdump, then bench/compare.py.
# Arguments go to compare.py, e.g.  bench/run.sh --runs 5 --cases 3
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$top/lab/bootstrap.sh"
for pkg in lego tcpdump; do
  command -v "$pkg" >/dev/null 2>&1 || command -v "/usr/sbin/$pkg" >/dev/null 2>&1 || {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "$pkg" >/dev/null; }
done
export PATH=/usr/sbin:$PATH
exec "$top/.venv/bin/python" "$top/bench/compare.py" "$@"
