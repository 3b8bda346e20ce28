# shellcheck shell=bash
# TAP for the shell checks of tests/lib: `t NAME 'COMMAND'` runs one check
# and prints "ok N NAME" or "not ok N NAME"; `tap_end` prints the summary
# line make check reads and returns non-zero on a failure.
pass=0 fail=0 n=0
t() {
	n=$((n + 1))
	if eval "$2"; then echo "ok $n $1"; pass=$((pass + 1)); else echo "not ok $n $1"; fail=$((fail + 1)); fi
}
tap_end() {
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
}
