// SPDX-License-Identifier: MIT
/* simpler info: what this build is and what it finds. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "simpler.h"
#include "tool.h"

int cmd_info(int argc, char **argv)
{
	int fd;

	(void)argc;
	(void)argv;
	/* the library loaded, which a dynamically linked tool may get from elsewhere */
	printf("libsimpler %s (built against %s), platforms: sim, modes: processes (default), "
	       "threads\n", simpler_version_string(), SIMPLER_VERSION_STRING);
	fd = open("/dev/simpler", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		printf("simpler.ko: /dev/simpler opens: host-memory backend kmod (zero copies)\n");
		close(fd);
	} else {
		printf("simpler.ko: /dev/simpler: %s: host-memory backend shm (mirrors)\n",
		       strerror(errno));
	}
	printf("online CPUs: %ld, usable by this process: %d\n", sysconf(_SC_NPROCESSORS_ONLN),
	       tool_cpus());
	return 0;
}
