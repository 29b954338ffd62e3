#!/usr/bin/env bash
# The local lab: a fake root, an authoritative primary and secondary (BIND 9), a caching
# resolver (Unbound) and an ACME test CA (Pebble), all on loopback addresses only.
#
#   lab/lab.sh install   apt packages (bind9, bind9-dnsutils, unbound, pebble, openssl, iproute2,
#                        nftables: the network tests filter port 53 with it)
#   lab/lab.sh up        start everything (idempotent); prints the lab's facts
#   lab/lab.sh status    which parts run; exit 1 if any is down
#   lab/lab.sh down      stop everything, remove addresses and state (idempotent)
#   lab/lab.sh env       shell assignments describing the running lab (for scripts and tests)
#
# State lives in $LAB_RUN (default: lab/.run beside this script). Must run as root:
# it binds port 53 and adds /32 addresses to lo. LAB_NOTIFY_DELAY (seconds, default 5: BIND's
# own) is how long the primary waits before it sends a changed zone's NOTIFY, and so how long
# the secondary lags each change; `up` restarts a running primary that has another.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/sbin:/sbin:$PATH

LAB_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_RUN=${LAB_RUN:-$LAB_HOME/.run}
NOTIFY_DELAY=${LAB_NOTIFY_DELAY:-5}

ROOT_IP=127.0.53.1        # fake root server: ".", delegating the lab zones
PRIMARY_IP=127.0.53.11    # ns1.autopilot.test: primary, accepts TSIG-signed updates
SECONDARY_IP=127.0.53.12  # ns2.autopilot.test: secondary, NOTIFY + IXFR from the primary
ALIAS_IP=127.0.53.21      # ns3.alias.test: a second primary with its own TSIG key, for the
                          # zone that _acme-challenge CNAMEs point into
RESOLVER_IP=127.0.53.53   # Unbound: the "public" recursive resolver clients ask
CA_RESOLVER_IP=127.0.53.54  # a second Unbound with its own cache: the CA's resolver, which Pebble
                          # validates through. Like Let's Encrypt's, it is not one the plugin
                          # asks, so what it cached is the CA's view alone
CAAFAIL_IP=127.0.53.25    # ns4.autopilot.test: lab/caa_refuser.py, relays every query to the
                          # primary but answers SERVFAIL to CAA (an old appliance or DNS proxy)
DOH_PATH=/dns-query        # the "public" resolver also answers DNS over HTTPS at
                          # https://$RESOLVER_IP$DOH_PATH (HTTP/2, the lab CA's certificate)
ACME_DIR=https://localhost:14000/dir
ZONES=(autopilot.test example.test slow.test mismatch.test signed.test badds.test lag.test caafail.test moved.test)
SIGNED_ZONES=(signed.test badds.test)  # DNSSEC-signed by the primary (dnssec-policy default);
                          # the root publishes a DS that matches signed.test's key, and one for
                          # badds.test that does not. Unbound validates both (trust anchors = DS)
MISMATCH_ZONE=mismatch.test # the root delegates it to ns1, ns2 and ns3; its apex lists ns1, ns2;
                          # ns3 does not serve it (lame)
SLOW_ZONE=slow.test         # NOTIFY off, secondary picks changes up by its refresh timer only
LAG_ZONE=lag.test           # a hidden primary: the NS set (root and apex) is ns2 alone; NOTIFY
                          # off and the default refresh (1 h), so ns2 lags every change until a
                          # test sends it a NOTIFY
CAAFAIL_ZONE=caafail.test   # NS ns1 and ns4 (root and apex): ns4 fails CAA queries only
MOVED_ZONE=moved.test       # a zone that moved DNS hosts: the root delegates it to ns1/ns2 (the
                          # new host), while ns3 (the old host) still serves its old copy (NS
                          # ns3, serial 0); a test points a resolver at the old host
                          # (unbound-control stub_add), as a resolver holding the old NS set does
ALIAS_ZONE=alias.test
KEY_NAME=autopilot-key
ALIAS_KEY_NAME=alias-key
READONLY_KEY_NAME=readonly-key  # known to the primary, granted nothing: updates are REFUSED
OTHERZONE_KEY_NAME=otherzone-key  # granted TXT updates in $OTHERZONE_ZONE only (a key scoped
OTHERZONE_ZONE=example.test       # to another zone): its updates in autopilot.test are REFUSED
ADDRESSES=("$ROOT_IP" "$PRIMARY_IP" "$SECONDARY_IP" "$ALIAS_IP" "$RESOLVER_IP" "$CA_RESOLVER_IP" "$CAAFAIL_IP")

die() { echo "lab: $*" >&2; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "run as root (binds port 53, adds addresses to lo)"; }

install() {
  need_root
  local missing=()
  for cmd in named:bind9 dig:bind9-dnsutils unbound:unbound pebble:pebble openssl:openssl ip:iproute2 tsig-keygen:bind9 nft:nftables; do
    command -v "${cmd%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${cmd%%:*}" ] || missing+=("${cmd#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "lab: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Debian starts the packaged services where an init system runs; the lab uses its own.
  for svc in named bind9 unbound; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
      systemctl stop "$svc" || true
    fi
  done
}

pid_alive() { [ -f "$1" ] && running "$(cat "$1")"; }

running() { # pid: a process that has not ended (an ended daemon stays a zombie until init,
  # which may be slow about it, reaps it: that one has ended)
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

add_addresses() {
  # `replace` is idempotent: an address left on lo by an earlier lab (its processes gone
  # with the session that started them) is no error. lo may be down in a new namespace.
  ip link set lo up
  for ip in "${ADDRESSES[@]}"; do
    ip addr replace "$ip/32" dev lo
  done
}

write_named_conf() { # name ip zone-stanzas key-file
  local name=$1 ip=$2 zones=$3 dir=$LAB_RUN/$1
  mkdir -p "$dir"
  cat >"$dir/named.conf" <<CONF
options {
  directory "$dir";
  pid-file "$dir/named.pid";
  session-keyfile "$dir/session.key";
  managed-keys-directory "$dir";
  dump-file "$dir/cache_dump.db";
  statistics-file "$dir/named.stats";
  listen-on port 53 { $ip; };
  listen-on-v6 { none; };
  query-source address $ip;
  notify-source $ip;
  transfer-source $ip;
  recursion no;
  allow-query { any; };
  dnssec-validation no;
  notify explicit;
};
controls { };
logging {
  channel lab_log { file "$dir/named.log" versions 0 size 20m; severity info; print-time yes; print-category yes; };
  category default { lab_log; };
  category queries { null; };
  category lame-servers { null; };
};
include "$LAB_RUN/$4";
${5:-}
$zones
CONF
}

write_zone() { # zone
  local zone=$1 refresh=3600 ns="ns1 ns2"
  [ "$zone" = "$SLOW_ZONE" ] && refresh=6
  [ "$zone" = "$LAG_ZONE" ] && ns="ns2"
  [ "$zone" = "$CAAFAIL_ZONE" ] && ns="ns1 ns4"
  {
    printf '$TTL 300\n@ IN SOA ns1.autopilot.test. hostmaster.%s. ( 1 %s 2 86400 60 )\n' "$zone" "$refresh"
    for host in $ns; do printf '  IN NS %s.autopilot.test.\n' "$host"; done
  } >"$LAB_RUN/primary/$zone.db"
  if [ "$zone" = autopilot.test ]; then
    printf 'ns1 IN A %s\nns2 IN A %s\nns4 IN A %s\n' "$PRIMARY_IP" "$SECONDARY_IP" "$CAAFAIL_IP" >>"$LAB_RUN/primary/$zone.db"
  fi
  printf '@ IN A 127.0.53.80\nwww IN A 127.0.53.80\n' >>"$LAB_RUN/primary/$zone.db"
  case "$zone" in
    autopilot.test) cat >>"$LAB_RUN/primary/$zone.db" <<'CNAMES' ;;
; CNAME fixtures for the alias tests: each _acme-challenge name below is delegated elsewhere.
_acme-challenge.cname      IN CNAME _acme-challenge.cname.autopilot.test.alias.test.
_acme-challenge.twohop     IN CNAME hop.example.test.
_acme-challenge.explicit   IN CNAME _acme-challenge.explicit.alias.test.
_acme-challenge.disagree   IN CNAME _acme-challenge.disagree.alias.test.
_acme-challenge.loop       IN CNAME loop.example.test.
_acme-challenge.dangling   IN CNAME _acme-challenge.nowhere.missing.test.
_acme-challenge.unwritable IN CNAME _acme-challenge.unwritable.slow.test.
*.wc                       IN CNAME catch-all.alias.test.
; Pre-flight fixtures: each breaks one probe for real.
caa                        IN CAA   0 issue "other-ca.example"
wildonly                   IN CAA   0 issue "letsencrypt.org"
wildonly                   IN CAA   0 issuewild ";"
_acme-challenge.stale 3600 IN TXT   "old-token-from-a-failed-run"
_acme-challenge.doubled.autopilot.test IN TXT "entered-with-the-zone-appended"
CNAMES
    example.test) cat >>"$LAB_RUN/primary/$zone.db" <<'CNAMES' ;;
hop  IN CNAME _acme-challenge.twohop.alias.test.
loop IN CNAME _acme-challenge.loop.autopilot.test.
CNAMES
  esac
}

write_unbound_conf() { # dir ip [doh]: one Unbound, its own cache, recursing from the fake
  # root; with doh, it also serves DNS over HTTPS on $ip:443 (Debian's Unbound is built with
  # nghttp2), with a certificate from the lab's CA (made by make_doh_cert)
  local dir=$LAB_RUN/$1 ip=$2 doh=""
  mkdir -p "$dir"
  [ "${3:-}" = doh ] && doh="  interface: $ip@443
  https-port: 443
  http-endpoint: \"$DOH_PATH\"
  tls-service-key: \"$dir/doh.key\"
  tls-service-pem: \"$dir/doh.pem\""
  printf '. 3600000 IN NS a.root-servers.test.\na.root-servers.test. 3600000 IN A %s\n' "$ROOT_IP" >"$dir/root.hints"
  cat >"$dir/unbound.conf" <<CONF
server:
  interface: $ip
$doh
  outgoing-interface: $ip
  port: 53
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  root-hints: "$dir/root.hints"
  local-zone: "test." nodefault
  module-config: "iterator"
  username: ""
  chroot: ""
  directory: "$dir"
  pidfile: "$dir/unbound.pid"
  logfile: "$dir/unbound.log"
  use-syslog: no
  verbosity: 1
  log-queries: yes
remote-control:
  control-enable: yes
  control-interface: "$dir/control.sock"
CONF
}

configure() {
  [[ $NOTIFY_DELAY =~ ^[0-9]+$ ]] || die "LAB_NOTIFY_DELAY is whole seconds, not '$NOTIFY_DELAY'"
  mkdir -p "$LAB_RUN"
  chmod 700 "$LAB_RUN"
  [ -f "$LAB_RUN/tsig.key" ] || tsig-keygen -a hmac-sha512 "$KEY_NAME" >"$LAB_RUN/tsig.key"
  [ -f "$LAB_RUN/alias.key" ] || tsig-keygen -a hmac-sha256 "$ALIAS_KEY_NAME" >"$LAB_RUN/alias.key"
  chmod 600 "$LAB_RUN/tsig.key" "$LAB_RUN/alias.key"
  local secret alias_secret
  secret=$(sed -n 's/.*secret "\(.*\)";/\1/p' "$LAB_RUN/tsig.key")
  alias_secret=$(sed -n 's/.*secret "\(.*\)";/\1/p' "$LAB_RUN/alias.key")

  write_named_conf root "$ROOT_IP" 'zone "." { type primary; file "root.db"; };' tsig.key

  local primary_zones="" secondary_zones=""
  mkdir -p "$LAB_RUN/primary" "$LAB_RUN/secondary"
  for zone in "${ZONES[@]}"; do
    [ -f "$LAB_RUN/primary/$zone.db" ] || write_zone "$zone"
    local notify="also-notify { $SECONDARY_IP; }; notify-delay $NOTIFY_DELAY;" refresh="" signing=""
    case " ${SIGNED_ZONES[*]} " in *" $zone "*) signing="dnssec-policy default;" ;; esac
    if [ "$zone" = "$SLOW_ZONE" ]; then
      notify="notify no;"
      refresh="min-refresh-time 4; max-refresh-time 6; min-retry-time 2; max-retry-time 3;"
    fi
    [ "$zone" = "$LAG_ZONE" ] && notify="notify no;"
    local grants="grant $KEY_NAME zonesub ANY;"
    [ "$zone" = "$OTHERZONE_ZONE" ] && grants+=" grant $OTHERZONE_KEY_NAME zonesub TXT;"
    primary_zones+="zone \"$zone\" { type primary; file \"$zone.db\"; $signing $notify allow-transfer { $SECONDARY_IP; }; update-policy { $grants }; };
"
    secondary_zones+="zone \"$zone\" { type secondary; file \"$zone.db\"; primaries { $PRIMARY_IP; }; $refresh };
"
  done
  [ -f "$LAB_RUN/readonly.key" ] || tsig-keygen -a hmac-sha512 "$READONLY_KEY_NAME" >"$LAB_RUN/readonly.key"
  [ -f "$LAB_RUN/otherzone.key" ] || tsig-keygen -a hmac-sha512 "$OTHERZONE_KEY_NAME" >"$LAB_RUN/otherzone.key"
  chmod 600 "$LAB_RUN/readonly.key" "$LAB_RUN/otherzone.key"
  write_named_conf primary "$PRIMARY_IP" "$primary_zones" tsig.key "include \"$LAB_RUN/readonly.key\"; include \"$LAB_RUN/otherzone.key\";"
  write_named_conf secondary "$SECONDARY_IP" "$secondary_zones" tsig.key

  # The second primary: its own key, one zone, one nameserver.
  mkdir -p "$LAB_RUN/alias"
  [ -f "$LAB_RUN/alias/$ALIAS_ZONE.db" ] || cat >"$LAB_RUN/alias/$ALIAS_ZONE.db" <<ZONE
\$TTL 300
@   IN SOA ns3.$ALIAS_ZONE. hostmaster.$ALIAS_ZONE. ( 1 3600 600 86400 60 )
    IN NS  ns3.$ALIAS_ZONE.
ns3 IN A   $ALIAS_IP
ZONE
  [ -f "$LAB_RUN/alias/$MOVED_ZONE.db" ] || cat >"$LAB_RUN/alias/$MOVED_ZONE.db" <<ZONE
\$TTL 300
@   IN SOA ns3.$ALIAS_ZONE. hostmaster.$MOVED_ZONE. ( 0 3600 600 86400 60 )
@   86400 IN NS ns3.$ALIAS_ZONE.
www IN A   127.0.53.80
ZONE
  write_named_conf alias "$ALIAS_IP" "zone \"$ALIAS_ZONE\" { type primary; file \"$ALIAS_ZONE.db\"; update-policy { grant $ALIAS_KEY_NAME zonesub TXT; }; };
zone \"$MOVED_ZONE\" { type primary; file \"$MOVED_ZONE.db\"; };" alias.key

  write_unbound_conf unbound "$RESOLVER_IP" doh
  write_unbound_conf unbound-ca "$CA_RESOLVER_IP"

  # Pebble: Debian ships no test certificate, so the lab makes a CA and a localhost cert.
  mkdir -p "$LAB_RUN/pebble"
  if [ ! -f "$LAB_RUN/pebble/ca.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
      -subj "/CN=dns-autopilot lab CA" -keyout "$LAB_RUN/pebble/ca.key" -out "$LAB_RUN/pebble/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout "$LAB_RUN/pebble/key.pem" -out "$LAB_RUN/pebble/cert.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$LAB_RUN/pebble/san.ext"
    openssl x509 -req -in "$LAB_RUN/pebble/cert.csr" -CA "$LAB_RUN/pebble/ca.pem" -CAkey "$LAB_RUN/pebble/ca.key" \
      -CAcreateserial -days 30 -extfile "$LAB_RUN/pebble/san.ext" -out "$LAB_RUN/pebble/cert.pem" 2>/dev/null
  fi
  make_doh_cert
  cat >"$LAB_RUN/pebble/pebble.json" <<CONF
{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
 "certificate": "$LAB_RUN/pebble/cert.pem", "privateKey": "$LAB_RUN/pebble/key.pem",
 "httpPort": 5002, "tlsPort": 5001, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
CONF

  # A credentials file for the plugin, as a user would write it.
  cat >"$LAB_RUN/credentials.ini" <<INI
# dns-autopilot credentials for the lab primary (RFC 2136, TSIG)
dns_autopilot_rfc2136_server = $PRIMARY_IP
dns_autopilot_rfc2136_port = 53
dns_autopilot_rfc2136_name = $KEY_NAME
dns_autopilot_rfc2136_secret = $secret
dns_autopilot_rfc2136_algorithm = HMAC-SHA512
INI
  chmod 600 "$LAB_RUN/credentials.ini"

  # Two writers in one file: the first primary for its zones, the second for alias.test.
  cat >"$LAB_RUN/credentials-map.ini" <<INI
# dns-autopilot credentials with a writer map: two RFC 2136 primaries, two TSIG keys
dns_autopilot_zones = autopilot.test, example.test
dns_autopilot_rfc2136_server = $PRIMARY_IP
dns_autopilot_rfc2136_name = $KEY_NAME
dns_autopilot_rfc2136_secret = $secret

[alias-zone]
dns_autopilot_zones = $ALIAS_ZONE
dns_autopilot_rfc2136_server = $ALIAS_IP
dns_autopilot_rfc2136_name = $ALIAS_KEY_NAME
dns_autopilot_rfc2136_secret = $alias_secret
dns_autopilot_rfc2136_algorithm = HMAC-SHA256
INI
  chmod 600 "$LAB_RUN/credentials-map.ini"

  # A key the primary knows but grants nothing (for the permission probe).
  sed -e "s/^dns_autopilot_rfc2136_name = .*/dns_autopilot_rfc2136_name = $READONLY_KEY_NAME/" \
      -e "s|^dns_autopilot_rfc2136_secret = .*|dns_autopilot_rfc2136_secret = $(sed -n 's/.*secret "\(.*\)";/\1/p' "$LAB_RUN/readonly.key")|" \
      "$LAB_RUN/credentials.ini" >"$LAB_RUN/credentials-readonly.ini"
  chmod 600 "$LAB_RUN/credentials-readonly.ini"

  # A key granted updates in another zone only (for the probe of a wrongly scoped key).
  sed -e "s/^dns_autopilot_rfc2136_name = .*/dns_autopilot_rfc2136_name = $OTHERZONE_KEY_NAME/" \
      -e "s|^dns_autopilot_rfc2136_secret = .*|dns_autopilot_rfc2136_secret = $(sed -n 's/.*secret "\(.*\)";/\1/p' "$LAB_RUN/otherzone.key")|" \
      "$LAB_RUN/credentials.ini" >"$LAB_RUN/credentials-otherzone.ini"
  chmod 600 "$LAB_RUN/credentials-otherzone.ini"
}

make_doh_cert() {
  # The DoH resolver's certificate, for its IP address, from the lab's CA (the one Pebble's
  # certificate comes from): clients trust it through SSL_CERT_FILE=$LAB_RUN/pebble/ca.pem.
  local dir=$LAB_RUN/unbound
  [ -f "$dir/doh.pem" ] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$RESOLVER_IP" \
    -keyout "$dir/doh.key" -out "$dir/doh.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s\n' "$RESOLVER_IP" >"$dir/doh.ext"
  openssl x509 -req -in "$dir/doh.csr" -CA "$LAB_RUN/pebble/ca.pem" -CAkey "$LAB_RUN/pebble/ca.key" \
    -CAcreateserial -days 30 -extfile "$dir/doh.ext" -out "$dir/doh.pem" 2>/dev/null
}

ds_of() { # zone: the DS of the zone's key-signing key, as the primary serves it
  dig +noall +answer +norecurse @"$PRIMARY_IP" "$1" DNSKEY | dnssec-dsfromkey -2 -f - "$1" | head -n 1
}

ds_records() { # sets GOOD_DS and BAD_DS
  GOOD_DS=$(ds_of signed.test)
  [ -n "$GOOD_DS" ] || die "the primary serves no DNSKEY for signed.test (see $LAB_RUN/primary/named.log)"
  # badds.test's DS: signed.test's key tag and digest under badds.test's name (a stale DS).
  BAD_DS=$(echo "$GOOD_DS" | sed 's/^signed\.test\./badds.test./')
}

write_root() {
  # The fake root: delegates each lab zone to ns1/ns2 with glue, and publishes DS records.
  {
    printf '$TTL 3600\n. IN SOA a.root-servers.test. hostmaster.test. ( 1 3600 600 86400 300 )\n'
    printf '. IN NS a.root-servers.test.\na.root-servers.test. IN A %s\n' "$ROOT_IP"
    for zone in "${ZONES[@]}"; do
      [ "$zone" = "$LAG_ZONE" ] || printf '%s. IN NS ns1.autopilot.test.\n' "$zone"
      if [ "$zone" = "$CAAFAIL_ZONE" ]; then printf '%s. IN NS ns4.autopilot.test.\n' "$zone"
      else printf '%s. IN NS ns2.autopilot.test.\n' "$zone"; fi
    done
    printf 'ns1.autopilot.test. IN A %s\nns2.autopilot.test. IN A %s\n' "$PRIMARY_IP" "$SECONDARY_IP"
    printf 'ns4.autopilot.test. IN A %s\n' "$CAAFAIL_IP"
    printf '%s. IN NS ns3.%s.\nns3.%s. IN A %s\n' "$ALIAS_ZONE" "$ALIAS_ZONE" "$ALIAS_ZONE" "$ALIAS_IP"
    printf '%s. IN NS ns3.%s.\n' "$MISMATCH_ZONE" "$ALIAS_ZONE"
    printf '%s\n%s\n' "$GOOD_DS" "$BAD_DS"
  } >"$LAB_RUN/root/root.db"
}

write_anchors() {
  # Both Unbounds validate the signed zones from trust anchors equal to the parent's DS.
  for conf in "$LAB_RUN"/unbound/unbound.conf "$LAB_RUN"/unbound-ca/unbound.conf; do
    sed -i '/^  trust-anchor:/d' "$conf"
    sed -i "s|^  module-config: .*|  module-config: \"validator iterator\"\n  trust-anchor: \"$GOOD_DS\"\n  trust-anchor: \"$BAD_DS\"|" "$conf"
  done
}

wait_dns() { # ip name type [dig flags] [expected status]
  local want=${5:-NOERROR}
  for _ in $(seq 1 100); do
    dig ${4:-+norecurse} +time=1 +tries=1 @"$1" "$2" "$3" 2>/dev/null | grep "status: $want" >/dev/null && return 0
    sleep 0.1
  done
  die "$1 does not answer $2 $3 with $want (see $LAB_RUN/*/named.log, $LAB_RUN/unbound/unbound.log)"
}

start_named() { # name: started, unless it runs with this configuration already
  local conf=$LAB_RUN/$1/named.conf
  if pid_alive "$LAB_RUN/$1/named.pid"; then
    cmp -s "$conf" "$conf.running" && return 0
    stop "$1/named"  # e.g. another LAB_NOTIFY_DELAY: what it has kept is on disk
  fi
  named -4 -c "$conf" || die "named ($1) did not start; see $LAB_RUN/$1/named.log"
  cp "$conf" "$conf.running"
}

stop() { # part/program: its process, politely, then surely
  local pidfile=$LAB_RUN/$1.pid
  pid_alive "$pidfile" || return 0
  local pid; pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do running "$pid" || break; sleep 0.1; done
  ! running "$pid" || kill -9 "$pid" 2>/dev/null || true
}

listening() { # ip port: what listens there, if anything (pid and command)
  { ss -Hlnptu "src $1" 2>/dev/null || true; } | sed -n "/:$2 /s/.*users:((\(\"[^\"]*\",pid=[0-9]*\).*/\1/p" | head -n 1 || true
}

check_free() {
  # A lab started from another checkout (or another DNS server) on the same addresses would
  # answer in this lab's place: refuse to start beside it, and say whose it is.
  local ip part who
  for part in root/named:$ROOT_IP primary/named:$PRIMARY_IP secondary/named:$SECONDARY_IP \
              alias/named:$ALIAS_IP unbound/unbound:$RESOLVER_IP unbound-ca/unbound:$CA_RESOLVER_IP \
              caafail/refuser:$CAAFAIL_IP; do
    ip=${part#*:}
    pid_alive "$LAB_RUN/${part%%:*}.pid" && continue
    who=$(listening "$ip" 53)
    [ -z "$who" ] || die "$ip:53 is already served by $who, not by this lab ($LAB_RUN): stop that lab first (lab/lab.sh down in its checkout, or kill it)"
  done
  if ! pid_alive "$LAB_RUN/pebble/pebble.pid"; then
    who=$(listening 127.0.0.1 14000)
    [ -z "$who" ] || die "127.0.0.1:14000 is already taken by $who: stop the other lab's Pebble first"
  fi
}

up() {
  need_root
  configure
  add_addresses
  check_free
  start_named primary
  start_named secondary
  start_named alias
  mkdir -p "$LAB_RUN/caafail"
  if ! pid_alive "$LAB_RUN/caafail/refuser.pid"; then
    nohup python3 "$LAB_HOME/caa_refuser.py" "$CAAFAIL_IP" "$PRIMARY_IP" >"$LAB_RUN/caafail/refuser.log" 2>&1 &
    echo $! >"$LAB_RUN/caafail/refuser.pid"
  fi
  for zone in "${SIGNED_ZONES[@]}"; do
    for _ in $(seq 1 100); do
      dig +short +norecurse @"$PRIMARY_IP" "$zone" DNSKEY 2>/dev/null | grep . >/dev/null && break
      sleep 0.1
    done
  done
  ds_records
  pid_alive "$LAB_RUN/root/named.pid" || write_root
  write_anchors
  start_named root
  for part in unbound unbound-ca; do
    pid_alive "$LAB_RUN/$part/unbound.pid" || unbound -c "$LAB_RUN/$part/unbound.conf" \
      || die "unbound did not start; see $LAB_RUN/$part/unbound.log"
  done
  if ! pid_alive "$LAB_RUN/pebble/pebble.pid"; then
    # No random validation delay, no spurious nonce rejections, no authorization reuse:
    # every issuance in the lab really validates DNS-01.
    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
      nohup pebble -config "$LAB_RUN/pebble/pebble.json" -dnsserver "$CA_RESOLVER_IP:53" -strict=false \
      >"$LAB_RUN/pebble/pebble.log" 2>&1 &
    echo $! >"$LAB_RUN/pebble/pebble.pid"
  fi
  wait_dns "$ROOT_IP" . SOA
  for zone in "${ZONES[@]}"; do
    wait_dns "$PRIMARY_IP" "$zone" SOA
    wait_dns "$SECONDARY_IP" "$zone" SOA
    # badds.test's DS matches no key: the validating resolver must answer SERVFAIL.
    for resolver in "$RESOLVER_IP" "$CA_RESOLVER_IP"; do
      if [ "$zone" = badds.test ]; then
        wait_dns "$resolver" "$zone" SOA +recurse SERVFAIL
      else
        wait_dns "$resolver" "$zone" SOA +recurse
      fi
    done
  done
  wait_dns "$ALIAS_IP" "$ALIAS_ZONE" SOA
  wait_dns "$ALIAS_IP" "$MOVED_ZONE" SOA
  wait_dns "$CAAFAIL_IP" "$CAAFAIL_ZONE" SOA
  wait_dns "$CAAFAIL_IP" "$CAAFAIL_ZONE" CAA +norecurse SERVFAIL
  wait_dns "$RESOLVER_IP" "$ALIAS_ZONE" SOA +recurse
  wait_dns "$RESOLVER_IP" "$ALIAS_ZONE" SOA "+recurse +https=$DOH_PATH"
  for _ in $(seq 1 100); do
    python3 - "$ACME_DIR" "$LAB_RUN/pebble/ca.pem" 2>/dev/null <<'PY' && break
import ssl, sys, urllib.request
urllib.request.urlopen(sys.argv[1], context=ssl.create_default_context(cafile=sys.argv[2]), timeout=1)
PY
    sleep 0.1
  done
  pid_alive "$LAB_RUN/pebble/pebble.pid" || die "pebble did not start; see $LAB_RUN/pebble/pebble.log"
  env_lines
}

running_notify_delay() { # the primary's, as it runs (LAB_NOTIFY_DELAY as asked otherwise)
  local running
  running=$(grep -o 'notify-delay [0-9]*' "$LAB_RUN/primary/named.conf.running" 2>/dev/null | head -n 1)
  echo "${running#notify-delay }" | grep . || echo "$NOTIFY_DELAY"
}

env_lines() {
  cat <<ENV
LAB_RUN=$LAB_RUN
LAB_ACME_DIRECTORY=$ACME_DIR
LAB_CA_BUNDLE=$LAB_RUN/pebble/ca.pem
LAB_RESOLVER=$RESOLVER_IP
LAB_DOH=https://$RESOLVER_IP$DOH_PATH
LAB_CA_RESOLVER=$CA_RESOLVER_IP
LAB_CA_RESOLVER_CONTROL=$LAB_RUN/unbound-ca/control.sock
LAB_PRIMARY=$PRIMARY_IP
LAB_SECONDARY=$SECONDARY_IP
LAB_ROOT=$ROOT_IP
LAB_ZONES="${ZONES[*]}"
LAB_CREDENTIALS=$LAB_RUN/credentials.ini
LAB_CREDENTIALS_MAP=$LAB_RUN/credentials-map.ini
LAB_CREDENTIALS_READONLY=$LAB_RUN/credentials-readonly.ini
LAB_CREDENTIALS_OTHER_ZONE=$LAB_RUN/credentials-otherzone.ini
LAB_OTHER_ZONE=$OTHERZONE_ZONE
LAB_ALIAS_PRIMARY=$ALIAS_IP
LAB_MOVED_ZONE=$MOVED_ZONE
LAB_CAAFAIL_SERVER=$CAAFAIL_IP
LAB_TSIG_NAME=$KEY_NAME
LAB_NOTIFY_DELAY=$(running_notify_delay)
ENV
}

status() {
  local rc=0
  for part in root/named primary/named secondary/named alias/named unbound/unbound unbound-ca/unbound pebble/pebble caafail/refuser; do
    if pid_alive "$LAB_RUN/$part.pid"; then echo "${part%%/*}: running (pid $(cat "$LAB_RUN/$part.pid"))"
    else echo "${part%%/*}: stopped"; rc=1; fi
  done
  return $rc
}

down() {
  need_root
  for part in caafail/refuser pebble/pebble unbound-ca/unbound unbound/unbound alias/named secondary/named primary/named root/named; do
    stop "$part"
  done
  for ip in "${ADDRESSES[@]}"; do
    ip addr del "$ip/32" dev lo 2>/dev/null || true
  done
  rm -rf "$LAB_RUN"
  echo "lab: down"
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  status) status ;;
  env) env_lines ;;
  *) echo "usage: $0 install|up|status|down|env" >&2; exit 2 ;;
esac
