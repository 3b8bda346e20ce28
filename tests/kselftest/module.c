// SPDX-License-Identifier: GPL-2.0
/*
 * Module lifetime: the module cannot be removed while a domain is open (the
 * open file holds it); the VM harness removes it at the end and checks that
 * succeeds with nothing left pinned.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "kselftest_harness.h"
#include "simpler_test.h"

TEST(rmmod_while_open_fails)
{
	int fd = sx_open();
	void *p;

	SX_SKIP_NO_DEV(fd);
	if (geteuid() != 0)
		SKIP(return, "needs CAP_SYS_MODULE");
	p = sx_anon(SX_PAGE);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, sx_register(fd, p, SX_PAGE, NULL, NULL));
	/*
	 * Linux 6.1 answers delete_module() on a module in use with
	 * EWOULDBLOCK (kernel/module/main.c try_stop_module), not EBUSY.
	 */
	EXPECT_EQ(-1, syscall(__NR_delete_module, "simpler", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	/* a mapping alone (fd closed) holds the module too */
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	close(fd);
	EXPECT_EQ(-1, syscall(__NR_delete_module, "simpler", O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	EXPECT_EQ(0, access(SX_DEV, F_OK));
}

TEST_HARNESS_MAIN
