// SPDX-License-Identifier: GPL-2.0
/*
 * QUERY verdicts, each in its own test: what every member can see of a range
 * of the owner, judged against the owner's VMAs at each member's fork.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <sched.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include "kselftest_harness.h"
#include "simpler_test.h"

#define LEN (16 * SX_PAGE)

FIXTURE(q) {
	int fd;
	pid_t members[2];
	int nr_members;
};

FIXTURE_SETUP(q)
{
	self->nr_members = 0;
	self->fd = sx_open();
	SX_SKIP_NO_DEV(self->fd);
	ASSERT_NE(NULL, sx_map_sentinel(self->fd));
}

FIXTURE_TEARDOWN(q)
{
	int i;

	for (i = 0; i < self->nr_members; i++) {
		kill(self->members[i], SIGKILL);
		sx_reap(self->members[i]);
	}
	if (self->fd >= 0)
		close(self->fd);
}

/* fork a member that just sleeps; the fork is the snapshot point */
static void fork_member(struct __test_metadata *_metadata, FIXTURE_DATA(q) *self)
{
	pid_t pid = sx_fork(NULL);

	ASSERT_LE(0, pid);
	if (pid == 0) {
		for (;;)
			pause();
	}
	self->members[self->nr_members++] = pid;
	ASSERT_EQ(self->nr_members, sx_nr_members(self->fd));
}

static void *memfd_map(size_t len, int *mfd_out, int prot, int flags, void *at, off_t off)
{
	int mfd = memfd_create("simpler-q", MFD_CLOEXEC);
	void *p;

	if (mfd < 0 || ftruncate(mfd, len + off))
		return NULL;
	p = mmap(at, len, prot, flags | (at ? MAP_FIXED : 0), mfd, off);
	if (mfd_out)
		*mfd_out = mfd;
	else
		close(mfd);
	return p == MAP_FAILED ? NULL : p;
}

TEST_F(q, prefork_memfd_shared_is_shared)
{
	void *p = memfd_map(LEN, NULL, PROT_READ | PROT_WRITE, MAP_SHARED, NULL, 0);

	ASSERT_NE(NULL, p);
	fork_member(_metadata, self);
	EXPECT_EQ(SIMPLER_VIS_SHARED, sx_verdict(self->fd, p, LEN));
	EXPECT_EQ(SIMPLER_VIS_SHARED, sx_verdict(self->fd, (char *)p + 100, 5));
}

TEST_F(q, prefork_shared_anonymous_is_shared)
{
	void *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	fork_member(_metadata, self);
	EXPECT_EQ(SIMPLER_VIS_SHARED, sx_verdict(self->fd, p, LEN));
}

TEST_F(q, prefork_sysv_shm_is_shared)
{
	int id = shmget(IPC_PRIVATE, LEN, IPC_CREAT | 0600);
	void *p;

	ASSERT_LE(0, id);
	p = shmat(id, NULL, 0);
	shmctl(id, IPC_RMID, NULL);
	ASSERT_NE((void *)-1, p);
	fork_member(_metadata, self);
	EXPECT_EQ(SIMPLER_VIS_SHARED, sx_verdict(self->fd, p, LEN));
	shmdt(p);
}

TEST_F(q, shared_map_of_read_only_fd_is_shared)
{
	char path[64];
	int mfd, ro;
	void *p;

	/* MAP_SHARED of an O_RDONLY fd has VM_MAYSHARE but not VM_SHARED */
	ASSERT_NE(NULL, memfd_map(LEN, &mfd, PROT_READ, MAP_SHARED, NULL, 0));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	ro = open(path, O_RDONLY);
	ASSERT_LE(0, ro);
	p = mmap(NULL, LEN, PROT_READ, MAP_SHARED, ro, 0);
	ASSERT_NE(MAP_FAILED, p);
	fork_member(_metadata, self);
	EXPECT_EQ(SIMPLER_VIS_SHARED, sx_verdict(self->fd, p, LEN));
}

TEST_F(q, prefork_malloc_is_private)
{
	char *p = malloc(LEN);

	ASSERT_NE(NULL, p);
	memset(p, 1, LEN);
	fork_member(_metadata, self);
	EXPECT_EQ(SIMPLER_VIS_PRIVATE, sx_verdict(self->fd, p, LEN));
	free(p);
}

TEST_F(q, prefork_private_file_map_is_private)
{
	void *p = memfd_map(LEN, NULL, PROT_READ | PROT_WRITE, MAP_PRIVATE, NULL, 0);

	ASSERT_NE(NULL, p);
	fork_member(_metadata, self);
	EXPECT_EQ(SIMPLER_VIS_PRIVATE, sx_verdict(self->fd, p, LEN));
}

TEST_F(q, postfork_mmap_is_unmapped)
{
	void *p;

	fork_member(_metadata, self);
	p = memfd_map(LEN, NULL, PROT_READ | PROT_WRITE, MAP_SHARED, NULL, 0);
	ASSERT_NE(NULL, p);
	EXPECT_EQ(SIMPLER_VIS_UNMAPPED, sx_verdict(self->fd, p, LEN));
}

TEST_F(q, hole_is_unmapped)
{
	char *p = memfd_map(3 * SX_PAGE, NULL, PROT_READ | PROT_WRITE, MAP_SHARED, NULL, 0);

	ASSERT_NE(NULL, p);
	fork_member(_metadata, self);
	ASSERT_EQ(0, munmap(p + SX_PAGE, SX_PAGE));
	EXPECT_EQ(SIMPLER_VIS_UNMAPPED, sx_verdict(self->fd, p + SX_PAGE, 10));
	/* shared, hole, shared: the hole wins */
	EXPECT_EQ(SIMPLER_VIS_UNMAPPED, sx_verdict(self->fd, p, 3 * SX_PAGE));
}

TEST_F(q, other_memfd_at_reused_va_is_mismatch)
{
	void *p = memfd_map(LEN, NULL, PROT_READ | PROT_WRITE, MAP_SHARED, NULL, 0);

	ASSERT_NE(NULL, p);
	fork_member(_metadata, self);
	/* a different object now lives where the member has the old one */
	ASSERT_EQ(p, memfd_map(LEN, NULL, PROT_READ | PROT_WRITE, MAP_SHARED, p, 0));
	EXPECT_EQ(SIMPLER_VIS_MISMATCH, sx_verdict(self->fd, p, LEN));
}

TEST_F(q, same_memfd_other_offset_is_mismatch)
{
	int mfd;
	char *p = memfd_map(LEN, &mfd, PROT_READ | PROT_WRITE, MAP_SHARED, NULL, 0);
	void *q;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, ftruncate(mfd, 2 * LEN));
	fork_member(_metadata, self);
	q = mmap(p, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mfd, SX_PAGE);
	ASSERT_EQ((void *)p, q);
	EXPECT_EQ(SIMPLER_VIS_MISMATCH, sx_verdict(self->fd, p, LEN));
}

TEST_F(q, prefork_memfd_mapped_again_at_new_va_is_not_shared)
{
	int mfd;
	void *p = memfd_map(LEN, &mfd, PROT_READ | PROT_WRITE, MAP_SHARED, NULL, 0), *q;

	ASSERT_NE(NULL, p);
	fork_member(_metadata, self);
	q = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, q);
	/* same pages, but the member has nothing at q */
	EXPECT_EQ(SIMPLER_VIS_UNMAPPED, sx_verdict(self->fd, q, LEN));
	EXPECT_EQ(SIMPLER_VIS_SHARED, sx_verdict(self->fd, p, LEN));
}

TEST_F(q, dontfork_range_is_not_shared)
{
	void *p = memfd_map(LEN, NULL, PROT_READ | PROT_WRITE, MAP_SHARED, NULL, 0);

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, madvise(p, LEN, MADV_DONTFORK));
	fork_member(_metadata, self);
	EXPECT_EQ(SIMPLER_VIS_UNMAPPED, sx_verdict(self->fd, p, LEN));
}

TEST_F(q, wipeonfork_range_is_not_shared)
{
	void *p = sx_anon(LEN);

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, madvise(p, LEN, MADV_WIPEONFORK));
	fork_member(_metadata, self);
	EXPECT_EQ(SIMPLER_VIS_PRIVATE, sx_verdict(self->fd, p, LEN));
}

TEST_F(q, registered_reports_handle_and_offset)
{
	struct simpler_query q;
	uint64_t handle;
	char *p;

	fork_member(_metadata, self);
	p = sx_anon(LEN);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, sx_register(self->fd, p, LEN, &handle, NULL));
	ASSERT_EQ(0, sx_query(self->fd, p + SX_PAGE + 8, 100, &q));
	EXPECT_EQ(SIMPLER_VIS_REGISTERED, q.verdict);
	EXPECT_EQ(handle, q.handle);
	EXPECT_EQ(SX_PAGE + 8, q.offset);
	EXPECT_EQ(0, q.buf_flags);
	EXPECT_EQ(1, q.nr_members);
	/* running past the end of the buffer is not REGISTERED */
	ASSERT_EQ(0, sx_query(self->fd, p + LEN - 8, 16, &q));
	EXPECT_NE(SIMPLER_VIS_REGISTERED, q.verdict);
	EXPECT_EQ(handle, q.handle);
}

TEST_F(q, range_spanning_two_classes_reports_the_worse)
{
	char *p = memfd_map(2 * LEN, NULL, PROT_READ | PROT_WRITE, MAP_SHARED, NULL, 0);
	void *q;

	ASSERT_NE(NULL, p);
	/* second half: private anonymous, adjacent to the shared first half */
	q = mmap(p + LEN, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0);
	ASSERT_EQ((void *)(p + LEN), q);
	fork_member(_metadata, self);
	EXPECT_EQ(SIMPLER_VIS_SHARED, sx_verdict(self->fd, p, LEN));
	EXPECT_EQ(SIMPLER_VIS_PRIVATE, sx_verdict(self->fd, p + LEN, LEN));
	EXPECT_EQ(SIMPLER_VIS_PRIVATE, sx_verdict(self->fd, p + LEN - 8, 16));
	EXPECT_EQ(SIMPLER_VIS_PRIVATE, sx_verdict(self->fd, p, 2 * LEN));
}

TEST_F(q, member_forked_later_decides)
{
	struct simpler_query q;
	void *p;

	/* member 1 predates the mapping, member 2 has it */
	fork_member(_metadata, self);
	p = memfd_map(LEN, NULL, PROT_READ | PROT_WRITE, MAP_SHARED, NULL, 0);
	ASSERT_NE(NULL, p);
	fork_member(_metadata, self);
	ASSERT_EQ(0, sx_query(self->fd, p, LEN, &q));
	EXPECT_EQ(SIMPLER_VIS_UNMAPPED, q.verdict);
	EXPECT_EQ(2, q.nr_members);
	EXPECT_EQ(self->members[0], q.member_pid);
	EXPECT_LE(1, q.member_id);
	/* once the first member is gone, every member sees it */
	kill(self->members[0], SIGKILL);
	sx_reap(self->members[0]);
	self->members[0] = self->members[1];
	self->nr_members = 1;
	ASSERT_EQ(0, sx_query(self->fd, p, LEN, &q));
	EXPECT_EQ(SIMPLER_VIS_SHARED, q.verdict);
	EXPECT_EQ(0, q.member_id);
	EXPECT_EQ(1, q.nr_members);
}

TEST_F(q, without_members_judges_a_fork_now)
{
	void *s = memfd_map(LEN, NULL, PROT_READ | PROT_WRITE, MAP_SHARED, NULL, 0);
	void *a = sx_anon(LEN);

	ASSERT_NE(NULL, s);
	ASSERT_NE(NULL, a);
	EXPECT_EQ(SIMPLER_VIS_SHARED, sx_verdict(self->fd, s, LEN));
	EXPECT_EQ(SIMPLER_VIS_PRIVATE, sx_verdict(self->fd, a, LEN));
}

TEST_F(q, bad_ranges_refused)
{
	void *p = sx_anon(LEN);

	ASSERT_NE(NULL, p);
	EXPECT_EQ(1000 + ERANGE, sx_verdict(self->fd, p, 0));
	EXPECT_EQ(1000 + EOVERFLOW, sx_verdict(self->fd, (void *)(uintptr_t)~0xfffULL, 0x2000));
}

/*
 * Pids the module reports are in the caller's pid namespace: QUERY's
 * member_pid, and debugfs's owner_pid for whoever reads it.
 */
TEST(pids_are_in_the_callers_namespace)
{
	struct dirent *de;
	struct sx_chan c;
	char path[320];
	pid_t owner;
	DIR *dir;
	int fd;

	fd = sx_open();
	SX_SKIP_NO_DEV(fd);
	close(fd);
	if (unshare(CLONE_NEWPID))
		SKIP(return, "cannot make a pid namespace (root, CONFIG_PID_NS)");
	ASSERT_EQ(0, sx_chan_init(&c));
	/* pid 1 of the new namespace (sx_fork's parent check cannot see its parent) */
	owner = fork();
	ASSERT_LE(0, owner);
	if (owner == 0) {
		char *priv = sx_anon(LEN);
		struct simpler_query q;
		long long dbg_pid;
		pid_t m;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(c.down[1]);
		close(c.up[0]);
		fd = sx_open();
		if (fd < 0 || !priv || !sx_map_sentinel(fd) || getpid() != 1)
			_exit(10);
		priv[0] = 1;
		m = fork();
		if (m == 0) {
			for (;;)
				pause();
		}
		if (sx_query(fd, priv, LEN, &q) || q.verdict != SIMPLER_VIS_PRIVATE)
			_exit(11);
		if (q.member_pid != m)
			_exit(12);
		sx_domain_path(fd, path, sizeof(path));
		dbg_pid = sx_file_value(path, "owner_pid");
		if (dbg_pid >= 0 && dbg_pid != 1)
			_exit(13);
		sx_send_u64(c.up[1], 1);
		sx_recv_u64(c.down[0]);	/* until the test has read it too */
		kill(m, SIGKILL);
		waitpid(m, NULL, 0);
		_exit(0);
	}
	close(c.down[0]);
	close(c.up[1]);
	ASSERT_EQ(1, sx_recv_u64(c.up[0])) TH_LOG("owner exited %d", sx_reap(owner));
	/* from the parent namespace the same owner has its real pid (read here:
	 * a child of this process would be in the new namespace) */
	dir = opendir("/sys/kernel/debug/simpler/domains");
	if (dir) {
		bool seen = false;

		while ((de = readdir(dir))) {
			snprintf(path, sizeof(path), "/sys/kernel/debug/simpler/domains/%s", de->d_name);
			seen |= sx_file_value(path, "owner_pid") == owner;
		}
		closedir(dir);
		EXPECT_TRUE(seen);
	}
	sx_send_u64(c.down[1], 1);
	EXPECT_EQ(0, sx_reap(owner));
}

TEST_HARNESS_MAIN
