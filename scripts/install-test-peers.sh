#!/usr/bin/env bash
# Installs the real peers the tests compare iotw against: tshark (decoding oracle),
# tcpdump (live-capture oracle), sipp (SIP traffic), the Community ID reference code,
# osmem-server (an OpenSearch-compatible server), pylogbeat, ja4plus, aiosmtpd, ElastAlert 2 and openssl. Idempotent; needs root (or sudo).
set -euo pipefail

# The Community ID reference implementation (Corelight's), to check network.community_id.
python3 -c "import communityid" 2>/dev/null || python3 -m pip install -q communityid 2>/dev/null \
  || python3 -m pip install -q --break-system-packages communityid

# osmem-server: a third-party in-memory server speaking the OpenSearch API, for the shipping
# tests (crates/iotw/tests/elastic.rs, scripts/compare-elastic.py).
python3 -c "import osmem_server" 2>/dev/null || python3 -m pip install -q osmem-server 2>/dev/null \
  || python3 -m pip install -q --break-system-packages osmem-server

# pylogbeat: a third-party Beats (lumberjack v2) sender, to check the test receiver
# (scripts/check-lumberjack-receiver.py) before it checks iotw's Logstash output.
python3 -c "import pylogbeat" 2>/dev/null || python3 -m pip install -q pylogbeat 2>/dev/null \
  || python3 -m pip install -q --break-system-packages pylogbeat

# ja4plus: a third-party JA4+ implementation, to check JA4/JA4S (scripts/compare-tls.py).
command -v ja4plus >/dev/null 2>&1 || python3 -m pip install -q ja4plus 2>/dev/null \
  || python3 -m pip install -q --break-system-packages ja4plus

# aiosmtpd: a real SMTP server on loopback (scripts/smtp-peer.py) for the e-mail alerter's
# tests (crates/iotw/tests/alerters.rs), with STARTTLS and AUTH.
python3 -c "import aiosmtpd" 2>/dev/null || python3 -m pip install -q aiosmtpd==1.4.6 2>/dev/null \
  || python3 -m pip install -q --break-system-packages aiosmtpd==1.4.6

# ElastAlert 2 itself, in a virtualenv of its own (it pins many packages): Fireman's rule
# types are compared with its own (scripts/compare-elastalert.py).
ea="$(dirname "$0")/../target/peers/elastalert"
if ! "$ea/bin/python" -c "import elastalert.ruletypes" 2>/dev/null; then
  rm -rf "$ea" && python3 -m venv "$ea" && "$ea/bin/pip" install -q elastalert2==2.19.0 pytz
fi

need=()
command -v tshark  >/dev/null 2>&1 || need+=(tshark)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v sipp    >/dev/null 2>&1 || need+=(sip-tester)
command -v ip      >/dev/null 2>&1 || need+=(iproute2)
command -v openssl >/dev/null 2>&1 || need+=(openssl)   # test certificates (Logstash TLS, live TLS, SMTP)
command -v curl    >/dev/null 2>&1 || need+=(curl)      # the live TLS decryption check
command -v chromium >/dev/null 2>&1 || need+=(chromium) # renders the discovery report (headless)
[ ${#need[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
