/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the simpler.ko kselftests: ioctl wrappers returning
 * -errno, fork/pipe plumbing between an owner and its members, SIGBUS probes,
 * pin-balance and kernel-log checks.  Header-only so every test stays one
 * self-contained program (as tools/testing/selftests builds them).
 */
#ifndef SIMPLER_TEST_H
#define SIMPLER_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/simpler.h>
#include <linux/userfaultfd.h>
#include <poll.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

#define SX_DEV "/dev/simpler"
#define SX_PAGE 4096UL
#define SX_MIB (1024UL * 1024UL)

/* ---- device and ioctls ---- */

/* open the device; -errno when it is not there */
static inline int sx_open(void)
{
	int fd = open(SX_DEV, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/*
 * Skip when the module is not loaded.  _exit(255) is the harness's skip
 * status; unlike "return" it also ends a test from inside FIXTURE_SETUP,
 * which the 6.1 harness would otherwise run on into the test body.
 */
#define SX_SKIP_NO_DEV(fd)                                                         \
	do {                                                                       \
		if ((fd) == -ENOENT || (fd) == -ENODEV || (fd) == -ENXIO)          \
			SKIP(_exit(255), "%s missing: load simpler.ko (insmod simpler.ko)", \
			     SX_DEV);                                              \
		ASSERT_LE(0, (fd)) TH_LOG("open %s: %s", SX_DEV, strerror(-(fd))); \
	} while (0)

/*
 * SX_ONLY=word in the environment runs only the tests whose name contains
 * the word; the others skip (to run one test, e.g. against an older module).
 */
#define SX_ONLY()                                                                  \
	do {                                                                       \
		const char *only_ = getenv("SX_ONLY");                             \
		if (only_ && *only_ && !strstr(_metadata->name, only_))            \
			SKIP(_exit(255), "SX_ONLY=%s", only_);                     \
	} while (0)

static inline int sx_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, cmd, arg);
	} while (ret < 0 && (errno == EINTR || errno == EAGAIN));
	return ret < 0 ? -errno : ret;
}

static inline int sx_info(int fd, struct simpler_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return sx_ioctl(fd, SIMPLER_IOC_INFO, info);
}

/* one-shot ioctl: no EAGAIN retry, so a test can see EAGAIN itself */
static inline int sx_ioctl_once(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static inline int sx_register(int fd, const void *addr, size_t len, uint64_t *handle,
			      uint64_t *off)
{
	struct simpler_register r = { .size = sizeof(r), .addr = (uintptr_t)addr, .len = len };
	int ret = sx_ioctl(fd, SIMPLER_IOC_REGISTER, &r);

	if (!ret) {
		if (handle)
			*handle = r.handle;
		if (off)
			*off = r.mmap_offset;
	}
	return ret;
}

static inline int sx_unregister(int fd, uint64_t handle)
{
	struct simpler_unregister u = { .size = sizeof(u), .handle = handle };

	return sx_ioctl(fd, SIMPLER_IOC_UNREGISTER, &u);
}

static inline int sx_query(int fd, const void *addr, size_t len, struct simpler_query *q)
{
	memset(q, 0, sizeof(*q));
	q->size = sizeof(*q);
	q->addr = (uintptr_t)addr;
	q->len = len;
	return sx_ioctl(fd, SIMPLER_IOC_QUERY, q);
}

static inline uint32_t sx_verdict(int fd, const void *addr, size_t len)
{
	struct simpler_query q;
	int ret = sx_query(fd, addr, len, &q);

	return ret ? 1000 + (uint32_t)-ret : q.verdict;
}

static inline int sx_lookup(int fd, const void *addr, struct simpler_lookup *l)
{
	memset(l, 0, sizeof(*l));
	l->size = sizeof(*l);
	l->addr = (uintptr_t)addr;
	return sx_ioctl(fd, SIMPLER_IOC_LOOKUP, l);
}

static inline void *sx_map_sentinel(int fd)
{
	void *p = mmap(NULL, SX_PAGE, PROT_READ, MAP_SHARED, fd, SIMPLER_SENTINEL_OFFSET);

	return p == MAP_FAILED ? NULL : p;
}

/* map a registered buffer in a member, at hint with MAP_FIXED_NOREPLACE if given */
static inline void *sx_map_buf(int fd, void *hint, size_t len, uint64_t off)
{
	void *p = mmap(hint, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | (hint ? MAP_FIXED_NOREPLACE : 0), fd, off);

	return p == MAP_FAILED ? NULL : p;
}

static inline int sx_nr_members(int fd)
{
	struct simpler_info info;
	int ret = sx_info(fd, &info);

	return ret ? ret : (int)info.nr_members;
}

/* ---- memory ---- */

static inline void *sx_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static inline uint64_t sx_pattern(uint64_t seed, uint64_t i)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL ^ seed;

	x ^= x >> 31;
	return x * 0xbf58476d1ce4e5b9ULL;
}

static inline void sx_fill(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = sx_pattern(seed, i);
}

/* index of the first wrong word, or -1 */
static inline long sx_check(const void *p, size_t len, uint64_t seed)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i] != sx_pattern(seed, i))
			return (long)i;
	return -1;
}

/* physical frame of a virtual page of pid (0 for self); 0 if absent */
static inline uint64_t sx_pfn(pid_t pid, const void *addr)
{
	char path[64];
	uint64_t ent = 0;
	int fd;

	snprintf(path, sizeof(path), pid ? "/proc/%d/pagemap" : "/proc/self/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	if (pread(fd, &ent, 8, ((uintptr_t)addr / SX_PAGE) * 8) != 8)
		ent = 0;
	close(fd);
	if (!(ent >> 63))
		return 0;
	return ent & ((1ULL << 55) - 1);
}

/* ---- processes ---- */

struct sx_chan {
	int down[2];	/* owner -> member */
	int up[2];	/* member -> owner */
};

static inline int sx_chan_init(struct sx_chan *c)
{
	return pipe(c->down) || pipe(c->up) ? -errno : 0;
}

/*
 * fork a child that dies with its parent.  With a channel, each side keeps
 * only its own pipe ends, so a side that exits shows up as EOF on the other.
 */
static inline pid_t sx_fork(struct sx_chan *c)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);
		if (c) {
			close(c->down[1]);
			close(c->up[0]);
		}
	} else if (pid > 0 && c) {
		close(c->down[0]);
		close(c->up[1]);
	}
	return pid;
}

static inline int sx_send(int fd, const void *buf, size_t n)
{
	return write(fd, buf, n) == (ssize_t)n ? 0 : -EIO;
}

static inline int sx_recv(int fd, void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			return -EIO;
		got += r;
	}
	return 0;
}

static inline uint64_t sx_recv_u64(int fd)
{
	uint64_t v = ~0ULL;

	sx_recv(fd, &v, sizeof(v));
	return v;
}

static inline void sx_send_u64(int fd, uint64_t v)
{
	sx_send(fd, &v, sizeof(v));
}

/* exit status, or 128 + signal */
static inline int sx_reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* ---- SIGBUS/SIGSEGV probes ---- */

static sigjmp_buf sx_probe_env;
static volatile sig_atomic_t sx_probe_sig;

static void sx_probe_handler(int sig)
{
	sx_probe_sig = sig;
	siglongjmp(sx_probe_env, 1);
}

static inline void sx_probe_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sx_probe_handler;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

/* read a word: 0 and *out, or the signal number that stopped it */
static inline int sx_probe_read(const volatile uint64_t *p, uint64_t *out)
{
	sx_probe_sig = 0;
	if (sigsetjmp(sx_probe_env, 1))
		return sx_probe_sig;
	*out = *p;
	return 0;
}

static inline int sx_probe_write(volatile uint64_t *p, uint64_t v)
{
	sx_probe_sig = 0;
	if (sigsetjmp(sx_probe_env, 1))
		return sx_probe_sig;
	*p = v;
	return 0;
}

/* ---- system state ---- */

/*
 * The number after "key" (followed by ':' or blanks) in a proc/sys/debugfs
 * file of "key value" lines; -1 if the file or the key is missing.
 */
static inline long long sx_file_value(const char *path, const char *key)
{
	char line[256];
	long long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && (line[n] == ':' || line[n] == ' ' || line[n] == '\t'))
			v = strtoll(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

static inline long long sx_vmstat(const char *name)
{
	int fd;

	/* fold per-cpu deltas so the counters are exact (needs root) */
	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		(void)!write(fd, "1", 1);
		close(fd);
	}
	return sx_file_value("/proc/vmstat", name);
}

/* acquired - released FOLL_PIN pins system-wide: 0 when nothing is pinned */
static inline long long sx_pins_outstanding(void)
{
	return sx_vmstat("nr_foll_pin_acquired") - sx_vmstat("nr_foll_pin_released");
}

/* a counter from /sys/kernel/debug/simpler/stats, -1 if unreadable */
static inline long long sx_stat(const char *name)
{
	return sx_file_value("/sys/kernel/debug/simpler/stats", name);
}

/* kB value of a field of /proc/<pid>/status (VmPin, ...) */
static inline long sx_status_kb(pid_t pid, const char *field)
{
	char path[64];

	snprintf(path, sizeof(path), pid ? "/proc/%d/status" : "/proc/self/status", pid);
	return sx_file_value(path, field);
}

/* kB value of a field of /proc/self/smaps_rollup (AnonHugePages, ...) */
static inline long sx_rollup_kb(const char *field)
{
	return sx_file_value("/proc/self/smaps_rollup", field);
}

/* open /dev/kmsg positioned at its end: later records are the test's */
static inline int sx_kmsg_mark(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* number of kernel log records since the mark that report a kernel problem */
static inline int sx_kmsg_bad(int fd, char *first, size_t firstlen)
{
	static const char *const bad[] = { "BUG", "WARNING", "Oops", "lockdep", "KASAN",
					   "kmemleak", "general protection", "bad page",
					   "circular locking", "refcount_t", NULL };
	char rec[2048];
	ssize_t n;
	int i, count = 0;

	if (fd < 0)
		return 0;
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records */
		if (n <= 0)
			break;
		rec[n] = 0;
		for (i = 0; bad[i]; i++) {
			if (strstr(rec, bad[i])) {
				if (!count && first && firstlen) {
					size_t k = strlen(rec);

					if (k >= firstlen)
						k = firstlen - 1;
					memcpy(first, rec, k);
					first[k] = 0;
				}
				count++;
				break;
			}
		}
	}
	return count;
}

/* wait (bounded) until a predicate on the module state holds */
static inline bool sx_wait_stat(const char *name, long long want, int ms)
{
	for (; ms > 0; ms -= 10) {
		if (sx_stat(name) == want)
			return true;
		usleep(10000);
	}
	return sx_stat(name) == want;
}

static inline bool sx_wait_pins_balanced(int ms)
{
	for (; ms > 0; ms -= 10) {
		if (sx_pins_outstanding() == 0)
			return true;
		usleep(10000);
	}
	return sx_pins_outstanding() == 0;
}

/* ---- holding the kernel still: userfaultfd, task states ---- */

/* a userfaultfd with the features asked for (-errno: none, or not those) */
static inline int sx_uffd_open(uint64_t features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api) || (api.features & features) != features) {
		close(fd);
		return -EOPNOTSUPP;
	}
	return fd;
}

static inline int sx_uffd_register(int uffd, void *addr, size_t len, uint64_t mode)
{
	struct uffdio_register r = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = mode,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &r) ? -errno : 0;
}

/* write-protect (wp) or release (!wp) [addr, addr + len) */
static inline int sx_uffd_wp(int uffd, void *addr, size_t len, bool wp)
{
	struct uffdio_writeprotect w = {
		.range = { .start = (uintptr_t)addr, .len = len },
		.mode = wp ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &w) ? -errno : 0;
}

/* the next page fault someone is blocked on: its address, or 0 after ms */
static inline uint64_t sx_uffd_next_fault(int uffd, int ms)
{
	struct pollfd p = { .fd = uffd, .events = POLLIN };
	struct uffd_msg m;

	if (poll(&p, 1, ms) != 1 || read(uffd, &m, sizeof(m)) != sizeof(m))
		return 0;
	return m.event == UFFD_EVENT_PAGEFAULT ? m.arg.pagefault.address : 0;
}

/* state letter of a thread of this process (R, S, D...), 0 if unknown */
static inline char sx_task_state(pid_t pid, pid_t tid)
{
	char path[96], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* wait (bounded) until a thread sleeps uninterruptibly (in the kernel) */
static inline bool sx_wait_task_state(pid_t pid, pid_t tid, char state, int ms)
{
	for (; ms > 0; ms -= 5) {
		if (sx_task_state(pid, tid) == state)
			return true;
		usleep(5000);
	}
	return false;
}

/* is the page at addr of process pid mapped (a PTE present)? */
static inline bool sx_present(pid_t pid, const void *addr)
{
	char path[64];
	uint64_t ent = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	if (pread(fd, &ent, 8, ((uintptr_t)addr / SX_PAGE) * 8) != 8)
		ent = 0;
	close(fd);
	return ent >> 63;
}

/* /sys/kernel/debug/simpler/domains/<id> of a domain */
static inline void sx_domain_path(int fd, char *path, size_t len)
{
	struct simpler_info info;

	path[0] = 0;
	if (!sx_info(fd, &info))
		snprintf(path, len, "/sys/kernel/debug/simpler/domains/%llu",
			 (unsigned long long)info.domain_id);
}

/*
 * fail-nth of the calling thread, kept open: opening it (a struct file) and
 * even reading it (a user copy) are injection points themselves.  -errno if
 * the kernel has no fault injection.
 */
static inline int sx_fail_nth_open(void)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth", (long)syscall(SYS_gettid));
	fd = open(path, O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* fail the nth injection point of this thread from now on (0: none) */
static inline int sx_fail_nth(int fd, int n)
{
	char v[16];
	int len = snprintf(v, sizeof(v), "%d", n);

	return pwrite(fd, v, len, 0) == len ? 0 : -errno;
}

/*
 * Was the nth point reached (then stop injecting)?  A read that fails was
 * itself an injection point, so the call before it had fewer than n.
 */
static inline bool sx_fail_nth_reached(int fd)
{
	char v[16] = "";
	ssize_t n = pread(fd, v, sizeof(v) - 1, 0);

	sx_fail_nth(fd, 0);
	return n > 0 && atoi(v) == 0;
}

#endif /* SIMPLER_TEST_H */
