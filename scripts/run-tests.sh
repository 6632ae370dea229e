#!/usr/bin/env bash
# Runs the test suites: unit (no privileges needed) then e2e (root, network namespaces);
# `tls` runs the slow TLS scanner suite (test/tls, root) on its own.
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-all}"
files=()
if [ "$which" = all ] || [ "$which" = unit ]; then
  mapfile -t -O "${#files[@]}" files < <(find dist/test/unit -name '*.test.js' | sort)
fi
if [ "$which" = all ] || [ "$which" = e2e ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "e2e tests need root (network namespaces); skipping them" >&2
  else
    mapfile -t -O "${#files[@]}" files < <(find dist/test/e2e -name '*.test.js' | sort)
  fi
fi
# Slow TLS scanners (testssl.sh): only when asked for (make test-tls).
if [ "$which" = tls ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "TLS lab tests need root (network namespaces)" >&2
    exit 1
  fi
  mapfile -t files < <(find dist/test/tls -name '*.test.js' | sort)
fi
# E2E tests build namespaces and share two cores: run files one at a time.
exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
