// SPDX-License-Identifier: GPL-2.0
/*
 * Accounting of pinned memory: per user against RLIMIT_MEMLOCK unless
 * CAP_IPC_LOCK (as io_uring does), so more processes do not mean more budget;
 * the module's per-domain cap, which holds even for root; and the kernel
 * memory a REGISTER allocates, charged to the caller's memory cgroup and
 * allocated only once every limit said yes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/mount.h>
#include <sys/resource.h>
#include "kselftest_harness.h"
#include "simpler_test.h"

#define NOBODY 65534

FIXTURE(mc) {};
FIXTURE_SETUP(mc) {}
FIXTURE_TEARDOWN(mc) {}
#define LIMIT (1 * SX_MIB)

/* become an unprivileged user (no CAP_IPC_LOCK) with a 1 MiB memlock limit */
static int drop_to_nobody(void)
{
	struct rlimit rl = { LIMIT, LIMIT };

	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return -1;
	if (setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
		return -1;
	return geteuid() == NOBODY ? 0 : -1;
}

/* in a forked child: open a domain as root, become nobody, get some memory */
static int nobody_owner(char **mem, size_t len)
{
	int fd = sx_open();

	if (fd < 0 || drop_to_nobody())
		return -1;
	*mem = sx_anon(len);
	return *mem ? fd : -1;
}

TEST(rlimit_memlock_enforced_without_cap_ipc_lock)
{
	pid_t pid;

	if (geteuid() != 0)
		SKIP(return, "needs root to switch to an unprivileged user");
	pid = sx_fork(NULL);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *p;
		int fd = nobody_owner(&p, 2 * LIMIT);
		uint64_t h;

		if (fd < 0)
			_exit(10);
		if (sx_register(fd, p, LIMIT / 2, &h, NULL))
			_exit(13);
		/* half + three quarters > 1 MiB */
		if (sx_register(fd, p + LIMIT, 3 * LIMIT / 4, NULL, NULL) != -ENOMEM)
			_exit(14);
		/* the refusal pinned nothing (VmPin: this mm's pinned kB) */
		if (sx_status_kb(0, "VmPin") != LIMIT / 2 / 1024)
			_exit(15);
		/* unregistering returns the budget */
		if (sx_unregister(fd, h) || sx_register(fd, p + LIMIT, 3 * LIMIT / 4, NULL, NULL))
			_exit(16);
		if (sx_register(fd, p, LIMIT, NULL, NULL) != -ENOMEM)
			_exit(17);
		_exit(0);
	}
	EXPECT_EQ(0, sx_reap(pid));
	EXPECT_TRUE(sx_wait_pins_balanced(2000));
}

TEST(more_processes_do_not_multiply_the_budget)
{
	struct sx_chan c;
	pid_t a, b;

	if (geteuid() != 0)
		SKIP(return, "needs root to switch to an unprivileged user");
	ASSERT_EQ(0, sx_chan_init(&c));
	/* two processes of the same user, each the owner of its own domain */
	a = sx_fork(NULL);
	ASSERT_LE(0, a);
	if (a == 0) {
		char *p;
		int fd = nobody_owner(&p, LIMIT);

		if (fd < 0)
			_exit(10);
		if (sx_register(fd, p, 3 * LIMIT / 4, NULL, NULL))
			_exit(11);
		sx_send_u64(c.up[1], 1);
		sx_recv_u64(c.down[0]);
		_exit(0);
	}
	ASSERT_EQ(1, sx_recv_u64(c.up[0]));
	b = sx_fork(NULL);
	ASSERT_LE(0, b);
	if (b == 0) {
		char *p;
		int fd = nobody_owner(&p, LIMIT);

		if (fd < 0)
			_exit(10);
		/* only a quarter is left for the whole user */
		if (sx_register(fd, p, LIMIT / 2, NULL, NULL) != -ENOMEM)
			_exit(12);
		if (sx_register(fd, p, LIMIT / 4, NULL, NULL))
			_exit(13);
		if (sx_register(fd, p + LIMIT / 4, SX_PAGE, NULL, NULL) != -ENOMEM)
			_exit(14);
		_exit(0);
	}
	EXPECT_EQ(0, sx_reap(b));
	sx_send_u64(c.down[1], 0);
	EXPECT_EQ(0, sx_reap(a));
	EXPECT_TRUE(sx_wait_pins_balanced(2000));
}

static int write_param(const char *name, const char *val, char *old, size_t oldlen)
{
	char path[128];
	int fd, n;

	snprintf(path, sizeof(path), "/sys/module/simpler/parameters/%s", name);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -errno;
	if (old) {
		n = read(fd, old, oldlen - 1);
		old[n > 0 ? n : 0] = 0;
	}
	n = pwrite(fd, val, strlen(val), 0);
	close(fd);
	return n < 0 ? -errno : 0;
}

TEST(module_cap_holds_even_for_root)
{
	struct simpler_info info;
	static uint64_t h;
	char old[32];
	int fd = sx_open();
	char *p;

	SX_SKIP_NO_DEV(fd);
	if (geteuid() != 0)
		SKIP(return, "needs root to set the module parameter");
	p = sx_anon(48 * SX_MIB);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, write_param("max_pinned_mb", "16", old, sizeof(old)));
	ASSERT_EQ(0, sx_info(fd, &info));
	EXPECT_EQ(16 * SX_MIB, info.pinned_limit);
	EXPECT_EQ(-ENOMEM, sx_register(fd, p, 32 * SX_MIB, NULL, NULL));
	EXPECT_EQ(0, sx_register(fd, p, 8 * SX_MIB, &h, NULL));
	EXPECT_EQ(0, sx_register(fd, p + 8 * SX_MIB, 8 * SX_MIB, NULL, NULL));
	EXPECT_EQ(-ENOMEM, sx_register(fd, p + 16 * SX_MIB, SX_PAGE, NULL, NULL));
	EXPECT_EQ(0, sx_unregister(fd, h));
	EXPECT_EQ(0, sx_register(fd, p + 16 * SX_MIB, 8 * SX_MIB, NULL, NULL));
	/* the cap is per domain: another open has its own */
	{
		int fd2 = sx_open();

		ASSERT_LE(0, fd2);
		EXPECT_EQ(0, sx_register(fd2, p + 32 * SX_MIB, 16 * SX_MIB, NULL, NULL));
		close(fd2);
	}
	ASSERT_EQ(0, write_param("max_pinned_mb", old, NULL, 0));
	close(fd);
}

TEST(too_many_buffers_enospc)
{
	char old[32];
	int fd = sx_open(), i;
	char *p;

	SX_SKIP_NO_DEV(fd);
	if (geteuid() != 0)
		SKIP(return, "needs root to set the module parameter");
	p = sx_anon(8 * SX_PAGE);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, write_param("max_buffers", "4", old, sizeof(old)));
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, sx_register(fd, p + i * SX_PAGE, SX_PAGE, NULL, NULL));
	EXPECT_EQ(-ENOSPC, sx_register(fd, p + 4 * SX_PAGE, SX_PAGE, NULL, NULL));
	ASSERT_EQ(0, write_param("max_buffers", old, NULL, 0));
	close(fd);
}

/*
 * A memory cgroup of its own for a forked child (cgroup2, mounted here if
 * nothing is); its directory in dir, or -1 when there is no memory cgroup.
 */
static int memcg_make(char *dir, size_t len)
{
	const char *root = "/sys/fs/cgroup";
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	if (access(path, R_OK) && mount("none", root, "cgroup2", 0, NULL))
		return -1;
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	(void)!write(fd, "+memory", 7);
	close(fd);
	snprintf(dir, len, "%s/simpler-test-%d", root, getpid());
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/memory.peak", dir);
	return access(path, R_OK) ? -1 : 0;
}

static int memcg_enter(const char *dir)
{
	char path[160], pid[16];
	int fd, n, ret;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	n = snprintf(pid, sizeof(pid), "%d", getpid());
	ret = write(fd, pid, n) == n ? 0 : -1;
	close(fd);
	return ret;
}

static long long memcg_value(const char *dir, const char *file)
{
	char path[160], v[32] = "";
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	if (read(fd, v, sizeof(v) - 1) < 0)
		v[0] = 0;
	close(fd);
	return atoll(v);
}

/*
 * Run body in a forked child with a memory cgroup of its own to enter (the
 * body decides when); its exit status, or skip when there is no memcg.
 */
#define RUN_IN_MEMCG(body)                                                         \
	do {                                                                       \
		char dir_[128];                                                    \
		pid_t pid_;                                                        \
		int fd_ = sx_open();                                               \
                                                                                   \
		SX_SKIP_NO_DEV(fd_);                                               \
		close(fd_);                                                        \
		if (geteuid() != 0 || memcg_make(dir_, sizeof(dir_)))              \
			SKIP(return, "no memory cgroup to run in (root, cgroup2)"); \
		pid_ = sx_fork(NULL);                                              \
		ASSERT_LE(0, pid_);                                                \
		if (pid_ == 0)                                                     \
			_exit(body(dir_));                                         \
		EXPECT_EQ(0, sx_reap(pid_));                                       \
		rmdir(dir_);                                                       \
	} while (0)

#define CHARGED (256 * SX_MIB)

static int register_charged(const char *dir)
{
	long long before, after;
	int fd = sx_open();
	char *p = sx_anon(CHARGED);

	if (fd < 0 || !p || memcg_enter(dir))
		return 10;
	madvise(p, CHARGED, MADV_NOHUGEPAGE);
	memset(p, 1, CHARGED);
	before = memcg_value(dir, "memory.current");
	if (sx_register(fd, p, CHARGED, NULL, NULL))
		return 11;
	after = memcg_value(dir, "memory.current");
	/* 8 bytes a page for the page array, beyond the charge batch */
	return after - before >= (long long)(CHARGED / SX_PAGE * 8 / 2) ? 0 : 12;
}

TEST_F_TIMEOUT(mc, register_charges_its_kernel_memory_to_the_memcg, 300)
{
	RUN_IN_MEMCG(register_charged);
	EXPECT_TRUE(sx_wait_pins_balanced(5000));
}

static int register_over_the_limit(const char *dir)
{
	long long before, after;
	char *p;
	int fd;

	if (memcg_enter(dir))
		return 9;
	fd = nobody_owner(&p, SX_PAGE);
	if (fd < 0)
		return 10;
	before = memcg_value(dir, "memory.peak");
	if (sx_register(fd, (void *)(64ULL << 30), 64ULL << 30, NULL, NULL) != -ENOMEM)
		return 11;
	after = memcg_value(dir, "memory.peak");
	return after - before < (long long)SX_MIB ? 0 : 12;
}

/* over RLIMIT_MEMLOCK: refused before the page array (128 MiB for 64 GiB) exists */
TEST_F_TIMEOUT(mc, over_the_limit_register_allocates_nothing, 300)
{
	RUN_IN_MEMCG(register_over_the_limit);
}

TEST_HARNESS_MAIN
