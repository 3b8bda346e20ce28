#!/bin/bash
# checkpatch.pl (from Debian's linux-source-6.1, extracted at build time) over
# the module and the uapi header: one TAP line per file, then the summary.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$repo/build}
tar=${KSRC_TAR:-/usr/src/linux-source-6.1.tar.xz}
cp=$build/checkpatch/scripts/checkpatch.pl
if [ ! -x "$cp" ]; then
	mkdir -p "$build/checkpatch"
	tar -xJf "$tar" -C "$build/checkpatch" --strip-components=1 \
		linux-source-6.1/scripts/checkpatch.pl linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch || {
		echo "lint: cannot extract checkpatch.pl from $tar (make deps)"
		echo "0 passed, 1 failed"
		exit 1
	}
fi
pass=0 fail=0 n=0
files=$(cd "$repo" && ls kmod/*.c kmod/*.h uapi/linux/*.h)
echo "1..$(echo $files | wc -w)"
for f in $files; do
	n=$((n + 1))
	out=$(cd "$repo" && perl "$cp" --no-tree --terse --show-types --max-line-length=100 -f "$f" 2>&1)
	if echo "$out" | grep -qE "(ERROR|WARNING):"; then
		echo "not ok $n checkpatch $f"
		echo "$out" | grep -E "(ERROR|WARNING):" | sed 's/^/#   /'
		fail=$((fail + 1))
	else
		echo "ok $n checkpatch $f"
		pass=$((pass + 1))
	fi
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
