#!/bin/bash
# Build (once) and print the path of a 6.1 debug kernel tree: Debian's
# linux-source-6.1 on tinyconfig plus tools/vm/debug-kernel.config (lockdep,
# KASAN, kmemleak, DEBUG_VM).  Cached outside the repository in
# $SIMPLER_CACHE (default /var/cache/simpler), keyed by the fragment and the
# source version; about 15 minutes on 2 cores the first time.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
frag=$repo/tools/vm/debug-kernel.config
tar=${KSRC_TAR:-/usr/src/linux-source-6.1.tar.xz}
cache=${SIMPLER_CACHE:-/var/cache/simpler}
key=$( (sha256sum "$frag" | cut -c1-16; stat -c %s "$tar") | sha256sum | cut -c1-12)
tree=$cache/kdebug-$key
log=$cache/kdebug-$key.log

if [ -f "$tree/.simpler-done" ]; then
	echo "$tree"
	exit 0
fi
[ -r "$tar" ] || { echo "debug-kernel: $tar missing (make deps)" >&2; exit 1; }
mkdir -p "$cache"
echo "debug-kernel: building $tree (log: $log)" >&2
rm -rf "$tree" "$tree.tmp"
mkdir -p "$tree.tmp"
{
	tar -xJf "$tar" -C "$tree.tmp" --strip-components=1
	cd "$tree.tmp"
	make tinyconfig
	scripts/kconfig/merge_config.sh -m .config "$frag"
	make olddefconfig
	# every option of the fragment must have survived the dependency solver
	missing=$(grep '^CONFIG_' "$frag" | while read -r l; do grep -qx "$l" .config || echo "$l"; done)
	if [ -n "$missing" ]; then
		echo "debug-kernel: options not taken: $missing"
		exit 1
	fi
	make -j"$(nproc)" bzImage modules
} >"$log" 2>&1 || { echo "debug-kernel: build failed, see $log" >&2; tail -20 "$log" >&2; exit 1; }
touch "$tree.tmp/.simpler-done"
mv "$tree.tmp" "$tree"
# older builds (another fragment or source) are dead weight: about 1 GiB each
for old in "$cache"/kdebug-*; do
	case $old in "$tree" | "$tree.tmp" | "$log") ;; *) rm -rf "$old" ;; esac
done
echo "$tree"
