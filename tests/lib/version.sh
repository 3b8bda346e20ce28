#!/bin/bash
# One version, written once: lib/include/simpler.h's SIMPLER_VERSION_MAJOR,
# _MINOR and _PATCH.  Everything else must agree with them: the compiled
# macros, the runtime query of the built libsimpler.so, the Makefile's
# VERSION, the library's file name and soname, simpler.pc, the simpler
# command, simpler.ko's MODULE_VERSION (when simpler.ko is built), the DKMS
# tree make install-dkms lays out, and debian/changelog (when there is one).
# Builds the library if needed, nothing else.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/lib/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$repo" || exit 1
make -s lib tools >"$tmp/make.log" 2>&1 || { sed 's/^/#   /' "$tmp/make.log" | tail -20; }

macro() { sed -n "s/^#define SIMPLER_VERSION_$1 \\([0-9][0-9]*\\)\$/\\1/p" lib/include/simpler.h; }
v="$(macro MAJOR).$(macro MINOR).$(macro PATCH)"
echo "1..11"
echo "# version $v"
t "the header's three macros make a version" '[[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]'

# the macros as a program sees them, and the runtime query of the library it loads
cat >"$tmp/v.c" <<'EOF'
#include <stdio.h>
#include <simpler.h>
int main(void)
{
	printf("%s %u %s %u\n", SIMPLER_VERSION_STRING, SIMPLER_VERSION, simpler_version_string(),
	       simpler_version());
	return 0;
}
EOF
got=$(cc -Ilib/include -o "$tmp/v" "$tmp/v.c" -Lbuild -lsimpler 2>&1 && LD_LIBRARY_PATH=build "$tmp/v")
IFS=. read -r ma mi pa <<<"$v"
num=$(((ma << 16) | (mi << 8) | pa))
echo "# program: $got"
t "SIMPLER_VERSION_STRING, SIMPLER_VERSION and simpler_version*() of libsimpler.so agree" \
	'[ "$got" = "$v $num $v $num" ]'

t "the Makefile's VERSION is the header's" '[ "$(make -s version)" = "$v" ]'

real=$(readlink -f build/libsimpler.so)
soname=$(readelf -d "$real" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
echo "# build/libsimpler.so -> ${real##*/}, soname $soname"
t "the library's file is libsimpler.so.$v, its soname's link points at it" \
	'[ "${real##*/}" = "libsimpler.so.$v" ] && [ "$(readlink -f "build/$soname")" = "$real" ]'
t "the soname is libsimpler.so.N and the file name extends it" \
	'[[ "$soname" =~ ^libsimpler\.so\.[0-9]+$ ]] && [[ "libsimpler.so.$v" == "$soname".* ]]'

t "simpler.pc's Version is $v" 'grep -qx "Version: $v" build/simpler.pc'
t "simpler info names library $v" 'build/simpler info | grep -q "libsimpler $v "'

if [ -f simpler.ko ]; then
	mv=$(modinfo -F version simpler.ko)
	echo "# simpler.ko: $mv"
	t "simpler.ko's MODULE_VERSION is $v" '[ "$mv" = "$v" ]'
else
	skip "simpler.ko's MODULE_VERSION" "simpler.ko is not built (make kmod)"
fi

make -s install-dkms DESTDIR="$tmp/d" PREFIX=/usr >"$tmp/dkms.log" 2>&1 || sed 's/^/#   /' "$tmp/dkms.log"
conf=$tmp/d/usr/src/simpler-$v/dkms.conf
t "the DKMS tree is simpler-$v, its dkms.conf's PACKAGE_VERSION is $v" \
	'[ -f "$conf" ] && grep -qx "PACKAGE_VERSION=\"$v\"" "$conf" && cmp -s lib/include/simpler.h "${conf%/*}/lib/include/simpler.h"'

# nothing else writes a version down
t "no version literal in kmod/, dkms.conf or the Makefile" \
	'! grep -n "MODULE_VERSION(\"\|PACKAGE_VERSION=\"[0-9]" kmod/* && ! grep -nE "^VERSION *:?= *[0-9]" Makefile'

if [ -f debian/changelog ]; then
	dv=$(dpkg-parsechangelog -l debian/changelog -S Version)
	up=${dv#*:}
	up=${up%%-*}
	echo "# debian/changelog: $dv"
	t "debian/changelog's upstream version is $v" '[ "$up" = "$v" ]'
else
	skip "debian/changelog's upstream version" "no debian/changelog"
fi
tap_end
