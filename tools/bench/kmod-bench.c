// SPDX-License-Identifier: GPL-2.0
/*
 * simpler.ko benchmarks (a program, not a test): REGISTER and UNREGISTER cost
 * per page at 1, 64 and 256 MiB (4 KiB pages and THP), a member's first-touch
 * cost per page, and SIMPLER_IOC_QUERY against answering the same question
 * from /proc/self/maps.  Prints a table; --json adds one JSON object.
 *
 *   kmod-bench [--json] [--reps N]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/simpler.h>

#define PAGE 4096UL
#define MIB (1024UL * 1024UL)

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int xioctl(int fd, unsigned long cmd, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, cmd, arg);
	} while (ret < 0 && (errno == EINTR || errno == EAGAIN));
	return ret < 0 ? -errno : 0;
}

static void die(const char *what)
{
	fprintf(stderr, "kmod-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

struct pin_result {
	size_t mib;
	const char *pages;
	double reg_ns_page, unreg_ns_page, touch_ns_page;
};

/* register/unregister a prefaulted buffer reps times; one member touches it once */
static void bench_pin(int fd, size_t mib, int thp, int reps, struct pin_result *r)
{
	size_t len = mib * MIB, npages = len / PAGE, i;
	double *reg = calloc(reps, sizeof(double)), *unreg = calloc(reps, sizeof(double));
	struct simpler_register rg;
	struct simpler_unregister ur;
	char *raw, *p;
	int k, pfd[2];
	pid_t pid;
	double t;

	raw = mmap(NULL, len + 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		die("mmap");
	p = (char *)(((uintptr_t)raw + 2 * MIB - 1) & ~(2 * MIB - 1));
	madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(p, 1, len);

	for (k = 0; k < reps; k++) {
		memset(&rg, 0, sizeof(rg));
		rg.size = sizeof(rg);
		rg.addr = (uintptr_t)p;
		rg.len = len;
		t = now_ns();
		if (xioctl(fd, SIMPLER_IOC_REGISTER, &rg))
			die("REGISTER");
		reg[k] = (now_ns() - t) / npages;
		memset(&ur, 0, sizeof(ur));
		ur.size = sizeof(ur);
		ur.handle = rg.handle;
		t = now_ns();
		if (xioctl(fd, SIMPLER_IOC_UNREGISTER, &ur))
			die("UNREGISTER");
		unreg[k] = (now_ns() - t) / npages;
	}

	/* a member maps the buffer and touches every page once (faults + fault-around) */
	memset(&rg, 0, sizeof(rg));
	rg.size = sizeof(rg);
	rg.addr = (uintptr_t)p;
	rg.len = len;
	if (pipe(pfd) || xioctl(fd, SIMPLER_IOC_REGISTER, &rg))
		die("REGISTER for touch");
	pid = fork();
	if (pid == 0) {
		volatile char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
					rg.mmap_offset);
		double dt;
		long sum = 0;

		if (m == MAP_FAILED)
			_exit(1);
		t = now_ns();
		for (i = 0; i < npages; i++)
			sum += m[i * PAGE];
		dt = (now_ns() - t) / npages;
		if (write(pfd[1], &dt, sizeof(dt)) != sizeof(dt) || sum != (long)npages)
			_exit(2);
		_exit(0);
	}
	if (read(pfd[0], &r->touch_ns_page, sizeof(double)) != sizeof(double))
		r->touch_ns_page = -1;
	waitpid(pid, NULL, 0);
	memset(&ur, 0, sizeof(ur));
	ur.size = sizeof(ur);
	ur.handle = rg.handle;
	xioctl(fd, SIMPLER_IOC_UNREGISTER, &ur);
	close(pfd[0]);
	close(pfd[1]);

	r->mib = mib;
	r->pages = thp ? "thp" : "4k";
	r->reg_ns_page = median(reg, reps);
	r->unreg_ns_page = median(unreg, reps);
	munmap(raw, len + 2 * MIB);
	free(reg);
	free(unreg);
}

/*
 * The procfs way to answer "can a child forked earlier see [addr, addr+len)?"
 * as a library without the module must: read /proc/self/maps, find the
 * mapping(s) covering the range, require 's' and an inode.
 */
static int maps_is_shared(uintptr_t addr, size_t len)
{
	static char buf[1 << 20];
	unsigned long s, e, ino;
	char perms[8], *line;
	size_t got = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY);
	uintptr_t pos = addr;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	for (line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &s, &e, perms, &ino) != 4)
			continue;
		if (e <= pos || s > pos)
			continue;
		if (perms[3] != 's' || !ino)
			return 0;
		pos = e;
		if (pos >= addr + len)
			return 1;
	}
	return 0;
}

struct query_result {
	int mappings;
	double query_ns, maps_ns, info_ns;
};

/* shared is a MAP_SHARED memfd mapping made before the member was forked */
static void bench_query(int fd, char *shared, int extra_maps, int reps, struct query_result *r)
{
	double *q = calloc(reps, sizeof(double)), *m = calloc(reps, sizeof(double)), t;
	double *in = calloc(reps, sizeof(double));
	struct simpler_info info;
	struct simpler_query qa;
	char **maps = calloc(extra_maps, sizeof(char *));
	int k, total = 0;
	char line[256];
	FILE *f;

	/* grow the address space: alternate protections so mappings do not merge */
	for (k = 0; k < extra_maps; k++) {
		maps[k] = mmap(NULL, PAGE, k % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (maps[k] == MAP_FAILED)
			die("mmap");
	}
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f))
		total++;
	if (f)
		fclose(f);

	/* separate loops: a /proc parse between two QUERYs would cool every cache */
	for (k = 0; k < reps; k++) {
		memset(&qa, 0, sizeof(qa));
		qa.size = sizeof(qa);
		qa.addr = (uintptr_t)shared + 100;
		qa.len = 4 * PAGE;
		t = now_ns();
		if (xioctl(fd, SIMPLER_IOC_QUERY, &qa) || qa.verdict != SIMPLER_VIS_SHARED)
			die("QUERY");
		q[k] = now_ns() - t;
	}
	/* the floor: an ioctl that looks at no memory */
	for (k = 0; k < reps; k++) {
		memset(&info, 0, sizeof(info));
		info.size = sizeof(info);
		t = now_ns();
		if (xioctl(fd, SIMPLER_IOC_INFO, &info))
			die("INFO");
		in[k] = now_ns() - t;
	}
	for (k = 0; k < reps; k++) {
		t = now_ns();
		if (maps_is_shared((uintptr_t)shared + 100, 4 * PAGE) != 1)
			die("maps parse");
		m[k] = now_ns() - t;
	}
	r->mappings = total;
	r->query_ns = median(q, reps);
	r->maps_ns = median(m, reps);
	r->info_ns = median(in, reps);
	free(in);
	for (k = 0; k < extra_maps; k++)
		munmap(maps[k], PAGE);
	free(maps);
	free(q);
	free(m);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 1, 64, 256 };
	struct pin_result pr[6];
	struct query_result qr[3];
	static const int extra[] = { 0, 200, 2000 };
	int json = 0, reps = 5, i, fd, npr = 0, mfd;
	char *shared;
	pid_t child;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--json] [--reps N]\n", argv[0]);
			return 2;
		}
	}
	fd = open("/dev/simpler", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("open /dev/simpler (load simpler.ko)");
	if (mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
		die("sentinel");
	mfd = memfd_create("bench", 0);
	if (mfd < 0 || ftruncate(mfd, 16 * PAGE))
		die("memfd");
	shared = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (shared == MAP_FAILED)
		die("mmap memfd");
	/* one member, so QUERY judges against a real fork-time table */
	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}

	for (i = 0; i < 3; i++) {
		bench_pin(fd, sizes[i], 0, reps, &pr[npr++]);
		bench_pin(fd, sizes[i], 1, reps, &pr[npr++]);
	}
	for (i = 0; i < 3; i++)
		bench_query(fd, shared, extra[i], reps * 20, &qr[i]);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	printf("simpler.ko: REGISTER / UNREGISTER / member first touch, ns per 4 KiB page (median of %d)\n",
	       reps);
	printf("%8s %6s %12s %12s %12s\n", "size", "pages", "register", "unregister", "touch");
	for (i = 0; i < npr; i++)
		printf("%5zu MiB %6s %12.1f %12.1f %12.1f\n", pr[i].mib, pr[i].pages,
		       pr[i].reg_ns_page, pr[i].unreg_ns_page, pr[i].touch_ns_page);
	printf("\nvisibility check of a 16 KiB range: QUERY ioctl vs parsing /proc/self/maps (median of %d)\n",
	       reps * 20);
	printf("%10s %12s %14s %8s %12s\n", "mappings", "QUERY ns", "procfs ns", "ratio",
	       "INFO ns");
	for (i = 0; i < 3; i++)
		printf("%10d %12.0f %14.0f %7.1fx %12.0f\n", qr[i].mappings, qr[i].query_ns,
		       qr[i].maps_ns, qr[i].maps_ns / qr[i].query_ns, qr[i].info_ns);
	if (json) {
		printf("{\"bench\":\"kmod\",\"reps\":%d,\"pin\":[", reps);
		for (i = 0; i < npr; i++)
			printf("%s{\"mib\":%zu,\"pages\":\"%s\",\"register_ns_per_page\":%.1f,\"unregister_ns_per_page\":%.1f,\"touch_ns_per_page\":%.1f}",
			       i ? "," : "", pr[i].mib, pr[i].pages, pr[i].reg_ns_page,
			       pr[i].unreg_ns_page, pr[i].touch_ns_page);
		printf("],\"query\":[");
		for (i = 0; i < 3; i++)
			printf("%s{\"mappings\":%d,\"query_ns\":%.0f,\"procfs_ns\":%.0f,\"ratio\":%.2f,\"info_ns\":%.0f}",
			       i ? "," : "", qr[i].mappings, qr[i].query_ns, qr[i].maps_ns,
			       qr[i].maps_ns / qr[i].query_ns, qr[i].info_ns);
		printf("]}\n");
	}
	return 0;
}
