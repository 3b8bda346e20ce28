#!/bin/bash
# Install the Debian 12 packages simpler builds and tests with.  Idempotent:
# apt-get runs only when something is missing.  Needs root.
set -e
pkgs="gcc gcc-multilib make libc6-dev perl gzip cpio kmod file
      linux-headers-amd64 linux-image-amd64 linux-source-6.1
      qemu-system-x86 busybox-static
      flex bison bc libelf-dev libssl-dev rsync
      libstarpu-dev pkg-config openmpi-bin libopenmpi-dev
      man-db groff-base
      gnuplot-nox python3 bsdutils
      python3-dev python3-numpy python3-pytest python3-torch
      dpkg-dev debhelper dh-dkms dh-python lintian"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all installed"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing:$missing; run 'make deps' as root" >&2
	exit 1
fi
echo "deps: installing$missing"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
