// SPDX-License-Identifier: MIT
/* placeholder until the demo lands in this change */
#include "tool.h"

int cmd_demo(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "simpler demo: not built yet\n");
	return 1;
}
