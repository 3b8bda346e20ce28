#!/bin/sh
# The Debian amd64 kernel the module is built for and the VM boots: the
# newest one that has both an image in /boot and headers in /lib/modules.
for img in $(ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -rV); do
	v=${img#/boot/vmlinuz-}
	if [ -d "/lib/modules/$v/build" ]; then
		echo "$v"
		exit 0
	fi
done
echo "no Debian amd64 kernel with headers: run 'make deps' (linux-image-amd64, linux-headers-amd64)" >&2
exit 1
