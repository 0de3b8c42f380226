#!/bin/sh
# The run command: installs what it needs, builds outpost, and runs outpostd
# in the foreground on the embedded default: SQLite spool in ./spool,
# SMTP on 127.0.0.1:2525, relaying for loopback clients only.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release
ninja -C build
exec build/outpostd -f -c examples/local.conf "$@"
