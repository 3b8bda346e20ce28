// SPDX-License-Identifier: MIT
/*
 * Chip and sub processes (process mode only, whatever SIMPLER_TEST_MODE
 * says): a chip killed mid-run fails its task with a message naming it, its
 * pid and the signal, the run returns promptly and the next run gets a new
 * process; children of a killed application exit within a second; destroy
 * is bounded even with a stopped child and leaves nothing behind; a chip
 * that cannot start fails create cleanly; kernels from a library loaded
 * after the fork run; idle children use no CPU.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "test_util.h"

#define LATCH_WAIT_MS 10000

SHARED_ARRAY(_Atomic int, started, 8)	/* per chip: a blocking kernel started */
SHARED_ARRAY(_Atomic int, release, 1)	/* opens every blocking kernel */
SHARED_ARRAY(_Atomic int, pids, 16)	/* what k_pid saw: chips, then subs at 8 */
SHARED_ARRAY(uint64_t, out, 64)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* waits (bounded) until *release */
static int k_block(const struct simpler_kernel_args *a)
{
	int i, slot = a->chip >= 0 ? a->chip : 7;

	atomic_store(&started[slot], 1);
	for (i = 0; i < LATCH_WAIT_MS && !atomic_load(release); i++)
		sleep_ms(1);
	return atomic_load(release) ? 0 : -ETIMEDOUT;
}

static int k_pid(const struct simpler_kernel_args *a)
{
	atomic_store(&pids[a->chip >= 0 ? a->chip : 8], getpid());
	return 0;
}

static __attribute__((noreturn)) int k_exit(const struct simpler_kernel_args *a)
{
	_exit((int)a->scalars[0]);
}

/* a worker with chips as processes, whatever mode the suite runs in */
static struct simpler_worker *proc_worker(int chips, int subs)
{
	struct simpler_worker *w = NULL;
	TEST_OPTS(o, .nr_chips = chips, .nr_subs = subs);
	int ret = simpler_worker_create(&o, &w);

	if (ret)
		FAILF("simpler_worker_create: %d: %s", ret, simpler_last_errmsg());
	return w;
}

static int submit0(struct simpler_orch *o, const char *kernel, int where, bool sub,
		   uint64_t scalar)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	SIMPLER_OPTS(simpler_submit_opts, so, .worker = where,
		     .flags = sub ? SIMPLER_SUBMIT_SUB : 0);
	int r;

	simpler_args_add_scalar(a, scalar);
	r = simpler_submit(o, simpler_callable(w, kernel), a, &so);
	simpler_args_free(a);
	return r;
}

struct kill_plan {
	int slot;		/* started[] slot to wait for */
	pid_t victim;
	int sig;
	bool sub;
	int where;
	double killed_at;
};

/* a blocking kernel on the victim, an independent task elsewhere; kill it once running */
static int orch_kill(struct simpler_orch *o, void *arg)
{
	struct kill_plan *k = arg;
	int i, r;

	r = submit0(o, "block", k->where, k->sub, 0);
	if (r >= 0)
		r = submit0(o, "pid", k->sub ? 0 : 1 - k->where, false, 0);
	for (i = 0; i < 5000 && !atomic_load(&started[k->slot]); i++)
		sleep_ms(1);
	if (!atomic_load(&started[k->slot]))
		return -ETIMEDOUT;
	k->killed_at = now_s();
	kill(k->victim, k->sig);
	return r < 0 ? r : 0;
}

static int orch_pids(struct simpler_orch *o, void *arg)
{
	int i, r = 0, *n = arg;

	for (i = 0; i < n[0] && r >= 0; i++)
		r = submit0(o, "pid", i, false, 0);
	for (i = 0; i < n[1] && r >= 0; i++)
		r = submit0(o, "pid", i, true, 0);
	return r < 0 ? r : 0;
}

static void kill_case(bool sub, int sig, const char *how)
{
	struct simpler_worker *w = proc_worker(2, 1);
	struct simpler_stats st = { .sz = sizeof(st) };
	struct kill_plan k = { .slot = sub ? 7 : 1, .sig = sig, .sub = sub, .where = sub ? 0 : 1 };
	int n[2] = { 2, 1 }, old;
	uint64_t m = 0;
	char want[128];
	double took;
	uint8_t b[8];

	simpler_register(w, "block", k_block);
	simpler_register(w, "pid", k_pid);
	if (!sub)
		CHECK_OK(simpler_malloc(w, 1, 4096, &m), w);
	old = sub ? simpler_sub_pid(w, 0) : simpler_chip_pid(w, 1);
	k.victim = old;
	CHECK(old > 0);

	CHECK_EQ(simpler_run(w, orch_kill, &k), -ECHILD);
	took = now_s() - k.killed_at;
	snprintf(want, sizeof(want), "%s (pid %d) died while running kernel 'block'",
		 sub ? "sub 0" : "chip 1", old);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), want), "%s", simpler_worker_errmsg(w));
	CHECK_MSG(strstr(simpler_worker_errmsg(w), how), "%s", simpler_worker_errmsg(w));
	CHECK_MSG(took < 1.0, "the run returned %.3f s after the kill", took);
	printf("# %s (run returned %.3f s after the kill)\n", simpler_worker_errmsg(w), took);
	/* the independent task on chip 0 ran */
	CHECK_EQ(pids[0], simpler_chip_pid(w, 0));
	CHECK_EQ(sub ? simpler_sub_pid(w, 0) : simpler_chip_pid(w, 1), -ECHILD);
	/* no run: control commands say the chip is dead and what happens next */
	if (!sub) {
		CHECK_EQ(simpler_copy_from(w, 1, b, m, 8), -ECHILD);
		CHECK_MSG(strstr(simpler_worker_errmsg(w), "restarts at the next run"), "%s",
			  simpler_worker_errmsg(w));
	}

	/* the next run restarts it */
	memset(pids, 0, 16 * sizeof(*pids));
	CHECK_OK(simpler_run(w, orch_pids, n), w);
	CHECK(pids[sub ? 8 : 1] > 0 && pids[sub ? 8 : 1] != old);
	CHECK_EQ(pids[sub ? 8 : 1], sub ? simpler_sub_pid(w, 0) : simpler_chip_pid(w, 1));
	CHECK_OK(simpler_worker_stats(w, &st), w);
	CHECK_EQ(st.chip_restarts, 1);
	if (!sub) {
		/* its memory went with it, and the error says so */
		CHECK_EQ(simpler_copy_from(w, 1, b, m, 8), -EFAULT);
		CHECK_MSG(strstr(simpler_worker_errmsg(w), "memory allocated on it before is gone"),
			  "%s", simpler_worker_errmsg(w));
		printf("# %s\n", simpler_worker_errmsg(w));
	}
	simpler_worker_destroy(w);
}

TEST(chip_killed_mid_run_fails_its_task_then_restarts)
{
	kill_case(false, SIGKILL, "killed by signal 9 (Killed)");
}

TEST(sub_killed_mid_run_fails_its_task_then_restarts)
{
	kill_case(true, SIGTERM, "killed by signal 15 (Terminated)");
}

static int orch_exit(struct simpler_orch *o, void *arg)
{
	return submit0(o, "exit", 0, false, 3);
}

TEST(chip_that_exits_in_a_kernel_is_reported)
{
	struct simpler_worker *w = proc_worker(1, 0);
	int n[2] = { 1, 0 };

	simpler_register(w, "exit", k_exit);
	simpler_register(w, "pid", k_pid);
	CHECK_EQ(simpler_run(w, orch_exit, NULL), -ECHILD);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), "exited with status 3"), "%s",
		  simpler_worker_errmsg(w));
	CHECK_OK(simpler_run(w, orch_pids, n), w);
	CHECK_EQ(pids[0], simpler_chip_pid(w, 0));
	simpler_worker_destroy(w);
}

static void on_sigint(int sig)
{
	(void)sig;
}

TEST(terminal_signals_are_the_applications_business)
{
	struct simpler_worker *w;
	int n[2] = { 1, 1 }, c, s;

	/* a handler the children must not run, and a signal they must not die of */
	signal(SIGINT, on_sigint);
	w = proc_worker(1, 1);
	simpler_register(w, "pid", k_pid);
	c = simpler_chip_pid(w, 0);
	s = simpler_sub_pid(w, 0);
	CHECK_EQ(kill(c, SIGINT), 0);
	CHECK_EQ(kill(s, SIGHUP), 0);
	CHECK_EQ(kill(c, SIGPIPE), 0);
	sleep_ms(100);
	CHECK_OK(simpler_run(w, orch_pids, n), w);
	CHECK_EQ(pids[0], c);	/* the same processes ran them */
	CHECK_EQ(pids[8], s);
	simpler_worker_destroy(w);
}

/* ---- the application dies ---- */

static int orch_block_all(struct simpler_orch *o, void *arg)
{
	int r = submit0(o, "block", 0, false, 0);

	if (r >= 0)
		r = submit0(o, "block", 1, false, 0);
	return r < 0 ? r : 0;
}

/*
 * An application (a child of the test) creates a worker, reports its
 * children's pids, then idles or runs kernels that never end; it is killed
 * with SIGKILL; every child must be gone within a second.
 */
static void app_killed_case(bool busy)
{
	int fd[2], p[3], i, left;
	double t0, took = 0;
	pid_t app;

	/* orphans come back to this process: it can time their exit */
	CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	CHECK_EQ(pipe(fd), 0);
	app = fork();
	if (app == 0) {
		struct simpler_worker *w = proc_worker(2, 1);

		p[0] = simpler_chip_pid(w, 0);
		p[1] = simpler_chip_pid(w, 1);
		p[2] = simpler_sub_pid(w, 0);
		simpler_register(w, "block", k_block);
		if (write(fd[1], p, sizeof(p)) != sizeof(p))
			_exit(1);
		if (busy)
			simpler_run(w, orch_block_all, NULL);
		pause();
		_exit(0);
	}
	close(fd[1]);
	CHECK_EQ(read(fd[0], p, sizeof(p)), (ssize_t)sizeof(p));
	close(fd[0]);
	for (i = 0; busy && i < 5000 && !(atomic_load(&started[0]) && atomic_load(&started[1])); i++)
		sleep_ms(1);
	if (busy)
		CHECK(atomic_load(&started[0]) && atomic_load(&started[1]));
	CHECK_EQ(kill(app, SIGKILL), 0);
	CHECK_EQ(waitpid(app, NULL, 0), app);
	t0 = now_s();
	for (left = 3; left && now_s() - t0 < 3.0;) {
		for (i = 0; i < 3; i++) {
			if (p[i] && waitpid(p[i], NULL, WNOHANG) == p[i]) {
				p[i] = 0;
				left--;
				took = now_s() - t0;
			}
		}
		sleep_ms(1);
	}
	CHECK_MSG(!left, "%d children still alive 3 s after the application died", left);
	CHECK_MSG(took < 1.0, "the last child exited %.3f s after the application died", took);
	printf("# children gone %.3f s after the application was killed\n", took);
}

TEST(children_of_a_killed_idle_application_exit)
{
	app_killed_case(false);
}

TEST(children_of_a_killed_busy_application_exit)
{
	app_killed_case(true);
}

/* ---- destroy ---- */

static int count_shared_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perms[8];
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %7s", perms) == 1 && perms[3] == 's')
			n++;
	if (f)
		fclose(f);
	return n;
}

/*
 * Shared-memory names the library could have left: only ours (it names
 * everything "simpler..."), never every entry of the machine's /dev/shm,
 * which other programs use at the same time.
 */
static int count_our_shm_names(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, "simpler", 7);
	if (d)
		closedir(d);
	return n;
}

TEST(destroy_is_bounded_with_a_stopped_chip_and_leaves_nothing)
{
	int maps = count_shared_maps(), shm = count_our_shm_names(), n[2] = { 3, 2 }, i;
	struct simpler_worker *w = proc_worker(3, 2);
	pid_t p[5];
	double t0, took;

	simpler_register(w, "pid", k_pid);
	CHECK_OK(simpler_run(w, orch_pids, n), w);
	for (i = 0; i < 3; i++)
		p[i] = simpler_chip_pid(w, i);
	p[3] = simpler_sub_pid(w, 0);
	p[4] = simpler_sub_pid(w, 1);
	/* a stopped child cannot answer the shutdown request */
	CHECK_EQ(kill(p[1], SIGSTOP), 0);
	t0 = now_s();
	simpler_worker_destroy(w);
	took = now_s() - t0;
	CHECK_MSG(took < 3.0, "destroy took %.3f s", took);
	printf("# destroy with a stopped chip took %.3f s\n", took);
	/* every child reaped (not even a zombie), no shared mapping or shm name left */
	for (i = 0; i < 5; i++)
		CHECK_MSG(kill(p[i], 0) == -1 && errno == ESRCH, "pid %d still exists", p[i]);
	CHECK_EQ(count_shared_maps(), maps);
	CHECK_EQ(count_our_shm_names(), shm);
}

/*
 * Idle children answer the shutdown request: destroy never reaches the 2 s
 * deadline after which it kills them.  (Milliseconds on an idle machine; a
 * loaded KASAN VM is much slower, hence no tighter bound.)
 */
TEST(destroy_of_an_idle_worker_is_quick)
{
	struct simpler_worker *w = proc_worker(4, 2);
	double t0 = now_s(), took;

	simpler_worker_destroy(w);
	took = now_s() - t0;
	printf("# destroy of an idle worker with 6 children took %.3f s\n", took);
	CHECK_MSG(took < 1.9, "destroy took %.3f s: children did not answer before the kill "
		  "deadline", took);
}

/* ---- placement ---- */

/* the CPUs a process may run on, as a set */
static int allowed_cpus(pid_t pid, cpu_set_t *set)
{
	return sched_getaffinity(pid, sizeof(*set), set);
}

TEST(chips_run_on_distinct_cpus_when_they_fit)
{
	cpu_set_t mine, theirs, seen;
	struct simpler_worker *w;
	int n, i, j;

	CHECK_EQ(allowed_cpus(0, &mine), 0);
	n = CPU_COUNT(&mine);
	if (n < 2)
		SKIP("one usable CPU: nothing to place");
	if (n > 4)
		n = 4;
	w = proc_worker(n, 1);
	CPU_ZERO(&seen);
	for (i = 0; i < n; i++) {
		CHECK_EQ(allowed_cpus(simpler_chip_pid(w, i), &theirs), 0);
		CHECK_MSG(CPU_COUNT(&theirs) == 1, "chip %d may run on %d CPUs", i, CPU_COUNT(&theirs));
		for (j = 0; j < CPU_SETSIZE; j++)
			if (CPU_ISSET(j, &theirs)) {
				CHECK_MSG(CPU_ISSET(j, &mine), "chip %d on CPU %d, not ours", i, j);
				CHECK_MSG(!CPU_ISSET(j, &seen), "chip %d shares CPU %d", i, j);
				CPU_SET(j, &seen);
			}
	}
	/* subs are not placed */
	CHECK_EQ(allowed_cpus(simpler_sub_pid(w, 0), &theirs), 0);
	CHECK(CPU_EQUAL(&theirs, &mine));
	simpler_worker_destroy(w);
}

TEST(chips_are_not_placed_with_no_bind_or_more_chips_than_cpus)
{
	struct simpler_worker *w = NULL;
	cpu_set_t mine, theirs;
	int n, pass, i;

	CHECK_EQ(allowed_cpus(0, &mine), 0);
	n = CPU_COUNT(&mine);
	for (pass = 0; pass < 2; pass++) {
		TEST_OPTS(o, .nr_chips = pass ? n + 1 : 2, .flags = pass ? 0 : SIMPLER_WORKER_NO_BIND);

		CHECK_OK(simpler_worker_create(&o, &w), w);
		for (i = 0; i < simpler_worker_nr_chips(w); i++) {
			CHECK_EQ(allowed_cpus(simpler_chip_pid(w, i), &theirs), 0);
			CHECK_MSG(CPU_EQUAL(&theirs, &mine), "chip %d was placed (pass %d)", i, pass);
		}
		simpler_worker_destroy(w);
	}
}

/* ---- create ---- */

TEST(chip_that_cannot_start_fails_create_cleanly)
{
	struct simpler_worker *w = (void *)1;
	int maps = count_shared_maps();
	/* no address space has room for 2^62 bytes of chip memory */
	TEST_OPTS(o, .nr_chips = 2, .chip_mem_size = 1ULL << 62);

	CHECK_EQ(simpler_worker_create(&o, &w), -EIO);
	CHECK(w == NULL);
	CHECK_MSG(strstr(simpler_last_errmsg(), "chip 0 (pid ") &&
		  strstr(simpler_last_errmsg(), "cannot open on platform 'sim'"), "%s",
		  simpler_last_errmsg());
	CHECK_EQ(count_shared_maps(), maps);
	/* the harness checks that no process and no fd was left behind */
}

TEST(start_deadline_is_an_option)
{
	struct simpler_worker *w = NULL;
	TEST_OPTS(o, .nr_chips = 1, .start_timeout_ms = 5000);

	CHECK_OK(simpler_worker_create(&o, &w), NULL);
	CHECK(simpler_chip_pid(w, 0) > 0);
	simpler_worker_destroy(w);
}

/* ---- kernels registered after the fork ---- */

static int orch_so(struct simpler_orch *o, void *arg)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	struct simpler_args *a = simpler_args_new();
	int i, r = 0, id = *(int *)arg;

	for (i = 0; i < 3 && r >= 0; i++) {
		SIMPLER_OPTS(simpler_submit_opts, so, .worker = i < 2 ? i : 0,
			     .flags = i < 2 ? 0 : SIMPLER_SUBMIT_SUB);
		struct simpler_tensor t = t1d(out + 8 * i, 8, SIMPLER_U64);

		simpler_args_reset(a);
		simpler_args_add_tensor(a, &t, SIMPLER_OUT);
		simpler_args_add_scalar(a, 100 * (uint64_t)(i + 1));
		r = simpler_submit(o, id, a, &so);
	}
	simpler_args_free(a);
	(void)w;
	return r < 0 ? r : 0;
}

TEST(kernel_from_a_library_loaded_after_the_fork_runs)
{
	struct simpler_worker *w = proc_worker(2, 1);
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 32);
	simpler_kernel_fn fn;
	void *h;
	int id, i, j;

	CHECK(n > 0);
	exe[n] = 0;
	slash = strrchr(exe, '/');
	strcpy(slash + 1, "libkern_test.so");
	h = dlopen(exe, RTLD_NOW);
	CHECK_MSG(h, "dlopen %s: %s", exe, dlerror());
	fn = (simpler_kernel_fn)dlsym(h, "kern_so_fill");
	CHECK(fn);
	id = simpler_register(w, "so_fill", fn);
	CHECK_OK(id, w);
	CHECK_OK(simpler_run(w, orch_so, &id), w);
	/* chip 0, chip 1, then the sub (chip -1) */
	for (i = 0; i < 3; i++)
		for (j = 0; j < 8; j++)
			CHECK_EQ(out[8 * i + j], 100 * (uint64_t)(i + 1) + (uint64_t)(i < 2 ? i : -1) +
				 0x5eed);
	simpler_worker_destroy(w);
	dlclose(h);
}

TEST(kernel_outside_any_object_is_refused)
{
	struct simpler_worker *w = proc_worker(1, 0);
	void *code = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(code != MAP_FAILED);
	CHECK_EQ(simpler_register(w, "jit", (simpler_kernel_fn)code), -EINVAL);
	CHECK_MSG(strstr(simpler_worker_errmsg(w), "not in the program or a shared object"),
		  "%s", simpler_worker_errmsg(w));
	CHECK(strstr(simpler_worker_errmsg(w), "SIMPLER_WORKER_THREADS"));
	munmap(code, 4096);
	simpler_worker_destroy(w);
}

/* ---- idle ---- */

/* one more link of a chain: out[0] shows how far it got */
static int k_link(const struct simpler_kernel_args *a)
{
	uint64_t *acc = (uint64_t *)(uintptr_t)a->tensors[0].addr;

	*acc += 1;
	out[0] = *acc;
	return 0;
}

#define CHAIN 64

/* a chain of dependent tasks, then off into the application's own code */
static int orch_away(struct simpler_orch *o, void *arg)
{
	struct simpler_worker *w = simpler_orch_worker(o);
	double *took = arg, t0;
	uint64_t *acc = simpler_orch_alloc(o, sizeof(*acc));
	struct simpler_tensor t;
	int i, r = 0;

	if (!acc)
		return -ENOMEM;
	*acc = 0;
	t = simpler_tensor_1d(acc, sizeof(*acc), SIMPLER_U8);
	for (i = 0; i < CHAIN && r >= 0; i++) {
		struct simpler_args *a = simpler_args_new();

		simpler_args_add_tensor(a, &t, SIMPLER_INOUT);
		r = simpler_submit(o, simpler_callable(w, "link"), a, NULL);
		simpler_args_free(a);
	}
	if (r < 0)
		return r;
	/* the library is not called again until the chain is done (or 5 s) */
	t0 = now_s();
	for (i = 0; i < 5000 && out[0] != CHAIN; i++)
		sleep_ms(1);
	*took = now_s() - t0;
	return 0;
}

/*
 * While the orchestrator submits, it dispatches itself and the dispatcher
 * thread stands by; when the orchestration function goes off into its own
 * code with dependent tasks waiting, the dispatcher takes over.
 */
TEST(work_goes_on_while_the_orchestration_function_is_away)
{
	struct simpler_worker *w = proc_worker(1, 0);
	double took = -1;
	int rep;

	simpler_register(w, "link", k_link);
	for (rep = 0; rep < 8; rep++) {
		/*
		 * Between runs the dispatcher thread falls asleep; the next run
		 * must still get it back when the orchestrator goes away (it
		 * slept through that when the last run left it on duty).
		 */
		sleep_ms(rep % 2 ? 20 : 0);
		out[0] = 0;
		CHECK_OK(simpler_run(w, orch_away, &took), w);
		CHECK_EQ(out[0], CHAIN);
		/* a standby of 0.2 ms, then empty kernels: far below a second */
		CHECK_MSG(took >= 0 && took < 1.0, "the chain finished %.3f s after the "
			  "orchestration function stopped calling the library", took);
		printf("# chain of %d done %.1f ms after the orchestrator went away\n", CHAIN,
		       took * 1000);
	}
	simpler_worker_destroy(w);
}

static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');
	/* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

TEST(idle_children_use_no_cpu)
{
	struct simpler_worker *w = proc_worker(2, 1);
	int n[2] = { 2, 1 }, i;
	long before[3], after[3];
	pid_t p[3];

	simpler_register(w, "pid", k_pid);
	CHECK_OK(simpler_run(w, orch_pids, n), w);
	p[0] = simpler_chip_pid(w, 0);
	p[1] = simpler_chip_pid(w, 1);
	p[2] = simpler_sub_pid(w, 0);
	sleep_ms(100);	/* past every spin */
	for (i = 0; i < 3; i++)
		before[i] = cpu_ticks(p[i]);
	sleep_ms(1000);
	for (i = 0; i < 3; i++) {
		after[i] = cpu_ticks(p[i]);
		CHECK(before[i] >= 0 && after[i] >= 0);
		/* a tick is 10 ms; a spinning child would burn 100 in this second */
		CHECK_MSG(after[i] - before[i] <= 1, "child %d (pid %d) used %ld ticks while idle",
			  i, p[i], after[i] - before[i]);
	}
	simpler_worker_destroy(w);
}

TEST_MAIN()
