// SPDX-License-Identifier: MIT
/*
 * Chip and sub processes, seen from the application: forking them with a
 * READY/FAILED handshake and a deadline, driving their mailboxes (a task
 * lane per executor thread, a control lane for malloc/free/copies), noticing
 * at once when one dies (a monitor thread polls their pidfds), restarting
 * dead ones at the next run, and shutting them down with a bounded wait.
 *
 * A node (level 4) is a process with children of its own, its chips and
 * subs.  It leads a process group of its own, so that killing it kills them
 * too, and it holds a lifeline (exec.h) that they inherit, so that the L4
 * knows when the last of them is gone: a node is never reaped, restarted or
 * left behind by destroy while processes it forked still run, even when it
 * was killed and they would otherwise follow it only as fast as they are
 * scheduled.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostmem.h"
#include "mailbox.h"
#include "proc.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* how long a chip or sub may take to stop when asked before it is killed */
#define STOP_WAIT_MS	2000
/*
 * How long the processes of a node's subtree may take to be gone once
 * killed (a hang bound: SIGKILLed processes go when next scheduled, which
 * on a loaded host under a sanitizer can be seconds).
 */
#define TREE_WAIT_MS	30000

/* a node: a process with chips and subs of its own (see the top of this file) */
static bool exec_has_tree(const struct simpler_worker *w, const struct exec *ex)
{
	return w->nodes && ex->pool->chips;
}

static void describe_status(const siginfo_t *si, char *buf, size_t len)
{
	if (si->si_code == CLD_EXITED)
		snprintf(buf, len, "exited with status %d", si->si_status);
	else
		snprintf(buf, len, "killed by signal %d (%s)%s", si->si_status,
			 strsignal(si->si_status), si->si_code == CLD_DUMPED ? ", core dumped" : "");
}

/*
 * Reap ex's process (blocking: it is known to have exited or been killed)
 * and say how it ended.  A node's group goes with it: what is left there
 * (its chips, when it did not stop them itself: killed, or too slow to
 * stop) is killed now, while the unreaped node still holds its pid and so
 * the group's id; wait_tree() then waits until they are gone.
 */
static void reap(struct exec *ex, char *buf, size_t len)
{
	siginfo_t si;

	if (ex->tree_fd >= 0)
		kill(-ex->pid, SIGKILL);
	memset(&si, 0, sizeof(si));
	while (syscall(SYS_waitid, P_PIDFD, ex->pidfd, &si, WEXITED, NULL) < 0 && errno == EINTR)
		;
	describe_status(&si, buf, len);
}

/* ---- the monitor ---- */

static void *monitor_main(void *arg)
{
	struct simpler_worker *w = arg;
	struct pollfd fds[1 + 2 * MAX_EXECS];
	struct exec *who[1 + 2 * MAX_EXECS];
	uint64_t v;
	int i, n;

	pthread_setname_np(pthread_self(), "simpler-mon");
	for (;;) {
		fds[0] = (struct pollfd){ .fd = w->proc_evfd, .events = POLLIN };
		n = 1;
		pthread_mutex_lock(&w->proc_lock);
		for (i = 0; i < nslots(w); i++) {
			struct exec *ex = slot_exec(w, i);

			if (ex->pidfd >= 0 && !exec_dead(ex)) {
				fds[n] = (struct pollfd){ .fd = ex->pidfd, .events = POLLIN };
				who[n++] = ex;
			}
		}
		pthread_mutex_unlock(&w->proc_lock);
		if (poll(fds, (nfds_t)n, -1) < 0)
			continue;
		if (fds[0].revents) {
			if (read(w->proc_evfd, &v, sizeof(v)) < 0)
				v = 0;
			/* pairs with the release store in sx_proc_destroy() */
			if (atomic_load_explicit(&w->proc_stop, memory_order_acquire))
				return NULL;
			continue;	/* the set of children changed */
		}
		for (i = 1; i < n; i++) {
			if (!fds[i].revents)
				continue;
			pthread_mutex_lock(&w->proc_lock);
			reap(who[i], who[i]->death, sizeof(who[i]->death));
			/* pairs with the acquire loads of dead in the waiters */
			atomic_store_explicit(&who[i]->dead, true, memory_order_seq_cst);
			pthread_mutex_unlock(&w->proc_lock);
			/* wake whoever waits on it: the dispatcher, a control caller */
			ec_notify(&who[i]->mb->parent_ec);
			ec_notify(&w->pshared->disp_ec);
		}
	}
}

/* kill a child, and when it is a node (tree) the whole group it leads (reap() follows) */
static void kill_child(pid_t pid, bool tree)
{
	if (tree)
		kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

static void kill_exec(struct exec *ex)
{
	kill_child(ex->pid, ex->tree_fd >= 0);
}

/*
 * A node reaped (or never started): wait until every process holding its
 * lifeline is gone, then drop it.  Bounded only so that a process that
 * escaped the group (a kernel's own child calling setsid()) cannot hang
 * destroy; SIGKILLed processes normally go within milliseconds.
 */
static void wait_tree(struct exec *ex)
{
	struct pollfd p = { .fd = ex->tree_fd, .events = POLLIN };
	uint64_t deadline = now_ns() + (uint64_t)TREE_WAIT_MS * 1000000;
	int64_t left;

	if (ex->tree_fd < 0)
		return;
	/* nobody writes to it: it polls readable (POLLHUP) once every write end is closed */
	while ((left = (int64_t)(deadline - now_ns())) > 0 &&
	       poll(&p, 1, (int)(left / 1000000) + 1) < 0 && errno == EINTR)
		;
	close(ex->tree_fd);
	ex->tree_fd = -1;
}

static void monitor_poke(struct simpler_worker *w)
{
	uint64_t one = 1;

	if (write(w->proc_evfd, &one, sizeof(one)) < 0)
		return;
}

/* ---- forking ---- */

_Atomic unsigned long sx_forks;

static int spawn(struct simpler_worker *w, struct exec *ex, int same_as)
{
	struct mailbox *mb = ex->mb;
	pid_t parent = getpid(), pid;
	int ret, pidfd, tree[2] = { -1, -1 };

	mb->kind = ex->pool->chips;
	mb->index = ex->index;
	/* posted and done carry on: the dispatcher's counters continue across restarts */
	/* relaxed: the fork below publishes them to the child */
	atomic_store_explicit(&mb->boot, MB_BOOTING, memory_order_relaxed);
	atomic_store_explicit(&mb->shutdown, 0, memory_order_relaxed);
	atomic_store_explicit(&mb->ctl_state, MB_IDLE, memory_order_relaxed);
	ec_init(&mb->child_ec, true);
	ec_init(&mb->parent_ec, true);
	ret = sx_hostmem_prefork(w, ex->slot, same_as);
	if (ret)
		return werr(w, ret, "cannot snapshot the address space before forking: %s",
			    strerror(-ret));
	/*
	 * Cloexec: a program a kernel executes does not hold it.  Another
	 * thread of the application forking right now would, until its child
	 * ends (wait_tree() is bounded for that).
	 */
	if (exec_has_tree(w, ex) && pipe2(tree, O_CLOEXEC))
		return werr(w, -errno, "cannot make node %d's lifeline: %s", ex->index,
			    strerror(errno));
	fflush(NULL);	/* nothing buffered twice */
	pid = fork();
	if (pid > 0)
		atomic_fetch_add_explicit(&sx_forks, 1, memory_order_relaxed);	/* a count */
	if (pid == 0) {
		if (tree[0] >= 0) {
			close(tree[0]);
			/* and in the parent below: whichever runs first makes the group */
			setpgid(0, 0);
		}
		sx_child_main(&w->env, ex->slot, parent);
	}
	if (tree[1] >= 0)
		close(tree[1]);		/* the node's, and its children's, alone */
	if (pid < 0) {
		ret = -errno;
		if (tree[0] >= 0)
			close(tree[0]);
		return werr(w, ret, "cannot fork %s %d: %s", pool_kind(w, ex->pool), ex->index,
			    strerror(-ret));
	}
	if (tree[0] >= 0)
		setpgid(pid, pid);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		ret = -errno;
		kill_child(pid, tree[0] >= 0);
		waitpid(pid, NULL, 0);
		if (tree[0] >= 0)
			close(tree[0]);
		return werr(w, ret, "pidfd_open: %s (Linux 5.3 or later is needed)", strerror(-ret));
	}
	/* the monitor reads these under proc_lock */
	pthread_mutex_lock(&w->proc_lock);
	ex->pidfd = pidfd;
	ex->tree_fd = tree[0];
	ex->pid = pid;
	snprintf(ex->tag, sizeof(ex->tag), "%s %d (pid %d)", pool_kind(w, ex->pool), ex->index,
		 pid);
	ex->dead_reported = false;
	/* relaxed: under proc_lock, which the monitor takes before it looks */
	atomic_store_explicit(&ex->dead, false, memory_order_relaxed);
	pthread_mutex_unlock(&w->proc_lock);
	return 0;
}

/* wait for READY; FAILED, death or the deadline fail it (and kill it) */
static int wait_boot(struct simpler_worker *w, struct exec *ex, uint64_t deadline)
{
	struct mailbox *mb = ex->mb;
	struct timespec slice = { 0, 10 * 1000 * 1000 };
	struct pollfd p = { .fd = ex->pidfd, .events = POLLIN };
	char why[128];
	uint32_t key;

	/* startup may poll: no task waits on it */
	/* acquire: pairs with the child's seq_cst store of READY or FAILED */
	while (atomic_load_explicit(&mb->boot, memory_order_acquire) == MB_BOOTING) {
		if (poll(&p, 1, 0) > 0) {
			reap(ex, why, sizeof(why));
			ex->pid = -ex->pid;
			return werr(w, -ECHILD, "%s %s during startup", ex->tag, why);
		}
		if (now_ns() > deadline) {
			kill_exec(ex);
			reap(ex, why, sizeof(why));
			ex->pid = -ex->pid;
			return werr(w, -ETIMEDOUT, "%s did not report ready within %u ms (raise "
				    "start_timeout_ms?)", ex->tag, w->start_timeout_ms);
		}
		key = ec_prepare(&mb->parent_ec);
		if (atomic_load_explicit(&mb->boot, memory_order_acquire) == MB_BOOTING)
			futex_wait(&mb->parent_ec.seq, key, true, &slice);
		ec_cancel(&mb->parent_ec);
	}
	/* acquire: pairs with the child's store of FAILED, made after boot_msg */
	if (atomic_load_explicit(&mb->boot, memory_order_acquire) == MB_FAILED) {
		werr(w, -EIO, "%s", mb->boot_msg);
		reap(ex, why, sizeof(why));
		ex->pid = -ex->pid;
		return -EIO;
	}
	return 0;
}

static int mailbox_new(struct exec *ex)
{
	ex->mb = mmap(NULL, sizeof(*ex->mb), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	if (ex->mb == MAP_FAILED) {
		ex->mb = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * How long ex may take to stop once asked: a node stops its own chips and
 * subs first (each asked at once, each killed after STOP_WAIT_MS), so its
 * bound covers theirs; a node killed earlier would not have reaped them.
 */
static int stop_wait_ms(const struct simpler_worker *w, const struct exec *ex)
{
	const struct simpler_worker_opts *o;

	if (!exec_has_tree(w, ex))
		return STOP_WAIT_MS;
	o = &w->ncfg->opts[ex->index];
	return STOP_WAIT_MS * (2 + OPTS_OR(o, nr_chips, 1) + OPTS_GET(o, nr_subs, 0));
}

/* ask one child to stop (stop_child() then waits for it) */
static void ask_stop(struct exec *ex)
{
	if (ex->pid > 0 && !exec_dead(ex)) {
		/* seq_cst: before the notify's waiter check; the child's acquire load pairs */
		atomic_store_explicit(&ex->mb->shutdown, 1, memory_order_seq_cst);
		ec_notify(&ex->mb->child_ec);
	}
}

/* stop one child asked to: wait a bounded time, then kill; always reaped, subtree and all */
static void stop_child(struct exec *ex, int wait_ms)
{
	struct pollfd p = { .fd = ex->pidfd, .events = POLLIN };
	char why[128];

	if (ex->pid > 0 && !exec_dead(ex)) {
		/* still starting (a failed create): it has nothing to finish */
		if (atomic_load_explicit(&ex->mb->boot, memory_order_acquire) != MB_READY ||
		    poll(&p, 1, wait_ms) <= 0)
			kill_exec(ex);
		reap(ex, why, sizeof(why));
	}
	wait_tree(ex);
	if (ex->pidfd >= 0)
		close(ex->pidfd);
	ex->pidfd = -1;
	ex->pid = 0;
}

/* what the children get: the worker's configuration, as of now */
static void env_fill(struct simpler_worker *w)
{
	struct chip_env *env = &w->env;

	env->plat = w->plat;
	env->pcfg = w->pcfg;
	env->caps = w->caps;
	env->spin_ns = w->spin_ns;
	env->bind = worker_binds_chips(w);
	env->nodes = w->nodes;
	env->nchips = w->chips.n;
	env->nsubs = w->subs.n;
	env->ctab = w->ctab;
	env->boot = w->boot;
	env->ps = w->pshared;
	env->kmod_fd = sx_hostmem_child_fd(w);
}

int sx_proc_create(struct simpler_worker *w)
{
	uint64_t deadline;
	int i, ret;

	w->proc_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->proc_evfd < 0)
		return werr(w, -errno, "eventfd: %s", strerror(errno));
	w->pshared = mmap(NULL, sizeof(*w->pshared), PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w->pshared == MAP_FAILED) {
		w->pshared = NULL;
		return werr(w, -ENOMEM, "cannot map the dispatcher's shared page");
	}
	ec_init(&w->pshared->disp_ec, true);
	w->pshared->ring[0].nkids = (uint32_t)w->chips.n;
	w->pshared->ring[1].nkids = (uint32_t)w->subs.n;
	w->chips.ring = &w->pshared->ring[0];
	w->subs.ring = &w->pshared->ring[1];
	/* the CPUs this process may use (a cpuset may hold fewer than the machine has) */
	w->pshared->spin_budget = w->ncpus > 2 ? (uint32_t)w->ncpus - 1 : 1;
	w->pshared->ncpus = (uint32_t)w->ncpus;
	for (i = 0; i < nslots(w); i++) {
		struct exec *ex = slot_exec(w, i);

		ex->slot = i;
		ex->pidfd = -1;
		ex->tree_fd = -1;
		pthread_mutex_init(&ex->ctl_lock, NULL);
		if (mailbox_new(ex))
			return werr(w, -ENOMEM, "cannot map a mailbox");
		w->env.mb[i] = ex->mb;
	}
	env_fill(w);
	/* every child before any library thread exists: forks copy no lock held */
	for (i = 0; i < nslots(w); i++) {
		/* a remote node is another rank's process: remote.c brings it up */
		if (slot_exec(w, i)->remote)
			continue;
		ret = spawn(w, slot_exec(w, i), i ? 0 : -1);
		if (ret)
			return ret;
	}
	deadline = now_ns() + (uint64_t)w->start_timeout_ms * 1000000;
	for (i = 0; i < nslots(w); i++) {
		if (slot_exec(w, i)->remote)
			continue;
		ret = wait_boot(w, slot_exec(w, i), deadline);
		if (ret)
			return ret;
	}
	ret = -pthread_create(&w->monitor, NULL, monitor_main, w);
	if (ret)
		return werr(w, ret, "cannot start the monitor thread: %s", strerror(-ret));
	w->monitor_started = true;
	return 0;
}

void sx_proc_destroy(struct simpler_worker *w)
{
	int i;

	if (w->monitor_started) {
		/* release: pairs with the monitor's acquire load after the poke */
		atomic_store_explicit(&w->proc_stop, true, memory_order_release);
		monitor_poke(w);
		pthread_join(w->monitor, NULL);
		w->monitor_started = false;
	}
	/* every child stops at once: a node's bound (stop_wait_ms) is not spent in turns */
	for (i = 0; i < nslots(w); i++)
		if (slot_exec(w, i)->mb && !slot_exec(w, i)->remote)
			ask_stop(slot_exec(w, i));
	for (i = 0; i < nslots(w); i++) {
		struct exec *ex = slot_exec(w, i);

		if (!ex->mb)
			continue;
		/* a remote node was told to stop by remote.c; no process of ours to wait for */
		if (!ex->remote)
			stop_child(ex, stop_wait_ms(w, ex));
		munmap(ex->mb, sizeof(*ex->mb));
		ex->mb = NULL;
		pthread_mutex_destroy(&ex->ctl_lock);
	}
	if (w->proc_evfd >= 0)
		close(w->proc_evfd);
	w->proc_evfd = -1;

	if (w->pshared)
		munmap(w->pshared, sizeof(*w->pshared));
	w->pshared = NULL;
}

/* at a run's start: fork a new process for every dead one */
int sx_proc_respawn(struct simpler_worker *w)
{
	char old[sizeof(((struct exec *)0)->death)];
	int i, ret = 0, oldpid, n = 0;

	for (i = 0; i < nslots(w) && !ret; i++) {
		struct exec *ex = slot_exec(w, i);

		/* a lost remote node stays lost: MPI cannot add a rank to the job */
		if (!exec_dead(ex) || ex->remote)
			continue;
		n++;
		oldpid = ex->pid;
		snprintf(old, sizeof(old), "%s", ex->death);
		pthread_mutex_lock(&w->proc_lock);
		close(ex->pidfd);
		ex->pidfd = -1;
		pthread_mutex_unlock(&w->proc_lock);
		/* a node's chips, killed with it when it was reaped, do not outlive it */
		wait_tree(ex);
		ret = spawn(w, ex, -1);
		if (!ret)
			ret = wait_boot(w, ex, now_ns() + (uint64_t)w->start_timeout_ms * 1000000);
		if (ret) {
			ex->pid = 0;
			/* release: death was written first; pairs with exec_dead() */
			atomic_store_explicit(&ex->dead, true, memory_order_release);
			snprintf(ex->death, sizeof(ex->death), "could not be restarted: %.200s", w->errmsg);
			continue;
		}
		ex->restarts++;
		snprintf(ex->restart_note, sizeof(ex->restart_note),
			 "%s %d was restarted after pid %d %s: memory allocated on it before is "
			 "gone", pool_kind(w, ex->pool), ex->index, oldpid, old);
		STAT_ADD(w->st_restarts, 1);
	}
	if (n)
		monitor_poke(w);	/* it watches the new pidfds */
	return ret;
}

static int pid_of(const struct simpler_worker *w, bool chips, bool node, int i)
{
	const char *what = !chips ? "sub" : node ? "node" : "chip";
	const struct pool *p;
	struct exec *ex;

	if (!w)
		return werr(NULL, -EINVAL, "%s_pid: NULL worker", what);
	if (chips && node != w->nodes)
		return werr(w, -EINVAL, "%s_pid: this worker has %s, not %ss", what,
			    w->nodes ? "nodes (level 4)" : "chips (level 3)", what);
	p = chips ? &w->chips : &w->subs;
	if (i < 0 || i >= p->n)
		return werr(w, -EINVAL, "%s_pid: %s %d does not exist (the worker has %d)", what,
			    what, i, p->n);
	if (w->mode_threads)
		return werr(w, -EINVAL, "%s_pid: %ss are threads of this process "
			    "(SIMPLER_WORKER_THREADS)", what, what);
	ex = &p->ex[i];
	if (ex->remote && exec_dead(ex))
		return werr(w, -EHOSTDOWN, "%s_pid: %s was lost (%s); lost nodes do not come back",
			    what, ex->tag, ex->death);
	if (ex->pid <= 0 || exec_dead(ex))
		return werr(w, -ECHILD, "%s_pid: %s is dead (%s); it restarts at the next run",
			    what, ex->tag, ex->death);
	return ex->pid;
}

SIMPLER_API int simpler_chip_pid(const struct simpler_worker *w, int chip)
{
	return pid_of(w, true, false, chip);
}

SIMPLER_API int simpler_node_pid(const struct simpler_worker *w, int node)
{
	return pid_of(w, true, true, node);
}

SIMPLER_API int simpler_sub_pid(const struct simpler_worker *w, int sub)
{
	return pid_of(w, false, false, sub);
}
