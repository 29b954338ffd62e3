#!/usr/bin/env bash
# The fault-injection suite and its figures: runs tests/lab/test_faults.py against the lab
# (as lab/test.sh does: installs first) and prints, per case, the records leaked, foreign
# values removed, secrets found in the run's artefacts and tracebacks shown. Every figure
# must be 0; the exit status is non-zero otherwise. Run as root, like the lab.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
# One shard: the cases' figures go to one report.
LAB_SHARDS=1 DNS_AUTOPILOT_FAULT_REPORT=$report "$top/lab/test.sh" -q -p no:cacheprovider \
  "$top/tests/lab/test_faults.py" "$@" || status=$?
"$top/.venv/bin/python" - "$report" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1])) if open(sys.argv[1]).read().strip() else {}
columns = ["records leaked", "foreign values removed", "secrets in artefacts", "tracebacks shown"]
print(f"\n{'case':<58}" + "".join(f"{c:>24}" for c in columns))
for name, figures in cases.items():
    print(f"{name:<58}" + "".join(f"{figures[c]:>24}" for c in columns))
totals = {c: sum(f[c] for f in cases.values()) for c in columns}
print(f"{f'all {len(cases)} cases':<58}" + "".join(f"{totals[c]:>24}" for c in columns))
sys.exit(1 if any(totals.values()) or not cases else 0)
PY
exit $status
