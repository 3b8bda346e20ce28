// SPDX-License-Identifier: MIT
/* simpler info and simpler version: what this build is and what it finds. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "simpler.h"
#include "tool.h"

/*
 * The version this command was built from; the library's as well when the
 * one loaded differs (a dynamically linked command may find another).
 */
int cmd_version(const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc = argc ? cli_parse(cmd, NULL, argc, argv) : CLI_RUN;

	if (rc != CLI_RUN)
		return rc;
	if (strcmp(simpler_version_string(), SIMPLER_VERSION_STRING))
		printf("simpler %s (libsimpler %s loaded)\n", SIMPLER_VERSION_STRING,
		       simpler_version_string());
	else
		printf("simpler %s\n", SIMPLER_VERSION_STRING);
	return 0;
}

int cmd_info(const struct cli_cmd *cmd, int argc, char **argv)
{
	int fd, rc = cli_parse(cmd, NULL, argc, argv);

	if (rc != CLI_RUN)
		return rc;
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
