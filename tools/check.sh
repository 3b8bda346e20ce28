#!/bin/bash
# make check: install what is missing, build, then run every test runner and
# sum their "N passed, N failed[, N skipped]" lines into the last line.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
total_pass=0 total_fail=0 total_skip=0
failures=$(mktemp)
trap 'rm -f "$failures"' EXIT

stage() {	# stage NAME COMMAND...: run a runner, fold its summary into the totals
	local name=$1 log line p f s
	shift
	echo "=== $name"
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	# the failures again at the end, where a reader of the log's tail looks
	grep -E '^(FAIL|not ok |KERNEL: |CONSOLE: |  \| )' "$log" | head -n 40 | sed "s/^/$name: /" >>"$failures"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	rm -f "$log"
	if [ -z "$line" ]; then
		echo "=== $name: no summary line (counted as 1 failure)" | tee -a "$failures"
		total_fail=$((total_fail + 1))
		return
	fi
	p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
	s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p')
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + ${s:-0}))
}

first_cpu() {	# the first CPU this process may run on
	awk '/^Cpus_allowed_list:/ { sub(/[^0-9].*/, "", $2); print $2 }' /proc/self/status
}

build() {
	if make all host-tests sanitize-tests python-tests mpi-tests kmod ksft; then
		echo "1 passed, 0 failed"
	else
		echo "0 passed, 1 failed"
	fi
}

tools/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
demo() {	# the README's main command must work and verify its result
	if make demo | tee /dev/stderr | grep -q "verified: all"; then
		echo "1 passed, 0 failed"
	else
		echo "0 passed, 1 failed"
	fi
}

stage build build
stage lint tools/lint.sh
stage uapi tests/uapi/check.sh
stage symbols tests/lib/symbols.sh
stage layers tests/lib/layers.sh
stage manpages tests/lib/manpages.sh
# one version everywhere; make install into a DESTDIR as a packager runs it
stage version tests/lib/version.sh
stage install tests/lib/install.sh
stage cli tests/lib/cli.sh
# the public-API suite: chips as processes (shm backend), then as threads
stage host env SIMPLER_TEST_MODE=process SIMPLER_TEST_HOSTMEM=shm \
	tests/host/run.sh build/tests/test_* build/tests/basic-shared
stage host-threads env SIMPLER_TEST_MODE=threads \
	tests/host/run.sh $(ls build/tests/test_* | grep -v "test_proc\|test_hostmem")
# confined to one CPU (as a cpuset can leave a service): every wait yields instead of spinning
stage host-one-cpu env SIMPLER_TEST_MODE=process SIMPLER_TEST_HOSTMEM=shm \
	taskset -c "$(first_cpu)" tests/host/run.sh $(ls build/tests/test_* | grep -v test_scale)
# an L4 over MPI under a real mpirun -np 3: over shared memory, then over TCP on loopback
stage mpi tests/mpi/run.sh
# the scheduler's lost-wake-up windows widened: a wake-up lost there hangs a run
stage host-race env SIMPLER_TEST_MODE=threads SIMPLER_STRESS_SECONDS=10 \
	tests/host/run.sh build/race/tests/test_sched
stage host-asan env SIMPLER_TEST_MODE=process tests/host/run.sh build/asan/tests/test_*
stage host-tsan env SIMPLER_TEST_MODE=threads TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	tests/host/run.sh $(ls build/tsan/tests/test_* | grep -v "test_proc\|test_hostmem")
# a restarted chip is forked from a process with threads: ThreadSanitizer must allow
# that, and not hold exiting children for a second
stage host-tsan-process env SIMPLER_TEST_MODE=process \
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:die_after_fork=0:atexit_sleep_ms=0 \
	tests/host/run.sh build/tsan/tests/test_*
# the Python module (pytest under Debian's python3; both modes, every test under a watchdog)
stage python tests/python/run.sh
stage demo demo
# the Debian packages, built in a copy of the tree (nocheck: the host stages ran their tests)
stage deb tests/lib/deb.sh
stage ksft-intree tests/kselftest/intree-check.sh
stage vm tools/vmtest.sh
stage vm-debug tools/vmtest.sh --debug
if [ -s "$failures" ]; then
	echo "=== failures"
	cat "$failures"
fi
echo "=== total"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ $total_fail = 0 ]
