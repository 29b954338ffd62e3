#!/usr/bin/env bash
# The whole test suite, from nothing: installs the lab and the venv, then runs pytest.
# The tests start the lab themselves (and stop it again if they started it).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shards=${LAB_SHARDS:-4}  # pytest's processes, see below
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "lab/test.sh: LAB_SHARDS is a number, not '$shards'" >&2; exit 2; }
"$top/lab/bootstrap.sh"
cd "$top"
# Release artefacts for tests/release: the wheel and sdist in dist/, and .venv-release, a
# clean venv with certbot (pinned) and the built wheel installed as a user would (not
# editable, no extras). Rebuilt only when what goes into the wheel or sdist changes.
release_venv=$top/.venv-release
release_stamp=$release_venv/.built
release_want=$( { python3 -V; find certbot_dns_autopilot docs tests setup.cfg pyproject.toml MANIFEST.in \
  README.md lab/requirements.txt -type f ! -name '*.py[co]' ! -path 'docs/_build/*' -print0 | sort -z |
  xargs -0 sha256sum; } | sha256sum | cut -c1-16)
if [ "$(cat "$release_stamp" 2>/dev/null)" != "$release_want" ] || ! ls dist/*.whl >/dev/null 2>&1; then
  rm -rf dist build
  # --no-isolation: setuptools and wheel come pinned from .venv, nothing is downloaded here.
  "$top/.venv/bin/python" -m build --no-isolation --outdir dist . >"$top/.venv/build.log" 2>&1 ||
    { cat "$top/.venv/build.log" >&2; exit 1; }
  rm -rf build
  [ -x "$release_venv/bin/python" ] || python3 -m venv "$release_venv"
  pins=$(grep -E '^(certbot|acme)==' lab/requirements.txt)
  "$release_venv/bin/python" -m pip uninstall -q -y certbot-dns-autopilot 2>/dev/null || true
  # shellcheck disable=SC2086  # the pins are two words on purpose
  "$release_venv/bin/python" -m pip install -q --disable-pip-version-check \
    -c lab/requirements.txt $pins dist/*.whl 2> >(grep -v "is ignored: it is neither" >&2)
  echo "$release_want" >"$release_stamp"
fi
# The wheelhouse tests/lab/test_docs_run.py installs from as the docs say (pip install
# certbot 'certbot-dns-autopilot[all]', without a network): every distribution the wheel
# and its extras need, at the versions lab/requirements.txt pins, and certbot-dns-rfc2136;
# chosen by the pip of the python3 a root login shell finds, the one the docs' venv uses.
wheelhouse=$top/.wheelhouse
docs_python=$(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin sh -c 'command -v python3')
wheelhouse_want=$(cat setup.cfg lab/requirements.txt | sha256sum | cut -c1-16)-$("$docs_python" -V 2>&1 | tr -dc 0-9.)
if [ "$(cat "$wheelhouse/.built" 2>/dev/null)" != "$wheelhouse_want" ]; then
  rm -rf "$wheelhouse"
  "$docs_python" -m venv "$wheelhouse/.pip"
  "$wheelhouse/.pip/bin/python" -m pip wheel -q --disable-pip-version-check -w "$wheelhouse" \
    -c lab/requirements.txt certbot "$(ls dist/*.whl)[all]" certbot-dns-rfc2136 setuptools \
    wheel 2> >(grep -v "is ignored: it is neither" >&2)
  rm -rf "$wheelhouse"/certbot_dns_autopilot-* "$wheelhouse/.pip"
  echo "$wheelhouse_want" >"$wheelhouse/.built"
fi
"$top/.venv/bin/ruff" check certbot_dns_autopilot tests bench
# The whole suite (no arguments: what CI runs) also runs the unit tests on the lowest
# versions setup.cfg allows (lab/constraints-lowest.txt), in .venv-lowest, installed once
# and again only when those bounds change. The writers' extras come along; the "doh" extra
# does not: its floor (dnspython 2.9, for its HTTP/2 client) lies above the core's.
if [ $# -eq 0 ]; then
  lowest_venv=$top/.venv-lowest
  lowest_want=$(cat setup.cfg lab/constraints-lowest.txt | sha256sum | cut -c1-16)
  if [ "$(cat "$lowest_venv/.built" 2>/dev/null)" != "$lowest_want" ]; then
    rm -rf "$lowest_venv"
    python3 -m venv "$lowest_venv"
    "$lowest_venv/bin/python" -m pip install -q --disable-pip-version-check \
      -c lab/constraints-lowest.txt -e ".[cloudflare,route53,azure,lexicon]" pytest hypothesis \
      2> >(grep -v "is ignored: it is neither" >&2)
    echo "$lowest_want" >"$lowest_venv/.built"
  fi
  "$lowest_venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit
fi
# The suite in LAB_SHARDS processes at once (pytest-xdist; default 4), each in a network
# namespace of its own (lab/netns.sh) where its lab tests start a lab of their own: a lab
# test mostly waits (for certbot to start, for the CA), so two cores run four at once.
# LAB_SHARDS=1 runs it in one process, in this namespace, beside its lab if one runs here.
if [ "$shards" -gt 1 ]; then
  set -- --tx "$shards*popen//python=$(printf '%q %q' "$top/lab/netns.sh" "$top/.venv/bin/python")" \
    --dist worksteal "$@"
fi
exec "$top/.venv/bin/python" -m pytest "$@"
