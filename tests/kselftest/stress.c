// SPDX-License-Identifier: GPL-2.0
/*
 * Stress: for SIMPLER_STRESS_SECONDS (30 by default, longer until enough
 * happened, 240 s at most) an owner registers,
 * unregisters, unmaps-before-unregistering and MADV_DONTNEEDs buffers in one
 * thread and keeps 4 members alive in another, forking replacements as they
 * exit; members look buffers up, map them, check every page they can read,
 * fork throw-away children and exit at random, mappings and all.  Every read
 * must give the right data or SIGBUS, never a stale page; afterwards nothing
 * may be left pinned or registered.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "kselftest_harness.h"
#include "simpler_test.h"

#define NSLOTS 16
#define NMEMBERS 4
#define MAXPAGES 64

struct slot {
	_Atomic uint64_t addr;	/* 0: empty */
};

struct shared {
	struct slot slots[NSLOTS];
	atomic_int stop;
	_Atomic uint64_t maps, pages_read, sigbus, lookups_missed, bad_reads, member_forks;
	_Atomic uint64_t bad_where;
};

static uint64_t tag(uint64_t addr, uint64_t len, uint64_t page)
{
	return sx_pattern(addr ^ (len << 40), page);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* only syscalls from here: the member is a fork of a multithreaded owner */
static int member_loop(int fd, struct shared *sh, uint64_t seed, int iterations)
{
	struct simpler_lookup l;
	uint64_t addr, v, j;
	uint64_t *p;
	pid_t g;
	int it;

	sx_probe_install();
	for (it = 0; it < iterations && !atomic_load(&sh->stop); it++) {
		addr = atomic_load(&sh->slots[rnd(&seed) % NSLOTS].addr);
		if (!addr)
			continue;
		if (sx_lookup(fd, (void *)(uintptr_t)addr, &l)) {
			atomic_fetch_add(&sh->lookups_missed, 1);
			continue;
		}
		p = mmap(NULL, l.buf_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, l.mmap_offset);
		if (p == MAP_FAILED) {
			atomic_fetch_add(&sh->lookups_missed, 1);
			continue;
		}
		atomic_fetch_add(&sh->maps, 1);
		for (j = 0; j < l.buf_len / SX_PAGE; j++) {
			if (sx_probe_read(p + j * SX_PAGE / 8, &v)) {
				atomic_fetch_add(&sh->sigbus, 1);
				continue;
			}
			atomic_fetch_add(&sh->pages_read, 1);
			if (v != tag(l.buf_addr, l.buf_len, j)) {
				atomic_fetch_add(&sh->bad_reads, 1);
				atomic_store(&sh->bad_where, l.handle);
			}
			/* members may write: word 1 is theirs */
			sx_probe_write(p + j * SX_PAGE / 8 + 1, it);
		}
		switch (rnd(&seed) % 8) {
		case 0:	/* exit with the mapping still there */
			_exit(0);
		case 1:	/* a child of a member: not a member, maps nothing */
			g = fork();
			if (g == 0)
				_exit(mmap(NULL, SX_PAGE, PROT_READ, MAP_SHARED, fd, l.mmap_offset) ==
				      MAP_FAILED ? 0 : 1);
			if (g > 0 && sx_reap(g) != 0)
				atomic_fetch_add(&sh->bad_reads, 1);
			atomic_fetch_add(&sh->member_forks, 1);
			break;
		default:
			break;
		}
		munmap(p, l.buf_len);
	}
	return 0;
}

struct forker {
	int fd;
	struct shared *sh;
	_Atomic uint64_t forks;	/* read by the owner while it runs */
	uint64_t member_failures;
};

/* keeps NMEMBERS members alive until stop; reaps them all at the end */
static void *forker_main(void *arg)
{
	struct forker *f = arg;
	pid_t pids[NMEMBERS] = { 0 };
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	int i, st;

	while (!atomic_load(&f->sh->stop)) {
		for (i = 0; i < NMEMBERS; i++) {
			if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
				if (!WIFEXITED(st) || WEXITSTATUS(st))
					f->member_failures++;
				pids[i] = 0;
			}
			if (pids[i] == 0) {
				seed += 0x1234567;
				pids[i] = fork();
				if (pids[i] == 0) {
					prctl(PR_SET_PDEATHSIG, SIGKILL);
					_exit(member_loop(f->fd, f->sh, seed | 1, 50 + seed % 200));
				}
				f->forks++;
			}
		}
		usleep(2000);
	}
	for (i = 0; i < NMEMBERS; i++)
		if (pids[i] > 0 && (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
				    WEXITSTATUS(st)))
			f->member_failures++;
	return NULL;
}

struct owned {
	uint64_t *mem;
	uint64_t len, handle;
	bool registered, mapped;
};

static void release(int fd, struct owned *o)
{
	if (o->registered)
		sx_unregister(fd, o->handle);
	if (o->mapped)
		munmap(o->mem, o->len);
	memset(o, 0, sizeof(*o));
}

FIXTURE(st) {
	int fd;
	void *sentinel;
};

FIXTURE_SETUP(st)
{
	self->fd = sx_open();
	SX_SKIP_NO_DEV(self->fd);
	self->sentinel = sx_map_sentinel(self->fd);
	ASSERT_NE(NULL, self->sentinel);
}

FIXTURE_TEARDOWN(st)
{
}

TEST_F_TIMEOUT(st, concurrent_register_map_fork_exit, 300)
{
	const char *env = getenv("SIMPLER_STRESS_SECONDS");
	int seconds = env ? atoi(env) : 30, kmsg = sx_kmsg_mark(), i;
	struct owned own[NSLOTS] = { 0 };
	uint64_t seed = 42, registers = 0, stale_made = 0, j;
	struct shared *sh;
	struct forker f;
	char first[256] = "";
	pthread_t t;
	time_t start, end;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	memset(sh, 0, sizeof(*sh));
	f = (struct forker){ .fd = self->fd, .sh = sh };
	ASSERT_EQ(0, pthread_create(&t, NULL, forker_main, &f));

	/*
	 * At least the given time, and on until enough happened to mean
	 * something (a debug kernel on a loaded host manages a fraction of
	 * it in 30 s); the harness's 300 s catch a hang.
	 */
	start = time(NULL);
	end = start + seconds;
	while (time(NULL) < end || ((registers <= 100 || atomic_load(&f.forks) <= 20 ||
				     atomic_load(&sh->maps) <= 100 || !atomic_load(&sh->pages_read)) &&
				    time(NULL) < start + 240)) {
		i = rnd(&seed) % NSLOTS;
		struct owned *o = &own[i];

		if (o->registered || o->mapped) {
			atomic_store(&sh->slots[i].addr, 0);
			switch (rnd(&seed) % 4) {
			case 0:	/* unmap first: the buffer goes stale under the members */
				munmap(o->mem, o->len);
				o->mapped = false;
				stale_made++;
				break;
			case 1:	/* throw the pages away */
				madvise(o->mem, o->len, MADV_DONTNEED);
				stale_made++;
				break;
			}
			release(self->fd, o);
			continue;
		}
		o->len = (1 + rnd(&seed) % MAXPAGES) * SX_PAGE;
		o->mem = sx_anon(o->len);
		ASSERT_NE(NULL, o->mem);
		o->mapped = true;
		for (j = 0; j < o->len / SX_PAGE; j++)
			o->mem[j * SX_PAGE / 8] = tag((uintptr_t)o->mem, o->len, j);
		ASSERT_EQ(0, sx_register(self->fd, o->mem, o->len, &o->handle, NULL));
		o->registered = true;
		registers++;
		atomic_store(&sh->slots[i].addr, (uintptr_t)o->mem);
	}
	atomic_store(&sh->stop, 1);
	ASSERT_EQ(0, pthread_join(t, NULL));
	for (i = 0; i < NSLOTS; i++)
		release(self->fd, &own[i]);

	TH_LOG("%d s (%d asked): %lu registers (%lu made stale), %lu members forked, %lu maps, "
	       "%lu pages read, %lu SIGBUS, %lu lookups missed, %lu member forks",
	       (int)(time(NULL) - start), seconds, registers, stale_made, (uint64_t)f.forks,
	       (uint64_t)sh->maps, (uint64_t)sh->pages_read, (uint64_t)sh->sigbus,
	       (uint64_t)sh->lookups_missed, (uint64_t)sh->member_forks);
	EXPECT_EQ(0, sh->bad_reads) TH_LOG("handle %lu", sh->bad_where);
	EXPECT_EQ(0, f.member_failures);
	EXPECT_LT(100, registers);
	EXPECT_LT(20, (uint64_t)f.forks);
	EXPECT_LT(100, sh->maps);
	EXPECT_LT(0, sh->pages_read);

	/* everything is released once the domain is gone */
	munmap(self->sentinel, SX_PAGE);
	close(self->fd);
	EXPECT_TRUE(sx_wait_pins_balanced(5000));
	EXPECT_TRUE(sx_wait_stat("buffers", 0, 2000));
	EXPECT_TRUE(sx_wait_stat("members", 0, 2000));
	EXPECT_TRUE(sx_wait_stat("domains", 0, 2000));
	EXPECT_EQ(0, sx_kmsg_bad(kmsg, first, sizeof(first))) TH_LOG("%s", first);
}

TEST_HARNESS_MAIN
