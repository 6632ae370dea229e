#!/usr/bin/env bash
# `make test-image`: the image built from the project's Containerfile (unchanged) on local test
# stand-ins for its base images, then run with runc as the kubelet runs it
# (test/image/image-runc.test.ts). Needs root. Prints how long each phase took.
#
#   phase 1  Debian packages: podman, buildah, runc, debootstrap (from Debian itself)
#   phase 2  the base-image stand-ins (scripts/test-image/standins.sh; cached by a hash of their inputs)
#   phase 3  podman build -f Containerfile (layers cached by podman between runs)
#   phase 4  the runc tests against the lab
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "make test-image needs root (podman storage, runc, network namespaces)" >&2; exit 1; }
STANDIN=localhost/vpp-server-test-standin/node
IMAGE="${VPP_TEST_IMAGE:-localhost/vpp-server-test/vpp-server:test}"
REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
VERSION="$(node -p "require('./package.json').version")"
t_start=$(date +%s)
phase() { local now; now=$(date +%s); printf 'test-image: %-40s %4ss\n' "$1" "$((now - t_phase))" >&2; t_phase=$now; }
t_phase=$t_start

scripts/install-system-deps.sh podman buildah runc debootstrap uidmap libcap2-bin curl iproute2 iputils-ping
phase 'Debian packages'

scripts/test-image/standins.sh
phase 'base-image stand-ins'

log_dir="${TEST_IMAGE_CACHE:-/var/cache/vpp-server-test-image}"; mkdir -p "$log_dir"
# --label as well as --build-arg: buildah's layer cache does not key the Containerfile's LABEL step
# on the ARG values it expands (a new commit with unchanged sources kept the old revision label);
# a literal --label value is part of the key of the step it adds (see mk/deploy.mk).
old_id="$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
if ! podman build --network=host --pull=never \
  --build-arg NODE_IMAGE="$STANDIN" --build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" \
  --label org.opencontainers.image.version="$VERSION" --label org.opencontainers.image.revision="$REVISION" \
  -f Containerfile -t "$IMAGE" . >"$log_dir/build.log" 2>&1; then
  tail -40 "$log_dir/build.log" >&2
  echo "test-image: podman build -f Containerfile failed (whole log: $log_dir/build.log)" >&2
  exit 1
fi
# The previous test image, now untagged, goes. The build stage's intermediate images stay for an
# hour (they are podman's layer cache for the next run: npm ci, node-gyp), then ours are pruned.
new_id="$(podman image inspect --format '{{.Id}}' "$IMAGE")"
[ -n "$old_id" ] && [ "$old_id" != "$new_id" ] && podman rmi "$old_id" >/dev/null 2>&1 || true
podman image prune -f --filter label=vpp-server.test.scaffolding=true --filter until=1h >/dev/null 2>&1 || true
phase 'podman build -f Containerfile'

rc=0
VPP_TEST_IMAGE="$IMAGE" VPP_TEST_IMAGE_REVISION="$REVISION" \
  node --test --test-concurrency=1 --test-reporter=spec dist/test/image/*.test.js || rc=$?
phase 'runc tests'
printf 'test-image: %-40s %4ss\n' 'total' "$(( $(date +%s) - t_start ))" >&2
exit $rc
