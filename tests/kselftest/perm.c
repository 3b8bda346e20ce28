// SPDX-License-Identifier: GPL-2.0
/*
 * Who may do what: only the owner registers, unregisters and queries; only
 * the domain's members (and the owner) map its buffers; another open cannot
 * reach this domain's offsets; member mappings are MAP_SHARED, within the
 * buffer, never executable, cannot be split or moved, and a read-only one
 * stays read-only for ptrace and /proc/PID/mem too.  Whoever else holds the
 * fd (a grandchild, an fd passed with SCM_RIGHTS or taken with
 * pidfd_getfd) is a stranger: its role is NONE and it learns nothing of the
 * domain; a reopen through /proc/PID/fd is a new domain.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/socket.h>
#include <sys/statvfs.h>
#include "kselftest_harness.h"
#include "simpler_test.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

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

/* write through /proc/self/mem (as ptrace or gdb would): bytes written or -errno */
static int proc_mem_write(void *addr, uint64_t v)
{
	int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pwrite(fd, &v, sizeof(v), (off_t)(uintptr_t)addr);
	if (n < 0)
		n = -errno;
	close(fd);
	return (int)n;
}

static int member_read_only_stays_read_only(int fd, uint64_t *buf, uint64_t off)
{
	uint64_t *ro = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, off), *rw;

	if (ro == MAP_FAILED)
		return 10;
	if (proc_mem_write(ro, 0xbad) >= 0)
		return 11;
	if (ro[0] != sx_pattern(7, 0))
		return 12;
	/* a writable mapping is writable that way, and it is the owner's page */
	rw = sx_map_buf(fd, NULL, LEN, off);
	if (!rw)
		return 13;
	if (proc_mem_write(rw + 1, 0x600d) != 8)
		return 14;
	return ro[1] == 0x600d ? 0 : 15;
}

TEST_F(dom, read_only_mapping_refuses_proc_mem_writes)
{
	EXPECT_EQ(0, run_member(_metadata, self, member_read_only_stays_read_only));
	EXPECT_EQ(0x600d, self->buf[1]);
	EXPECT_EQ(sx_pattern(7, 0), self->buf[0]);
}

/* /dev mounted noexec refuses PROT_EXEC before the module is asked */
static int exec_errno(int fd)
{
	struct statvfs st;

	return fstatvfs(fd, &st) == 0 && (st.f_flag & ST_NOEXEC) ? EPERM : EACCES;
}

static int member_exec_refused(int fd, uint64_t *buf, uint64_t off)
{
	void *p = mmap(NULL, LEN, PROT_READ | PROT_EXEC, MAP_SHARED, fd, off);

	if (p != MAP_FAILED)
		return 10;
	if (errno != exec_errno(fd))
		return 11;
	p = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, off);
	if (p == MAP_FAILED)
		return 12;
	/* nor can it become executable later */
	if (mprotect(p, LEN, PROT_READ | PROT_EXEC) == 0)
		return 13;
	return 0;
}

TEST_F(dom, executable_mapping_refused)
{
	EXPECT_EQ(0, run_member(_metadata, self, member_exec_refused));
}

/* what a stranger holding the domain's fd may do: learn its role, nothing else */
static int stranger_checks(int fd, uint64_t *buf, uint64_t off)
{
	struct simpler_lookup l;
	struct simpler_info info;
	void *p;

	if (sx_info(fd, &info))
		return 30;
	if (info.role != SIMPLER_ROLE_NONE || info.member_id)
		return 31;
	if (info.nr_buffers || info.pinned_bytes || info.nr_members)
		return 32;
	if (info.abi_version != SIMPLER_ABI_VERSION || !info.domain_id)
		return 33;
	if (sx_lookup(fd, buf, &l) != -EPERM)
		return 34;
	p = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, off);
	if (p != MAP_FAILED || errno != EACCES)
		return 35;
	if (sx_register(fd, sx_anon(SX_PAGE), SX_PAGE, NULL, NULL) != -EPERM)
		return 36;
	if (sx_map_sentinel(fd) || errno != EPERM)
		return 37;
	return 0;
}

static int grandchild_is_a_stranger(int fd, uint64_t *buf, uint64_t off)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(stranger_checks(fd, buf, off));
	return sx_reap(pid);
}

TEST_F(dom, grandchild_is_a_stranger)
{
	EXPECT_EQ(0, run_member(_metadata, self, grandchild_is_a_stranger));
}

/*
 * A process forked before the owner mapped the sentinel, handed the fd
 * (SCM_RIGHTS) or taking it (pidfd_getfd) once a buffer exists.
 */
static void stranger_gets_fd(struct __test_metadata *_metadata, bool scm)
{
	uint64_t h, off, *buf;
	struct sx_chan c;
	int fd, sv[2];
	pid_t s;

	fd = sx_open();
	SX_SKIP_NO_DEV(fd);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(0, sx_chan_init(&c));
	s = sx_fork(&c);
	ASSERT_LE(0, s);
	if (s == 0) {
		char byte, cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &byte, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		uint64_t addr, o, ownfd;
		int got = -1, pidfd;

		close(fd);	/* it arrives again, the other way */
		addr = sx_recv_u64(c.down[0]);
		o = sx_recv_u64(c.down[0]);
		ownfd = sx_recv_u64(c.down[0]);
		if (scm) {
			if (recvmsg(sv[1], &mh, 0) != 1 || !CMSG_FIRSTHDR(&mh))
				_exit(20);
			memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
		} else {
			pidfd = syscall(SYS_pidfd_open, getppid(), 0);
			if (pidfd < 0)
				_exit(21);
			got = syscall(SYS_pidfd_getfd, pidfd, (int)ownfd, 0);
		}
		if (got < 0)
			_exit(22);
		_exit(stranger_checks(got, (uint64_t *)(uintptr_t)addr, o));
	}
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	buf = sx_anon(LEN);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, sx_register(fd, buf, LEN, &h, &off));
	sx_send_u64(c.down[1], (uintptr_t)buf);
	sx_send_u64(c.down[1], off);
	sx_send_u64(c.down[1], fd);
	if (scm) {
		char byte = 1, cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &byte, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
		ASSERT_EQ(1, sendmsg(sv[0], &mh, 0));
	}
	EXPECT_EQ(0, sx_reap(s));
	close(fd);
}

TEST(scm_rights_recipient_is_a_stranger)
{
	stranger_gets_fd(_metadata, true);
}

TEST(pidfd_getfd_taker_is_a_stranger)
{
	if (geteuid() != 0)
		SKIP(return, "pidfd_getfd needs ptrace rights over the owner (root)");
	stranger_gets_fd(_metadata, false);
}

/* a reopen through /proc is a new open: a new, empty domain of its own */
TEST(proc_fd_reopen_is_a_new_domain)
{
	struct simpler_info a, b;
	struct simpler_lookup l;
	uint64_t h, off, *buf;
	char path[64];
	int fd, fd2;

	fd = sx_open();
	SX_SKIP_NO_DEV(fd);
	buf = sx_anon(LEN);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, sx_register(fd, buf, LEN, &h, &off));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fd2 = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, sx_info(fd, &a));
	ASSERT_EQ(0, sx_info(fd2, &b));
	EXPECT_NE(a.domain_id, b.domain_id);
	EXPECT_EQ(SIMPLER_ROLE_OWNER, b.role);
	EXPECT_EQ(0, b.nr_buffers);
	EXPECT_EQ(1, a.nr_buffers);
	EXPECT_EQ(-ENOENT, sx_lookup(fd2, buf, &l));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd2, off));
	close(fd2);
	close(fd);
}

/* a domain opened read-only: members map it read-only, and only that way */
TEST(read_only_open_maps_read_only)
{
	uint64_t h, off, *buf;
	struct sx_chan c;
	int fd;
	pid_t m;

	fd = open(SX_DEV, O_RDONLY | O_CLOEXEC);
	SX_SKIP_NO_DEV(fd < 0 ? -errno : fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	ASSERT_EQ(0, sx_chan_init(&c));
	m = sx_fork(&c);
	ASSERT_LE(0, m);
	if (m == 0) {
		uint64_t o = sx_recv_u64(c.down[0]), *p;

		if (mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, o) != MAP_FAILED)
			_exit(10);
		p = mmap(NULL, LEN, PROT_READ, MAP_SHARED, fd, o);
		if (p == MAP_FAILED)
			_exit(11);
		if (mprotect(p, LEN, PROT_READ | PROT_WRITE) == 0)
			_exit(12);
		if (proc_mem_write(p, 0xbad) >= 0)
			_exit(13);
		_exit(p[0] == sx_pattern(9, 0) ? 0 : 14);
	}
	buf = sx_anon(LEN);
	ASSERT_NE(NULL, buf);
	sx_fill(buf, LEN, 9);
	ASSERT_EQ(0, sx_register(fd, buf, LEN, &h, &off));
	sx_send_u64(c.down[1], off);
	EXPECT_EQ(0, sx_reap(m));
	EXPECT_EQ(sx_pattern(9, 0), buf[0]);
	close(fd);
}

TEST_HARNESS_MAIN
