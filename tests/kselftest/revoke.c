// SPDX-License-Identifier: GPL-2.0
/*
 * Revocation and lifetime: unregister zaps member mappings (SIGBUS on the
 * next touch) and the pins go when the last mapping does; owner exit and
 * last close leave nothing pinned; when the owner unmaps or replaces a
 * registered range, members never read stale pages silently: they get
 * SIGBUS, LOOKUP says ESTALE and QUERY sets SIMPLER_BUF_STALE.  Changes that
 * keep the pages (a THP split) leave the buffer live.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kselftest_harness.h"
#include "simpler_test.h"

#define LEN (16 * SX_PAGE)

enum { STEP_MAPPED = 1, STEP_TOUCH, STEP_DONE };

/*
 * Member protocol: map the buffer named by (addr, off), verify, report
 * MAPPED; on TOUCH read every page and report the number of pages that
 * faulted (SIGBUS) and whether LOOKUP says ESTALE; then unmap on DONE.
 */
static int member_main(int fd, struct sx_chan *c)
{
	uint64_t addr = sx_recv_u64(c->down[0]), off = sx_recv_u64(c->down[0]);
	struct simpler_lookup l;
	uint64_t v, cmd, bus;
	uint64_t *p;
	size_t i;

	sx_probe_install();
	p = sx_map_buf(fd, NULL, LEN, off);
	if (!p)
		return 10;
	if (sx_check(p, LEN, 3) != -1)
		return 11;
	sx_send_u64(c->up[1], STEP_MAPPED);
	while ((cmd = sx_recv_u64(c->down[0])) == STEP_TOUCH) {
		bus = 0;
		for (i = 0; i < LEN / SX_PAGE; i++)
			if (sx_probe_read(p + i * SX_PAGE / 8, &v) == SIGBUS)
				bus++;
			else if (v != sx_pattern(3, i * SX_PAGE / 8))
				return 12;	/* a stale or foreign page, read silently */
		sx_send_u64(c->up[1], bus);
		sx_send_u64(c->up[1], sx_lookup(fd, (void *)(uintptr_t)addr, &l) == -ESTALE ?
			    l.handle : 0);
	}
	if (cmd != STEP_DONE)
		return 13;
	munmap(p, LEN);
	sx_send_u64(c->up[1], STEP_DONE);
	sx_recv_u64(c->down[0]);	/* stay alive (holding the fd) until told */
	return 0;
}

FIXTURE(rv) {
	int fd;
	void *sentinel;
	struct sx_chan c;
	pid_t member;
	uint64_t *buf;
	uint64_t handle, off;
	int kmsg;
};

FIXTURE_SETUP(rv)
{
	self->member = -1;
	self->kmsg = sx_kmsg_mark();
	ASSERT_EQ(0, sx_pins_outstanding());
	self->fd = sx_open();
	SX_SKIP_NO_DEV(self->fd);
	self->sentinel = sx_map_sentinel(self->fd);
	ASSERT_NE(NULL, self->sentinel);
	ASSERT_EQ(0, sx_chan_init(&self->c));
	self->member = sx_fork(&self->c);
	ASSERT_LE(0, self->member);
	if (self->member == 0)
		_exit(member_main(self->fd, &self->c));
	self->buf = sx_anon(LEN);
	ASSERT_NE(NULL, self->buf);
	sx_fill(self->buf, LEN, 3);
	ASSERT_EQ(0, sx_register(self->fd, self->buf, LEN, &self->handle, &self->off));
	sx_send_u64(self->c.down[1], (uintptr_t)self->buf);
	sx_send_u64(self->c.down[1], self->off);
	ASSERT_EQ(STEP_MAPPED, sx_recv_u64(self->c.up[0]));
}

FIXTURE_TEARDOWN(rv)
{
	char first[256] = "";

	if (self->member > 0) {
		kill(self->member, SIGKILL);
		sx_reap(self->member);
	}
	/* the sentinel mapping holds the file too: drop both to end the domain */
	if (self->sentinel)
		munmap(self->sentinel, SX_PAGE);
	if (self->fd >= 0)
		close(self->fd);
	EXPECT_TRUE(sx_wait_pins_balanced(2000));
	EXPECT_EQ(0, sx_kmsg_bad(self->kmsg, first, sizeof(first))) TH_LOG("%s", first);
}

/* ask the member to touch every page: returns pages that raised SIGBUS */
static uint64_t touch(FIXTURE_DATA(rv) *self, uint64_t *stale_handle)
{
	uint64_t bus;

	sx_send_u64(self->c.down[1], STEP_TOUCH);
	bus = sx_recv_u64(self->c.up[0]);
	*stale_handle = sx_recv_u64(self->c.up[0]);
	return bus;
}

/* the member unmaps and idles; returns once it has */
static void member_unmaps(struct __test_metadata *_metadata, FIXTURE_DATA(rv) *self)
{
	sx_send_u64(self->c.down[1], STEP_DONE);
	ASSERT_EQ(STEP_DONE, sx_recv_u64(self->c.up[0]));
}

TEST_F(rv, unregister_while_mapped_sigbus_then_pins_balance)
{
	uint64_t stale;

	EXPECT_EQ(0, touch(self, &stale));
	EXPECT_EQ(LEN / SX_PAGE, sx_pins_outstanding());
	ASSERT_EQ(0, sx_unregister(self->fd, self->handle));
	/* every page of the member's mapping is gone */
	EXPECT_EQ(LEN / SX_PAGE, touch(self, &stale));
	/* the mapping still holds the pages until it goes */
	EXPECT_EQ(LEN / SX_PAGE, sx_pins_outstanding());
	EXPECT_EQ(1, sx_stat("buffers"));
	member_unmaps(_metadata, self);
	EXPECT_EQ(0, sx_pins_outstanding());
	EXPECT_EQ(0, sx_stat("buffers"));
	/* the owner's memory is untouched */
	EXPECT_EQ(-1, sx_check(self->buf, LEN, 3));
}

TEST_F(rv, last_fd_close_leaves_nothing_pinned)
{
	uint64_t stale;

	EXPECT_EQ(0, touch(self, &stale));
	member_unmaps(_metadata, self);
	EXPECT_EQ(LEN / SX_PAGE, sx_pins_outstanding());
	/* neither is the last reference: the member holds the fd */
	munmap(self->sentinel, SX_PAGE);
	self->sentinel = NULL;
	close(self->fd);
	self->fd = -1;
	EXPECT_EQ(LEN / SX_PAGE, sx_pins_outstanding());
	kill(self->member, SIGKILL);
	sx_reap(self->member);
	self->member = -1;
	/* last fd gone: unregistered and unpinned */
	EXPECT_TRUE(sx_wait_pins_balanced(2000));
	EXPECT_EQ(0, sx_stat("domains"));
}

TEST_F(rv, owner_munmap_makes_buffer_stale)
{
	struct simpler_lookup l;
	struct simpler_query q;
	uint64_t stale, h2;

	ASSERT_EQ(0, munmap(self->buf, LEN));
	EXPECT_EQ(LEN / SX_PAGE, touch(self, &stale));
	EXPECT_EQ(self->handle, stale);
	EXPECT_EQ(-ESTALE, sx_lookup(self->fd, self->buf, &l));
	EXPECT_EQ(SIMPLER_BUF_STALE, l.buf_flags);
	EXPECT_EQ(self->handle, l.handle);
	ASSERT_EQ(0, sx_query(self->fd, self->buf, LEN, &q));
	EXPECT_EQ(SIMPLER_BUF_STALE, q.buf_flags);
	EXPECT_EQ(self->handle, q.handle);
	EXPECT_EQ(SIMPLER_VIS_UNMAPPED, q.verdict);
	/* new memory at the same address can be registered; LOOKUP prefers it */
	ASSERT_EQ(self->buf, mmap(self->buf, LEN, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	ASSERT_EQ(0, sx_register(self->fd, self->buf, LEN, &h2, NULL));
	ASSERT_EQ(0, sx_lookup(self->fd, self->buf, &l));
	EXPECT_EQ(h2, l.handle);
	EXPECT_EQ(0, sx_unregister(self->fd, self->handle));
	EXPECT_EQ(0, sx_unregister(self->fd, h2));
	member_unmaps(_metadata, self);
}

TEST_F(rv, owner_madv_dontneed_makes_buffer_stale)
{
	struct simpler_lookup l;
	uint64_t stale;

	ASSERT_EQ(0, madvise(self->buf, LEN, MADV_DONTNEED));
	EXPECT_EQ(LEN / SX_PAGE, touch(self, &stale));
	EXPECT_EQ(self->handle, stale);
	EXPECT_EQ(-ESTALE, sx_lookup(self->fd, self->buf + 8, &l));
	member_unmaps(_metadata, self);
}

TEST_F(rv, owner_mremap_makes_buffer_stale)
{
	uint64_t stale;
	void *to = sx_anon(LEN);

	ASSERT_NE(NULL, to);
	ASSERT_EQ(to, mremap(self->buf, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED, to));
	EXPECT_EQ(LEN / SX_PAGE, touch(self, &stale));
	EXPECT_EQ(self->handle, stale);
	member_unmaps(_metadata, self);
}

TEST_F(rv, owner_mprotect_keeps_buffer_live)
{
	struct simpler_lookup l;
	uint64_t stale;

	ASSERT_EQ(0, mprotect(self->buf, LEN, PROT_READ));
	EXPECT_EQ(0, touch(self, &stale));
	EXPECT_EQ(0, stale);
	EXPECT_EQ(0, sx_lookup(self->fd, self->buf, &l));
	member_unmaps(_metadata, self);
}

TEST(owner_process_exit_leaves_nothing_pinned)
{
	struct sx_chan c;
	int kmsg = sx_kmsg_mark();
	char first[256] = "";
	pid_t owner;
	int up[2];

	ASSERT_EQ(0, sx_pins_outstanding());
	ASSERT_EQ(0, sx_chan_init(&c));
	ASSERT_EQ(0, pipe(up));
	owner = sx_fork(NULL);
	ASSERT_LE(0, owner);
	if (owner == 0) {
		/* owner: register, let a member map, then die without unregistering */
		int fd = sx_open();
		uint64_t *buf, h, off;
		pid_t m;

		if (fd < 0 || !sx_map_sentinel(fd))
			_exit(10);
		m = fork();
		if (m == 0) {
			/* member: map, report, then wait for the owner to die */
			uint64_t *p, v;

			prctl(PR_SET_PDEATHSIG, 0);	/* must outlive the owner */
			alarm(60);	/* but not a failed test */
			sx_probe_install();
			off = sx_recv_u64(c.down[0]);
			p = sx_map_buf(fd, NULL, LEN, off);
			if (!p || p[0] != sx_pattern(5, 0))
				_exit(20);
			sx_send_u64(up[1], 1);
			sx_recv_u64(c.down[0]);	/* owner is dead now */
			/* no silent stale read: SIGBUS */
			sx_send_u64(up[1], sx_probe_read(p, &v) == SIGBUS ? 2 : 3);
			munmap(p, LEN);
			sx_send_u64(up[1], 4);
			sx_recv_u64(c.down[0]);
			_exit(0);
		}
		buf = sx_anon(LEN);
		sx_fill(buf, LEN, 5);
		if (sx_register(fd, buf, LEN, &h, &off))
			_exit(11);
		/* the pid first: the member answers on the same pipe once it has off */
		sx_send_u64(up[1], (uint64_t)m);
		sx_send_u64(c.down[1], off);
		pause();
		_exit(0);
	}
	{
		uint64_t mpid = sx_recv_u64(up[0]);

		ASSERT_EQ(1, sx_recv_u64(up[0])) kill((pid_t)mpid, SIGKILL);
		EXPECT_EQ(LEN / SX_PAGE, sx_pins_outstanding());
		kill(owner, SIGKILL);
		EXPECT_EQ(128 + SIGKILL, sx_reap(owner));
		sx_send_u64(c.down[1], 0);
		EXPECT_EQ(2, sx_recv_u64(up[0]));
		EXPECT_EQ(4, sx_recv_u64(up[0]));
		/* the member still holds the fd, but nothing is pinned any more */
		EXPECT_TRUE(sx_wait_pins_balanced(2000));
		EXPECT_TRUE(sx_wait_stat("buffers", 0, 2000));
		EXPECT_EQ(1, sx_stat("domains"));
		sx_send_u64(c.down[1], 0);
		/* the member is the test's grandchild, reparented: poll for the end */
		for (int i = 0; i < 300 && kill((pid_t)mpid, 0) == 0; i++)
			usleep(10000);
		EXPECT_TRUE(sx_wait_stat("domains", 0, 2000));
	}
	EXPECT_EQ(0, sx_kmsg_bad(kmsg, first, sizeof(first))) TH_LOG("%s", first);
}

TEST(thp_split_keeps_buffer_live)
{
	const size_t huge = 2 * SX_MIB;
	struct simpler_lookup l;
	long long inval0, verif0;
	uint64_t h, off, v;
	char *raw, *thp, *m;
	int fd = sx_open();
	pid_t pid;

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	raw = sx_anon(3 * huge);
	ASSERT_NE(NULL, raw);
	thp = (char *)(((uintptr_t)raw + huge - 1) & ~(huge - 1));
	if (madvise(thp, huge, MADV_HUGEPAGE))
		SKIP(return, "no transparent huge pages: %s", strerror(errno));
	memset(thp, 0x5a, huge);
	if (sx_rollup_kb("AnonHugePages") < 2048)
		SKIP(return, "the kernel gave no THP for an aligned 2 MiB range");
	/* register 1 MiB in the middle of the huge page */
	ASSERT_EQ(0, sx_register(fd, thp + SX_MIB / 2, SX_MIB, &h, &off));
	pid = sx_fork(NULL);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	/* the owner's own mapping of the buffer, faulted in */
	m = sx_map_buf(fd, NULL, SX_MIB, off);
	ASSERT_NE(NULL, m);
	sx_probe_install();
	ASSERT_EQ(0, sx_probe_read((uint64_t *)m, &v));
	inval0 = sx_stat("invalidations");
	verif0 = sx_stat("verifies");
	/* changing the first page splits the PMD: an invalidation, same pages */
	ASSERT_EQ(0, mprotect(thp, SX_PAGE, PROT_READ));
	EXPECT_LT(inval0, sx_stat("invalidations"));
	/* the zapped mapping faults, re-checks under the owner's own lock: live */
	ASSERT_EQ(0, sx_probe_read((uint64_t *)m, &v));
	EXPECT_EQ(0x5a5a5a5a5a5a5a5aULL, v);
	EXPECT_LT(verif0, sx_stat("verifies"));
	ASSERT_EQ(0, sx_lookup(fd, thp + SX_MIB / 2, &l));
	EXPECT_EQ(0, l.buf_flags);
	thp[SX_MIB / 2] = 1;
	EXPECT_EQ(1, m[0]);
	/* and a real change is caught on the same path: SIGBUS, not stale data */
	ASSERT_EQ(0, madvise(thp + SX_MIB / 2, SX_MIB, MADV_DONTNEED));
	EXPECT_EQ(SIGBUS, sx_probe_read((uint64_t *)m, &v));
	kill(pid, SIGKILL);
	sx_reap(pid);
	close(fd);
}

TEST_HARNESS_MAIN
