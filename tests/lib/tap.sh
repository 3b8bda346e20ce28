# shellcheck shell=bash
# TAP for the shell checks of tests/lib: `t NAME 'COMMAND'` runs one check
# and prints "ok N NAME" or "not ok N NAME"; `skip NAME REASON` counts a check
# that cannot run here; `tap_end` prints the summary line make check reads
# and returns non-zero on a failure.
pass=0 fail=0 skipped=0 n=0
t() {
	n=$((n + 1))
	if eval "$2"; then echo "ok $n $1"; pass=$((pass + 1)); else echo "not ok $n $1"; fail=$((fail + 1)); fi
}
skip() {
	n=$((n + 1))
	echo "ok $n $1 # SKIP $2"
	skipped=$((skipped + 1))
}
tap_end() {
	if [ "$skipped" = 0 ]; then
		echo "$pass passed, $fail failed"
	else
		echo "$pass passed, $fail failed, $skipped skipped"
	fi
	[ "$fail" = 0 ]
}
