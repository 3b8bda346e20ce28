#!/bin/bash
# The kselftests must also build in a kernel tree as
# tools/testing/selftests/drivers/simpler (make ksft-intree).  Uses the
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
log=$(mktemp)
if make -C "$repo" ksft-intree KTREE="$tree" >"$log" 2>&1 && built; then
	echo "ok 1 selftests build in-tree as tools/testing/selftests/drivers/simpler"
	echo "1 passed, 0 failed"
	rm -f "$log"
else
	echo "not ok 1 in-tree selftest build"
	sed 's/^/#   /' "$log" | tail -30
	echo "0 passed, 1 failed"
	rm -f "$log"
	exit 1
fi
