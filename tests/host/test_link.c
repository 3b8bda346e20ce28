// SPDX-License-Identifier: MIT
/*
 * The doorbells of an L4's same-host ranks (lib/mpilink.c), without MPI:
 * a link is built by hand over a shared mapping, as sx_link_bells() leaves
 * it, and two processes stand in for two ranks.  A doze sleeps its time
 * unless rung; a ring after the mark is never lost (a ring-and-doze ping-
 * pong of thousands of rounds, each doze allowed far longer than the whole
 * test); a stale mark returns at once; a rank of another host has no bell;
 * and outside nap mode a doze is the plain nap it replaced.  The crowd
 * detector's decisions, from made-up looks at /proc/loadavg.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/sync.h"
#include "harness.h"
#include "mpilink.h"

#define SEC	1000000000ULL

/* what both "ranks" share: two bells, then a word of test state */
static uint8_t *shared_new(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		FAILF("mmap: %s", strerror(errno));
	return p;
}

static _Atomic uint32_t *state(uint8_t *mem)
{
	return (_Atomic uint32_t *)(mem + 2 * LINK_BELL_BYTES);
}

/* rank of 3 on a host holding ranks 0 and 1 (rank 2 elsewhere) */
static void link_as(struct link *l, int *slot, uint8_t *mem, int rank, bool nap)
{
	memset(l, 0, sizeof(*l));
	slot[0] = 0;
	slot[1] = 1;
	slot[2] = -1;
	l->rank = rank;
	l->size = 3;
	l->bells = (struct link_bell *)mem;
	l->slot = slot;
	l->nap = nap;
}

/* a bell's second word: how many doze on it (struct link_bell in mpilink.c) */
static _Atomic uint32_t *sleepers(uint8_t *mem, int slot)
{
	return (_Atomic uint32_t *)(mem + slot * LINK_BELL_BYTES + 4);
}

static double doze_s(struct link *l, uint32_t mark, uint64_t ns)
{
	uint64_t t0 = now_ns();

	sx_link_doze(l, mark, ns);
	return (double)(now_ns() - t0) / SEC;
}

TEST(a_doze_lasts_its_time_unless_its_bell_moved)
{
	uint8_t *mem = shared_new();
	struct link l;
	int slot[3];
	uint32_t mark;
	double s;

	link_as(&l, slot, mem, 0, true);
	mark = sx_link_mark(&l);
	s = doze_s(&l, mark, 20000000);
	printf("# a doze of 20 ms, not rung: %.4f s\n", s);
	CHECK_MSG(s >= 0.019, "woke after %.4f s", s);
	/* rung since the mark (by anyone, here itself): no sleep at all */
	sx_link_ring(&l, 0);
	CHECK(sx_link_mark(&l) == mark + 1);
	s = doze_s(&l, mark, 10 * SEC);
	printf("# a doze of 10 s on a stale mark: %.6f s\n", s);
	CHECK_MSG(s < 5, "a ring before the doze was lost: slept %.3f s", s);
}

TEST(a_ring_wakes_another_process_dozing_on_that_bell)
{
	uint8_t *mem = shared_new();
	struct link l;
	int slot[3], st;
	uint64_t t0;
	double s;
	pid_t pid = fork();

	if (pid == 0) {
		link_as(&l, slot, mem, 1, true);
		s = doze_s(&l, sx_link_mark(&l), 30 * SEC);
		_exit(s < 10 ? 0 : 2);
	}
	CHECK(pid > 0);
	link_as(&l, slot, mem, 0, true);
	/*
	 * The child counts itself a sleeper before it sleeps (the second word
	 * of its bell): ring once it does, and a little later, so that the
	 * ring is most likely a wake-up, not a moved mark.
	 */
	t0 = now_ns();
	while (!atomic_load(sleepers(mem, 1))) {
		CHECK_MSG(now_ns() - t0 < 20 * SEC, "the child never dozed");
		usleep(1000);
	}
	usleep(20000);
	sx_link_ring(&l, 1);
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the dozing rank was not woken (status %#x)",
		  st);
}

/*
 * Ranks 0 and 1 take turns on a counter: each waits for its turn by the
 * protocol every polling loop follows (mark, look, doze), the other rings
 * after its move.  Every doze may last 30 s, and a lost wake-up is a doze
 * that lasted it: each side checks its longest (a loaded host delays a
 * wake-up by milliseconds, not seconds).
 */
TEST_TIMEOUT(no_wake_up_is_lost_in_a_ring_and_doze_ping_pong, 300)
{
	enum { ROUNDS = 20000 };
	uint8_t *mem = shared_new();
	_Atomic uint32_t *turn = state(mem);
	uint64_t t0 = now_ns(), dozes = 0, t, longest = 0;
	int slot[3], st, me;
	struct link l;
	uint32_t mark, v;
	pid_t pid = fork();

	CHECK(pid >= 0);
	me = pid == 0;
	link_as(&l, slot, mem, me, true);
	for (v = (uint32_t)me; v < 2 * ROUNDS; v += 2) {
		for (;;) {
			mark = sx_link_mark(&l);
			if (atomic_load(turn) == v)
				break;
			t = now_ns();
			sx_link_doze(&l, mark, 30 * SEC);
			t = now_ns() - t;
			longest = t > longest ? t : longest;
			dozes++;
		}
		atomic_store(turn, v + 1);
		sx_link_ring(&l, !me);
	}
	if (pid == 0)
		_exit(longest < 15 * SEC ? 0 : 2);
	CHECK(waitpid(pid, &st, 0) == pid);
	printf("# %d rounds in %.3f s, rank 0 dozed %llu times, the longest %.6f s\n", ROUNDS,
	       (double)(now_ns() - t0) / SEC, (unsigned long long)dozes, (double)longest / SEC);
	CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "rank 1 lost a wake-up (status %#x)", st);
	CHECK(atomic_load(turn) == 2 * ROUNDS);
	CHECK_MSG(longest < 15 * SEC, "rank 0 lost a wake-up: a doze of %.1f s",
		  (double)longest / SEC);
}

TEST(a_rank_of_another_host_has_no_bell_and_naps)
{
	uint8_t before[2 * LINK_BELL_BYTES];
	uint8_t *mem = shared_new();
	struct link l;
	int slot[3];
	double s;

	link_as(&l, slot, mem, 2, true);
	memcpy(before, mem, sizeof(before));
	sx_link_ring(&l, 2);	/* nothing to ring: no memory is touched */
	CHECK(memcmp(before, mem, sizeof(before)) == 0);
	CHECK(sx_link_mark(&l) == 0);
	s = doze_s(&l, 12345, 20000000);	/* a plain nap, whatever the mark */
	CHECK_MSG(s >= 0.019, "woke after %.4f s", s);
	/* and rank 0 ringing rank 1 moves rank 1's bell only */
	link_as(&l, slot, mem, 0, true);
	sx_link_ring(&l, 1);
	CHECK(sx_link_mark(&l) == 0);
	link_as(&l, slot, mem, 1, true);
	CHECK(sx_link_mark(&l) == 1);
}

TEST(outside_nap_mode_a_doze_is_a_plain_nap)
{
	uint8_t *mem = shared_new();
	struct link l;
	int slot[3];
	double s;

	link_as(&l, slot, mem, 0, false);
	sx_link_ring(&l, 0);	/* a stale mark: dozing would return at once */
	s = doze_s(&l, 0, 20000000);
	CHECK_MSG(s >= 0.019, "woke after %.4f s", s);
}

/* /proc/loadavg's fourth field: runnable threads of all */
TEST(loadavg_text_gives_the_runnable_threads)
{
	CHECK_EQ(sx_loadavg_running("0.13 0.15 0.06 2/80 1915\n"), 2);
	CHECK_EQ(sx_loadavg_running("12.50 9.01 3.00 417/2048 99"), 417);
	CHECK_EQ(sx_loadavg_running(""), -1);
	CHECK_EQ(sx_loadavg_running("0.13 0.15 0.06"), -1);
	CHECK_EQ(sx_loadavg_running("0.13 0.15 0.06 x/80 1"), -1);
	CHECK_EQ(sx_loadavg_running("0.13 0.15 0.06 7 1"), -1);
}

#define TICK	LINK_CROWD_NS
#define MS	1000000ULL

/*
 * n looks, one a TICK from *t: running = ours + crowd (+ one stray thread
 * every `stray` looks, 0: never), each thread waiting `wait` ns for a CPU;
 * how many of them found the host crowded
 */
static int judge_n(struct link_crowd *c, uint64_t *t, int n, int ours, int crowd, int ranks,
		   int stray, uint64_t wait)
{
	int i, yes = 0;

	for (i = 0; i < n; i++, *t += TICK)
		yes += sx_link_crowd_judge(c, ours + crowd + (stray && i % stray == 0), ours,
					   ranks, wait, *t);
	return yes;
}

/*
 * The job's own polling ranks are no crowd, however long they wait for
 * each other; a thread of its own besides them (a dispatcher) neither, nor
 * a stray thread now and then
 */
TEST(a_quiet_host_is_not_crowded)
{
	struct link_crowd c = { .cpus = 2 };
	uint64_t t = SEC;

	CHECK_EQ(judge_n(&c, &t, 1000, 3, 0, 3, 0, 2 * MS), 0);
	CHECK_EQ(judge_n(&c, &t, 1000, 3, 1, 3, 0, 2 * MS), 0);
	CHECK_EQ(judge_n(&c, &t, 1000, 3, 1, 3, 2, 2 * MS), 0);	/* and a stray every other look */
	CHECK_EQ(judge_n(&c, &t, 1000, 1, 1, 3, 2, 2 * MS), 0);	/* two ranks doze */
	CHECK_EQ(c.flips, 0);
}

/*
 * Two busy processes beside the ranks on two CPUs, a yield costing a
 * slice: crowded within a few dozen milliseconds, and it stays so while
 * the ranks doze and are woken in time (short waits)
 */
TEST(busy_processes_beside_the_ranks_make_a_crowd)
{
	struct link_crowd c = { .cpus = 2 };
	uint64_t t = SEC;
	int i;

	for (i = 0; i < 40 && !sx_link_crowd_judge(&c, 3 + 2, 3, 3, MS, t); i++)
		t += TICK;
	printf("# crowded after %d looks (%d ms)\n", i + 1, (int)((i + 1) * TICK / MS));
	CHECK_MSG(i < 20, "not crowded after %d looks", i + 1);
	CHECK_EQ(judge_n(&c, &t, 1000, 1, 2, 3, 0, 20000), 1000);
	CHECK_EQ(c.flips, 1);
	/* the same crowd where a wait for a CPU is short (they yield to us): no nap mode */
	c = (struct link_crowd){ .cpus = 2 };
	CHECK_EQ(judge_n(&c, &t, 1000, 3, 2, 3, 0, 20000), 0);
}

/* the crowd gone, nap mode ends: not before the state is LINK_CROWD_HOLD_NS old, then soon */
TEST(the_crowd_leaving_ends_nap_mode_after_the_hold)
{
	struct link_crowd c = { .cpus = 2 };
	uint64_t t = SEC, t_on, t_off;

	int i;

	for (i = 0; i < 1000 && !sx_link_crowd_judge(&c, 5, 3, 3, MS, t); i++)
		t += TICK;
	CHECK_MSG(c.crowded, "never crowded");
	t_on = t;
	t += TICK;
	for (i = 0; i < 1000 && sx_link_crowd_judge(&c, 1, 1, 3, 5000, t); i++)
		t += TICK;
	CHECK_MSG(!c.crowded, "still crowded %d looks after the crowd left", i);
	t_off = t;
	printf("# crowded for %.1f ms after the crowd left\n", (double)(t_off - t_on) / MS);
	CHECK(t_off - t_on >= LINK_CROWD_HOLD_NS);
	CHECK_MSG(t_off - t_on < LINK_CROWD_HOLD_NS + 20 * TICK, "left %.1f ms late",
		  (double)(t_off - t_on - LINK_CROWD_HOLD_NS) / MS);
	CHECK_EQ(c.flips, 2);
}

/* where every rank and every busy thread has a CPU, yielding costs nothing: no nap mode */
TEST(a_host_with_room_for_all_is_not_crowded)
{
	struct link_crowd c = { .cpus = 64 };
	uint64_t t = SEC;

	CHECK_EQ(judge_n(&c, &t, 1000, 3, 10, 3, 0, MS), 0);
	c = (struct link_crowd){ .cpus = 5 };
	CHECK_EQ(judge_n(&c, &t, 1000, 3, 2, 3, 0, MS), 0);	/* 3 ranks + 2 fit 5 CPUs */
	CHECK(judge_n(&c, &t, 1000, 3, 3, 3, 0, MS) > 900);	/* 3 + 3 do not */
}

TEST_MAIN()
