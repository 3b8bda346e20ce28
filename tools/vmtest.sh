#!/bin/bash
# Boot Debian's linux-image-amd64 under qemu (TCG) with simpler.ko and the
# kselftests (or, with --bench, the benchmarks) in a busybox initramfs, stream
# the results, fail on any kernel BUG/WARNING/Oops/lockdep/KASAN/kmemleak
# line, and end with "N passed, N failed, N skipped".
#
# --debug boots the cached debug kernel of tools/vm/debug-kernel.sh instead
# (lockdep, KASAN, kmemleak, DEBUG_VM; built on first use) with the module
# rebuilt against it.
#
# env: KVER (kernel version), BUILD (build dir), VM_MEM (MiB, 2048),
#      VM_SMP (2), VM_TIMEOUT (seconds for the whole VM, 900),
#      VM_ARGS (arguments passed to every program), VM_MODPARAMS (insmod args),
#      VM_ENV (NAME=VALUE words exported to every program; SX_ONLY=word runs
#      only the kselftests whose name contains the word),
#      VM_ONLY (names of the programs to run, default all),
#      VM_HOST (1: in tests mode also run the host suite in process mode on the
#      kmod backend, default 1),
#      VM_KMOD_REV (a git revision: boot the module built from it instead of
#      the working tree's, to show that a test fails before a fix),
#      VM_BASE_REV (--bench: run kmod-bench on the module of that revision
#      first, then everything on this one: before/after in one run)
#
# The host suite is the public-API tests of libsimpler (tests/host), minus
# the 10M-task scale test and the TensorMap unit test: dynamically linked,
# so the glibc they need is copied in too.  The debug kernel (KASAN makes
# everything ~10x slower again) runs the programs that drive the module:
# test_basic, test_hostmem, test_proc.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$repo/build}
mode=tests
debug=0
for a in "$@"; do
	case $a in
	--bench) mode=bench ;;
	--debug) debug=1 ;;
	*) echo "usage: $0 [--bench] [--debug]" >&2; exit 2 ;;
	esac
done

die() {
	echo "vmtest: $*" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}

if [ $debug = 1 ]; then
	tree=$("$repo/tools/vm/debug-kernel.sh") || die "no debug kernel"
	kernel=$tree/arch/x86/boot/bzImage
	kdir=$tree
else
	kver=${KVER:-$("$repo/tools/kver.sh")} || die "no kernel"
	kernel=/boot/vmlinuz-$kver
	[ -r "$kernel" ] || die "$kernel not readable (run as root; make deps installs linux-image-amd64)"
	kdir=/lib/modules/$kver/build
fi

build_ko() {	# build_ko REV|"" DIR: simpler.ko of a git revision (or the tree) for $kdir
	local rev=$1 dir=$2
	rm -rf "$dir"
	mkdir -p "$dir"
	# Kbuild reads the version from lib/include/simpler.h (revisions before that had none)
	if [ -n "$rev" ]; then
		git -C "$repo" archive "$rev" Kbuild kmod uapi | tar -x -C "$dir" ||
			die "cannot export the module at $rev"
		git -C "$repo" archive "$rev" lib/include/simpler.h 2>/dev/null | tar -x -C "$dir" 2>/dev/null
	else
		cp -r "$repo/Kbuild" "$repo/kmod" "$repo/uapi" "$dir/"
		mkdir -p "$dir/lib/include"
		cp "$repo/lib/include/simpler.h" "$dir/lib/include/"
	fi
	make -s -C "$kdir" M="$dir" modules >"$dir.log" 2>&1 ||
		{ cat "$dir.log"; die "simpler.ko${rev:+ at $rev} does not build against $kdir"; }
}

if [ $debug = 1 ] || [ -n "${VM_KMOD_REV:-}" ]; then
	# the module again, against that kernel, out of the source directory
	kobj=$build/kmod-$([ $debug = 1 ] && echo debug || echo vm)
	build_ko "${VM_KMOD_REV:-}" "$kobj"
	ko=$kobj/simpler.ko
	[ -n "${VM_KMOD_REV:-}" ] && echo "vmtest: simpler.ko from $VM_KMOD_REV"
else
	ko=$repo/simpler.ko
	[ -f "$ko" ] || die "simpler.ko not built (make kmod)"
fi
base_ko=
if [ $mode = bench ] && [ -n "${VM_BASE_REV:-}" ]; then
	build_ko "$VM_BASE_REV" "$build/kmod-base"
	base_ko=$build/kmod-base/simpler.ko
	echo "vmtest: kmod-bench also on simpler.ko from $VM_BASE_REV"
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (make deps)"
[ -x /bin/busybox ] || die "/bin/busybox missing (make deps installs busybox-static)"
progs=$build/$([ $mode = tests ] && echo ksft || echo bench)/bin
ls "$progs"/* >/dev/null 2>&1 || die "no programs in $progs (make ksft / make bench)"

vm=$build/vm$([ $debug = 1 ] && echo -debug)
root=$vm/root
rm -rf "$root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp,mnt,$mode}
cp /bin/busybox "$root/bin/busybox"
cp "$repo/tools/vm/init" "$root/init"
cp "$ko" "$root/simpler.ko"
[ -n "$base_ko" ] && cp "$base_ko" "$root/simpler-base.ko"
host_tests=
if [ $mode = tests ] && [ "${VM_HOST:-1}" = 1 ]; then
	for t in "$build"/tests/test_*; do
		case ${t##*/} in test_scale|test_tensormap) continue ;; esac
		if [ $debug = 1 ]; then
			case ${t##*/} in test_basic|test_hostmem|test_proc) ;; *) continue ;; esac
		fi
		host_tests="$host_tests $t"
	done
	[ -n "$host_tests" ] || die "no host tests in $build/tests (make host-tests)"
fi
mkdir -p "$root/host"
if [ -n "${VM_ONLY:-}" ]; then
	for p in $VM_ONLY; do
		if [ -e "$progs/$p" ]; then
			cp "$progs/$p" "$root/$mode/"
		elif [ -e "$build/tests/$p" ]; then
			cp "$build/tests/$p" "$root/host/"
		else
			die "no program $p"
		fi
	done
else
	cp "$progs"/* "$root/$mode/"
	[ -n "$host_tests" ] && cp $host_tests "$root/host/"
fi
copy_libs() {	# the loader and libraries these programs link, at the same paths
	local lib
	for lib in $(ldd "$@" | awk '/=> \//{print $3} /^\t\/[^ ]*ld-linux/{print $1}' | sort -u); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
if ls "$root"/host/* >/dev/null 2>&1; then
	cp "$build/tests/libkern_test.so" "$root/host/" || die "no libkern_test.so (make host-tests)"
	copy_libs "$root"/host/test_*
fi
if [ $mode = bench ] && [ -z "${VM_ONLY:-}" ]; then
	# the library's benchmarks that need the module: through the simpler command
	cp "$build/simpler" "$root/bin/simpler" || die "no $build/simpler (make tools)"
	copy_libs "$root/bin/simpler"
	for b in hostbuf check; do
		printf '#!/bin/sh\nexec /bin/simpler bench %s "$@"\n' "$b" >"$root/bench/simpler-$b"
		chmod +x "$root/bench/simpler-$b"
	done
fi
echo "$mode" >"$root/mode"
echo "${VM_ARGS:-}" >"$root/args"
echo "${VM_ENV:-}" >"$root/env"
echo "${VM_MODPARAMS:-}" >"$root/modparams"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$vm/initramfs.gz" ||
	die "cannot pack the initramfs"

console=$vm/console.log
results=$vm/results.log
: >"$console"
: >"$results"
echo "vmtest: booting $kernel (qemu TCG, ${VM_SMP:-2} cpus, ${VM_MEM:-2048} MiB), $mode from $progs"
start=$(date +%s)
# la57=off: with 5-level paging, Linux 6.1's identify_cpu() zeroes the boot CPU's
# feature bits (LA57 among them) with interrupts on, and KASAN, which asks that bit
# where the direct map begins, reports an interrupt landing in that window as a
# "wild-memory-access" (seen once at boot on a loaded host, 6.1.192 debug kernel,
# before the module was loaded).  Four-level paging has no such window.
timeout -s KILL "${VM_TIMEOUT:-900}" qemu-system-x86_64 \
	-accel tcg -cpu max,la57=off -smp "${VM_SMP:-2}" -m "${VM_MEM:-2048}" \
	-kernel "$kernel" -initrd "$vm/initramfs.gz" \
	-append "console=ttyS0 quiet panic=-1 transparent_hugepage=always" \
	-display none -monitor none -no-reboot \
	-serial "file:$console" -serial "file:$results" &
qpid=$!
tail -n +1 -f --pid=$qpid "$results" | sed -n '/^# simpler-vm: dmesg begin/,/^# simpler-vm: dmesg end/!p'
wait $qpid
qrc=$?
echo "vmtest: VM exited ($qrc) after $(($(date +%s) - start)) s; logs in $vm"

awk -v console="$console" -v mode="$mode" '
function finish_prog() {
	if (cur == "") return
	if (plan[cur] > seen[cur]) {
		printf "FAIL: %s: %d of %d results missing\n", cur, plan[cur] - seen[cur], plan[cur]
		fail += plan[cur] - seen[cur]
	} else if (plan[cur] < 0 && mode == "bench") {
		if (rc == 0) pass++
		else { printf "FAIL: %s exited %d\n", cur, rc; fail++ }
	} else if (plan[cur] < 0) {
		printf "FAIL: %s printed no TAP plan\n", cur
		fail++
	} else if (rc != 0 && rc != 4 && progfail[cur] == 0) {
		printf "FAIL: %s exited %d\n", cur, rc
		fail++
	}
	cur = ""
}
/^# simpler-vm: dmesg begin/ { indmesg = 1; dmesg_seen = 1; next }
/^# simpler-vm: dmesg end/ { indmesg = 0; dmesg_done = 1; next }
indmesg && /simpler-vm: tests begin/ { begun = 1; next }
indmesg && !begun { next }
indmesg {
	if ($0 ~ /BUG|WARNING|Oops|possible circular|possible recursive|inconsistent lock|lockdep.*(off|disabled|turning)|KASAN|unreferenced object|general protection|Call Trace|blocked for more than|refcount_t|bad page/) {
		bad++
		if (bad <= 20) print "KERNEL: " $0
	}
	next
}
/^# simpler-vm: begin / { finish_prog(); cur = $4; plan[cur] = -1; seen[cur] = 0; rc = 0; nd = 0; next }
/^# simpler-vm: end / { split($0, a, "rc="); rc = a[2] + 0; finish_prog(); next }
mode == "bench" { next }
cur != "" && /^1\.\.[0-9]+/ { plan[cur] = substr($1, 4) + 0; next }
cur != "" && /^ok [0-9]+ # SKIP/ { skip++; seen[cur]++; nd = 0; next }
cur != "" && /^ok [0-9]+/ { pass++; seen[cur]++; nd = 0; next }
cur != "" && /^not ok [0-9]+/ {
	fail++; seen[cur]++; progfail[cur]++
	print "FAIL: " cur ": " $0
	# what the test said before it failed (the seed, the first violation)
	for (i = (nd > 12 ? nd - 12 : 0); i < nd; i++) print "  | " diag[i % 12]
	nd = 0
	next
}
cur != "" && /^# / && !/^# *(RUN|OK) / { diag[nd % 12] = $0; nd++; next }
END {
	if (cur != "") { printf "FAIL: %s did not finish (VM died or timed out)\n", cur; fail++; cur = "" }
	if (!dmesg_done) { print "FAIL: the VM did not reach its final kernel-log dump"; fail++ }
	else if (!begun) { print "FAIL: the kernel log has no start marker"; fail++ }
	while ((getline line < console) > 0)
		if (line ~ /Kernel panic|BUG:|Oops|WARNING:|KASAN|suspected memory leak|possible circular|possible recursive/) {
			print "CONSOLE: " line; consolebad++
		}
	if (bad || consolebad) { fail++; print "FAIL: kernel log has " bad + consolebad " bad lines" }
	else if (dmesg_done) pass++
	printf "%d passed, %d failed, %d skipped\n", pass, fail, skip
	exit fail ? 1 : 0
}' "$results"
