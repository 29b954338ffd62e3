#!/usr/bin/env bash
# Runs a command in a network namespace of its own, loopback up and nothing else: how
# lab/test.sh gives each shard of the suite its own lab (a lab binds fixed loopback
# addresses, so two labs need two namespaces). The namespace goes when the last process in
# it ends. Run as root.
set -euo pipefail
exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh "$@"
