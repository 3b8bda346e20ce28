#!/bin/bash
# The uapi header must stand alone: C89/C99/C11, C++, -m32 layout equal to
# -m64 (one ABI for compat_ptr_ioctl), and the documented struct sizes.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 n=0
t() {	# t NAME COMMAND...
	n=$((n + 1))
	if "${@:2}" >"$tmp/out" 2>&1; then
		echo "ok $n $1"; pass=$((pass + 1))
	else
		echo "not ok $n $1"; sed 's/^/#   /' "$tmp/out"; fail=$((fail + 1))
	fi
}
cat >"$tmp/sizes.c" <<'C'
#include <linux/simpler.h>
#include <stddef.h>
#define CHECK(t, ver0) typedef char check_##t[(sizeof(struct t) == ver0 && sizeof(struct t) % 8 == 0) ? 1 : -1]
CHECK(simpler_info, SIMPLER_INFO_SIZE_VER0);
CHECK(simpler_register, SIMPLER_REGISTER_SIZE_VER0);
CHECK(simpler_unregister, SIMPLER_UNREGISTER_SIZE_VER0);
CHECK(simpler_query, SIMPLER_QUERY_SIZE_VER0);
CHECK(simpler_lookup, SIMPLER_LOOKUP_SIZE_VER0);
typedef char check_first[offsetof(struct simpler_query, size) == 0 ? 1 : -1];
int main(void) { return 0; }
C
echo "1..5"
t "header compiles as C89" gcc -std=c89 -pedantic -Werror -Wall -I"$repo/uapi" -c "$tmp/sizes.c" -o "$tmp/a.o"
t "header compiles as C11" gcc -std=c11 -Werror -Wall -Wextra -I"$repo/uapi" -c "$tmp/sizes.c" -o "$tmp/b.o"
t "header compiles as C++" g++ -x c++ -Werror -Wall -I"$repo/uapi" -c "$tmp/sizes.c" -o "$tmp/c.o"
if echo 'int main(void){return 0;}' | gcc -m32 -x c - -o "$tmp/m32" 2>/dev/null; then
	t "32-bit layout equals 64-bit" gcc -m32 -std=c11 -Werror -I"$repo/uapi" -c "$tmp/sizes.c" -o "$tmp/d.o"
else
	n=$((n + 1)); echo "ok $n 32-bit layout equals 64-bit # SKIP no 32-bit libc (gcc-multilib)"; skip=1
fi
t "ioctl numbers use magic 0xB8" bash -c "grep -c 'SIMPLER_IOC_MAGIC' '$repo/uapi/linux/simpler.h' | grep -q 6 && grep -q 'SIMPLER_IOC_MAGIC	0xB8' '$repo/uapi/linux/simpler.h'"
echo "$pass passed, $fail failed, ${skip:-0} skipped"
[ $fail = 0 ]
