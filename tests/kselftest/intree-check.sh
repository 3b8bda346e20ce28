#!/bin/bash
# The kselftests must also build in a kernel tree as
# tools/testing/selftests/drivers/simpler (make ksft-intree), and the
# runner's install must carry config and settings along.  Uses the
# cached 6.1 debug-kernel tree of tools/vm/debug-kernel.sh.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
echo "1..1"
tree=$("$repo/tools/vm/debug-kernel.sh") || { echo "not ok 1 no kernel tree"; echo "0 passed, 1 failed"; exit 1; }
built() {
	local p
	for p in $(cd "$repo/tests/kselftest" && ls *.c | sed 's/\.c$//'); do
		[ -x "$tree/tools/testing/selftests/drivers/simpler/$p" ] || return 1
	done
}
# the runner's install carries config and settings along with the programs
installed() {
	local f
	for f in config settings; do
		cmp -s "$repo/tests/kselftest/$f" "$inst/drivers/simpler/$f" || { echo "no $f installed"; return 1; }
	done
	grep -q "^drivers/simpler:stress$" "$inst/kselftest-list.txt" || { echo "stress not listed"; return 1; }
}
log=$(mktemp)
inst=$(mktemp -d)
if make -C "$repo" ksft-intree KTREE="$tree" >"$log" 2>&1 && built &&
	make -C "$tree/tools/testing/selftests" TARGETS=drivers/simpler INSTALL_PATH="$inst" install \
		>>"$log" 2>&1 && installed >>"$log"; then
	echo "ok 1 selftests build in-tree as tools/testing/selftests/drivers/simpler, install with config and settings"
	echo "1 passed, 0 failed"
	rm -rf "$log" "$inst"
else
	echo "not ok 1 in-tree selftest build"
	sed 's/^/#   /' "$log" | tail -30
	echo "0 passed, 1 failed"
	rm -rf "$log" "$inst"
	exit 1
fi
