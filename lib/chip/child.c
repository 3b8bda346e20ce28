// SPDX-License-Identifier: MIT
/*
 * The chip or sub process: forked by the worker, it opens its chip on the
 * platform, says READY (or FAILED, with why) in its mailbox, then serves the
 * task lane and the control lane until told to shut down or until the
 * application dies (a thread watches the parent's pidfd, so an orphan exits
 * at once instead of spinning; an orphaned node takes its chips with it).
 * It never returns.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/errors.h"
#include "base/sync.h"
#include "chip/bootstrap.h"
#include "chip/env.h"
#include "chip/hostmap.h"
#include "chip/launch.h"
#include "mailbox.h"

struct child {
	const struct chip_env *env;
	struct mailbox *mb;
	struct hostmap hm;
	struct chipside cs;
	struct simpler_chip *chip;
	simpler_kernel_fn fn[MAX_CALLABLES];	/* resolved on first use */
	char tag[48];
};

struct watch {
	int pidfd;		/* the parent's */
	sem_t up;		/* posted once the watcher runs */
};

static void *watch_parent(void *arg)
{
	struct watch *wa = arg;
	struct pollfd p = { .fd = wa->pidfd, .events = POLLIN };

	/*
	 * Started: whatever a thread's start-up takes (a sanitizer's runtime
	 * allocates then, under its allocator's locks) is over, and the
	 * watcher holds no lock from here on.  A node forks its chips only
	 * after this, or they could inherit such a lock held and hang on it.
	 */
	sem_post(&wa->up);

	/* readable when the application is gone: leave now, do not linger */
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	/* a node leads a group of its own (proc.c): its chips and subs leave with it, now */
	if (getpgrp() == getpid())
		kill(0, SIGKILL);
	_exit(0);
	return NULL;
}

void *sx_callable_resolve(const struct shared_callable *sc, char *why, size_t len)
{
	struct link_map *lm = NULL;
	Dl_info info;
	void *h, *fn = (void *)(uintptr_t)sc->fn;

	/* the same object at the same address: the pointer is valid here */
	if (dladdr1(fn, &info, (void **)&lm, RTLD_DL_LINKMAP) && lm &&
	    lm->l_addr == sc->obj_base && !strcmp(lm->l_name, sc->obj))
		return fn;
	if (!sc->obj[0]) {
		snprintf(why, len, "it is not in the program or any object loaded before "
			 "the fork");
		return NULL;
	}
	/* loaded after the fork: load it here too and find the function at its offset */
	h = dlopen(sc->obj, RTLD_NOW);
	if (!h || dlinfo(h, RTLD_DI_LINKMAP, &lm) || !lm) {
		snprintf(why, len, "cannot load %s here: %s", sc->obj, dlerror());
		return NULL;
	}
	return (void *)(uintptr_t)(lm->l_addr + (sc->fn - sc->obj_base));
}

/* the function behind callable id, valid in this process, or NULL and why */
static simpler_kernel_fn resolve(struct child *c, int id, char *why, size_t len)
{
	if (!c->fn[id])
		c->fn[id] = (simpler_kernel_fn)(uintptr_t)sx_callable_resolve(&c->env->ctab->v[id],
									     why, len);
	return c->fn[id];
}

static void serve_task(struct child *c, struct mb_task *t)
{
	const struct shared_callables *ctab = c->env->ctab;
	uint32_t n = callables_count(ctab);
	struct launch l;
	char why[256];
	int ret;

	memset(&l, 0, sizeof(l));
	t->msg[0] = 0;
	t->staged = 0;
	if (t->callable < 0 || (uint32_t)t->callable >= n) {
		t->err = -EINVAL;
		snprintf(t->msg, sizeof(t->msg), "%s: callable %d is not registered", c->tag,
			 t->callable);
		return;
	}
	l.name = ctab->v[t->callable].name;
	l.fn = resolve(c, t->callable, why, sizeof(why));
	if (!l.fn) {
		t->err = -ENOEXEC;
		snprintf(t->msg, sizeof(t->msg), "%s: cannot run %s '%s': %s", c->tag,
			 callable_word(&c->env->ctab->v[t->callable]), l.name, why);
		return;
	}
	/* host tensors inside registered buffers: this process's view of them */
	ret = t->has_reg ? sx_hostmap_translate(&c->hm, t->tensors, t->reg, t->nr_tensors, why,
						sizeof(why)) : 0;
	if (ret) {
		t->err = ret;
		snprintf(t->msg, sizeof(t->msg), "%s: kernel '%s' (task #%" PRIu64 "): %s", c->tag,
			 l.name, t->seq, why);
		return;
	}
	l.seq = t->seq;
	l.block_dim = t->block_dim;
	l.nt = t->nr_tensors;
	l.ns = t->nr_scalars;
	l.tensors = t->tensors;
	l.acc = t->acc;
	l.scalars = t->scalars;
	l.strides = t->has_views ? (const uint64_t (*)[SIMPLER_MAX_DIMS])t->strides : NULL;
	t->err = sx_chipside_launch(&c->cs, &l, t->msg, sizeof(t->msg), &t->staged);
}

static void serve_ctl(struct child *c)
{
	struct mb_ctl *k = &c->mb->ctl;
	const struct simpler_platform_ops *plat = c->env->plat;
	char err[MB_MSG - 64];

	k->msg[0] = 0;
	k->err = 0;
	if (k->op == MB_OP_PING)
		return;
	if (k->op == MB_OP_UNMAP) {
		sx_hostmap_unmap(&c->hm, k->a0);
		return;
	}
	if (!c->chip) {
		k->err = -ENODEV;
		snprintf(k->msg, sizeof(k->msg), "%s has no chip memory", c->tag);
		return;
	}
	err[0] = 0;
	switch (k->op) {
	case MB_OP_ALLOC:
		k->err = plat->mem_alloc(c->chip, k->a0, &k->r0, err, sizeof(err));
		break;
	case MB_OP_FREE:
		k->err = plat->mem_free(c->chip, k->a0, err, sizeof(err));
		break;
	case MB_OP_COPY_TO:
		k->err = k->a1 > MB_WINDOW ? -E2BIG :
			 plat->copy_to(c->chip, k->a0, c->mb->window, k->a1, err, sizeof(err));
		break;
	case MB_OP_COPY_FROM:
		k->err = k->a1 > MB_WINDOW ? -E2BIG :
			 plat->copy_from(c->chip, c->mb->window, k->a0, k->a1, err, sizeof(err));
		break;
	case MB_OP_CHECK:
		k->err = plat->mem_check(c->chip, k->a0, k->a1, err, sizeof(err));
		break;
	default:
		k->err = -EINVAL;
		snprintf(err, sizeof(err), "unknown control command %u", k->op);
		break;
	}
	if (k->err)
		snprintf(k->msg, sizeof(k->msg), "%s", err);
}

/*
 * The acquire loads pair with the parent's seq_cst publishes: a frame and
 * then posted (lanes.c), a shared frame and then avail, a control command
 * and then ctl_state, shutdown (proc.c).
 */
static bool has_work(struct mailbox *mb, struct pool_ring *r, uint32_t consumed)
{
	return atomic_load_explicit(&mb->posted, memory_order_acquire) != consumed ||
	       atomic_load_explicit(&r->avail, memory_order_acquire) ||
	       atomic_load_explicit(&mb->ctl_state, memory_order_acquire) == MB_POSTED ||
	       atomic_load_explicit(&mb->shutdown, memory_order_acquire);
}

/*
 * May this child spin for work?  Only if someone who posts work is awake
 * (the dispatcher thread, or the orchestrator dispatching itself), and a CPU
 * is left for the spinner after the processes running frames, that
 * dispatching party and other programs' runnable tasks: a spinner that takes
 * the CPU the dispatcher needs delays the very work it waits for.
 */
static bool may_spin(const struct chip_env *env)
{
	struct proc_shared *ps = env->ps;

	if (atomic_load_explicit(&ps->disp_ec.waiters, memory_order_relaxed) &&
	    !atomic_load_explicit(&ps->helping, memory_order_relaxed))
		return false;
	return atomic_load_explicit(&ps->others, memory_order_relaxed) +
	       procs_running(ps, env->mb, env->nchips + env->nsubs) + 2 <= ps->ncpus;
}

/*
 * Wait for work: spin while that pays (at most spin_budget children at once,
 * and see may_spin()), then sleep.
 */
static void idle_wait(const struct chip_env *env, struct mailbox *mb, struct pool_ring *r,
		      uint32_t consumed)
{
	struct proc_shared *ps = env->ps;
	uint64_t deadline;
	uint32_t key;

	if (has_work(mb, r, consumed))
		return;
	if (atomic_fetch_add_explicit(&ps->spinners, 1, memory_order_relaxed) < ps->spin_budget &&
	    may_spin(env)) {
		deadline = now_ns() + env->spin_ns;
		for (unsigned i = 1; !has_work(mb, r, consumed); i++) {
			if (i % 64 == 0 && now_ns() > deadline)
				break;
			if (i % 64 == 0)
				sched_yield();
			else
				cpu_relax();
		}
	}
	atomic_fetch_sub_explicit(&ps->spinners, 1, memory_order_relaxed);
	while (!has_work(mb, r, consumed)) {
		key = ec_prepare(&mb->child_ec);
		if (has_work(mb, r, consumed))
			ec_cancel(&mb->child_ec);
		else
			ec_sleep(&mb->child_ec, key);
	}
}

static void boot_fail(struct mailbox *mb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void boot_fail(struct mailbox *mb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(mb->boot_msg, sizeof(mb->boot_msg), fmt, ap);
	va_end(ap);
	/* seq_cst: boot_msg first (the parent's acquire load pairs), then the notify's check */
	atomic_store_explicit(&mb->boot, MB_FAILED, memory_order_seq_cst);
	ec_notify(&mb->parent_ec);
	_exit(1);
}

/*
 * The application's signal handlers are not ours: every signal gets its
 * default action back, and the ones a terminal sends to the whole process
 * group (Ctrl-C, Ctrl-\, Ctrl-Z, hangup) are ignored, so the application
 * decides what they mean (a child follows the application's exit anyway).
 */
static void reset_signals(void)
{
	static const int ignored[] = { SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGHUP,
				       SIGPIPE };
	struct sigaction sa;
	sigset_t none;
	int sig;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);	/* SIGKILL and SIGSTOP refuse: fine */
	sa.sa_handler = SIG_IGN;
	for (i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		sigaction(ignored[i], &sa, NULL);
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
}

void sx_child_main(const struct chip_env *env, int slot, pid_t parent)
{
	struct mailbox *mb = env->mb[slot];
	struct child *c = calloc(1, sizeof(*c));
	const char *kind;
	char err[ERRMSG_LEN];
	struct pool_ring *ring;
	pthread_t watcher;
	struct watch wa;	/* the watcher's for good: this function never returns */
	uint32_t consumed;
	int pidfd, ret, i;

	/* the parent may already be gone: do not outlive it even briefly */
	pidfd = (int)syscall(SYS_pidfd_open, parent, 0);
	if (pidfd < 0 || getppid() != parent)
		_exit(0);
	if (!c)
		boot_fail(mb, "out of memory");
	c->env = env;
	c->mb = mb;
	c->hm.fd = env->kmod_fd;
	reset_signals();
	setvbuf(stdout, NULL, _IOLBF, 0);	/* a kernel's printf shows up */
	kind = !mb->kind ? "sub" : env->nodes ? "node" : "chip";
	snprintf(c->tag, sizeof(c->tag), "%s %d (pid %d)", kind, mb->index, getpid());
	prctl(PR_SET_NAME, !mb->kind ? "simpler-sub" : env->nodes ? "simpler-node" : "simpler-chip",
	      0, 0, 0);
	/* before the platform starts its core threads, which inherit it */
	if (mb->kind && env->bind)
		sync_bind_nth(mb->index);
	wa.pidfd = pidfd;
	if (sem_init(&wa.up, 0, 0) || pthread_create(&watcher, NULL, watch_parent, &wa))
		boot_fail(mb, "%s: cannot start the parent watcher", c->tag);
	while (sem_wait(&wa.up) && errno == EINTR)
		;
	if (mb->kind) {
		/* a node creates its L3 worker here: its chips are ready before it is */
		ret = env->plat->chip_open(&env->pcfg, mb->index, &c->chip, err, sizeof(err));
		if (ret && env->nodes)
			boot_fail(mb, "%s: cannot start its L3 worker: %s", c->tag, err);
		if (ret)
			boot_fail(mb, "%s: cannot open on platform '%s': %s", c->tag, env->plat->name,
				  err);
	}
	if (sx_chipside_init(&c->cs, env->plat, c->chip, env->caps, kind, mb->index, getpid()))
		boot_fail(mb, "%s: out of memory", c->tag);
	if (c->chip && env->boot) {
		c->cs.boot = env->boot;
		ret = sx_boot_attach(&c->cs, env->boot, !mb->booted, true, err, sizeof(err));
		if (ret)
			boot_fail(mb, "chip %d bootstrap failed: %s", mb->index, err);
		mb->booted = 1;
	}
	/* a restarted chip continues where its predecessor's frames ended */
	consumed = atomic_load_explicit(&mb->done, memory_order_acquire);
	atomic_store_explicit(&mb->claimed, 0, memory_order_relaxed);	/* the predecessor's */
	/* seq_cst: after everything set up, before the notify's waiter check (wait_boot) */
	atomic_store_explicit(&mb->boot, MB_READY, memory_order_seq_cst);
	ec_notify(&mb->parent_ec);

	ring = &env->ps->ring[mb->kind ? 0 : 1];
	for (;;) {
		idle_wait(env, mb, ring, consumed);
		if (atomic_load_explicit(&mb->shutdown, memory_order_acquire))
			break;
		if (atomic_load_explicit(&mb->ctl_state, memory_order_acquire) == MB_POSTED) {
			serve_ctl(c);
			/* pairs with the parent's acquire of the state */
			atomic_store_explicit(&mb->ctl_state, MB_DONE, memory_order_seq_cst);
			ec_notify(&mb->parent_ec);
		}
		/* one frame at a time: a control command waits at most one kernel */
		if (atomic_load_explicit(&mb->posted, memory_order_acquire) != consumed) {
			serve_task(c, &mb->task[consumed % MB_RING]);
			mb_own_done(env->ps, mb, ++consumed);
		} else if ((i = mb_pool_claim(ring, (uint32_t)slot)) >= 0) {
			/* a hint for the parent's placing and spinning (mailbox.h) */
			atomic_store_explicit(&mb->claimed, 1, memory_order_relaxed);
			ring->task[i].ran_on = slot;
			serve_task(c, &ring->task[i]);
			mb_pool_done(env->ps, ring, i, mb);
		}
	}
	if (c->chip)
		env->plat->chip_close(c->chip);
	fflush(NULL);
	_exit(0);
}
