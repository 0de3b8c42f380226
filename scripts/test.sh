#!/bin/sh
# The test command: installs what it needs, builds under ASan+UBSan, runs
# the unit tests, the integration tests against the real daemon, and each
# libFuzzer target for FUZZ_SECONDS (default 10).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh

B=build-asan
F=build-fuzz
R=build

echo "== release build (the one scripts/run.sh runs)"
[ -f $R/build.ninja ] || meson setup $R --buildtype=release
ninja -C $R

[ -f $B/build.ninja ] || meson setup $B -Db_sanitize=address,undefined -Db_lundef=false
ninja -C $B

export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"

echo "== unit tests"
meson test -C $B --print-errorlogs

echo "== integration tests"
OUTPOST_BIN_DIR="$PWD/$B" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

echo "== fuzz targets"
[ -f $F/build.ninja ] || CC=clang meson setup $F -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
ninja -C $F
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in $F/fuzz_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	name=$(basename "$t")
	mkdir -p "$work/$name"
	seeds="tests/fuzz/seeds/${name#fuzz_}"
	[ -d "$seeds" ] || seeds=""
	echo "-- $name"
	# Any failure fails the run: a non-zero exit (even one that wrote no
	# artifact) or any artifact (crash, leak, timeout, oom).
	rc=0
	"$t" -max_total_time="${FUZZ_SECONDS:-10}" -print_final_stats=0 -artifact_prefix="$work/" \
		"$work/$name" $seeds >"$work/$name.log" 2>&1 || rc=$?
	grep -E "^(Done|==|SUMMARY)" "$work/$name.log" | head -n 20 || :
	# (ls of several globs fails when any one matches nothing: test each)
	artifacts=""
	for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
		[ -e "$a" ] && artifacts="$artifacts $a"
	done
	if [ "$rc" -ne 0 ] || [ -n "$artifacts" ]; then
		echo "fuzz target $name failed (exit $rc); last lines of its output:"
		tail -n 30 "$work/$name.log"
		[ -z "$artifacts" ] || echo "reproducer:$artifacts"
		exit 1
	fi
done
echo "== all tests passed"
