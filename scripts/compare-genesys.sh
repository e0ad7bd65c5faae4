#!/usr/bin/env bash
# Simulated sites against the T-Library decoder: per wire profile (the default and four that
# differ from it), every message the simulator put on the wire against what `iotw capture`
# decoded, per message type. The same check runs in the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --quiet -p iotw --test genesys -- --nocapture --test-threads 1 2>&1 \
  | grep -E '^(profile|  [A-Z])'
