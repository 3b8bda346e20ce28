#!/bin/bash
# make install as a packager runs it: into a DESTDIR with PREFIX=/usr, the
# files land where Debian wants them (multiarch library directory, man
# pages, udev rule, modules-load.d, the DKMS tree), simpler.pc lets a program
# build and link against that install, the installed simpler command uses
# libsimpler.so.0 with no run path into the build tree; another PREFIX gives
# another simpler.pc; CPPFLAGS, CFLAGS and LDFLAGS reach the library and the
# command; the module builds from the installed DKMS tree and install-kmod
# stays inside DESTDIR (when Debian's kernel headers are there).  Builds into a temporary BUILD for the flags.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/lib/tap.sh"
tmp=$(mktemp -d)
# the PREFIX tests leave build/simpler.pc naming /opt: make it for the defaults again
trap 'rm -rf "$tmp"; make -s -C "$repo" build/simpler.pc >/dev/null 2>&1' EXIT
cd "$repo" || exit 1

v=$(make -s version)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || cc -print-multiarch)
d=$tmp/usr-root
lib=$d/usr/lib/$ma
echo "1..22"
echo "# version $v, multiarch $ma"

run() {	# run LOG COMMAND...: quietly, its output as comments when it fails
	local log=$1
	shift
	"$@" >"$log" 2>&1 || { sed 's/^/#   /' "$log" | tail -20; return 1; }
}

t "make install DESTDIR=... PREFIX=/usr succeeds" 'run "$tmp/install.log" make install DESTDIR="$d" PREFIX=/usr'

files="usr/include/simpler.h usr/lib/$ma/libsimpler.so.$v usr/lib/$ma/libsimpler.a
usr/lib/$ma/pkgconfig/simpler.pc usr/bin/simpler lib/udev/rules.d/60-simpler.rules
usr/lib/modules-load.d/simpler.conf usr/src/simpler-$v/dkms.conf usr/src/simpler-$v/Kbuild
usr/src/simpler-$v/kmod/main.c usr/src/simpler-$v/uapi/linux/simpler.h
usr/src/simpler-$v/lib/include/simpler.h usr/share/man/man1/simpler.1
usr/share/man/man4/simpler.4 usr/share/man/man7/simpler.7 usr/share/man/man3/simpler_submit.3"
missing=$(for f in $files; do [ -f "$d/$f" ] || echo "$f"; done)
[ -n "$missing" ] && echo "$missing" | sed 's/^/#   missing: /'
t "headers, libraries, simpler.pc, command, udev rule, modules-load.d, DKMS tree, man pages" \
	'[ -z "$missing" ]'
t "every man page of man/ is installed" \
	'(for p in man/man*/*.[0-9]; do [ -f "$d/usr/share/man/${p#man/}" ] || { echo "#   missing: $p"; exit 1; }; done)'
t "libsimpler.so -> libsimpler.so.0 -> libsimpler.so.$v, soname libsimpler.so.0" \
	'[ "$(readlink "$lib/libsimpler.so")" = libsimpler.so.0 ] &&
	 [ "$(readlink "$lib/libsimpler.so.0")" = "libsimpler.so.$v" ] &&
	 readelf -d "$lib/libsimpler.so.$v" | grep -q "(SONAME).*\[libsimpler.so.0\]"'
t "file modes: 0644 for the library files and man pages, 0755 for the command" \
	'[ "$(stat -c %a "$lib/libsimpler.so.$v" "$lib/libsimpler.a" "$d/usr/share/man/man7/simpler.7" \
		"$d/usr/include/simpler.h" "$d/usr/bin/simpler" | tr "\n" " ")" = "644 644 644 644 755 " ]'

pc=$lib/pkgconfig/simpler.pc
sed 's/^/#   /' "$pc"
t "simpler.pc: prefix /usr, libdir the multiarch directory, version $v" \
	'grep -qx "prefix=/usr" "$pc" && grep -qx "libdir=\${prefix}/lib/$ma" "$pc" &&
	 grep -qx "includedir=\${prefix}/include" "$pc" && grep -qx "Version: $v" "$pc"'

# a program built only from what pkg-config says about the DESTDIR install
cat >"$tmp/p.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <simpler.h>
int main(void)
{
	printf("%s\n", simpler_version_string());
	return strcmp(simpler_version_string(), SIMPLER_VERSION_STRING) != 0;
}
EOF
flags=$(PKG_CONFIG_SYSROOT_DIR=$d PKG_CONFIG_LIBDIR=$lib/pkgconfig pkg-config --cflags --libs simpler)
echo "# pkg-config: $flags"
t "pkg-config with the DESTDIR as sysroot points into it" \
	'[[ "$flags" == *"-I$d/usr/include"* && "$flags" == *"-L$lib"* && "$flags" == *-lsimpler* ]]'
t "a program compiles and links with those flags and runs on the installed library" \
	'run "$tmp/p.log" cc -o "$tmp/p" "$tmp/p.c" $flags && [ "$(LD_LIBRARY_PATH=$lib "$tmp/p")" = "$v" ] &&
	 [ "$(LD_LIBRARY_PATH=$lib ldd "$tmp/p" | awk "/libsimpler/ { print \$3 }")" = "$lib/libsimpler.so.0" ]'

bin=$d/usr/bin/simpler
dyn=$(readelf -d "$bin")
echo "$dyn" | grep -E "NEEDED|RPATH|RUNPATH" | sed 's/^/#  /'
t "the installed simpler command needs libsimpler.so.0" 'echo "$dyn" | grep -q "(NEEDED).*\[libsimpler.so.0\]"'
t "the installed simpler command has no RPATH or RUNPATH" '! echo "$dyn" | grep -qE "\((RPATH|RUNPATH)\)"'
t "it exports no public function of its own (every call goes to libsimpler.so)" \
	'! nm -D --defined-only "$bin" | grep -q " simpler_"'
t "it runs on the installed library: simpler info names $v" \
	'LD_LIBRARY_PATH=$lib "$bin" info | grep -q "libsimpler $v "'

# the Python module where Debian's python3 looks, importable from there on the installed library
pyd=$d/usr/lib/python3/dist-packages/simpler
ext=$(ls "$pyd"/_simpler.cpython-*.so 2>/dev/null | head -n 1)
t "the Python module: usr/lib/python3/dist-packages/simpler (__init__.py, bench.py, the extension)" \
	'[ -f "$pyd/__init__.py" ] && [ -f "$pyd/bench.py" ] && [ -n "$ext" ] &&
	 readelf -d "$ext" | grep -q "(NEEDED).*\[libsimpler.so.0\]" &&
	 ! readelf -d "$ext" | grep -qE "\((RPATH|RUNPATH)\)"'
t "/usr/bin/python3 imports it from there and runs a task on the installed libsimpler" \
	'[ "$(cd / && PYTHONPATH=$d/usr/lib/python3/dist-packages LD_LIBRARY_PATH=$lib /usr/bin/python3 -c "
import simpler, numpy as np
assert simpler.__file__.startswith(\"$pyd/\")
x = np.zeros(4)
with simpler.Worker(threads=True) as w:
    w.register(\"k\", lambda a: a.tensors[0].fill(3))
    w.run(lambda o: o.submit(\"k\", outputs=[x]))
print(simpler.library_version(), int(x.sum()))" 2>&1)" = "$v 12" ]'

t "modules-load.d names the module" 'grep -qx simpler "$d/usr/lib/modules-load.d/simpler.conf"'
t "the udev rule is the repository's" 'cmp -s kmod/60-simpler.rules "$d/lib/udev/rules.d/60-simpler.rules"'
conf=$d/usr/src/simpler-$v/dkms.conf
t "dkms.conf: PACKAGE_VERSION $v, BUILD_EXCLUSIVE_KERNEL 6.1 only, builds simpler" \
	'grep -qx "PACKAGE_VERSION=\"$v\"" "$conf" && grep -qxF "BUILD_EXCLUSIVE_KERNEL=\"^6\.1\.\"" "$conf" &&
	 grep -qx "BUILT_MODULE_NAME\[0\]=\"simpler\"" "$conf" && grep -q "^MAKE\[0\]=.* modules\"$" "$conf"'

kver=$(tools/kver.sh 2>/dev/null)
if [ -n "$kver" ] && [ -d "/lib/modules/$kver/build" ]; then
	cp -r "$d/usr/src/simpler-$v" "$tmp/dkms"
	t "simpler.ko builds from the installed DKMS tree for $kver, MODULE_VERSION $v" \
		'run "$tmp/dkms.log" make -C "/lib/modules/$kver/build" M="$tmp/dkms" modules &&
		 [ "$(modinfo -F version "$tmp/dkms/simpler.ko")" = "$v" ]'
	# without DKMS: modules_install under DESTDIR, nothing outside it
	t "make install-kmod DESTDIR=... puts simpler.ko, the udev rule and modules-load.d there" \
		'run "$tmp/kmod.log" make install-kmod DESTDIR="$tmp/k" &&
		 [ "$(modinfo -F version "$tmp/k/lib/modules/$kver/extra/simpler.ko")" = "$v" ] &&
		 [ -f "$tmp/k/lib/udev/rules.d/60-simpler.rules" ] && [ -f "$tmp/k/usr/lib/modules-load.d/simpler.conf" ]'
else
	skip "simpler.ko builds from the installed DKMS tree" "no Debian kernel headers (make deps)"
	skip "make install-kmod DESTDIR=..." "no Debian kernel headers (make deps)"
fi

# another PREFIX: simpler.pc is made again for it
t "make install DESTDIR=... PREFIX=/opt/x: simpler.pc names /opt/x" \
	'run "$tmp/opt.log" make install-lib DESTDIR="$tmp/opt" PREFIX=/opt/x &&
	 grep -qx "prefix=/opt/x" "$tmp/opt/opt/x/lib/$ma/pkgconfig/simpler.pc" &&
	 [ "$(PKG_CONFIG_LIBDIR=$tmp/opt/opt/x/lib/$ma/pkgconfig pkg-config --variable=libdir simpler)" = "/opt/x/lib/$ma" ]'
t "and LIBDIR=/opt/y/lib gives libdir /opt/y/lib" \
	'run "$tmp/y.log" make install-lib DESTDIR="$tmp/y" PREFIX=/opt/x LIBDIR=/opt/y/lib &&
	 [ "$(PKG_CONFIG_LIBDIR=$tmp/y/opt/y/lib/pkgconfig pkg-config --variable=libdir simpler)" = /opt/y/lib ]'

# the packager's flags reach every compile and link of the library and the command:
# -D_FORTIFY_SOURCE=2 (which Debian's gcc does not set by itself) makes them call the
# checking functions (__snprintf_chk...), -frecord-gcc-switches records CFLAGS in a section,
# -z now is BIND_NOW in the dynamic section
b=$tmp/build
t "CPPFLAGS, CFLAGS and LDFLAGS reach the library and the command (BUILD=$b)" \
	'run "$tmp/flags.log" make -j2 BUILD="$b" CPPFLAGS=-D_FORTIFY_SOURCE=2 \
		CFLAGS="-O2 -g -frecord-gcc-switches" LDFLAGS=-Wl,-z,now lib "$b/dyn/simpler" &&
	 (for f in "$b/libsimpler.so.$v" "$b/dyn/simpler"; do
		readelf -d "$f" | grep -qE "\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW" || { echo "#   no BIND_NOW: $f"; exit 1; }
		readelf -p .GCC.command.line "$f" | grep -q -- "-O2" || { echo "#   no CFLAGS: $f"; exit 1; }
		nm -D --undefined-only "$f" | grep -q "_chk@" || { echo "#   no CPPFLAGS: $f"; exit 1; }
	 done) &&
	 nm "$b/libsimpler.a" 2>/dev/null | grep -q " U __.*_chk$"'
tap_end
