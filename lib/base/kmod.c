// SPDX-License-Identifier: MIT
/* /dev/simpler access (see kmod.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kmod.h"

int sx_kmod_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, cmd, arg);
	} while (ret < 0 && (errno == EINTR || errno == EAGAIN));
	return ret < 0 ? -errno : 0;
}

int sx_kmod_open(char *why, size_t len)
{
	struct simpler_info info;
	int fd = open("/dev/simpler", O_RDWR | O_CLOEXEC), ret;

	if (fd < 0) {
		ret = -errno;
		snprintf(why, len, "cannot open /dev/simpler: %s%s", strerror(errno),
			 errno == ENOENT ? " (is simpler.ko loaded?)" :
			 errno == EACCES ? " (is the user in the group 'simpler'?)" : "");
		return ret;
	}
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info);
	ret = sx_kmod_ioctl(fd, SIMPLER_IOC_INFO, &info);
	if (ret || info.abi_version != SIMPLER_ABI_VERSION) {
		snprintf(why, len, "/dev/simpler speaks ABI %u, this library ABI %d%s%s",
			 ret ? 0 : info.abi_version, SIMPLER_ABI_VERSION, ret ? ": " : "",
			 ret ? strerror(-ret) : "");
		close(fd);
		return ret ? ret : -EPROTO;
	}
	return fd;
}
