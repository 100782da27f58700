#!/usr/bin/env bash
# Build a local stand-in for the base image `node:20-bookworm-slim`, which cannot be pulled here:
# Debian bookworm (debootstrap --variant=minbase, from the Debian archive) + this machine's Node 20
# binary, npm and Node headers at the official image's paths (/usr/local/...) + a `node` user
# (uid/gid 1000, home /home/node), like the official image.
#
# Two differences from the official image, both because this machine reaches the npm registry only
# through an intercepting TLS proxy and nodejs.org not at all:
#   - this machine's CA bundle is copied to /etc/ssl/certs/ca-certificates.crt and npm's global
#     config (/usr/local/etc/npmrc) says cafile=… (the official image trusts Node's built-in roots);
#   - npm's global config says nodedir=/usr/local, so node-gyp (better-sqlite3 when no prebuilt
#     binary can be downloaded) builds against the headers in /usr/local/include/node instead of
#     downloading them.
#
# The image is committed as localhost/node:20-bookworm-slim and docker.io/library/node:20-bookworm-slim
# with a label io.quietwatch.standin-key; when an image with the same key exists, nothing is rebuilt.
#
# Usage: test/image/standin.sh            (prints the key and "cached" or "built")
set -euo pipefail
NAME=node:20-bookworm-slim
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
NODE_BIN=$(readlink -f "$(command -v node)")
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")   # …/node_modules/npm
NODE_PREFIX=$(dirname "$(dirname "$NODE_BIN")")
HEADERS=$NODE_PREFIX/include/node
CA=/etc/ssl/certs/ca-certificates.crt

case "$("$NODE_BIN" --version)" in v20.*) ;; *) echo "standin: need Node 20, found $("$NODE_BIN" --version)" >&2; exit 1 ;; esac
[ -f "$HEADERS/node.h" ] || { echo "standin: no Node headers at $HEADERS" >&2; exit 1; }

# One build at a time: scripts/test.sh starts this in the background on a fresh machine (while npm ci
# runs) and the image test calls it again; the second waits here, then finds the image cached.
exec 9>/var/tmp/qw-standin.lock
flock 9

key=$( { sha256sum "$0" "$NODE_BIN" | cut -d' ' -f1; "$NODE_BIN" "$NPM_DIR/bin/npm-cli.js" --version; [ -f "$CA" ] && sha256sum "$CA" | cut -d' ' -f1; echo "$MIRROR"; } | sha256sum | cut -c1-16)
have=$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "io.quietwatch.standin-key"}}' "localhost/$NAME" 2>/dev/null || true)
if [ "$have" = "$key" ]; then echo "standin $key cached"; exit 0; fi

work=$(mktemp -d /var/tmp/qw-standin-XXXXXX)
ctr=""
cleanup() { [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
root=$work/rootfs

echo "standin: debootstrap bookworm (minbase) from $MIRROR" >&2
debootstrap --variant=minbase bookworm "$root" "$MIRROR" > "$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }

# Node, npm, headers where the official image has them.
install -D -m 0755 "$NODE_BIN" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include" "$root/usr/local/etc"
cp -a "$NPM_DIR" "$root/usr/local/lib/node_modules/npm"
cp -a "$HEADERS" "$root/usr/local/include/node"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
{ echo "nodedir=/usr/local"; echo "update-notifier=false"; echo "fund=false"; echo "audit=false"; } > "$root/usr/local/etc/npmrc"
if [ -f "$CA" ]; then
  install -D -m 0644 "$CA" "$root/etc/ssl/certs/ca-certificates.crt"
  echo "cafile=/etc/ssl/certs/ca-certificates.crt" >> "$root/usr/local/etc/npmrc"
fi

# The node user, as in the official image.
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

# Slim it like the official image: no apt lists, no downloaded packages, no docs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/var/log/*.log

ctr=$(buildah from scratch)
mnt=$(buildah mount "$ctr")
cp -a "$root"/. "$mnt"/
buildah umount "$ctr" >/dev/null
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$("$NODE_BIN" --version | cut -c2-)" \
  --cmd node \
  --label io.quietwatch.standin-key="$key" \
  --label io.quietwatch.standin="stand-in for $NAME built by test/image/standin.sh" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "localhost/$NAME" >/dev/null
ctr=""
buildah tag "localhost/$NAME" "docker.io/library/$NAME"
echo "standin $key built"
