// SPDX-License-Identifier: MIT
/*
 * The simpler command: demo, bench, info.
 */
#include <string.h>

#include "simpler.h"
#include "tool.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: simpler <command> [options]\n"
		"  demo [--chips N] [--quick]     a tiled matmul + elementwise chain on simulated chips\n"
		"  bench dispatch [--threads] [--json]  dispatch cost of four graph shapes\n"
		"  bench hostbuf [--json]         per-run cost of a registered buffer, kmod vs shm\n"
		"  bench check [--json]           visibility checks per second, QUERY vs procfs\n"
		"  bench allreduce [--threads] [--json]  an allreduce across 2 and 4 chips vs memcpy\n"
		"  bench tensormap [--json]       TensorMap cost per tensor argument\n"
		"  bench work [--json]            real work (GEMM, stencil, independent tiles) against\n"
		"                                 sequential, threads, processes and StarPU, idle and busy\n"
		"  info                           version, platforms, module\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "demo"))
		return cmd_demo(argc - 2, argv + 2);
	if (!strcmp(argv[1], "info"))
		return cmd_info(argc - 2, argv + 2);
	if (!strcmp(argv[1], "bench") && argc >= 3) {
		if (!strcmp(argv[2], "dispatch"))
			return bench_dispatch(argc - 3, argv + 3);
		if (!strcmp(argv[2], "tensormap"))
			return bench_tensormap(argc - 3, argv + 3);
		if (!strcmp(argv[2], "hostbuf"))
			return bench_hostbuf(argc - 3, argv + 3);
		if (!strcmp(argv[2], "check"))
			return bench_check(argc - 3, argv + 3);
		if (!strcmp(argv[2], "work"))
			return bench_work(argc - 3, argv + 3);
		if (!strcmp(argv[2], "allreduce"))
			return bench_allreduce(argc - 3, argv + 3);
	}
	return usage();
}
