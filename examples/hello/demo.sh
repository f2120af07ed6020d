#!/bin/sh
# Builds examples/hello twice natively and twice under detbuild (make -j4 each time) and
# prints a checksum of each build's artifacts: the native pair differs, the detbuild pair
# matches. Usage: examples/hello/demo.sh [path/to/detbuild]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
detbuild=${1:-$here/../../target/release/detbuild}
if [ ! -x "$detbuild" ]; then
    echo "demo.sh: $detbuild not found; run \`cargo build --release\` first" >&2
    exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build() { # label, then the command prefix
    label=$1; shift
    rm -rf "$work/src" && cp -r "$here" "$work/src" && rm -rf "$work/src/out"
    (cd "$work/src" && "$@" make -s -j4 >/dev/null)
    sum=$(cd "$work/src/out" && cat hello manifest.txt | sha256sum | cut -c1-16)
    printf '%-18s %s  %s\n' "$label" "$sum" "$(head -n 1 "$work/src/out/manifest.txt")"
    sleep 1
}
build "native #1"
build "native #2"
build "detbuild #1" "$detbuild" --epoch 1700000000 --
build "detbuild #2" "$detbuild" --epoch 1700000000 --
