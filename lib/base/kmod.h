/* SPDX-License-Identifier: MIT */
/*
 * The library's only door to /dev/simpler: open it, and one ioctl wrapper
 * (restarts on EINTR/EAGAIN, returns -errno) used for every command.
 */
#ifndef SIMPLER_KMOD_H
#define SIMPLER_KMOD_H

#include <linux/simpler.h>

/* an O_RDWR|O_CLOEXEC fd on /dev/simpler with ABI 1, or -errno */
int sx_kmod_open(char *why, size_t len);
/* ioctl(fd, cmd, arg): 0 or -errno */
int sx_kmod_ioctl(int fd, unsigned long cmd, void *arg);

#endif /* SIMPLER_KMOD_H */
