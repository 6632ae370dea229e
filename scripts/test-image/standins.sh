#!/usr/bin/env bash
# TEST SCAFFOLDING for `make test-image`: builds (or reuses) the local stand-ins for the two base
# images of the Containerfile,
#   localhost/vpp-server-test-standin/node:20-bookworm-slim   (runtime stage)
#   localhost/vpp-server-test-standin/node:20-bookworm        (build stage)
# from a debootstrapped Debian 12 (minbase) and this machine's Node 20. They are never pushed and
# never stand in for a release build.
#
# Cache: every input (this script, standins.Containerfile, docker-entrypoint.sh, the node binary,
# npm, the headers, the extra CA certificates, suite and mirror) goes into one SHA-256; the images
# carry it as the label vpp-server.test.inputs. When both stand-ins exist with the current hash,
# nothing is rebuilt (seconds); otherwise debootstrap + build (minutes). `make test-image-clean`
# removes them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
REPO=localhost/vpp-server-test-standin
SUITE="${DEBIAN_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
NODE_MAJOR="${NODE_MAJOR:-20}"
WORK="${TEST_IMAGE_CACHE:-/var/cache/vpp-server-test-image}"

node_bin="$(readlink -f "$(command -v node)")"
prefix="$(dirname "$(dirname "$node_bin")")"
npm_dir="$prefix/lib/node_modules/npm"
include_dir="$prefix/include/node"
have_major="$("$node_bin" -p 'process.versions.node.split(".")[0]')"
[ "$have_major" = "$NODE_MAJOR" ] || { echo "standins: this machine's node is $("$node_bin" --version), not Node $NODE_MAJOR" >&2; exit 1; }
for p in "$npm_dir/bin/npm-cli.js" "$include_dir/node_api.h"; do
  [ -e "$p" ] || { echo "standins: $p is missing (npm and the node headers must sit next to $node_bin)" >&2; exit 1; }
done

# The extra CA certificates this machine's node trusts: the local ones, and NODE_EXTRA_CA_CERTS
# when it names something else than the system bundle.
extra_ca=()
for f in /usr/local/share/ca-certificates/*.crt; do [ -f "$f" ] && extra_ca+=("$f"); done
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f "$NODE_EXTRA_CA_CERTS" ] && [ "$(readlink -f "$NODE_EXTRA_CA_CERTS")" != /etc/ssl/certs/ca-certificates.crt ]; then
  extra_ca+=("$NODE_EXTRA_CA_CERTS")
fi

hash="$({
  printf '%s\n' "$SUITE" "$MIRROR" "$NODE_MAJOR"
  cat "$0" "$here/standins.Containerfile" "$here/docker-entrypoint.sh"
  sha256sum "$node_bin"
  (cd "$npm_dir" && cat package.json)
  (cd "$include_dir" && find . -type f -name '*.h' | sort | xargs sha256sum)
  for f in "${extra_ca[@]}"; do sha256sum "$f"; done
} | sha256sum | cut -c1-16)"

label_of() { podman image inspect --format '{{index .Labels "vpp-server.test.inputs"}}' "$1" 2>/dev/null || true; }
if [ "$(label_of "$REPO/node:$NODE_MAJOR-bookworm-slim")" = "$hash" ] && [ "$(label_of "$REPO/node:$NODE_MAJOR-bookworm")" = "$hash" ]; then
  echo "standins: cached ($REPO/node:$NODE_MAJOR-bookworm{,-slim}, inputs $hash)"
  exit 0
fi

echo "standins: building (inputs $hash): debootstrap $SUITE minbase from $MIRROR"
mkdir -p "$WORK"
root="$WORK/rootfs-$hash"
ctx="$WORK/context-$hash"
rm -rf "$root" "$ctx"
trap 'rm -rf "$root" "$ctx"' EXIT
debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -20 "$WORK/debootstrap.log" >&2; echo "standins: debootstrap failed (log: $WORK/debootstrap.log)" >&2; exit 1; }
# as the official images: no apt caches or lists in the image
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
minbase="$REPO/debian:$SUITE-minbase-$hash"
tar -C "$root" --numeric-owner --xattrs -c . | podman import --change "LABEL vpp-server.test.inputs=$hash" - "$minbase" >/dev/null

mkdir -p "$ctx/extra-ca"
cp "$node_bin" "$ctx/node"
cp -a "$npm_dir" "$ctx/npm"
cp -a "$include_dir" "$ctx/include"
cp "$here/docker-entrypoint.sh" "$ctx/"
for f in "${extra_ca[@]}"; do cp "$f" "$ctx/extra-ca/$(basename "${f%.crt}").crt"; done

for target in slim build; do
  tag="$REPO/node:$NODE_MAJOR-bookworm"; [ "$target" = slim ] && tag="$tag-slim"
  podman build --network=host --pull=never --target "$target" --build-arg "MINBASE=$minbase" \
    --label "vpp-server.test.inputs=$hash" --label "vpp-server.test.scaffolding=true" \
    -f "$here/standins.Containerfile" -t "$tag" "$ctx"
done
podman rmi "$minbase" >/dev/null 2>&1 || true
echo "standins: built $REPO/node:$NODE_MAJOR-bookworm{,-slim} (inputs $hash)"
