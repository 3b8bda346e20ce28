/* SPDX-License-Identifier: MIT */
/*
 * Waiting without burning CPU: futex wrappers, an eventcount (spin briefly,
 * then sleep until notified), a tiny spinlock.  Every wait a task's latency
 * passes through uses these: it spins for at most spin_ns, then sleeps on a
 * futex until a producer notifies it.  Only the process mode's dispatcher
 * thread sleeps with a timer: standing by for an orchestrator that
 * dispatches itself, for a process about to be free, or while the
 * orchestrator holds the dispatch baton.
 */
#ifndef SIMPLER_SYNC_H
#define SIMPLER_SYNC_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Set when this process may run on one CPU only (its affinity mask, as a
 * cpuset or taskset leaves it): whatever a spinner waits for can then only
 * happen once it gives the CPU away, so a spin yields instead of pausing.
 */
extern _Atomic bool sx_one_cpu;
/* how many CPUs this process may run on; sets sx_one_cpu */
int sx_usable_cpus(void);
/* /proc/loadavg's text: the host's runnable threads (the fourth field's numerator), or -1 */
int sx_loadavg_running(const char *text);
/* the same, read afresh from fd (/proc/loadavg, kept open), or -1 */
int sx_loadavg_read(int fd);

/* run the calling thread on the n-th CPU it may use now (nothing with fewer than 2) */
static inline void sync_bind_nth(int n)
{
	cpu_set_t set, one;
	int i, k = 0, total;

	if (sched_getaffinity(0, sizeof(set), &set))
		return;
	total = CPU_COUNT(&set);
	if (total < 2)
		return;
	n %= total;
	for (i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set) && k++ == n) {
			CPU_ZERO(&one);
			CPU_SET(i, &one);
			sched_setaffinity(0, sizeof(one), &one);
			return;
		}
}

static inline void cpu_relax(void)
{
	if (__builtin_expect(atomic_load_explicit(&sx_one_cpu, memory_order_relaxed), 0)) {
		sched_yield();
		return;
	}
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Nanoseconds from then to now, 0 if then is later: a caller's now, taken
 * before it sent or heard something, may be older than the stamp that left
 */
static inline uint64_t ns_since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/*
 * Futexes.  "shared" words live in memory shared with other processes (the
 * mailboxes); the rest are private to this process, which is cheaper.
 */
static inline int futex_wait(_Atomic uint32_t *word, uint32_t val, bool shared,
			     const struct timespec *timeout)
{
	return (int)syscall(SYS_futex, word, shared ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE, val,
			    timeout, NULL, 0);
}

static inline void futex_wake(_Atomic uint32_t *word, int n, bool shared)
{
	syscall(SYS_futex, word, shared ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/*
 * Eventcount: a waiter announces itself, re-checks its condition, then sleeps
 * until the sequence moves.  A notifier makes the condition true first, then
 * bumps the sequence only if someone announced: with nobody waiting a notify
 * is one fence and one load, no system call.
 *
 * A waiter also raises key to the sequence it read (to the newest such
 * value: serial-number order).  A sequence past key means every waiter was
 * woken since it read it and none announced itself again yet: a notify then
 * has nothing to do.  On a busy machine a woken waiter can wait milliseconds
 * for a CPU, and without this every notify meanwhile (one per task posted or
 * finished) was a futex system call that woke nobody.  That no wake-up is
 * lost: a waiter stores key (seq_cst) before it re-checks its condition, and
 * a notifier makes its condition true before it loads key, so either the
 * notifier sees the waiter's key or the waiter sees the condition.
 */
struct ec {
	_Atomic uint32_t seq;
	_Atomic uint32_t waiters;
	_Atomic uint32_t key;		/* the newest sequence a waiter read */
	bool shared;
};

static inline void ec_init(struct ec *e, bool shared)
{
	atomic_init(&e->seq, 0);
	atomic_init(&e->waiters, 0);
	atomic_init(&e->key, 0);
	e->shared = shared;
}

/* announce; pairs with the fence in ec_notify() */
static inline uint32_t ec_prepare(struct ec *e)
{
	uint32_t seq, key;

	atomic_fetch_add_explicit(&e->waiters, 1, memory_order_seq_cst);
	seq = atomic_load_explicit(&e->seq, memory_order_seq_cst);
	/* seq_cst, as the CAS (a failed one too): before the caller re-checks its condition */
	key = atomic_load_explicit(&e->key, memory_order_seq_cst);
	while ((int32_t)(seq - key) > 0 &&
	       !atomic_compare_exchange_weak_explicit(&e->key, &key, seq, memory_order_seq_cst,
						      memory_order_seq_cst))
		;
	return seq;
}

static inline void ec_cancel(struct ec *e)
{
	atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
}

static inline void ec_sleep(struct ec *e, uint32_t key)
{
	futex_wait(&e->seq, key, e->shared, NULL);
	atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
}

/* the same, for ns at most */
static inline void ec_sleep_for(struct ec *e, uint32_t key, uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };

	futex_wait(&e->seq, key, e->shared, &ts);
	atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
}

/* someone announced and was not woken since: it sleeps, or is about to */
static inline bool ec_asleep(struct ec *e)
{
	return atomic_load_explicit(&e->waiters, memory_order_seq_cst) &&
	       atomic_load_explicit(&e->seq, memory_order_seq_cst) ==
	       atomic_load_explicit(&e->key, memory_order_seq_cst);
}

/*
 * The same, when the caller made the condition true with a seq_cst
 * read-modify-write (a CAS or exchange): that already orders the store before
 * our load of waiters, so no separate fence is needed.
 */
static inline void ec_notify_after_rmw(struct ec *e)
{
	uint32_t seq;

	if (!atomic_load_explicit(&e->waiters, memory_order_seq_cst))
		return;
	seq = atomic_load_explicit(&e->seq, memory_order_seq_cst);
	/* woken since they announced, or another notifier is at it: nothing to do */
	if (seq != atomic_load_explicit(&e->key, memory_order_seq_cst) ||
	    !atomic_compare_exchange_strong_explicit(&e->seq, &seq, seq + 1, memory_order_release,
						     memory_order_relaxed))
		return;
	futex_wake(&e->seq, INT_MAX, e->shared);
}

/* the condition must already be true (stored) when this is called */
static inline void ec_notify(struct ec *e)
{
	atomic_thread_fence(memory_order_seq_cst);
	ec_notify_after_rmw(e);
}

/*
 * Wait until cond holds: spin up to spin_ns (re-evaluating cond), then sleep
 * on the eventcount.  cond is an expression; it is evaluated many times.
 */
#define EC_WAIT_UNTIL(e, spin_ns, cond)                                               \
	do {                                                                          \
		if (!(cond)) {                                                        \
			uint64_t __deadline = now_ns() + (spin_ns);                   \
			unsigned __i = 0;                                             \
			while (!(cond)) {                                             \
				if ((++__i & 63) == 0 && now_ns() > __deadline) {     \
					uint32_t __key = ec_prepare(e);               \
					if (cond) {                                   \
						ec_cancel(e);                         \
						break;                                \
					}                                             \
					ec_sleep(e, __key);                           \
				} else if ((__i & 63) == 0) {                         \
					sched_yield();                                \
				} else {                                              \
					cpu_relax();                                  \
				}                                                     \
			}                                                             \
		}                                                                     \
	} while (0)

/* a test-and-test-and-set lock for short critical sections */
typedef struct {
	_Atomic int locked;
} spinlock_t;

static inline void spin_init(spinlock_t *l)
{
	atomic_init(&l->locked, 0);
}

static inline void spin_lock(spinlock_t *l)
{
	unsigned n = 0;

	for (;;) {
		if (!atomic_exchange_explicit(&l->locked, 1, memory_order_acquire))
			return;
		while (atomic_load_explicit(&l->locked, memory_order_relaxed)) {
			/* the holder may have been preempted: more threads than cores */
			if (++n % 1024 == 0)
				sched_yield();
			else
				cpu_relax();
		}
	}
}

static inline void spin_unlock(spinlock_t *l)
{
	atomic_store_explicit(&l->locked, 0, memory_order_release);
}

#endif /* SIMPLER_SYNC_H */
