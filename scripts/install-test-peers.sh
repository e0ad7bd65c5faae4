#!/usr/bin/env bash
# Installs the real peers the tests compare iotw against: tshark (decoding oracle),
# tcpdump (live-capture oracle) and sipp (SIP traffic). Idempotent; needs root (or sudo).
set -euo pipefail

need=()
command -v tshark  >/dev/null 2>&1 || need+=(tshark)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v sipp    >/dev/null 2>&1 || need+=(sip-tester)
[ ${#need[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
