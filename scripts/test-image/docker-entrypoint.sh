#!/bin/sh
# TEST SCAFFOLDING: behaves like the official node image's entrypoint. When the first argument
# is an option (-e, --version) or names nothing runnable, the arguments are given to node;
# otherwise they are run as they are - through this shell, which is why an image that keeps this
# entrypoint loses a file capability under no_new_privs (see the Containerfile's ENTRYPOINT).
set -e
if [ "${1#-}" != "$1" ] || ! command -v "$1" >/dev/null 2>&1 || { [ -f "$1" ] && [ ! -x "$1" ]; }; then
  set -- node "$@"
fi
exec "$@"
