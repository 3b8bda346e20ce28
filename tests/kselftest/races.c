// SPDX-License-Identifier: GPL-2.0
/*
 * Races a hostile or unlucky owner can start, held open on purpose where the
 * kernel lets a test hold them (userfaultfd stalls a copy to or from user
 * memory; a debugfs reader stalled that way holds ->release of the domain),
 * and spun where it does not:
 *
 * - the last reference to a domain dropped while an owner thread changes a
 *   registered range: the file must be released once, never brought back;
 * - REGISTER stalled in its copy-out: the buffer is invisible until it
 *   returns, so a guessed handle cannot be unregistered under it;
 * - a second owner thread changing a buffer whose zap another thread still
 *   owes: its call must not return before the members' PTEs are gone;
 * - the zap request cannot be allocated (fail-nth): the same promise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include "kselftest_harness.h"
#include "simpler_test.h"

#define NPAGES 16
#define LEN (NPAGES * SX_PAGE)

/* TCG and KASAN make everything slow: generous bounds that only catch hangs */
FIXTURE(race) {};
FIXTURE_SETUP(race)
{
	SX_ONLY();
}
FIXTURE_TEARDOWN(race) {}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* ---- the last reference goes while an owner thread invalidates ---- */

struct reader {
	int dbg;
	void *page;
	ssize_t got;
};

/* read the domain's debugfs file into a page whose first touch stalls */
static void *debugfs_reader(void *arg)
{
	struct reader *r = arg;

	r->got = read(r->dbg, r->page, SX_PAGE);
	return NULL;
}

struct closer {
	int fd;
	pid_t tid;
	int ret;
};

static void *last_close(void *arg)
{
	struct closer *c = arg;

	c->tid = gettid_();
	c->ret = close(c->fd);
	return NULL;
}

/*
 * Stall a reader of the domain's debugfs file inside its copy to user
 * space: ->release of the domain then waits in debugfs_remove() for it.
 */
static int stall_debugfs_reader(struct __test_metadata *_metadata, int fd, struct reader *r,
				int *uffd, pthread_t *th)
{
	char path[96];

	sx_domain_path(fd, path, sizeof(path));
	r->dbg = open(path, O_RDONLY | O_CLOEXEC);
	if (r->dbg < 0)
		return -1;
	*uffd = sx_uffd_open(0);
	if (*uffd < 0)
		return -2;
	r->page = mmap(NULL, SX_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->page == MAP_FAILED)
		return -3;
	if (sx_uffd_register(*uffd, r->page, SX_PAGE, UFFDIO_REGISTER_MODE_MISSING))
		return -4;
	if (pthread_create(th, NULL, debugfs_reader, r))
		return -5;
	if (sx_uffd_next_fault(*uffd, 20000) != (uintptr_t)r->page)
		return -6;
	return 0;
}

static void release_debugfs_reader(int uffd, struct reader *r, pthread_t th)
{
	struct uffdio_zeropage z = { .range = { .start = (uintptr_t)r->page, .len = SX_PAGE } };

	ioctl(uffd, UFFDIO_ZEROPAGE, &z);
	pthread_join(th, NULL);
	close(r->dbg);
	close(uffd);
}

static bool can_stall(struct __test_metadata *_metadata)
{
	int uffd = sx_uffd_open(0);

	if (uffd < 0)
		return false;
	close(uffd);
	return geteuid() == 0 && access("/sys/kernel/debug/simpler/stats", R_OK) == 0;
}

TEST_F_TIMEOUT(race, owner_invalidates_while_last_close_releases, 300)
{
	struct closer c = { .tid = 0 };
	struct reader r = { .got = -1 };
	pthread_t rth, cth;
	char bad[256] = "";
	int fd, uffd, kmsg;
	uint64_t h;
	void *buf;

	fd = sx_open();
	SX_SKIP_NO_DEV(fd);
	if (!can_stall(_metadata))
		SKIP(return, "needs root, debugfs and userfaultfd to hold ->release");
	kmsg = sx_kmsg_mark();
	buf = sx_anon(LEN);
	ASSERT_NE(NULL, buf);
	sx_fill(buf, LEN, 1);
	ASSERT_EQ(0, sx_register(fd, buf, LEN, &h, NULL));
	ASSERT_EQ(0, stall_debugfs_reader(_metadata, fd, &r, &uffd, &rth));

	/* the only reference goes: ->release starts and waits for the reader */
	c.fd = fd;
	ASSERT_EQ(0, pthread_create(&cth, NULL, last_close, &c));
	while (!__atomic_load_n(&c.tid, __ATOMIC_ACQUIRE))
		usleep(1000);
	ASSERT_TRUE(sx_wait_task_state(getpid(), c.tid, 'D', 20000))
		TH_LOG("close() did not stall in ->release");

	/* the buffer is still registered: this invalidates it mid-release */
	EXPECT_EQ(0, madvise(buf, LEN, MADV_DONTNEED));

	release_debugfs_reader(uffd, &r, rth);
	pthread_join(cth, NULL);
	EXPECT_EQ(0, c.ret);
	EXPECT_LT(0, r.got);
	EXPECT_TRUE(sx_wait_pins_balanced(5000));
	EXPECT_EQ(0, sx_kmsg_bad(kmsg, bad, sizeof(bad))) TH_LOG("kernel: %s", bad);
}

/*
 * The same with a member's munmap dropping the last reference: the owner
 * has closed its fd and unmapped its sentinel; the member's buffer mapping
 * is all that holds the domain.
 */
TEST_F_TIMEOUT(race, owner_invalidates_while_member_unmap_releases, 300)
{
	struct reader r = { .got = -1 };
	struct simpler_lookup l;
	char bad[256] = "";
	struct sx_chan ch;
	int fd, uffd, kmsg;
	void *buf, *sent;
	pthread_t rth;
	pid_t member;
	uint64_t tid;

	fd = sx_open();
	SX_SKIP_NO_DEV(fd);
	if (!can_stall(_metadata))
		SKIP(return, "needs root, debugfs and userfaultfd to hold ->release");
	kmsg = sx_kmsg_mark();
	sent = sx_map_sentinel(fd);
	ASSERT_NE(NULL, sent);
	ASSERT_EQ(0, sx_chan_init(&ch));
	member = sx_fork(&ch);
	ASSERT_LE(0, member);
	if (member == 0) {
		uint64_t addr = sx_recv_u64(ch.down[0]);
		uint64_t *p;

		if (sx_lookup(fd, (void *)(uintptr_t)addr, &l))
			_exit(10);
		p = sx_map_buf(fd, NULL, LEN, l.mmap_offset);
		if (!p || sx_check(p, LEN, 2) != -1)
			_exit(11);
		/* the mapping alone holds the domain now */
		close(fd);
		munmap(sent, SX_PAGE);
		sx_send_u64(ch.up[1], gettid_());
		if (sx_recv_u64(ch.down[0]) != 1)
			_exit(12);
		_exit(munmap(p, LEN) ? 13 : 0);
	}
	buf = sx_anon(LEN);
	ASSERT_NE(NULL, buf);
	sx_fill(buf, LEN, 2);
	ASSERT_EQ(0, sx_register(fd, buf, LEN, NULL, NULL));
	sx_send_u64(ch.down[1], (uintptr_t)buf);
	tid = sx_recv_u64(ch.up[0]);
	ASSERT_NE(~0ULL, tid);
	ASSERT_EQ(0, stall_debugfs_reader(_metadata, fd, &r, &uffd, &rth));
	/* the owner lets go of everything it holds */
	ASSERT_EQ(0, munmap(sent, SX_PAGE));
	ASSERT_EQ(0, close(fd));

	/* the member's munmap is the last reference: its release stalls */
	sx_send_u64(ch.down[1], 1);
	ASSERT_TRUE(sx_wait_task_state(member, (pid_t)tid, 'D', 20000))
		TH_LOG("the member's munmap() did not stall in ->release");
	EXPECT_EQ(0, madvise(buf, LEN, MADV_DONTNEED));

	release_debugfs_reader(uffd, &r, rth);
	EXPECT_EQ(0, sx_reap(member));
	EXPECT_LT(0, r.got);
	EXPECT_TRUE(sx_wait_pins_balanced(5000));
	EXPECT_EQ(0, sx_kmsg_bad(kmsg, bad, sizeof(bad))) TH_LOG("kernel: %s", bad);
}

/* ---- REGISTER stalled in its copy-out ---- */

struct registrar {
	int fd;
	struct simpler_register *r;
	int ret;
};

static void *do_register(void *arg)
{
	struct registrar *g = arg;

	g->ret = sx_ioctl_once(g->fd, SIMPLER_IOC_REGISTER, g->r);
	return NULL;
}

TEST_F_TIMEOUT(race, register_is_invisible_until_it_returns, 300)
{
	struct registrar g = { .ret = 1 };
	struct simpler_lookup l;
	struct simpler_info info;
	uint64_t h, fault;
	char bad[256] = "";
	int fd, uffd, kmsg;
	pthread_t th;
	void *buf, *argpage;

	fd = sx_open();
	SX_SKIP_NO_DEV(fd);
	uffd = sx_uffd_open(UFFD_FEATURE_PAGEFAULT_FLAG_WP);
	if (uffd < 0)
		SKIP(return, "no write-protect userfaultfd (root, 5.7+)");
	kmsg = sx_kmsg_mark();
	buf = sx_anon(LEN);
	ASSERT_NE(NULL, buf);
	sx_fill(buf, LEN, 3);

	/* REGISTER's argument on a page whose first write stalls */
	argpage = sx_anon(SX_PAGE);
	ASSERT_NE(NULL, argpage);
	g.r = argpage;
	g.r->size = sizeof(*g.r);
	g.r->addr = (uintptr_t)buf;
	g.r->len = LEN;
	g.fd = fd;
	ASSERT_EQ(0, sx_uffd_register(uffd, argpage, SX_PAGE, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, sx_uffd_wp(uffd, argpage, SX_PAGE, true));
	ASSERT_EQ(0, pthread_create(&th, NULL, do_register, &g));
	fault = sx_uffd_next_fault(uffd, 20000);
	ASSERT_EQ((uintptr_t)argpage, fault & ~(SX_PAGE - 1)) TH_LOG("REGISTER did not stall");

	/* pinned, but nobody can find it, map it or unregister it yet */
	EXPECT_EQ(-ENOENT, sx_lookup(fd, buf, &l));
	for (h = 1; h <= 4; h++)
		EXPECT_EQ(-ENOENT, sx_unregister(fd, h));
	{
		struct simpler_query q;

		ASSERT_EQ(0, sx_query(fd, buf, LEN, &q));
		EXPECT_EQ(0, q.handle);
		EXPECT_NE(SIMPLER_VIS_REGISTERED, q.verdict);
	}

	/* the copy-out now fails: REGISTER undoes everything, once */
	ASSERT_EQ(0, munmap(argpage, SX_PAGE));
	close(uffd);
	pthread_join(th, NULL);
	EXPECT_EQ(-EFAULT, g.ret);
	ASSERT_EQ(0, sx_info(fd, &info));
	EXPECT_EQ(0, info.nr_buffers);
	EXPECT_EQ(0, info.pinned_bytes);
	/* and the domain works as before */
	ASSERT_EQ(0, sx_register(fd, buf, LEN, &h, NULL));
	EXPECT_EQ(0, sx_lookup(fd, buf, &l));
	EXPECT_EQ(h, l.handle);
	EXPECT_EQ(0, sx_unregister(fd, h));
	close(fd);
	EXPECT_TRUE(sx_wait_pins_balanced(5000));
	EXPECT_EQ(0, sx_kmsg_bad(kmsg, bad, sizeof(bad))) TH_LOG("kernel: %s", bad);
}

struct guesser {
	int fd;
	void *addr;
	atomic_int stop;
	atomic_long unregistered;
};

/* look the buffer up and unregister it, as fast as possible */
static void *guess_and_unregister(void *arg)
{
	struct guesser *g = arg;
	struct simpler_lookup l;

	while (!atomic_load(&g->stop)) {
		if (sx_lookup(g->fd, g->addr, &l) == 0 && sx_unregister(g->fd, l.handle) == 0)
			atomic_fetch_add(&g->unregistered, 1);
	}
	return NULL;
}

/* the spinning variant: REGISTER's argument is read-only, so its copy-out always fails */
TEST_F_TIMEOUT(race, register_failing_copy_out_races_unregister, 300)
{
	struct guesser g = { .unregistered = 0 };
	struct simpler_register *r;
	struct simpler_info info;
	char bad[256] = "";
	int fd, kmsg, i, efault = 0;
	pthread_t th;

	fd = sx_open();
	SX_SKIP_NO_DEV(fd);
	kmsg = sx_kmsg_mark();
	g.fd = fd;
	g.addr = sx_anon(LEN);
	ASSERT_NE(NULL, g.addr);
	sx_fill(g.addr, LEN, 4);
	r = sx_anon(SX_PAGE);
	ASSERT_NE(NULL, r);
	r->size = sizeof(*r);
	r->addr = (uintptr_t)g.addr;
	r->len = LEN;
	ASSERT_EQ(0, mprotect(r, SX_PAGE, PROT_READ));
	ASSERT_EQ(0, pthread_create(&th, NULL, guess_and_unregister, &g));
	for (i = 0; i < 2000; i++)
		efault += sx_ioctl_once(fd, SIMPLER_IOC_REGISTER, r) == -EFAULT;
	atomic_store(&g.stop, 1);
	pthread_join(th, NULL);
	EXPECT_EQ(2000, efault);
	EXPECT_EQ(0, atomic_load(&g.unregistered));
	ASSERT_EQ(0, sx_info(fd, &info));
	EXPECT_EQ(0, info.nr_buffers);
	EXPECT_EQ(0, info.pinned_bytes);
	close(fd);
	EXPECT_TRUE(sx_wait_pins_balanced(5000));
	EXPECT_EQ(0, sx_kmsg_bad(kmsg, bad, sizeof(bad))) TH_LOG("kernel: %s", bad);
}

/* ---- the members' PTEs are gone when the owner's call returns ---- */

#define BIG (16 * SX_MIB)

/*
 * An owner that maps its own fresh BIG buffer (4 KiB pages) through the
 * device, as a member would, and reads all of it: every PTE of that mapping
 * is present.  A read through it that does not fault afterwards proves a
 * PTE was left; one that faults on a changed buffer gets SIGBUS.
 */
struct mapped {
	int fd;
	char *buf;
	uint64_t handle;
	volatile uint64_t *view;
};

static int mapped_new(struct mapped *m)
{
	uint64_t off, j, sum = 0;

	m->buf = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->buf == MAP_FAILED)
		return -1;
	madvise(m->buf, BIG, MADV_NOHUGEPAGE);
	sx_fill(m->buf, BIG, 5);
	if (sx_register(m->fd, m->buf, BIG, &m->handle, &off))
		return -2;
	m->view = mmap(NULL, BIG, PROT_READ, MAP_SHARED, m->fd, off);
	if (m->view == MAP_FAILED)
		return -3;
	for (j = 0; j < BIG / 8; j += SX_PAGE / 8)
		sum += m->view[j];
	return sum ? 0 : -4;
}

static void mapped_done(struct mapped *m)
{
	munmap((void *)m->view, BIG);
	sx_unregister(m->fd, m->handle);
	munmap(m->buf, BIG);
}

/*
 * Does any PTE of the view survive (a read without a fault)?  From the end:
 * a zap still running elsewhere goes up from the start.
 */
static bool mapped_any_present(struct mapped *m)
{
	uint64_t o, v;
	bool left = false;

	for (o = BIG; o > 0; o -= BIG / 8)
		left |= !sx_probe_read(m->view + (o - SX_PAGE) / 8, &v);
	return left;
}

struct first_thread {
	struct mapped *m;
	atomic_int go, done;
};

/* a long MADV_DONTNEED: its zap request is owed until it returns */
static void *first_invalidator(void *arg)
{
	struct first_thread *t = arg;

	while (!atomic_load(&t->go))
		;
	madvise(t->m->buf, BIG - SX_PAGE, MADV_DONTNEED);
	atomic_store(&t->done, 1);
	return NULL;
}

TEST_F_TIMEOUT(race, second_thread_does_not_return_before_the_owed_zap, 600)
{
	struct mapped m;
	long long inv0;
	int i, overlapped = 0, violations = 0;

	m.fd = sx_open();
	SX_SKIP_NO_DEV(m.fd);
	if (access("/sys/kernel/debug/simpler/stats", R_OK))
		SKIP(return, "needs debugfs (root) to see the first invalidation");
	sx_probe_install();
	for (i = 0; i < 8; i++) {
		struct first_thread t = { .m = &m };
		pthread_t th;
		bool pending;

		ASSERT_EQ(0, mapped_new(&m));
		inv0 = sx_stat("invalidations");
		ASSERT_EQ(0, pthread_create(&th, NULL, first_invalidator, &t));
		atomic_store(&t.go, 1);
		/* the first thread's notifier has run: its zap is owed until it returns */
		while (sx_stat("invalidations") == inv0 && !atomic_load(&t.done))
			;
		pending = !atomic_load(&t.done);
		EXPECT_EQ(0, madvise(m.buf + BIG - SX_PAGE, SX_PAGE, MADV_DONTNEED));
		if (pending) {
			overlapped++;
			violations += mapped_any_present(&m);
		}
		pthread_join(th, NULL);
		EXPECT_FALSE(mapped_any_present(&m));
		mapped_done(&m);
	}
	close(m.fd);
	EXPECT_EQ(0, violations) TH_LOG("%d of %d second madvise() calls returned with member PTEs left",
					 violations, overlapped);
	TH_LOG("%d of 8 second calls started while the first one's zap was owed", overlapped);
	if (!overlapped)
		SKIP(return, "the second call never started while the first one's zap was owed");
	EXPECT_TRUE(sx_wait_pins_balanced(5000));
}

TEST_F_TIMEOUT(race, zap_request_allocation_failure_still_zaps_before_return, 600)
{
	int n, nth, injected = 0, fallbacks = 0, violations = 0;
	struct mapped m;
	long long fb0;

	m.fd = sx_open();
	SX_SKIP_NO_DEV(m.fd);
	nth = sx_fail_nth_open();
	if (nth < 0)
		SKIP(return, "no /proc/self/task/TID/fail-nth (CONFIG_FAULT_INJECTION)");
	if (access("/sys/kernel/debug/simpler/stats", R_OK))
		SKIP(return, "needs debugfs (root) for the module's counters");
	sx_probe_install();
	/*
	 * Real time on one CPU: the worker a fallback queues runs on this CPU
	 * (system_wq is per CPU) only once this thread sleeps, so a call that
	 * returned without waiting for it leaves its PTEs for us to find.
	 */
	{
		struct sched_param sp = { .sched_priority = 1 };
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(sched_getcpu(), &one);
		if (sched_setaffinity(0, sizeof(one), &one) ||
		    sched_setscheduler(0, SCHED_FIFO, &sp))
			TH_LOG("not real time on one CPU: a lost zap may go unseen");
	}
	for (n = 1; n <= 6; n++) {
		ASSERT_EQ(0, mapped_new(&m));
		fb0 = sx_stat("zap_fallbacks");
		ASSERT_EQ(0, sx_fail_nth(nth, n));
		madvise(m.buf, SX_PAGE, MADV_DONTNEED);
		injected += sx_fail_nth_reached(nth);
		fallbacks += sx_stat("zap_fallbacks") > fb0;
		violations += mapped_any_present(&m);
		mapped_done(&m);
	}
	close(m.fd);
	EXPECT_EQ(0, violations) TH_LOG("madvise() returned with member PTEs left %d times", violations);
	EXPECT_LE(1, fallbacks) TH_LOG("no injected failure reached the zap request (%d injected)",
				       injected);
	EXPECT_TRUE(sx_wait_pins_balanced(5000));
}

TEST_HARNESS_MAIN
