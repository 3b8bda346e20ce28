// SPDX-License-Identifier: GPL-2.0
/*
 * Error paths: each call that drives the module (REGISTER, UNREGISTER,
 * LOOKUP, QUERY, a member's mmap and first touch, the fork hook) runs again
 * and again with the Nth allocation or user copy of the call failing
 * (/proc/self/task/TID/fail-nth with failslab, fail_page_alloc and
 * fail_usercopy), N = 1, 2, ... until a run hits no injection point.  Every
 * run must succeed or fail with an errno, and leave nothing behind: no pin,
 * no buffer, no member, no mapping reference.  Needs CONFIG_FAULT_INJECTION
 * (the debug kernel); skips elsewhere.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kselftest_harness.h"
#include "simpler_test.h"

#define NPAGES 32
#define LEN (NPAGES * SX_PAGE)
#define MAX_N 400

static void knob(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);

	if (fd >= 0) {
		(void)!write(fd, val, strlen(val));
		close(fd);
	}
}

/* let fail-nth reach sleeping allocations and single pages too */
static void inject_everywhere(bool on)
{
	knob("/sys/kernel/debug/failslab/ignore-gfp-wait", on ? "N" : "Y");
	knob("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", on ? "N" : "Y");
	knob("/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", on ? "N" : "Y");
	knob("/sys/kernel/debug/fail_page_alloc/min-order", on ? "0" : "1");
}

FIXTURE(f) {
	int fd;
	int nth;	/* this thread's fail-nth */
	struct sx_chan c;
	pid_t member;
	uint64_t *buf;
	long long buffers0;
};

FIXTURE_SETUP(f)
{
	self->member = -1;
	self->fd = sx_open();
	SX_SKIP_NO_DEV(self->fd);
	SX_ONLY();
	self->nth = sx_fail_nth_open();
	if (self->nth < 0)
		SKIP(_exit(255), "no /proc/self/task/TID/fail-nth (CONFIG_FAULT_INJECTION)");
	if (access("/sys/kernel/debug/failslab", F_OK))
		SKIP(_exit(255), "no failslab in debugfs (root, CONFIG_FAILSLAB)");
	self->buffers0 = sx_stat("buffers");
	ASSERT_NE(NULL, sx_map_sentinel(self->fd));
	self->buf = sx_anon(LEN);
	ASSERT_NE(NULL, self->buf);
	sx_fill(self->buf, LEN, 11);
	inject_everywhere(true);
}

FIXTURE_TEARDOWN(f)
{
	inject_everywhere(false);
	if (self->member > 0) {
		kill(self->member, SIGKILL);
		sx_reap(self->member);
	}
	close(self->fd);
}

/*
 * Run op with its Nth injection point failing, for N = 1, 2... until it
 * runs clean; check() after each run.  Returns the number of injection
 * points a clean run passes, or -1.
 */
#define FOR_EACH_FAILURE(n, ret, op, check)                                        \
	for (n = 1; n <= MAX_N; n++) {                                             \
		bool reached_;                                                     \
                                                                                   \
		ASSERT_EQ(0, sx_fail_nth(self->nth, n));                           \
		ret = (op);                                                        \
		reached_ = sx_fail_nth_reached(self->nth);                         \
		check;                                                             \
		if (!reached_)                                                     \
			break;	/* fewer than n points: a clean run */             \
	}

static void owner_state_clean(struct __test_metadata *_metadata, int fd)
{
	struct simpler_info info;

	ASSERT_EQ(0, sx_info(fd, &info));
	EXPECT_EQ(0, info.nr_buffers);
	EXPECT_EQ(0, info.pinned_bytes);
	EXPECT_EQ(0, sx_status_kb(0, "VmPin"));
}

TEST_F_TIMEOUT(f, register_fails_cleanly_at_every_point, 600)
{
	uint64_t h = 0;
	int n, ret, errors = 0;

	/* a member forked before: pinning breaks COW, and REGISTER verifies */
	self->member = sx_fork(NULL);
	ASSERT_LE(0, self->member);
	if (self->member == 0) {
		for (;;)
			pause();
	}
	FOR_EACH_FAILURE(n, ret, sx_ioctl_once(self->fd, SIMPLER_IOC_REGISTER, &(struct simpler_register){
				 .size = sizeof(struct simpler_register),
				 .addr = (uintptr_t)self->buf, .len = LEN }),
			 {
				 struct simpler_lookup l;

				 if (getenv("SX_VERBOSE"))
					 TH_LOG("N=%d ret=%d reached=%d", n, ret, reached_);
				 if (ret == 0) {
					 ASSERT_EQ(0, sx_lookup(self->fd, self->buf, &l));
					 h = l.handle;
					 ASSERT_EQ(0, sx_unregister(self->fd, h));
				 } else {
					 errors++;
					 EXPECT_TRUE(ret == -ENOMEM || ret == -EFAULT || ret == -EAGAIN ||
						     ret == -EINTR) TH_LOG("N=%d: %d", n, ret);
				 }
				 owner_state_clean(_metadata, self->fd);
				 EXPECT_EQ(-1, sx_check(self->buf, LEN, 11));
			 });
	TH_LOG("REGISTER: %d injection points, %d of them failed the call", n - 1, errors);
	EXPECT_LT(1, n);
	EXPECT_GE(MAX_N, n);
	EXPECT_EQ(0, ret);
	EXPECT_TRUE(sx_wait_pins_balanced(5000));
}

TEST_F_TIMEOUT(f, unregister_query_and_lookup_fail_cleanly, 600)
{
	struct simpler_query q;
	struct simpler_lookup l;
	struct simpler_info info;
	uint64_t h = 0;
	int n, ret;


	FOR_EACH_FAILURE(n, ret, sx_register(self->fd, self->buf, LEN, &h, NULL) ?:
			 sx_ioctl_once(self->fd, SIMPLER_IOC_UNREGISTER, &(struct simpler_unregister){
				 .size = sizeof(struct simpler_unregister), .handle = h }),
			 {
				 /* a failed UNREGISTER leaves the buffer registered */
				 if (ret)
					 sx_unregister(self->fd, h);
				 owner_state_clean(_metadata, self->fd);
			 });
	EXPECT_EQ(0, ret);

	ASSERT_EQ(0, sx_register(self->fd, self->buf, LEN, &h, NULL));
	FOR_EACH_FAILURE(n, ret, sx_query(self->fd, self->buf, LEN, &q),
			 EXPECT_TRUE(ret == 0 || ret == -EFAULT) TH_LOG("QUERY N=%d: %d", n, ret));
	EXPECT_EQ(0, ret);
	EXPECT_EQ(SIMPLER_VIS_REGISTERED, q.verdict);
	FOR_EACH_FAILURE(n, ret, sx_lookup(self->fd, self->buf + 8, &l),
			 EXPECT_TRUE(ret == 0 || ret == -EFAULT) TH_LOG("LOOKUP N=%d: %d", n, ret));
	EXPECT_EQ(0, ret);
	EXPECT_EQ(h, l.handle);
	FOR_EACH_FAILURE(n, ret, sx_info(self->fd, &info),
			 EXPECT_TRUE(ret == 0 || ret == -EFAULT) TH_LOG("INFO N=%d: %d", n, ret));
	EXPECT_EQ(0, ret);
	EXPECT_EQ(1, info.nr_buffers);
	EXPECT_EQ(0, sx_unregister(self->fd, h));
	owner_state_clean(_metadata, self->fd);
}

/*
 * A registered transparent huge page split under the buffer: the pages stay,
 * the buffer is SUSPECT, and the next LOOKUP settles it with GUP on the
 * owner.  A fresh one for every N.
 */
TEST_F_TIMEOUT(f, settling_lookup_fails_cleanly, 600)
{
	const size_t hp = 2 * SX_MIB;
	struct simpler_lookup l;
	bool reached;
	int n, ret;
	char *raw, *thp;
	uint64_t h;

	if (sx_file_value("/proc/meminfo", "AnonHugePages") < 0)
		SKIP(return, "no transparent huge pages");
	for (n = 1; n <= MAX_N; n++) {
		raw = mmap(NULL, 2 * hp, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, raw);
		thp = (char *)(((uintptr_t)raw + hp - 1) & ~(hp - 1));
		madvise(thp, hp, MADV_HUGEPAGE);
		memset(thp, 3, hp);
		ASSERT_EQ(0, sx_register(self->fd, thp, hp, &h, NULL));
		/* splits the PMD: an invalidation that keeps every page */
		ASSERT_EQ(0, mprotect(thp + SX_PAGE, SX_PAGE, PROT_READ));
		ASSERT_EQ(0, sx_fail_nth(self->nth, n));
		ret = sx_ioctl_once(self->fd, SIMPLER_IOC_LOOKUP, &(struct simpler_lookup){
			.size = sizeof(struct simpler_lookup), .addr = (uintptr_t)thp });
		reached = sx_fail_nth_reached(self->nth);
		EXPECT_TRUE(ret == 0 || ret == -EFAULT || ret == -ENOMEM || ret == -EINTR)
			TH_LOG("N=%d: %d", n, ret);
		/* whatever the failure, the buffer is still what it was */
		EXPECT_EQ(0, sx_lookup(self->fd, thp, &l));
		EXPECT_EQ(h, l.handle);
		EXPECT_EQ(0, sx_unregister(self->fd, h));
		munmap(raw, 2 * hp);
		owner_state_clean(_metadata, self->fd);
		if (!reached)
			break;
	}
	EXPECT_GE(MAX_N, n);
	EXPECT_EQ(0, ret);
}

/* member side: mmap, the first touch, and the fork that makes a member */
static int member_side(int fd, uint64_t *addr, uint64_t off)
{
	int n, nth = sx_fail_nth_open();
	struct simpler_lookup l;
	volatile uint64_t *p;
	bool reached;
	void *ret;

	for (n = 1; n <= MAX_N; n++) {
		if (sx_fail_nth(nth, n))
			return 20;
		ret = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
		reached = sx_fail_nth_reached(nth);
		if (ret != MAP_FAILED) {
			if (((uint64_t *)ret)[5] != sx_pattern(11, 5))
				return 21;
			munmap(ret, LEN);
		} else if (errno != ENOMEM && errno != EAGAIN) {
			return 22;
		}
		if (!reached)
			break;
	}
	if (n > MAX_N)
		return 23;
	/* a fault that fails is retried: the touch always lands */
	for (n = 1; n <= MAX_N; n++) {
		p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);
		if (p == MAP_FAILED)
			return 24;
		if (sx_fail_nth(nth, n))
			return 25;
		p[3 * SX_PAGE / 8] += 0;
		reached = sx_fail_nth_reached(nth);
		if (p[3 * SX_PAGE / 8] != sx_pattern(11, 3 * SX_PAGE / 8))
			return 26;
		munmap((void *)p, LEN);
		if (!reached)
			break;
	}
	if (n > MAX_N)
		return 27;
	return sx_lookup(fd, addr, &l) ? 28 : 0;
}

TEST_F_TIMEOUT(f, member_mmap_and_fault_fail_cleanly, 600)
{
	uint64_t h, off;

	ASSERT_EQ(0, sx_chan_init(&self->c));
	self->member = sx_fork(&self->c);
	ASSERT_LE(0, self->member);
	if (self->member == 0) {
		uint64_t addr = sx_recv_u64(self->c.down[0]), o = sx_recv_u64(self->c.down[0]);

		_exit(member_side(self->fd, (uint64_t *)(uintptr_t)addr, o));
	}
	ASSERT_EQ(0, sx_register(self->fd, self->buf, LEN, &h, &off));
	sx_send_u64(self->c.down[1], (uintptr_t)self->buf);
	sx_send_u64(self->c.down[1], off);
	EXPECT_EQ(0, sx_reap(self->member));
	self->member = -1;
	EXPECT_EQ(0, sx_unregister(self->fd, h));
	owner_state_clean(_metadata, self->fd);
	EXPECT_TRUE(sx_wait_stat("buffers", self->buffers0, 5000));
}

TEST_F_TIMEOUT(f, fork_hook_fails_cleanly, 600)
{
	int n, refused = 0;
	bool reached;
	pid_t pid;

	for (n = 1; n <= MAX_N; n++) {
		ASSERT_EQ(0, sx_fail_nth(self->nth, n));
		pid = fork();
		if (pid == 0)
			_exit(0);
		reached = sx_fail_nth_reached(self->nth);
		if (pid < 0) {
			refused++;
		} else {
			/* a child that could not join is simply not a member */
			EXPECT_EQ(0, sx_reap(pid));
		}
		EXPECT_EQ(0, sx_nr_members(self->fd));
		if (!reached)
			break;
	}
	TH_LOG("fork: %d injection points, %d forks refused", n - 1, refused);
	EXPECT_GE(MAX_N, n);
}

TEST_HARNESS_MAIN
