#!/bin/bash
# The Debian packages of debian/: `dpkg-buildpackage -b -us -uc` in a copy of
# the tree under a temporary directory (it builds in the tree and writes the
# .debs beside it, so neither build/ nor the repository's parent is touched),
# then: what each package holds; libsimpler0's symbols against the export
# map and the dependency they give the tool; the MPI plugin (libsimpler-mpi0:
# its one export, Open MPI in its dependencies and in no other package's);
# hardening; the tool, a program built with the packaged simpler.pc and an L4
# over MPI running on the packaged library and plugin (unpacked, never
# installed); the group simpler-utils creates; DKMS limited to Linux 6.1;
# lintian on the .changes and the source package (no error; every tag shown).
#
# The build runs with DEB_BUILD_OPTIONS="nocheck parallel=2": the host stages
# of make check run the same tests as dh_auto_test (make hosttest).
# DEB_CHECK=1 runs dh_auto_test too; KEEP=1 keeps the build directory.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tests/lib/tap.sh"
start=$(date +%s)

missing=""
for c in dpkg-buildpackage dpkg-checkbuilddeps dh dh_dkms lintian; do
	command -v "$c" >/dev/null || missing="$missing $c"
done
if [ -n "$missing" ]; then
	echo "# skip: missing$missing (make deps installs them)"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi

tmp=$(mktemp -d /tmp/simpler-deb.XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then echo "# kept: $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
src=$tmp/simpler
mkdir -p "$src"
# the files git knows or would know (untracked ones included, ignored ones
# not: no build/, no objects of an in-tree module build); a copy without git
# takes everything but build/ and .git
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf -) 2>/dev/null | tar -C "$src" -xf -
else
	tar -C "$repo" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -
fi

version=$(cd "$src" && dpkg-parsechangelog -S Version)
upstream=${version%-*}
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
opts="parallel=2"
[ "${DEB_CHECK:-0}" = 1 ] || opts="nocheck $opts"
echo "# simpler $version, DEB_BUILD_OPTIONS=\"$opts\", in $tmp"

# the source package first, from the clean copy: lintian checks it too
(cd "$tmp" && dpkg-source -b simpler) >"$tmp/source.log" 2>&1 ||
	sed 's/^/#   dpkg-source: /' "$tmp/source.log"
dsc=$(ls "$tmp"/*.dsc 2>/dev/null | head -n 1)

log=$tmp/build.log
t0=$(date +%s)
(cd "$src" && DEB_BUILD_OPTIONS=$opts dpkg-buildpackage -b -us -uc) >"$log" 2>&1
rc=$?
echo "# dpkg-buildpackage: exit $rc, $(($(date +%s) - t0)) s"
[ $rc = 0 ] || tail -n 40 "$log" | sed 's/^/#   /'
t "dpkg-buildpackage -b -us -uc builds" '[ $rc = 0 ]'
if [ "${DEB_CHECK:-0}" = 1 ]; then
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	echo "# dh_auto_test (make hosttest): ${line:-no summary}"
	t "dh_auto_test runs make hosttest and it passes" \
		'[ -n "$line" ] && echo "$line" | grep -q " 0 failed"'
fi

deb() { ls "$tmp/$1"_*.deb 2>/dev/null | head -n 1; }
has() {	# has PACKAGE PATH...: the package holds every PATH
	local d p list
	d=$(deb "$1")
	shift
	[ -n "$d" ] || return 1
	list=$(dpkg-deb -c "$d" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||')
	for p in "$@"; do
		echo "$list" | grep -qxF "$p" || { echo "#   missing: $p"; return 1; }
	done
}
field() { dpkg-deb -f "$(deb "$1")" "$2" 2>/dev/null; }
extract() { dpkg-deb --fsys-tarfile "$(deb "$1")" | tar -xO ".$2" 2>/dev/null; }
control() { dpkg-deb -I "$(deb "$1")" "$2" 2>/dev/null; }

pkgs="libsimpler0 libsimpler-dev simpler-dkms simpler-utils python3-simpler libsimpler-mpi0"
t "six packages: ${pkgs// /, }" \
	'[ -n "$(deb libsimpler0)" ] && [ -n "$(deb libsimpler-dev)" ] &&
	 [ -n "$(deb simpler-dkms)" ] && [ -n "$(deb simpler-utils)" ] && [ -n "$(deb python3-simpler)" ] &&
	 [ -n "$(deb libsimpler-mpi0)" ]'
for p in $pkgs; do
	d=$(deb $p)
	[ -n "$d" ] && echo "# $(basename "$d"): $(dpkg-deb -c "$d" | grep -vc '/$') files"
done

t "libsimpler0 holds the shared library and its soname link" \
	'has libsimpler0 /usr/lib/$ma/libsimpler.so.$upstream /usr/lib/$ma/libsimpler.so.0 \
	 /usr/share/doc/libsimpler0/copyright'
t "libsimpler-dev holds the header, the .so link, the .a, simpler.pc, simpler(7)" \
	'has libsimpler-dev /usr/include/simpler.h /usr/lib/$ma/libsimpler.so /usr/lib/$ma/libsimpler.a \
	 /usr/lib/$ma/pkgconfig/simpler.pc /usr/share/man/man7/simpler.7.gz'
man3=$(cd "$repo/man/man3" && ls ./*.3 | sed 's|^\./|/usr/share/man/man3/|; s|$|.gz|')
t "libsimpler-dev holds every man3 page of man/man3 ($(echo "$man3" | wc -l))" \
	'has libsimpler-dev $man3'
t "simpler.pc: multiarch libdir, version $upstream" \
	'pc=$(extract libsimpler-dev /usr/lib/$ma/pkgconfig/simpler.pc) &&
	 echo "$pc" | grep -qE "^libdir=(/usr/lib/$ma|\\$\\{(prefix|exec_prefix)\\}/lib/$ma)\$" &&
	 echo "$pc" | grep -qx "Version: $upstream"'
t "simpler-dkms holds the DKMS tree, modules-load.d entry and simpler(4)" \
	'has simpler-dkms /usr/src/simpler-$upstream/dkms.conf /usr/src/simpler-$upstream/Kbuild \
	 /usr/src/simpler-$upstream/kmod/main.c /usr/src/simpler-$upstream/uapi/linux/simpler.h \
	 /usr/lib/modules-load.d/simpler.conf /usr/share/man/man4/simpler.4.gz'
pyd=/usr/lib/python3/dist-packages/simpler
pyext=$(dpkg-deb -c "$(deb python3-simpler)" 2>/dev/null | awk '{ print $6 }' |
	sed -n 's|^\./|/|; \|^'$pyd'/_simpler\.cpython-.*\.so$|p')
t "python3-simpler holds the module ($pyd: __init__.py, bench.py, the extension) and the example" \
	'[ -n "$pyext" ] && has python3-simpler $pyd/__init__.py $pyd/bench.py $pyext \
	 /usr/share/doc/python3-simpler/examples/serve.py /usr/share/doc/python3-simpler/copyright'
t "python3-simpler depends on python3, python3-numpy and libsimpler0" \
	'dep=$(field python3-simpler Depends) && echo "# Depends: $dep" &&
	 echo "$dep" | grep -q "python3 (>= 3" && echo "$dep" | grep -q "python3-numpy" &&
	 echo "$dep" | grep -q "libsimpler0 (>= "'
t "simpler-utils holds the tool, simpler(1) and the udev rule" \
	'has simpler-utils /usr/bin/simpler /usr/share/man/man1/simpler.1.gz \
	 /lib/udev/rules.d/60-simpler.rules'

# the MPI plugin: libsimpler-mpi0 holds it and nothing else but its doc directory and
# lintian overrides, and no other package holds it (libsimpler0's
# usr/lib/*/libsimpler.so.* does not match it)
plugin=/usr/lib/$ma/libsimpler-mpi.so.0
mpifiles=$(dpkg-deb -c "$(deb libsimpler-mpi0)" 2>/dev/null | grep -v '/$' | awk '{ print $6 }' |
	sed 's|^\./|/|' | grep -vE '^/usr/share/doc/libsimpler-mpi0/|^/usr/share/lintian/overrides/libsimpler-mpi0$')
t "libsimpler-mpi0 holds exactly $plugin (and its copyright, lintian overrides)" \
	'[ "$mpifiles" = "$plugin" ] && has libsimpler-mpi0 /usr/share/doc/libsimpler-mpi0/copyright'
others=$(for p in libsimpler0 libsimpler-dev simpler-dkms simpler-utils python3-simpler; do
	d=$(deb $p) && [ -n "$d" ] && dpkg-deb -c "$d" | awk '{ print $6 }'; done)
t "no other package holds the plugin ($(echo "$others" | grep -c .) files in the other five)" \
	'[ -n "$others" ] && ! echo "$others" | grep -q "libsimpler-mpi"'
# what the plugin links (libmpi), and the package that has it here: shlibs must name it
libmpi=$(dpkg-deb --fsys-tarfile "$(deb libsimpler-mpi0)" 2>/dev/null | tar -xO ".$plugin" >"$tmp/plugin" &&
	readelf -dW "$tmp/plugin" | sed -nE 's/.*NEEDED.*\[(libmpi\.so\.[0-9]+)\]$/\1/p')
ompi=$([ -n "$libmpi" ] && dpkg -S "/usr/lib/$ma/$libmpi" 2>/dev/null | sed -E 's/[:,].*//' | head -n 1)
echo "# the plugin links $libmpi, from $ompi; libsimpler-mpi0 Depends: $(field libsimpler-mpi0 Depends)"
plugsym=$(sed -nE 's/^#define[[:space:]]+SX_MPI_SYMBOL[[:space:]]+"([^"]+)"$/\1/p' "$src/lib/mpi_plugin.h")
t "the plugin's soname is libsimpler-mpi.so.0, it exports only $plugsym and links $libmpi" \
	'[ -n "$plugsym" ] && [ -n "$libmpi" ] &&
	 readelf -dW "$tmp/plugin" | grep -q "SONAME.*\[libsimpler-mpi.so.0\]" &&
	 [ "$(nm -D --defined-only "$tmp/plugin" | awk "{ print \$3 }")" = "$plugsym" ]'
t "libsimpler-mpi0's symbols file lists exactly $plugsym, both in debian/ and in the package" \
	'[ "$(control libsimpler-mpi0 symbols | awk "/^ / { print \$1 }")" = "$plugsym@Base" ] &&
	 [ "$(awk "/^ / { print \$1 }" "$src/debian/libsimpler-mpi0.symbols")" = "$plugsym@Base" ] &&
	 control libsimpler-mpi0 shlibs | grep -qE "^libsimpler-mpi 0 libsimpler-mpi0( |\$)"'
t "libsimpler-mpi0 depends on $ompi from shlibs (not debian/control) and on libsimpler0 (= $version)" \
	'[ -n "$ompi" ] && grep -E "^shlibs:Depends=" "$src/debian/libsimpler-mpi0.substvars" | grep -qE "(=|, )$ompi( |,|\$)" &&
	 ! grep -q "$ompi" "$src/debian/control" &&
	 field libsimpler-mpi0 Depends | tr , "\n" | grep -qE "^ ?$ompi( \(>= [^)]+\))?\$" &&
	 field libsimpler-mpi0 Depends | grep -qF "libsimpler0 (= $version)"'
t "libsimpler0 does not depend on Open MPI (nor links it) and suggests libsimpler-mpi0" \
	'dep=$(field libsimpler0 Depends) && [ -n "$dep" ] && [ -n "$ompi" ] &&
	 ! echo "$dep" | grep -qiE "$ompi|openmpi|libmpi|mpich" &&
	 field libsimpler0 Suggests | grep -q "libsimpler-mpi0" &&
	 dpkg-deb --fsys-tarfile "$(deb libsimpler0)" | tar -xO "./usr/lib/$ma/libsimpler.so.$upstream" >"$tmp/libso" &&
	 readelf -dW "$tmp/libso" | grep -q "NEEDED.*libc.so" && ! readelf -dW "$tmp/libso" | grep -q "NEEDED.*libmpi"'

# symbols: exactly the globals of the version script, all at LIBSIMPLER_0.1, both in
# debian/libsimpler0.symbols (a new export needs a line there, with its first version)
# and in the package (dpkg-gensymbols would only warn and add it)
mapped=$(sed -n '/global:/,/local:/p' "$src/lib/libsimpler.map" | grep -E '^\s+simpler_' |
	tr -d ' \t;' | sort)
symnames() { awk '/^ simpler_/ { sub(/@.*/, "", $1); print $1 }' | sort; }
committed=$(symnames <"$src/debian/libsimpler0.symbols")
packaged=$(control libsimpler0 symbols | symnames)
[ "$mapped" = "$committed" ] ||
	diff <(echo "$mapped") <(echo "$committed") | grep '^[<>]' | sed 's/^/#   libsimpler.map vs debian\/libsimpler0.symbols: /'
t "debian/libsimpler0.symbols lists exactly the exports of libsimpler.map" \
	'[ -n "$mapped" ] && [ "$mapped" = "$committed" ]'
t "libsimpler0's packaged symbols file lists exactly those too" \
	'[ "$mapped" = "$packaged" ] && ! control libsimpler0 symbols | grep "^ " | grep -v "@LIBSIMPLER_0.1 " | grep -q .'
t "libsimpler0's shlibs names libsimpler.so.0 in libsimpler0" \
	'control libsimpler0 shlibs | grep -qE "^libsimpler 0 libsimpler0( |\$)"'
# the symbols file's minimal version: the first version with every symbol the tool uses
dep=$(field simpler-utils Depends | tr , "\n" | sed -nE 's/^ ?libsimpler0 \(>= ([^)]*)\)$/\1/p')
t "simpler-utils depends on libsimpler0 (>= ${dep:-?}) from the symbols file (the tool links the library)" \
	'[ -n "$dep" ] && dpkg --compare-versions "$dep" le "$version"'
t "libsimpler-dev depends on libsimpler0 (= $version)" \
	'field libsimpler-dev Depends | grep -qF "libsimpler0 (= $version)"'

# dpkg-buildflags reached the compiler and the linker
x=$tmp/x
mkdir -p "$x"
dpkg-deb -x "$(deb simpler-utils)" "$x" 2>/dev/null
dpkg-deb -x "$(deb libsimpler0)" "$x" 2>/dev/null
dpkg-deb -x "$(deb libsimpler-dev)" "$x" 2>/dev/null
dpkg-deb -x "$(deb python3-simpler)" "$x" 2>/dev/null
dpkg-deb -x "$(deb libsimpler-mpi0)" "$x" 2>/dev/null
hardened() {	# full RELRO (GNU_RELRO + BIND_NOW) and fortified calls
	readelf -lW "$1" | grep -q GNU_RELRO && readelf -dW "$1" | grep -qE 'BIND_NOW|FLAGS.*NOW' &&
		nm -D "$1" | grep -q '__[a-z]*_chk@'
}
t "simpler is PIE, full RELRO, fortified, linked to libsimpler.so.0" \
	'readelf -hW $x/usr/bin/simpler | grep -q "DYN (Position-Independent" && hardened $x/usr/bin/simpler &&
	 readelf -dW $x/usr/bin/simpler | grep -q "NEEDED.*libsimpler.so.0"'
t "libsimpler.so is full RELRO and fortified" 'hardened $x/usr/lib/$ma/libsimpler.so.$upstream'
t "the MPI plugin is full RELRO and fortified" 'hardened $x$plugin'
t "the Python extension is full RELRO, fortified, linked to libsimpler.so.0, without a run path" \
	'[ -n "$pyext" ] && hardened $x$pyext && readelf -dW $x$pyext | grep -q "NEEDED.*libsimpler.so.0" &&
	 ! readelf -dW $x$pyext | grep -qE "RPATH|RUNPATH"'

# the packages work together, unpacked side by side (not installed)
t "the packaged simpler runs on the packaged libsimpler.so.0 ($upstream)" \
	'LD_LIBRARY_PATH=$x/usr/lib/$ma timeout 60 $x/usr/bin/simpler info 2>&1 | grep -q "^libsimpler $upstream "'
t "the packaged module runs Python and C kernels on the packaged library, chips as processes" \
	'out=$(cd / && PYTHONPATH=$x/usr/lib/python3/dist-packages LD_LIBRARY_PATH=$x/usr/lib/$ma \
		timeout 60 /usr/bin/python3 -c "
import numpy as np, simpler
assert simpler.__file__ == \"$x$pyd/__init__.py\"
with simpler.Worker(chips=2) as w:
    w.register(\"e\", simpler._simpler.__file__ + \":spy_empty_kernel\")
    w.register(\"py\", lambda a: a.tensors[0].fill(7))
    w.start()
    x = np.zeros(8, np.int64)
    w.register_host(x)
    w.run(lambda o: [o.submit(\"e\", inputs=[x]), o.submit(\"py\", outputs=[x], chip=1)])
print(simpler.library_version(), int(x.sum()))" 2>&1); echo "# $out"; [ "$out" = "$upstream 56" ]'
printf '%s\n' '#include <stdio.h>' '#include <simpler.h>' 'int main(void)' '{' \
	'	printf("%s %s\n", SIMPLER_VERSION_STRING, simpler_version_string());' '	return 0;' '}' \
	>"$tmp/v.c"
if command -v pkg-config >/dev/null; then
	flags=$(PKG_CONFIG_PATH='' PKG_CONFIG_LIBDIR=$x/usr/lib/$ma/pkgconfig PKG_CONFIG_SYSROOT_DIR=$x \
		pkg-config --cflags --libs simpler 2>&1)
	echo "# pkg-config --cflags --libs simpler: $flags"
	t "a program builds with libsimpler-dev's pkg-config flags and runs on libsimpler0" \
		'cc -o "$tmp/v" "$tmp/v.c" $flags &&
		 [ "$(LD_LIBRARY_PATH=$x/usr/lib/$ma "$tmp/v")" = "$upstream $upstream" ]'
	# an L4 over MPI: rank 0 the L4, rank 1 its node; libsimpler loads the packaged
	# plugin by its soname (no SIMPLER_MPI_PLUGIN)
	printf '%s\n' '#include <stdio.h>' '#include <simpler.h>' 'int main(void)' '{' \
		'	struct simpler_worker *w;' '	SIMPLER_OPTS(simpler_worker_opts, l3, .nr_chips = 1);' \
		'	SIMPLER_OPTS(simpler_worker_opts, o, .level = 4, .flags = SIMPLER_WORKER_MPI,' \
		'		     .remote_opts = &l3);' '	int r = simpler_worker_create(&o, &w);' \
		'	if (r)' '		return r == 1 ? 0 : 1;' '	simpler_worker_destroy(w);' \
		'	printf("L4 over MPI\n");' '	return 0;' '}' >"$tmp/l4.c"
	if command -v mpirun >/dev/null; then
		t "an L4 over MPI (mpirun -np 2) runs on libsimpler0 and the plugin of libsimpler-mpi0" \
			'cc -o "$tmp/l4" "$tmp/l4.c" $flags &&
			 out=$(cd "$tmp" && env -u SIMPLER_MPI_PLUGIN OMPI_ALLOW_RUN_AS_ROOT=1 \
				OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 LD_LIBRARY_PATH=$x/usr/lib/$ma \
				timeout -s KILL 60 mpirun --oversubscribe -np 2 "$tmp/l4" 2>&1)
			 echo "$out" | sed "s/^/#   /"; [ "$out" = "L4 over MPI" ]'
	else
		skip "an L4 over MPI runs on the packaged library and plugin" "no mpirun (make deps)"
	fi
fi
t "simpler-utils' postinst creates the system group simpler once" \
	'pi=$(control simpler-utils postinst) && echo "$pi" | grep -q "getent group simpler" &&
	 echo "$pi" | grep -qE "addgroup --system simpler|groupadd (-r|--system) simpler"'
conf=$(extract simpler-dkms "/usr/src/simpler-$upstream/dkms.conf")
bek=$(echo "$conf" | sed -nE 's/^BUILD_EXCLUSIVE_KERNEL="?([^"]*)"?$/\1/p')
echo "# BUILD_EXCLUSIVE_KERNEL=\"$bek\""
only61() {	# the regular expression dkms matches the kernel release against
	local k
	[ -n "$bek" ] || return 1
	for k in 6.1.0-57-amd64 6.1.0-13-cloud-amd64 6.1.158; do [[ $k =~ $bek ]] || return 1; done
	for k in 6.10.0-1-amd64 6.12.48+deb13-amd64 5.10.0-35-amd64 6.11.2 16.1.0; do
		[[ $k =~ $bek ]] && return 1
	done
	return 0
}
t "dkms.conf: version $upstream, BUILD_EXCLUSIVE_KERNEL takes 6.1 kernels only" \
	'echo "$conf" | grep -qE "^PACKAGE_VERSION=\"?$upstream\"?\$" && only61'
t "simpler-dkms: postinst builds with DKMS, depends on dkms" \
	'control simpler-dkms postinst | grep -q "DKMS_VERSION=$upstream" &&
	 field simpler-dkms Depends | grep -q "dkms"'

# lintian: errors fail, everything else is shown
changes=$(ls "$tmp"/*.changes 2>/dev/null | head -n 1)
t1=$(date +%s)
lint=$( [ -n "$changes" ] && [ -n "$dsc" ] && lintian --display-info --pedantic "$changes" "$dsc" 2>&1 |
	grep -v "^running with root privileges")
echo "# lintian: $(($(date +%s) - t1)) s"
[ -n "$lint" ] && echo "$lint" | sed 's/^/#   /'
t "lintian on the .changes and the .dsc: no errors" \
	'[ -n "$changes" ] && [ -n "$dsc" ] && ! echo "$lint" | grep -q "^E: "'
t "lintian checked libsimpler-mpi0 (listed in the .changes): no error for it" \
	'grep -q " libsimpler-mpi0_${version}_[a-z0-9]*\.deb\$" "$changes" &&
	 ! echo "$lint" | grep -q "^E: libsimpler-mpi0"'

echo "# deb: $(($(date +%s) - start)) s"
tap_end
