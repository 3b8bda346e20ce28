// SPDX-License-Identifier: GPL-2.0
/*
 * Registered host buffers: memory the owner allocates after the fork is
 * pinned and mapped into a member with zero copies (same physical pages, both
 * directions), for anonymous, memfd and hugetlb memory; and every kind of
 * range REGISTER must refuse, each with its own errno.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/mount.h>
#include "kselftest_harness.h"
#include "simpler_test.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4U
#endif

enum kind { KIND_ANON, KIND_MEMFD, KIND_HUGETLB };

#define PINGS 256	/* words passed both ways through the shared pages */

static void *alloc_kind(enum kind k, size_t len)
{
	int mfd;
	void *p;

	switch (k) {
	case KIND_ANON:
		/* the glibc way a 64 MiB malloc is served: private anonymous */
		p = malloc(len + SX_PAGE);
		return p ? (void *)(((uintptr_t)p + SX_PAGE - 1) & ~(SX_PAGE - 1)) : NULL;
	case KIND_MEMFD:
		mfd = memfd_create("simpler-test", MFD_CLOEXEC);
		if (mfd < 0 || ftruncate(mfd, len))
			return NULL;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		close(mfd);
		return p == MAP_FAILED ? NULL : p;
	case KIND_HUGETLB:
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	return NULL;
}

/* member side of a round trip; exit codes name what went wrong */
static int member_roundtrip(int fd, struct sx_chan *c, uint64_t seed1, uint64_t seed2)
{
	uint64_t addr = sx_recv_u64(c->down[0]), len = sx_recv_u64(c->down[0]);
	struct simpler_lookup l;
	volatile uint64_t *w;
	uint64_t i, page, v;
	void *p;

	if (sx_lookup(fd, (void *)(uintptr_t)(addr + 5 * SX_PAGE), &l))
		return 10;
	if (l.buf_addr != addr || l.buf_len != len || l.offset != 5 * SX_PAGE || !l.handle)
		return 11;
	/* the owner's address is free here: the buffer was made after the fork */
	p = sx_map_buf(fd, (void *)(uintptr_t)addr, len, l.mmap_offset);
	if (!p)
		p = sx_map_buf(fd, NULL, len, l.mmap_offset);
	if (!p)
		return 12;
	if (sx_check(p, len, seed1) != -1)
		return 13;
	sx_send_u64(c->up[1], 2);
	/*
	 * Zero copy: with no ioctl in between, each side sees the other's store
	 * to the same word at once.  Only shared physical pages can do that.
	 */
	w = p;
	for (i = 0; i < PINGS; i++) {
		page = i * (len / SX_PAGE) / PINGS;
		v = sx_recv_u64(c->down[0]);	/* the owner stored v at this page */
		if (w[page * (SX_PAGE / 8) + 1] != v)
			return 14;
		w[page * (SX_PAGE / 8) + 2] = ~v;
		sx_send_u64(c->up[1], 1);
	}
	sx_fill(p, len, seed2);
	sx_send_u64(c->up[1], 1);
	sx_recv_u64(c->down[0]);
	munmap(p, len);
	return 0;
}

static void roundtrip(struct __test_metadata *_metadata, enum kind k, size_t len)
{
	const uint64_t seed1 = 0x1111 + k, seed2 = 0x2222 + k;
	long long pins_before = sx_pins_outstanding();
	uint64_t handle, off, i, page;
	volatile uint64_t *w;
	struct sx_chan c;
	int fd = sx_open();
	pid_t pid;
	void *buf;

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	ASSERT_EQ(0, sx_chan_init(&c));
	pid = sx_fork(&c);
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(member_roundtrip(fd, &c, seed1, seed2));

	/* allocated after the member was forked: only the module makes it visible */
	buf = alloc_kind(k, len);
	if (!buf && k == KIND_HUGETLB) {
		kill(pid, SIGKILL);
		sx_reap(pid);
		SKIP(return, "no %zu MiB of huge pages could be reserved (vm.nr_hugepages)",
		     len / SX_MIB);
	}
	ASSERT_NE(NULL, buf);
	sx_fill(buf, len, seed1);
	ASSERT_EQ(0, sx_register(fd, buf, len, &handle, &off));
	EXPECT_EQ(len / SX_PAGE, sx_pins_outstanding() - pins_before)
		TH_LOG("acquired %lld released %lld", sx_vmstat("nr_foll_pin_acquired"),
		       sx_vmstat("nr_foll_pin_released"));
	sx_send_u64(c.down[1], (uintptr_t)buf);
	sx_send_u64(c.down[1], len);
	ASSERT_EQ(2, sx_recv_u64(c.up[0])) TH_LOG("member exited %d", sx_reap(pid));
	for (i = 0; i < PINGS; i++) {
		page = i * (len / SX_PAGE) / PINGS;
		w = (volatile uint64_t *)buf + page * (SX_PAGE / 8);
		w[1] = seed1 * 1000 + i;
		sx_send_u64(c.down[1], seed1 * 1000 + i);
		ASSERT_EQ(1, sx_recv_u64(c.up[0])) TH_LOG("member exited %d", sx_reap(pid));
		ASSERT_EQ(~(seed1 * 1000 + i), w[2]) TH_LOG("ping %lu", (unsigned long)i);
	}
	ASSERT_EQ(1, sx_recv_u64(c.up[0])) TH_LOG("member exited %d", sx_reap(pid));
	/* the member's writes are in the owner's memory, no copy back */
	EXPECT_EQ(-1, sx_check(buf, len, seed2));
	sx_send_u64(c.down[1], 0);
	EXPECT_EQ(0, sx_reap(pid));
	EXPECT_EQ(0, sx_unregister(fd, handle));
	EXPECT_EQ(0, sx_pins_outstanding() - pins_before);
	close(fd);
}

/* 64 MiB both ways is slow under qemu TCG: a fixture only to get a longer timeout */
FIXTURE(big) {};
FIXTURE_SETUP(big) {}
FIXTURE_TEARDOWN(big) {}

TEST_F_TIMEOUT(big, anon_private_roundtrip_64m, 300)
{
	roundtrip(_metadata, KIND_ANON, 64 * SX_MIB);
}

TEST_F_TIMEOUT(big, memfd_roundtrip_64m, 300)
{
	roundtrip(_metadata, KIND_MEMFD, 64 * SX_MIB);
}

TEST_F_TIMEOUT(big, hugetlb_roundtrip_64m, 300)
{
	roundtrip(_metadata, KIND_HUGETLB, 64 * SX_MIB);
}

TEST(register_accounts_and_reports)
{
	struct simpler_info info;
	uint64_t h1, h2, o1, o2;
	long pin0;
	int fd = sx_open();
	char *p;

	SX_SKIP_NO_DEV(fd);
	p = sx_anon(8 * SX_PAGE);
	ASSERT_NE(NULL, p);
	pin0 = sx_status_kb(0, "VmPin");
	ASSERT_EQ(0, sx_register(fd, p, 3 * SX_PAGE, &h1, &o1));
	ASSERT_EQ(0, sx_register(fd, p + 4 * SX_PAGE, 2 * SX_PAGE, &h2, &o2));
	EXPECT_NE(0, h1);
	EXPECT_NE(h1, h2);
	EXPECT_NE(o1, o2);
	EXPECT_EQ(0, o1 % SX_PAGE);
	EXPECT_NE(0, o1);	/* offset 0 is the sentinel */
	ASSERT_EQ(0, sx_info(fd, &info));
	EXPECT_EQ(2, info.nr_buffers);
	EXPECT_EQ(5 * SX_PAGE, info.pinned_bytes);
	EXPECT_EQ(pin0 + 20, sx_status_kb(0, "VmPin"));
	EXPECT_EQ(0, sx_unregister(fd, h1));
	EXPECT_EQ(-ENOENT, sx_unregister(fd, h1));
	EXPECT_EQ(-ENOENT, sx_unregister(fd, 0));
	EXPECT_EQ(-ENOENT, sx_unregister(fd, ~0ULL));
	ASSERT_EQ(0, sx_info(fd, &info));
	EXPECT_EQ(1, info.nr_buffers);
	EXPECT_EQ(2 * SX_PAGE, info.pinned_bytes);
	EXPECT_EQ(pin0 + 8, sx_status_kb(0, "VmPin"));
	close(fd);
	/* closing the fd unregistered the rest */
	EXPECT_EQ(pin0, sx_status_kb(0, "VmPin"));
}

TEST(refuse_unaligned_einval)
{
	int fd = sx_open();
	char *p;

	SX_SKIP_NO_DEV(fd);
	p = sx_anon(4 * SX_PAGE);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(-EINVAL, sx_register(fd, p + 8, SX_PAGE, NULL, NULL));
	EXPECT_EQ(-EINVAL, sx_register(fd, p, SX_PAGE + 100, NULL, NULL));
	close(fd);
}

TEST(refuse_zero_length_erange)
{
	int fd = sx_open();
	char *p;

	SX_SKIP_NO_DEV(fd);
	p = sx_anon(SX_PAGE);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(-ERANGE, sx_register(fd, p, 0, NULL, NULL));
	close(fd);
}

TEST(refuse_overflow_eoverflow)
{
	int fd = sx_open();

	SX_SKIP_NO_DEV(fd);
	/* wraps around */
	EXPECT_EQ(-EOVERFLOW, sx_register(fd, (void *)(uintptr_t)0xfffffffffffff000ULL,
					  2 * SX_PAGE, NULL, NULL));
	/* lies in the kernel half, past any user address space (4- or 5-level) */
	EXPECT_EQ(-EOVERFLOW, sx_register(fd, (void *)(uintptr_t)0x8000000000000000ULL,
					  2 * SX_PAGE, NULL, NULL));
	close(fd);
}

TEST(refuse_hole_efault)
{
	int fd = sx_open();
	char *p;

	SX_SKIP_NO_DEV(fd);
	p = sx_anon(3 * SX_PAGE);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, munmap(p + SX_PAGE, SX_PAGE));
	EXPECT_EQ(-EFAULT, sx_register(fd, p, 3 * SX_PAGE, NULL, NULL));
	/* nothing stays pinned or registered after a refusal */
	EXPECT_EQ(0, sx_status_kb(0, "VmPin"));
	ASSERT_EQ(0, munmap(p, SX_PAGE));
	EXPECT_EQ(-EFAULT, sx_register(fd, p, SX_PAGE, NULL, NULL));
	close(fd);
}

TEST(refuse_regular_file_eopnotsupp)
{
	char dir[] = "/tmp/simpler-ramfs-XXXXXX", path[64];
	int fd = sx_open(), ffd;
	void *p;

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, mkdtemp(dir));
	/* ramfs: a regular filesystem that is neither shmem nor hugetlbfs */
	if (mount("none", dir, "ramfs", 0, NULL)) {
		rmdir(dir);
		SKIP(return, "cannot mount ramfs for a regular file: %s", strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/f", dir);
	ffd = open(path, O_RDWR | O_CREAT, 0600);
	ASSERT_LE(0, ffd);
	ASSERT_EQ(0, ftruncate(ffd, 4 * SX_PAGE));
	p = mmap(NULL, 4 * SX_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ffd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 1, 4 * SX_PAGE);
	EXPECT_EQ(-EOPNOTSUPP, sx_register(fd, p, 4 * SX_PAGE, NULL, NULL));
	munmap(p, 4 * SX_PAGE);
	close(ffd);
	umount(dir);
	rmdir(dir);
	close(fd);
}

TEST(refuse_pfnmap_enxio)
{
	uint64_t handle, off;
	int fd = sx_open();
	void *p, *m, *s;

	SX_SKIP_NO_DEV(fd);
	p = sx_anon(2 * SX_PAGE);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, sx_register(fd, p, 2 * SX_PAGE, &handle, &off));
	/* the owner's own mapping of its buffer is a VM_PFNMAP range */
	m = sx_map_buf(fd, NULL, 2 * SX_PAGE, off);
	ASSERT_NE(NULL, m);
	EXPECT_EQ(-ENXIO, sx_register(fd, m, 2 * SX_PAGE, NULL, NULL));
	s = sx_map_sentinel(fd);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(-ENXIO, sx_register(fd, s, SX_PAGE, NULL, NULL));
	munmap(m, 2 * SX_PAGE);
	close(fd);
}

TEST(refuse_read_only_eacces)
{
	int fd = sx_open();
	void *p;

	SX_SKIP_NO_DEV(fd);
	p = mmap(NULL, 2 * SX_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-EACCES, sx_register(fd, p, 2 * SX_PAGE, NULL, NULL));
	close(fd);
}

TEST(refuse_overlap_eexist)
{
	uint64_t h1, h2;
	int fd = sx_open();
	char *p;

	SX_SKIP_NO_DEV(fd);
	p = sx_anon(8 * SX_PAGE);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, sx_register(fd, p + 2 * SX_PAGE, 4 * SX_PAGE, &h1, NULL));
	EXPECT_EQ(-EEXIST, sx_register(fd, p + 2 * SX_PAGE, 4 * SX_PAGE, NULL, NULL));
	EXPECT_EQ(-EEXIST, sx_register(fd, p, 3 * SX_PAGE, NULL, NULL));
	EXPECT_EQ(-EEXIST, sx_register(fd, p + 5 * SX_PAGE, 3 * SX_PAGE, NULL, NULL));
	EXPECT_EQ(-EEXIST, sx_register(fd, p + 3 * SX_PAGE, SX_PAGE, NULL, NULL));
	/* adjacent ranges are fine */
	EXPECT_EQ(0, sx_register(fd, p + 6 * SX_PAGE, 2 * SX_PAGE, &h2, NULL));
	EXPECT_EQ(0, sx_register(fd, p, 2 * SX_PAGE, NULL, NULL));
	/* once unregistered, the range is free again */
	EXPECT_EQ(0, sx_unregister(fd, h1));
	EXPECT_EQ(0, sx_register(fd, p + 2 * SX_PAGE, 4 * SX_PAGE, NULL, NULL));
	close(fd);
}

TEST(registration_survives_owner_fork)
{
	uint64_t handle, off;
	struct sx_chan c;
	int fd = sx_open();
	uint64_t *p, *m;
	pid_t pid, pid2;

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	ASSERT_EQ(0, sx_chan_init(&c));
	pid = sx_fork(&c);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct simpler_lookup l;
		uint64_t *q;

		sx_probe_install();
		if (sx_lookup(fd, (void *)(uintptr_t)sx_recv_u64(c.down[0]), &l))
			_exit(10);
		q = sx_map_buf(fd, NULL, 16 * SX_PAGE, l.mmap_offset);
		if (!q || q[0] != 42)
			_exit(11);
		sx_send_u64(c.up[1], 1);
		sx_recv_u64(c.down[0]);
		/* after the owner forked again, still the live pages */
		_exit(q[0] == 43 ? 0 : 12);
	}
	p = sx_anon(16 * SX_PAGE);
	ASSERT_NE(NULL, p);
	p[0] = 42;
	ASSERT_EQ(0, sx_register(fd, p, 16 * SX_PAGE, &handle, &off));
	sx_send_u64(c.down[1], (uintptr_t)p);
	ASSERT_EQ(1, sx_recv_u64(c.up[0])) TH_LOG("member exited %d", sx_reap(pid));
	/* a fork of the owner write-protects and early-copies; pinned pages stay */
	pid2 = fork();
	ASSERT_LE(0, pid2);
	if (pid2 == 0)
		_exit(p[0] == 42 ? 0 : 1);
	EXPECT_EQ(0, sx_reap(pid2));
	p[0] = 43;
	m = sx_map_buf(fd, NULL, 16 * SX_PAGE, off);
	ASSERT_NE(NULL, m);
	EXPECT_EQ(43, m[0]);
	sx_send_u64(c.down[1], 0);
	EXPECT_EQ(0, sx_reap(pid));
	close(fd);
}

/*
 * The owner drops a registered private hugetlb range: a member's LOOKUP and
 * touch find it stale, and settling it must not fault a new huge page into
 * the owner (6.1's hugetlb GUP ignores FOLL_NOFAULT).
 */
TEST(stale_hugetlb_settles_without_allocating)
{
	uint64_t h, off, hp = 2 * SX_MIB;
	struct sx_chan c;
	long long free0;
	char *buf;
	int fd;
	pid_t m;

	fd = sx_open();
	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	ASSERT_EQ(0, sx_chan_init(&c));
	m = sx_fork(&c);
	ASSERT_LE(0, m);
	if (m == 0) {
		uint64_t addr = sx_recv_u64(c.down[0]), o = sx_recv_u64(c.down[0]), v;
		struct simpler_lookup l;
		uint64_t *p;

		sx_probe_install();
		p = sx_map_buf(fd, NULL, hp, o);
		if (!p || p[0] != 42)
			_exit(10);
		sx_send_u64(c.up[1], 1);
		if (sx_recv_u64(c.down[0]) != 2)	/* the owner dropped it */
			_exit(11);
		if (sx_lookup(fd, (void *)(uintptr_t)addr, &l) != -ESTALE)
			_exit(12);
		if (sx_probe_read(p + 1, &v) != SIGBUS)
			_exit(13);
		_exit(0);
	}
	buf = mmap(NULL, hp, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED) {
		kill(m, SIGKILL);
		sx_reap(m);
		SKIP(return, "no huge page (vm.nr_hugepages)");
	}
	buf[0] = 42;
	ASSERT_EQ(0, sx_register(fd, buf, hp, &h, &off));
	sx_send_u64(c.down[1], (uintptr_t)buf);
	sx_send_u64(c.down[1], off);
	ASSERT_EQ(1, sx_recv_u64(c.up[0]));
	ASSERT_EQ(0, madvise(buf, hp, MADV_DONTNEED));
	free0 = sx_file_value("/proc/meminfo", "HugePages_Free");
	sx_send_u64(c.down[1], 2);
	EXPECT_EQ(0, sx_reap(m));
	EXPECT_EQ(free0, sx_file_value("/proc/meminfo", "HugePages_Free"));
	EXPECT_FALSE(sx_present(getpid(), buf)) TH_LOG("a huge page was faulted into the owner");
	EXPECT_EQ(0, sx_unregister(fd, h));
	close(fd);
	EXPECT_TRUE(sx_wait_pins_balanced(5000));
}

TEST_HARNESS_MAIN
