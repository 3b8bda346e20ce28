// SPDX-License-Identifier: GPL-2.0
/*
 * simpler.ko ABI rules: INFO, size-first extensible structs, flags and pad
 * validation, unknown commands, bad pointers, the sentinel page.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kselftest_harness.h"
#include "simpler_test.h"

TEST(info_reports_abi_1)
{
	struct simpler_info info;
	int fd = sx_open();

	SX_SKIP_NO_DEV(fd);
	ASSERT_EQ(0, sx_info(fd, &info));
	EXPECT_EQ(SIMPLER_ABI_VERSION, info.abi_version);
	EXPECT_EQ(1, info.abi_version);
	EXPECT_EQ(sizeof(info), info.size);
	EXPECT_EQ((uint32_t)sysconf(_SC_PAGESIZE), info.page_size);
	EXPECT_EQ(SIMPLER_FEAT_HOSTBUF | SIMPLER_FEAT_FORKTRACK | SIMPLER_FEAT_STALE,
		  info.features & (SIMPLER_FEAT_HOSTBUF | SIMPLER_FEAT_FORKTRACK |
				   SIMPLER_FEAT_STALE));
	EXPECT_EQ(SIMPLER_ROLE_OWNER, info.role);
	EXPECT_EQ(0, info.nr_members);
	EXPECT_EQ(0, info.nr_buffers);
	EXPECT_EQ(0, info.pinned_bytes);
	EXPECT_LT(0, info.pinned_limit);
	EXPECT_LT(0, info.domain_id);
	close(fd);
}

TEST(each_open_is_a_new_domain)
{
	struct simpler_info a, b;
	int fa = sx_open(), fb;

	SX_SKIP_NO_DEV(fa);
	fb = sx_open();
	ASSERT_LE(0, fb);
	ASSERT_EQ(0, sx_info(fa, &a));
	ASSERT_EQ(0, sx_info(fb, &b));
	EXPECT_NE(a.domain_id, b.domain_id);
	close(fa);
	close(fb);
}

TEST(unknown_command_enotty)
{
	struct simpler_info info = { .size = sizeof(info) };
	int fd = sx_open();

	SX_SKIP_NO_DEV(fd);
	EXPECT_EQ(-ENOTTY, sx_ioctl(fd, _IOWR(SIMPLER_IOC_MAGIC, 0x3f, struct simpler_info),
				    &info));
	/* right number, wrong magic */
	EXPECT_EQ(-ENOTTY, sx_ioctl(fd, _IOWR(0xB9, 0x00, struct simpler_info), &info));
	/* right number, wrong direction */
	EXPECT_EQ(-ENOTTY, sx_ioctl(fd, _IOR(SIMPLER_IOC_MAGIC, 0x00, struct simpler_info),
				    &info));
	close(fd);
}

TEST(unknown_flags_einval)
{
	struct simpler_info info = { .size = sizeof(info), .flags = 1 };
	struct simpler_register r = { .size = sizeof(r), .flags = 0x80 };
	struct simpler_unregister u = { .size = sizeof(u), .flags = 2, .handle = 1 };
	struct simpler_query q = { .size = sizeof(q), .flags = 1 << 31, .len = 1 };
	struct simpler_lookup l = { .size = sizeof(l), .flags = 4 };
	int fd = sx_open();
	void *p;

	SX_SKIP_NO_DEV(fd);
	p = sx_anon(SX_PAGE);
	ASSERT_NE(NULL, p);
	r.addr = (uintptr_t)p;
	r.len = SX_PAGE;
	q.addr = (uintptr_t)p;
	l.addr = (uintptr_t)p;
	EXPECT_EQ(-EINVAL, sx_ioctl(fd, SIMPLER_IOC_INFO, &info));
	EXPECT_EQ(-EINVAL, sx_ioctl(fd, SIMPLER_IOC_REGISTER, &r));
	EXPECT_EQ(-EINVAL, sx_ioctl(fd, SIMPLER_IOC_UNREGISTER, &u));
	EXPECT_EQ(-EINVAL, sx_ioctl(fd, SIMPLER_IOC_QUERY, &q));
	EXPECT_EQ(-EINVAL, sx_ioctl(fd, SIMPLER_IOC_LOOKUP, &l));
	/* nothing was registered by the refused call */
	EXPECT_EQ(0, sx_nr_members(fd));
	ASSERT_EQ(0, sx_info(fd, &info));
	EXPECT_EQ(0, info.nr_buffers);
	close(fd);
}

TEST(nonzero_pad_einval)
{
	struct simpler_query q = { .size = sizeof(q), .len = 1, .pad = 1 };
	struct simpler_lookup l = { .size = sizeof(l), .pad = 7 };
	int fd = sx_open();
	void *p;

	SX_SKIP_NO_DEV(fd);
	p = sx_anon(SX_PAGE);
	ASSERT_NE(NULL, p);
	q.addr = (uintptr_t)p;
	l.addr = (uintptr_t)p;
	EXPECT_EQ(-EINVAL, sx_ioctl(fd, SIMPLER_IOC_QUERY, &q));
	EXPECT_EQ(-EINVAL, sx_ioctl(fd, SIMPLER_IOC_LOOKUP, &l));
	close(fd);
}

TEST(short_size_einval)
{
	static const unsigned long cmds[] = { SIMPLER_IOC_INFO, SIMPLER_IOC_REGISTER,
					      SIMPLER_IOC_UNREGISTER, SIMPLER_IOC_QUERY,
					      SIMPLER_IOC_LOOKUP };
	static const uint32_t ver0[] = { SIMPLER_INFO_SIZE_VER0, SIMPLER_REGISTER_SIZE_VER0,
					 SIMPLER_UNREGISTER_SIZE_VER0, SIMPLER_QUERY_SIZE_VER0,
					 SIMPLER_LOOKUP_SIZE_VER0 };
	uint32_t size;
	uint64_t buf[16];
	unsigned int i;
	int fd = sx_open();

	SX_SKIP_NO_DEV(fd);
	for (i = 0; i < 5; i++) {
		memset(buf, 0, sizeof(buf));
		size = ver0[i] - 8;
		memcpy(buf, &size, sizeof(size));
		EXPECT_EQ(-EINVAL, sx_ioctl(fd, cmds[i], buf)) TH_LOG("cmd %u", i);
		size = 0;
		memcpy(buf, &size, sizeof(size));
		EXPECT_EQ(-EINVAL, sx_ioctl(fd, cmds[i], buf)) TH_LOG("cmd %u size 0", i);
	}
	close(fd);
}

struct info_plus {
	struct simpler_info info;
	uint64_t future[2];
};

TEST(longer_size_nonzero_tail_e2big)
{
	struct info_plus x;
	int fd = sx_open();

	SX_SKIP_NO_DEV(fd);
	memset(&x, 0, sizeof(x));
	x.info.size = sizeof(x);
	x.future[1] = 1;
	EXPECT_EQ(-E2BIG, sx_ioctl(fd, SIMPLER_IOC_INFO, &x));
	EXPECT_EQ(0, x.info.abi_version);	/* nothing was written back */
	close(fd);
}

TEST(longer_size_zero_tail_works)
{
	struct info_plus x;
	int fd = sx_open();

	SX_SKIP_NO_DEV(fd);
	memset(&x, 0, sizeof(x));
	x.info.size = sizeof(x);
	ASSERT_EQ(0, sx_ioctl(fd, SIMPLER_IOC_INFO, &x));
	EXPECT_EQ(1, x.info.abi_version);
	EXPECT_EQ(SIMPLER_ROLE_OWNER, x.info.role);
	/* the kernel writes back only what it knows */
	EXPECT_EQ(0, x.future[0]);
	EXPECT_EQ(0, x.future[1]);
	close(fd);
}

TEST(size_beyond_a_page_e2big)
{
	static uint64_t big[1024];
	uint32_t size = 8192;
	int fd = sx_open();

	SX_SKIP_NO_DEV(fd);
	memset(big, 0, sizeof(big));
	memcpy(big, &size, sizeof(size));
	EXPECT_EQ(-E2BIG, sx_ioctl(fd, SIMPLER_IOC_INFO, big));
	close(fd);
}

TEST(bad_pointer_efault)
{
	int fd = sx_open();

	SX_SKIP_NO_DEV(fd);
	EXPECT_EQ(-EFAULT, sx_ioctl(fd, SIMPLER_IOC_INFO, (void *)16));
	EXPECT_EQ(-EFAULT, sx_ioctl(fd, SIMPLER_IOC_REGISTER, NULL));
	close(fd);
}

TEST(sentinel_page_is_read_only_magic)
{
	int fd = sx_open();
	uint32_t *s;
	void *p;

	SX_SKIP_NO_DEV(fd);
	s = sx_map_sentinel(fd);
	ASSERT_NE(NULL, s);
	EXPECT_EQ(SIMPLER_SENTINEL_MAGIC, s[0]);
	EXPECT_EQ(SIMPLER_ABI_VERSION, s[1]);
	EXPECT_EQ(-1, mprotect(s, SX_PAGE, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	/* writable, private, executable or larger sentinels are refused */
	p = mmap(NULL, SX_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EACCES, errno);
	p = mmap(NULL, SX_PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, 2 * SX_PAGE, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, SX_PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EACCES, errno);
	/* an offset no buffer has */
	p = mmap(NULL, SX_PAGE, PROT_READ, MAP_SHARED, fd, 1ULL << 40);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	munmap(s, SX_PAGE);
	close(fd);
}

/*
 * mmap offsets stay below 2^44 (a 32-bit mmap2 page offset) however many
 * buffers the domain (or anyone else) registered: this program also runs as
 * a 32-bit binary, whose member must map the buffer.
 */
TEST(member_maps_after_hundreds_of_registrations)
{
	uint64_t h, off, *p;
	struct sx_chan c;
	int fd, i;
	pid_t m;

	fd = sx_open();
	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	ASSERT_EQ(0, sx_chan_init(&c));
	m = sx_fork(&c);
	ASSERT_LE(0, m);
	if (m == 0) {
		uint64_t o = sx_recv_u64(c.down[0]);
		uint64_t *q = sx_map_buf(fd, NULL, SX_PAGE, o);

		_exit(!q ? 10 : q[0] == 0x5eed ? 0 : 11);
	}
	p = sx_anon(SX_PAGE);
	ASSERT_NE(NULL, p);
	p[0] = 0x5eed;
	for (i = 0; i < 300; i++) {
		ASSERT_EQ(0, sx_register(fd, p, SX_PAGE, &h, &off));
		ASSERT_EQ(0, sx_unregister(fd, h));
	}
	ASSERT_EQ(0, sx_register(fd, p, SX_PAGE, &h, &off));
	EXPECT_GT(1ULL << 44, off);
	sx_send_u64(c.down[1], off);
	EXPECT_EQ(0, sx_reap(m));
	close(fd);
}

TEST_HARNESS_MAIN
