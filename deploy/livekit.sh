#!/usr/bin/env bash
# Builds the real telephony parts the real-call tests (and a self-hosted install) run, once per
# machine, from the Go module proxy, and installs what they need from Debian's packages:
#   the LiveKit server       github.com/livekit/livekit-server  (cmd/server)
#   the LiveKit SIP service  github.com/livekit/sip             (cmd/livekit-sip; cgo: Opus, soxr)
#   SIPp (Debian: sip-tester), the scripted phone the tests call.
# The binaries go to $NEWVOICE_LIVEKIT_BIN (default /var/cache/newvoice/bin), named with their
# version, so a clean clone finds them built; a new pin builds anew. Used by `make livekit` and
# .ci/run. Needs root for apt-get.
#
# Pins: the newest versions the module proxy here serves with everything they depend on. livekit-server
# 1.13.6 and later replace pion's WebRTC, DTLS and ICE with LiveKit's forks, which the proxy does not
# serve; livekit/sip 1.9 to 1.11 are not served either.
set -euo pipefail

LIVEKIT_SERVER_VERSION=v1.13.5
LIVEKIT_SIP_VERSION=v1.8.0
BIN=${NEWVOICE_LIVEKIT_BIN:-/var/cache/newvoice/bin}
DEBIAN_PACKAGES=(libopus-dev libopusfile-dev libsoxr-dev pkg-config sip-tester)

say() { printf '%s %s\n' "--" "$*"; }

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "livekit: install ${missing[*]} from Debian's packages (as root), or run this as root" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  log=$(mktemp)
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "livekit: installing ${missing[*]} from Debian's packages failed" >&2
    exit 1
  fi
  rm -f "$log"
fi

command -v go >/dev/null || { echo "livekit: Go is needed to build the LiveKit server and SIP service" >&2; exit 1; }
mkdir -p "$BIN"

# build MODULE VERSION PACKAGE NAME: the module's own go.mod (with its replace lines) decides the
# dependencies, so it is built inside a copy of the module, not with `go install module@version`.
build() {
  local module=$1 version=$2 package=$3 name=$4
  local target="$BIN/$name-$version"
  if [ -x "$target" ]; then
    say "$name $version: built already ($target)"
    return 0
  fi
  say "$name $version: building from the Go module proxy (a few minutes, once per machine)"
  local started=$SECONDS dir work
  dir=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "livekit: the Go module proxy did not give $module@$version" >&2
    exit 1
  fi
  work=$(mktemp -d)
  cp -r "$dir/." "$work"
  chmod -R u+w "$work"
  (cd "$work" && CGO_ENABLED=1 go build -trimpath -o "$target.part" "./$package")
  mv "$target.part" "$target"
  rm -rf "$work"
  say "$name $version: built in $((SECONDS - started)) s"
}

build github.com/livekit/livekit-server "$LIVEKIT_SERVER_VERSION" cmd/server livekit-server
build github.com/livekit/sip "$LIVEKIT_SIP_VERSION" cmd/livekit-sip livekit-sip
ln -sf "livekit-server-$LIVEKIT_SERVER_VERSION" "$BIN/livekit-server"
ln -sf "livekit-sip-$LIVEKIT_SIP_VERSION" "$BIN/livekit-sip"
say "ready: $BIN/livekit-server ($("$BIN/livekit-server" --version)), $BIN/livekit-sip, $(command -v sipp)"
