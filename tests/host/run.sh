#!/bin/bash
# Run host test programs (default: every build/tests/test_*), print their TAP
# output and one summary line: "N passed, N failed, N skipped".  A program
# that dies without its own summary counts as one failure.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -gt 0 ] || set -- "$repo"/build/tests/test_*
pass=0 fail=0 skip=0
for t in "$@"; do
	name=$(basename "$t")
	echo "# ---- $name"
	out=$(mktemp)
	timeout -s KILL "${TEST_TIMEOUT:-900}" "$t" 2>&1 | tee "$out"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "not ok - $name ended without a summary (crash or timeout)"
		fail=$((fail + 1))
	else
		p=${line%% passed*}
		f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
		s=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
		pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + ${s:-0}))
	fi
	rm -f "$out"
done
echo "$pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
