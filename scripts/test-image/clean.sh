#!/usr/bin/env bash
# `make test-image-clean`: removes the test scaffolding of `make test-image` (the stand-in base
# images, the test image, the debootstrap work directory). The next `make test-image` starts cold.
set -uo pipefail
for ref in $(podman images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -E '^localhost/vpp-server-test(-standin)?/'); do
  podman rmi -f "$ref" >/dev/null && echo "removed $ref"
done
podman image prune -f --filter label=vpp-server.test.scaffolding=true >/dev/null 2>&1 || true
rm -rf "${TEST_IMAGE_CACHE:-/var/cache/vpp-server-test-image}"
