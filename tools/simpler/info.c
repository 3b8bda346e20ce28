// SPDX-License-Identifier: MIT
/* simpler info: what this build is and what it finds. */
#include <unistd.h>

#include "simpler.h"
#include "tool.h"

int cmd_info(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("libsimpler %d.%d, platforms: sim, modes: threads\n", SIMPLER_VERSION_MAJOR,
	       SIMPLER_VERSION_MINOR);
	printf("simpler.ko: %s\n", access("/dev/simpler", F_OK) ? "not loaded (/dev/simpler absent)" :
	       "/dev/simpler present");
	return 0;
}
