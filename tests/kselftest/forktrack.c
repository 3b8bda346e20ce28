// SPDX-License-Identifier: GPL-2.0
/*
 * Fork tracking: children forked while the owner maps the sentinel become
 * members; exiting (or exec'ing) members are dropped; threads, vfork
 * children, grandchildren and children forked without the sentinel are not
 * members.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include "kselftest_harness.h"
#include "simpler_test.h"

/* a child that reports its INFO up the pipe, then waits to be told to exit */
static pid_t spawn_waiter(int fd, struct sx_chan *c)
{
	struct simpler_info info;
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (sx_info(fd, &info))
			_exit(10);
		sx_send_u64(c->up[1], ((uint64_t)info.role << 32) | info.member_id);
		sx_recv_u64(c->down[0]);
		_exit(0);
	}
	return pid;
}

TEST(fork_with_sentinel_makes_member)
{
	struct sx_chan c;
	uint64_t rep;
	int fd = sx_open();
	pid_t pid;

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	ASSERT_EQ(0, sx_chan_init(&c));
	EXPECT_EQ(0, sx_nr_members(fd));
	pid = spawn_waiter(fd, &c);
	ASSERT_LT(0, pid);
	rep = sx_recv_u64(c.up[0]);
	EXPECT_EQ(SIMPLER_ROLE_MEMBER, rep >> 32);
	EXPECT_LE(1, rep & 0xffffffff);
	EXPECT_EQ(1, sx_nr_members(fd));
	sx_send_u64(c.down[1], 0);
	EXPECT_EQ(0, sx_reap(pid));
	close(fd);
}

TEST(exiting_member_is_dropped)
{
	int fd = sx_open(), i;
	pid_t pids[4];

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	for (i = 0; i < 4; i++) {
		pids[i] = sx_fork(NULL);
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			pause();
			_exit(0);
		}
	}
	EXPECT_EQ(4, sx_nr_members(fd));
	kill(pids[1], SIGKILL);
	EXPECT_EQ(128 + SIGKILL, sx_reap(pids[1]));
	EXPECT_EQ(3, sx_nr_members(fd));
	for (i = 0; i < 4; i++) {
		if (i == 1)
			continue;
		kill(pids[i], SIGTERM);
		sx_reap(pids[i]);
	}
	EXPECT_EQ(0, sx_nr_members(fd));
	close(fd);
}

TEST(member_ids_are_unique)
{
	struct sx_chan c;
	uint64_t ids[3];
	int fd = sx_open(), i;
	pid_t pids[3];

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	ASSERT_EQ(0, sx_chan_init(&c));
	for (i = 0; i < 3; i++) {
		pids[i] = spawn_waiter(fd, &c);
		ASSERT_LT(0, pids[i]);
		ids[i] = sx_recv_u64(c.up[0]) & 0xffffffff;
	}
	EXPECT_NE(ids[0], ids[1]);
	EXPECT_NE(ids[1], ids[2]);
	EXPECT_NE(ids[0], ids[2]);
	for (i = 0; i < 3; i++)
		sx_send_u64(c.down[1], 0);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(0, sx_reap(pids[i]));
	close(fd);
}

static void *thread_fn(void *arg)
{
	int *fd = arg;

	return (void *)(intptr_t)sx_nr_members(*fd);
}

TEST(thread_is_not_member)
{
	int fd = sx_open();
	pthread_t t;
	void *ret;

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	ASSERT_EQ(0, pthread_create(&t, NULL, thread_fn, &fd));
	ASSERT_EQ(0, pthread_join(t, &ret));
	EXPECT_EQ(0, (intptr_t)ret);
	EXPECT_EQ(0, sx_nr_members(fd));
	close(fd);
}

TEST(vfork_is_not_member)
{
	static volatile int seen = -1, role = -1;
	static struct simpler_info info;
	static int fd;
	pid_t pid;

	fd = sx_open();

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	pid = vfork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* shares the owner's mm: the owner's role, no new member */
		if (!sx_info(fd, &info)) {
			seen = info.nr_members;
			role = info.role;
		}
		_exit(0);
	}
	EXPECT_EQ(0, sx_reap(pid));
	EXPECT_EQ(0, seen);
	EXPECT_EQ(SIMPLER_ROLE_OWNER, role);
	EXPECT_EQ(0, sx_nr_members(fd));
	close(fd);
}

TEST(fork_without_sentinel_is_not_member)
{
	struct sx_chan c;
	int fd = sx_open();
	pid_t pid;

	SX_SKIP_NO_DEV(fd);
	ASSERT_EQ(0, sx_chan_init(&c));
	pid = spawn_waiter(fd, &c);
	ASSERT_LT(0, pid);
	EXPECT_EQ(SIMPLER_ROLE_NONE, sx_recv_u64(c.up[0]) >> 32);
	EXPECT_EQ(0, sx_nr_members(fd));
	sx_send_u64(c.down[1], 0);
	EXPECT_EQ(0, sx_reap(pid));
	/* mapping the sentinel later does not adopt existing children */
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	EXPECT_EQ(0, sx_nr_members(fd));
	close(fd);
}

TEST(unmapped_sentinel_stops_tracking)
{
	int fd = sx_open();
	void *s;
	pid_t pid;

	SX_SKIP_NO_DEV(fd);
	s = sx_map_sentinel(fd);
	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, munmap(s, SX_PAGE));
	pid = sx_fork(NULL);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	EXPECT_EQ(0, sx_nr_members(fd));
	kill(pid, SIGKILL);
	sx_reap(pid);
	close(fd);
}

TEST(grandchild_is_not_member)
{
	struct sx_chan c;
	int fd = sx_open();
	pid_t pid;

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	ASSERT_EQ(0, sx_chan_init(&c));
	pid = sx_fork(NULL);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* the member forks; its child reports to the owner */
		pid_t g = spawn_waiter(fd, &c);

		_exit(g > 0 && sx_reap(g) == 0 ? 0 : 1);
	}
	EXPECT_EQ(SIMPLER_ROLE_NONE, sx_recv_u64(c.up[0]) >> 32);
	EXPECT_EQ(1, sx_nr_members(fd));
	sx_send_u64(c.down[1], 0);
	EXPECT_EQ(0, sx_reap(pid));
	EXPECT_EQ(0, sx_nr_members(fd));
	close(fd);
}

TEST(exec_drops_member)
{
	int fd = sx_open(), go[2];
	char b;
	pid_t pid;

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	ASSERT_EQ(0, pipe(go));
	pid = sx_fork(NULL);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &b, 1) != 1)
			_exit(2);
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(3);
	}
	close(go[0]);
	EXPECT_EQ(1, sx_nr_members(fd));
	ASSERT_EQ(1, write(go[1], "x", 1));
	/* the old mm goes away at exec: wait (bounded) for the member to drop */
	for (int i = 0; i < 500 && sx_nr_members(fd) != 0; i++)
		usleep(10000);
	EXPECT_EQ(0, sx_nr_members(fd));
	EXPECT_EQ(0, kill(pid, 0));	/* still running, as sleep */
	kill(pid, SIGKILL);
	sx_reap(pid);
	close(fd);
}

TEST(two_sentinels_one_member)
{
	int fd = sx_open();
	pid_t pid;

	SX_SKIP_NO_DEV(fd);
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	ASSERT_NE(NULL, sx_map_sentinel(fd));
	pid = sx_fork(NULL);
	ASSERT_LE(0, pid);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	EXPECT_EQ(1, sx_nr_members(fd));
	kill(pid, SIGKILL);
	sx_reap(pid);
	EXPECT_EQ(0, sx_nr_members(fd));
	close(fd);
}

TEST(sentinel_cannot_be_split_or_moved)
{
	int fd = sx_open();
	void *s, *t;

	SX_SKIP_NO_DEV(fd);
	s = sx_map_sentinel(fd);
	ASSERT_NE(NULL, s);
	t = mremap(s, SX_PAGE, SX_PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
		   (char *)sx_anon(SX_PAGE));
	EXPECT_EQ(MAP_FAILED, t);
	EXPECT_EQ(SIMPLER_SENTINEL_MAGIC, *(volatile uint32_t *)s);
	close(fd);
}

TEST_HARNESS_MAIN
