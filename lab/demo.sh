#!/usr/bin/env bash
# The demo, from nothing: installs the lab, starts it, and issues a certificate for
# autopilot.test, *.autopilot.test and www.autopilot.test from Pebble with
# `certbot certonly --authenticator dns-autopilot`. The lab keeps running afterwards
# (stop it with `lab/lab.sh down`).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
t0=$(date +%s.%N)
"$top/lab/bootstrap.sh"
t1=$(date +%s.%N)
lab_env=$("$top/lab/lab.sh" up)  # a failed start stops the demo here (set -e)
eval "$lab_env"
t2=$(date +%s.%N)
demo=$LAB_RUN/demo
rm -rf "$demo"
mkdir -p "$demo"
zone=autopilot.test
echo "== certbot certonly --authenticator dns-autopilot -d $zone -d '*.$zone' -d www.$zone"
REQUESTS_CA_BUNDLE=$LAB_CA_BUNDLE "$top/.venv/bin/certbot" certonly \
  --non-interactive --agree-tos --register-unsafely-without-email \
  --server "$LAB_ACME_DIRECTORY" \
  --config-dir "$demo/config" --work-dir "$demo/work" --logs-dir "$demo/logs" \
  --authenticator dns-autopilot \
  --dns-autopilot-credentials "$LAB_CREDENTIALS" \
  --dns-autopilot-resolvers "$LAB_RESOLVER" \
  -d "$zone" -d "*.$zone" -d "www.$zone"
t3=$(date +%s.%N)
cert=$demo/config/live/$zone/fullchain.pem
echo
echo "== the certificate"
echo "file:     $cert"
openssl x509 -in "$cert" -noout -subject -issuer -startdate -enddate | sed 's/^/          /'
openssl x509 -in "$cert" -noout -ext subjectAltName | tail -n +2 | sed 's/^ */names:    /'
echo "renewal:  $demo/config/renewal/$zone.conf (certbot renew --config-dir $demo/config ...)"
# The primary drops our values at once; the secondary follows by NOTIFY + IXFR.
gone=""
for i in $(seq 1 60); do
  left=$(dig +short +norecurse @"$LAB_PRIMARY" "_acme-challenge.$zone" TXT; dig +short +norecurse @"$LAB_SECONDARY" "_acme-challenge.$zone" TXT)
  [ -z "$left" ] && { gone=$(awk -v i="$i" 'BEGIN { printf "%.1f", (i-1)*0.25 }'); break; }
  sleep 0.25
done
if [ -n "$gone" ]; then
  echo "cleanup:  _acme-challenge.$zone TXT gone from primary and secondary ${gone} s after certbot exited"
else
  echo "cleanup:  _acme-challenge.$zone TXT STILL PRESENT: $left"
fi
echo
echo "== time"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
  printf "install check %6.1f s\nlab up        %6.1f s\nissuance      %6.1f s (certbot, end to end)\n", b-a, c-b, d-c }'
echo "== what dns-autopilot did (from $demo/logs/letsencrypt.log)"
sed -n 's/^\([0-9-]* [0-9:,]*\):.*\(dns-autopilot: .*\)/  \1  \2/p' "$demo/logs/letsencrypt.log"
echo
echo "The lab keeps running; stop it with: $top/lab/lab.sh down"
