// SPDX-License-Identifier: GPL-2.0
/*
 * Who may do what: only the owner registers, unregisters and queries; only
 * the domain's members (and the owner) map its buffers; another open cannot
 * reach this domain's offsets; member mappings are MAP_SHARED, within the
 * buffer, and cannot be split or moved.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kselftest_harness.h"
#include "simpler_test.h"

#define NPAGES 8
#define LEN (NPAGES * SX_PAGE)

/*
 * An owner with one member that runs a check function on the buffer the
 * owner registered after the fork, and exits with its result.
 */
FIXTURE(dom) {
	int fd;
	uint64_t *buf;
	uint64_t handle, off;
	struct sx_chan c;
	pid_t member;
};

typedef int (*member_fn)(int fd, uint64_t *buf, uint64_t off);

FIXTURE_SETUP(dom)
{
	self->member = -1;
	self->fd = sx_open();
	SX_SKIP_NO_DEV(self->fd);
	ASSERT_NE(NULL, sx_map_sentinel(self->fd));
	ASSERT_EQ(0, sx_chan_init(&self->c));
}

FIXTURE_TEARDOWN(dom)
{
	if (self->member > 0) {
		kill(self->member, SIGKILL);
		sx_reap(self->member);
	}
	close(self->fd);
}

/* fork the member, then register a buffer it has never seen; return its exit */
static int run_member(struct __test_metadata *_metadata, FIXTURE_DATA(dom) *self, member_fn fn)
{
	int ret;

	self->member = sx_fork(&self->c);
	if (self->member == 0) {
		uint64_t addr = sx_recv_u64(self->c.down[0]);
		uint64_t off = sx_recv_u64(self->c.down[0]);

		sx_probe_install();
		_exit(fn(self->fd, (uint64_t *)(uintptr_t)addr, off));
	}
	self->buf = sx_anon(LEN);
	if (!self->buf)
		return -1;
	sx_fill(self->buf, LEN, 7);
	if (sx_register(self->fd, self->buf, LEN, &self->handle, &self->off))
		return -2;
	sx_send_u64(self->c.down[1], (uintptr_t)self->buf);
	sx_send_u64(self->c.down[1], self->off);
	ret = sx_reap(self->member);
	self->member = -1;
	return ret;
}

static int member_cannot_administer(int fd, uint64_t *buf, uint64_t off)
{
	struct simpler_query q;
	struct simpler_info info;

	if (sx_register(fd, sx_anon(SX_PAGE), SX_PAGE, NULL, NULL) != -EPERM)
		return 10;
	if (sx_unregister(fd, 1) != -EPERM)
		return 11;
	if (sx_query(fd, buf, SX_PAGE, &q) != -EPERM)
		return 12;
	if (sx_info(fd, &info) || info.role != SIMPLER_ROLE_MEMBER || !info.member_id)
		return 13;
	/* nor may a member map the sentinel */
	if (sx_map_sentinel(fd) || errno != EPERM)
		return 14;
	return 0;
}

TEST_F(dom, member_cannot_register_unregister_or_query)
{
	struct simpler_info info;

	EXPECT_EQ(0, run_member(_metadata, self, member_cannot_administer));
	ASSERT_EQ(0, sx_info(self->fd, &info));
	EXPECT_EQ(1, info.nr_buffers);	/* the member's UNREGISTER did nothing */
}

static int member_maps_and_reads(int fd, uint64_t *buf, uint64_t off)
{
	struct simpler_lookup l;
	uint64_t *p;

	if (sx_lookup(fd, buf, &l) || l.mmap_offset != off)
		return 10;
	p = sx_map_buf(fd, NULL, LEN, off);
	if (!p)
		return 11;
	return sx_check(p, LEN, 7) == -1 ? 0 : 12;
}

TEST_F(dom, member_maps_a_buffer)
{
	EXPECT_EQ(0, run_member(_metadata, self, member_maps_and_reads));
}

static int member_map_private_refused(int fd, uint64_t *buf, uint64_t off)
{
	void *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, off);

	if (p != MAP_FAILED)
		return 10;
	return errno == EINVAL ? 0 : 11;
}

TEST_F(dom, map_private_refused)
{
	EXPECT_EQ(0, run_member(_metadata, self, member_map_private_refused));
}

static int member_map_too_large_refused(int fd, uint64_t *buf, uint64_t off)
{
	void *p = mmap(NULL, LEN + SX_PAGE, PROT_READ, MAP_SHARED, fd, off);

	if (p != MAP_FAILED || errno != EINVAL)
		return 10;
	/* a tail window that runs past the end */
	p = mmap(NULL, 2 * SX_PAGE, PROT_READ, MAP_SHARED, fd, off + (NPAGES - 1) * SX_PAGE);
	if (p != MAP_FAILED || errno != EINVAL)
		return 11;
	/* a window inside the buffer is fine and starts at its offset */
	p = mmap(NULL, 2 * SX_PAGE, PROT_READ, MAP_SHARED, fd, off + 3 * SX_PAGE);
	if (p == MAP_FAILED)
		return 12;
	return ((uint64_t *)p)[0] == sx_pattern(7, 3 * SX_PAGE / 8) ? 0 : 13;
}

TEST_F(dom, mapping_larger_than_buffer_refused)
{
	EXPECT_EQ(0, run_member(_metadata, self, member_map_too_large_refused));
}

static int member_split_refused(int fd, uint64_t *buf, uint64_t off)
{
	uint64_t v;
	char *p = sx_map_buf(fd, NULL, LEN, off);

	if (!p)
		return 10;
	if (munmap(p + 2 * SX_PAGE, SX_PAGE) == 0 || errno != EINVAL)
		return 11;
	if (munmap(p + LEN - SX_PAGE, SX_PAGE) == 0 || errno != EINVAL)
		return 12;
	if (mprotect(p, SX_PAGE, PROT_READ) == 0)
		return 13;	/* would split the VMA */
	/* still whole and readable */
	if (sx_probe_read((uint64_t *)(p + 2 * SX_PAGE), &v) || v != sx_pattern(7, 2 * SX_PAGE / 8))
		return 14;
	return munmap(p, LEN) == 0 ? 0 : 15;
}

TEST_F(dom, partial_munmap_refused)
{
	EXPECT_EQ(0, run_member(_metadata, self, member_split_refused));
}

static int member_mremap_refused(int fd, uint64_t *buf, uint64_t off)
{
	char *p = sx_map_buf(fd, NULL, LEN, off), *q, *dst;
	uint64_t v;

	if (!p)
		return 10;
	dst = sx_anon(LEN);
	q = mremap(p, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (q != MAP_FAILED)
		return 11;
	q = mremap(p, LEN, 2 * LEN, MREMAP_MAYMOVE);	/* grow */
	if (q != MAP_FAILED)
		return 12;
	q = mremap(p, LEN, SX_PAGE, 0);	/* shrink */
	if (q != MAP_FAILED)
		return 13;
	if (sx_probe_read((uint64_t *)p, &v) || v != sx_pattern(7, 0))
		return 14;
	return 0;
}

TEST_F(dom, mremap_refused)
{
	EXPECT_EQ(0, run_member(_metadata, self, member_mremap_refused));
}

static int grandchild_cannot_map(int fd, uint64_t *buf, uint64_t off)
{
	struct simpler_lookup l;
	pid_t pid = fork();

	if (pid == 0) {
		/* inherits the fd and the sentinel, but is not a member */
		void *p = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, off);

		if (p != MAP_FAILED || errno != EACCES)
			_exit(20);
		_exit(sx_lookup(fd, buf, &l) == -EPERM ? 0 : 21);
	}
	return sx_reap(pid);
}

TEST_F(dom, non_member_cannot_map)
{
	EXPECT_EQ(0, run_member(_metadata, self, grandchild_cannot_map));
}

static int other_open_cannot_map(int fd, uint64_t *buf, uint64_t off)
{
	int fd2 = sx_open();
	struct simpler_lookup l;
	void *p;

	if (fd2 < 0)
		return 10;
	/* its own domain has no buffer at that offset */
	p = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd2, off);
	if (p != MAP_FAILED || errno != EINVAL)
		return 11;
	if (sx_lookup(fd2, buf, &l) != -ENOENT)
		return 12;
	return 0;
}

TEST_F(dom, other_domain_cannot_map_offset)
{
	EXPECT_EQ(0, run_member(_metadata, self, other_open_cannot_map));
}

TEST(stranger_with_own_open_cannot_map_owner_buffer)
{
	uint64_t handle, off;
	int fd = sx_open(), fd2;
	void *p, *q;

	SX_SKIP_NO_DEV(fd);
	p = sx_anon(LEN);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, sx_register(fd, p, LEN, &handle, &off));
	fd2 = sx_open();
	ASSERT_LE(0, fd2);
	q = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd2, off);
	EXPECT_EQ(MAP_FAILED, q);
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-ENOENT, sx_unregister(fd2, handle));
	close(fd2);
	close(fd);
}

TEST_HARNESS_MAIN
