// SPDX-License-Identifier: MIT
/*
 * A rank's side of an L4 session (mpilink.h): the MPI plugin, the launcher's
 * view of the job before MPI starts, and frames with sequence numbers.
 *
 * The plugin is loaded once per process and never unloaded: MPI itself is
 * once per process (MPI_Init after MPI_Finalize is an error), and an MPI
 * library unloaded after MPI_Finalize has run its exit handlers for
 * nothing.  That one pointer is the library's only process-wide state.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/sync.h"
#include "mpilink.h"

struct link_out {
	struct link_out *next;
	struct sx_mpi_req *req;
	uint64_t len;
	uint8_t buf[];
};

/* a rank's doorbell: a cache line of its own */
struct link_bell {
	_Atomic uint32_t seq;		/* rung: one more */
	_Atomic uint32_t sleepers;	/* dozing on seq (the ringer wakes them) */
	_Atomic uint32_t away;		/* the rank's threads dozing or napping (the crowd detector) */
	uint8_t pad[LINK_BELL_BYTES - 12];
};
_Static_assert(sizeof(struct link_bell) == LINK_BELL_BYTES, "a bell is a cache line");

static const struct sx_mpi_ops *plugin;
static char plugin_err[512];
static pthread_once_t plugin_once = PTHREAD_ONCE_INIT;

/* a non-negative integer from the environment, or -1 */
static int env_int(const char *name)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	v = strtol(s, &end, 10);
	return *end || v < 0 || v > 1 << 24 ? -1 : (int)v;
}

int sx_link_env(int *rank, int *size)
{
	/* Open MPI's mpirun, then PMIx and PMI launchers (MPICH's Hydra, Slurm) */
	static const char *const ranks[] = { "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK" };
	static const char *const sizes[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_SIZE" };
	size_t i;

	for (i = 0; i < sizeof(ranks) / sizeof(ranks[0]); i++) {
		*rank = env_int(ranks[i]);
		*size = env_int(sizes[i]);
		if (*rank >= 0 && *size > *rank)
			return 0;
	}
	return -ENOENT;
}

static void *try_open(const char *path, char *why, size_t len)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);	/* MPI's components need libmpi global */

	if (!h && why[0] == 0)
		snprintf(why, len, "%s", dlerror());
	return h;
}

static void plugin_load(void)
{
	const char *env = getenv("SIMPLER_MPI_PLUGIN");
	char path[4096], why[400] = "";
	Dl_info info;
	void *h = NULL;
	char *slash;

	if (env && *env) {
		h = try_open(env, why, sizeof(why));
	} else {
		h = try_open(SX_MPI_SONAME, why, sizeof(why));
		/* beside libsimpler (or the program it is linked into): a build tree */
		if (!h && dladdr((void *)(uintptr_t)sx_link_plugin, &info) && info.dli_fname &&
		    strlen(info.dli_fname) < sizeof(path) - sizeof(SX_MPI_SONAME)) {
			snprintf(path, sizeof(path), "%s", info.dli_fname);
			slash = strrchr(path, '/');
			if (slash) {
				snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "%s",
					 SX_MPI_SONAME);
				h = try_open(path, why, sizeof(why));
			}
		}
	}
	if (!h) {
		snprintf(plugin_err, sizeof(plugin_err), "cannot load the MPI plugin %.100s: %.190s "
			 "(simpler builds it when Open MPI is installed: apt-get install openmpi-bin "
			 "libopenmpi-dev, rebuild, and put it where the dynamic loader finds it or "
			 "name it in SIMPLER_MPI_PLUGIN)", env && *env ? env : SX_MPI_SONAME, why);
		return;
	}
	plugin = dlsym(h, SX_MPI_SYMBOL);
	if (!plugin || plugin->abi != SX_MPI_ABI) {
		snprintf(plugin_err, sizeof(plugin_err), "the MPI plugin %s is %s: rebuild it with "
			 "this libsimpler", env && *env ? env : SX_MPI_SONAME,
			 plugin ? "of another ABI" : "not simpler's (no " SX_MPI_SYMBOL ")");
		plugin = NULL;
	}
}

int sx_link_plugin(const struct sx_mpi_ops **ops, char *err, size_t len)
{
	pthread_once(&plugin_once, plugin_load);
	if (!plugin) {
		snprintf(err, len, "%s", plugin_err);
		return -ENOPKG;
	}
	*ops = plugin;
	return 0;
}

void sx_link_relax(struct link *l, uint32_t mark)
{
	if (l && atomic_load_explicit(&l->nap, memory_order_relaxed))
		sx_link_doze(l, mark, LINK_NAP_CROWDED_NS);
	else
		sched_yield();
}

static struct link_bell *bell(const struct link *l, int rank)
{
	return l && l->bells && rank >= 0 && rank < l->size && l->slot[rank] >= 0 ?
	       &l->bells[l->slot[rank]] : NULL;
}

void sx_link_ring(struct link *l, int dst)
{
	struct link_bell *b = bell(l, dst);

	if (!b)
		return;
	/* seq_cst: the message is posted before the ring; the ring before sleepers is read */
	atomic_fetch_add_explicit(&b->seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&b->sleepers, memory_order_seq_cst))
		futex_wake(&b->seq, INT_MAX, true);
}

uint32_t sx_link_mark(const struct link *l)
{
	struct link_bell *b = bell(l, l ? l->rank : -1);

	return b ? atomic_load_explicit(&b->seq, memory_order_seq_cst) : 0;
}

/*
 * No wake-up is lost: a ringer posts, then bumps seq, then reads sleepers;
 * the dozer read mark before it looked, counts itself in sleepers, then
 * sleeps only while seq still equals mark.  So a ring after the look either
 * moved seq past mark (no sleep) or saw the dozer counted (a wake).
 */
void sx_link_doze(struct link *l, uint32_t mark, uint64_t ns)
{
	struct link_bell *b = bell(l, l ? l->rank : -1);
	struct timespec ts = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };

	if (b)
		atomic_fetch_add_explicit(&b->away, 1, memory_order_relaxed);
	if (!b || !atomic_load_explicit(&l->nap, memory_order_relaxed)) {
		nanosleep(&ts, NULL);
	} else {
		atomic_fetch_add_explicit(&b->sleepers, 1, memory_order_seq_cst);
		futex_wait(&b->seq, mark, true, &ts);
		atomic_fetch_sub_explicit(&b->sleepers, 1, memory_order_relaxed);
	}
	if (b)
		atomic_fetch_sub_explicit(&b->away, 1, memory_order_relaxed);
}

bool sx_link_crowd_judge(struct link_crowd *c, int running, int ours, int ranks, uint64_t wait,
			 uint64_t now)
{
	int crowd = running > ours ? running - ours : 0;
	/* a yield gives the CPU to a stranger when the crowd and our ranks exceed the CPUs */
	int room = (c->cpus - ranks) * LINK_CROWD_ONE;
	bool want;

	c->avg += (crowd * LINK_CROWD_ONE - c->avg) / 8;
	if (c->crowded)
		want = c->avg >= LINK_CROWD_LEAVE && c->avg > room - LINK_CROWD_ONE / 4;
	else
		want = c->avg >= LINK_CROWD_ENTER && c->avg > room && wait >= LINK_CROWD_WAIT_NS;
	if (want != c->crowded && (int64_t)(now - c->since) >= (int64_t)LINK_CROWD_HOLD_NS) {
		c->crowded = want;
		c->since = now;
		c->flips++;
	}
	return c->crowded;
}

/* the average wait for a CPU of the threads that looked lately, ns */
static uint64_t link_crowd_wait(const struct link_crowd *c)
{
	return c->got > 0 ? (uint64_t)(c->waited / c->got) : 0;
}

/*
 * The looking thread's waits for a CPU since its last look (the kernel's
 * run_delay and pcount, /proc/thread-self/schedstat), into the averages
 * of c: each look's sums, an eighth of the old ones kept away each time
 * (so a look with one long wait among many short ones weighs as little).
 */
static void thread_waits(struct link_crowd *c, uint64_t now)
{
	static __thread uint64_t then, delay, count;
	uint64_t d, k;
	char text[128];
	int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? pread(fd, text, sizeof(text) - 1, 0) : -1;

	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = 0;
	if (sscanf(text, "%*s %" SCNu64 " %" SCNu64, &d, &k) != 2)
		return;
	c->waits_seen = true;
	/* this thread's previous look, if recent: another thread may have looked in between */
	if (then && now - then < 8 * LINK_CROWD_NS && d >= delay && k >= count) {
		c->waited = c->waited * 7 / 8 + (double)(d - delay);
		c->got = c->got * 7 / 8 + (double)(k - count);
	}
	then = now;
	delay = d;
	count = k;
}

void sx_link_crowd_tick(struct link *l, uint64_t now)
{
	struct link_crowd *c = &l->crowd;
	int running, ours = 0, ranks = 0, r;
	const char *yields;

	if (l->nap_mode != LINK_NAP_AUTO || c->fd < 0 || !l->bells ||
	    now < atomic_load_explicit(&c->next, memory_order_relaxed) ||
	    atomic_exchange_explicit(&c->looking, true, memory_order_acquire))
		return;
	/* again, as the one looking: another may have looked since (and moved next on) */
	if (now < atomic_load_explicit(&c->next, memory_order_relaxed)) {
		atomic_store_explicit(&c->looking, false, memory_order_release);
		return;
	}
	atomic_store_explicit(&c->next, now + LINK_CROWD_NS, memory_order_relaxed);
	running = sx_loadavg_read(c->fd);
	thread_waits(c, now);
	/*
	 * Each rank one polling thread, unless one of its threads dozes or
	 * naps (rank 0's engine and orchestrator overlap only as they hand
	 * over; a rank that died counts as polling): off by one at worst.
	 */
	for (r = 0; r < l->size; r++)
		if (l->slot[r] >= 0) {
			ranks++;
			ours += !atomic_load_explicit(&l->bells[l->slot[r]].away,
						      memory_order_relaxed);
		}
	if (c->verbose && !c->waits_seen && !c->said) {
		c->said = true;
		fprintf(stderr, "simpler: rank %d: no waits for a CPU to read (/proc/thread-self/"
			"schedstat): nap mode stays off\n", l->rank);
	}
	if (running >= 0 && sx_link_crowd_judge(c, running, ours, ranks, link_crowd_wait(c), now) !=
	    atomic_load_explicit(&l->nap, memory_order_relaxed)) {
		atomic_store_explicit(&l->nap, c->crowded, memory_order_relaxed);
		/*
		 * Open MPI's own idle polls: no yields while crowded, as
		 * SIMPLER_MPI_NAP=1, unless the environment chose
		 */
		yields = c->mpi_yields ? "left as the environment set them" :
			 l->mpi->idle_yields(!c->crowded) ? (c->crowded ? "off" : "as MPI chose") :
			 "unchanged (this MPI has no switch)";
		if (c->verbose)
			fprintf(stderr, "simpler: rank %d: %.3f s after MPI started, nap mode %s (crowd "
				"%.2f threads, a wait for a CPU %.1f us, %d ranks here, %d CPUs); "
				"MPI's idle yields %s\n", l->rank, (double)(now - c->opened) / 1e9,
				c->crowded ? "on" : "off",
				(double)c->avg / LINK_CROWD_ONE, link_crowd_wait(c) / 1e3, ranks,
				c->cpus, yields);
	}
	atomic_store_explicit(&c->looking, false, memory_order_release);
}

int sx_link_isend(struct link *l, const void *buf, uint64_t len, int dst, int tag,
		  struct sx_mpi_req **r, char *err, size_t elen)
{
	int ret = l->mpi->isend(buf, len, dst, tag, r, err, elen);

	if (!ret)
		sx_link_ring(l, dst);
	return ret;
}

/*
 * The bells, shared by this host's ranks: right after MPI_Init, the one
 * point every rank of the job reaches (a node rank whose L3 failed starts
 * MPI all the same), so that no rank waits in the collective for one that
 * went another way.  None (no memory to share, /proc closed to us): this
 * rank naps as before, and so do all of its host.
 */
static void link_bells(struct link *l)
{
	char err[256];
	void *base = NULL;

	if (!l->mpi->host_shared(sizeof(struct link_bell), &base, l->slot, l->size, err,
				 sizeof(err)) && base)
		l->bells = base;
	else if (l->nap)
		fprintf(stderr, "simpler: rank %d: no doorbells, napping blind: %s\n", l->rank, err);
}

int sx_link_open(struct link *l, int rank, int size, char *err, size_t len)
{
	int r = -1, s = -1, rec = 0, ret;
	const char *nap;

	l->tx_seq = calloc((size_t)size, sizeof(*l->tx_seq));
	l->rx_seq = calloc((size_t)size, sizeof(*l->rx_seq));
	l->rxbuf = malloc(WIRE_MAX_FRAME);
	l->rx = malloc(sizeof(*l->rx));
	l->tx = calloc(1, sizeof(*l->tx));
	l->slot = calloc((size_t)size, sizeof(*l->slot));
	if (!l->tx_seq || !l->rx_seq || !l->rxbuf || !l->rx || !l->tx || !l->slot) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	for (s = 0; s < size; s++)
		l->tx_seq[s] = l->rx_seq[s] = 1;
	/*
	 * SIMPLER_MPI_NAP=1: our polling loops nap where they would yield, and
	 * Open MPI's own idle polls stop yielding (an oversubscribed Open MPI
	 * yields in every poll that finds nothing; unless the environment says
	 * otherwise).  Set before MPI reads its parameters, in init (which
	 * reads the environment at this same point anyway).  Unset or "auto":
	 * the crowd detector turns both on and off as the host fills and
	 * empties; "0": never.
	 */
	nap = getenv("SIMPLER_MPI_NAP");
	if (nap && !strcmp(nap, "1")) {
		l->nap_mode = LINK_NAP_ON;
	} else if (nap && !strcmp(nap, "0")) {
		l->nap_mode = LINK_NAP_OFF;
	} else {
		if (nap && *nap && strcmp(nap, "auto"))
			fprintf(stderr, "simpler: SIMPLER_MPI_NAP=%.40s is not 0, 1 or auto: taken as "
				"auto (the ranks nap when the host is crowded)\n", nap);
		l->nap_mode = LINK_NAP_AUTO;
	}
	l->nap = l->nap_mode == LINK_NAP_ON;
	if (l->nap)
		setenv("OMPI_MCA_mpi_yield_when_idle", "0", 0);
	l->crowd.fd = l->nap_mode == LINK_NAP_AUTO ? open("/proc/loadavg", O_RDONLY | O_CLOEXEC) : -1;
	/* the CPUs this process may use (as nproc says): loadavg's threads compete for these */
	l->crowd.cpus = sx_usable_cpus();
	l->crowd.verbose = getenv("SIMPLER_MPI_NAP_DEBUG") != NULL;
	l->crowd.mpi_yields = getenv("OMPI_MCA_mpi_yield_when_idle") != NULL;
	ret = l->mpi->init(&r, &s, &rec, l->host, sizeof(l->host), err, len);
	if (ret)
		return ret;
	l->open = true;
	l->crowd.opened = now_ns();
	l->recovery = rec;
	l->rank = rank;
	l->size = size;
	link_bells(l);
	if (r != rank || s != size) {
		snprintf(err, len, "MPI says rank %d of %d, the launcher's environment said rank %d "
			 "of %d", r, s, rank, size);
		return -EPROTO;
	}
	return 0;
}

void sx_link_close(struct link *l)
{
	struct link_out *o, *next;
	uint64_t deadline = now_ns() + 1000000000ULL;
	struct timespec ms = { 0, 1000000 };

	/* frames still going (a SHUTDOWN): a second for MPI to finish them */
	while (l->open && sx_link_flush(l) && now_ns() < deadline)
		nanosleep(&ms, NULL);
	for (o = l->out; o; o = next) {
		next = o->next;
		if (l->open)
			l->mpi->drop(o->req);
		free(o);
	}
	l->out = NULL;
	/* the plugin unmaps the bells in finalize */
	l->bells = NULL;
	if (l->nap_mode == LINK_NAP_AUTO && l->crowd.fd >= 0)
		close(l->crowd.fd);
	l->crowd.fd = -1;
	free(l->slot);
	l->slot = NULL;
	if (l->open)
		l->mpi->finalize(l->peer_lost);
	l->open = false;
	free(l->tx_seq);
	free(l->rx_seq);
	free(l->rxbuf);
	free(l->rx);
	free(l->tx);
	l->tx_seq = l->rx_seq = NULL;
	l->rxbuf = NULL;
	l->rx = l->tx = NULL;
}

bool sx_link_flush(struct link *l)
{
	struct link_out **p = &l->out, *o;
	char err[128];
	int done;

	while ((o = *p)) {
		done = 0;
		/* an error frees the request too: the peer is gone, its loss is found elsewhere */
		if (l->mpi->test(o->req, &done, err, sizeof(err)) || done) {
			*p = o->next;
			free(o);
		} else {
			p = &o->next;
		}
	}
	return l->out != NULL;
}

int sx_link_prepare(struct link *l, int dst, struct wire_frame *f, struct link_out **out,
		    char *err, size_t len)
{
	uint8_t tmp[WIRE_MAX_FRAME];
	struct link_out *o;
	int n;

	f->h.rank = (uint32_t)l->rank;
	f->h.seq = l->tx_seq[dst];
	n = sx_wire_encode(f, tmp, sizeof(tmp), err, len);
	if (n < 0)
		return n;
	o = malloc(sizeof(*o) + (size_t)n);
	if (!o) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	memcpy(o->buf, tmp, (size_t)n);
	o->len = (uint64_t)n;
	*out = o;
	return 0;
}

void sx_link_unprepare(struct link_out *o)
{
	free(o);
}

int sx_link_post(struct link *l, int dst, struct link_out *o, char *err, size_t len)
{
	int ret;

	sx_link_flush(l);
	ret = sx_link_isend(l, o->buf, o->len, dst, LINK_TAG_FRAME, &o->req, err, len);
	if (ret) {
		free(o);
		return ret;
	}
	l->tx_seq[dst]++;
	o->next = l->out;
	l->out = o;
	return 0;
}

int sx_link_send(struct link *l, int dst, struct wire_frame *f, char *err, size_t len)
{
	struct link_out *o;
	int ret = sx_link_prepare(l, dst, f, &o, err, len);

	return ret ? ret : sx_link_post(l, dst, o, err, len);
}

int sx_link_send_empty(struct link *l, int dst, unsigned type, char *err, size_t len)
{
	l->tx->h.type = (uint16_t)type;
	return sx_link_send(l, dst, l->tx, err, len);
}

/* between looks: spin, then doze (the wait of a frame whose arrival is near) */
static void link_pause(void *arg, uint64_t now, int looks, uint32_t mark)
{
	sx_link_crowd_tick(arg, now);
	if (looks > 1000)
		sx_link_doze(arg, mark, 20000);
	else
		cpu_relax();
}

int sx_link_wait_with(struct link *l, struct sx_mpi_req *r, uint32_t timeout_ms,
		      void (*pause)(void *arg, uint64_t now, int looks, uint32_t mark), void *arg,
		      char *err, size_t len)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000, now;
	int done = 0, ret, looks = 0;
	uint32_t mark;

	for (;;) {
		mark = sx_link_mark(l);
		ret = l->mpi->test(r, &done, err, len);
		if (ret || done)
			return ret;
		now = now_ns();
		if (now > deadline) {
			l->mpi->drop(r);
			snprintf(err, len, "no progress for %u ms", timeout_ms);
			return -ETIMEDOUT;
		}
		pause(arg, now, looks, mark);
		if (looks < INT_MAX)
			looks++;
	}
}

int sx_link_wait(struct link *l, struct sx_mpi_req *r, uint32_t timeout_ms, char *err, size_t len)
{
	return sx_link_wait_with(l, r, timeout_ms, link_pause, l, err, len);
}

int sx_link_recv(struct link *l, int src, int *from, uint32_t timeout_ms, char *err, size_t len)
{
	struct sx_mpi_req *r;
	uint64_t n = 0;
	int found = 0, ret;

	*from = -1;
	ret = l->mpi->probe(src, LINK_TAG_FRAME, &found, from, &n, err, len);
	if (ret || !found)
		return ret;
	if (n > WIRE_MAX_FRAME) {
		snprintf(err, len, "a frame of %" PRIu64 " bytes from rank %d exceeds the largest, "
			 "%d", n, *from, WIRE_MAX_FRAME);
		/*
		 * Take it off the queue all the same (nothing reads it again), into
		 * the frame buffer: MPI ends such a receive truncated, and the peer
		 * does not get to choose how much this rank allocates.
		 */
		char junk_err[128];

		if (!l->mpi->irecv(l->rxbuf, WIRE_MAX_FRAME, *from, LINK_TAG_FRAME, &r, junk_err,
				   sizeof(junk_err)))
			sx_link_wait(l, r, timeout_ms, junk_err, sizeof(junk_err));
		return -EBADMSG;
	}
	ret = l->mpi->irecv(l->rxbuf, n, *from, LINK_TAG_FRAME, &r, err, len);
	if (!ret)
		ret = sx_link_wait(l, r, timeout_ms, err, len);
	if (!ret)
		ret = sx_wire_decode(l->rxbuf, n, l->rx, err, len);
	if (!ret && l->rx->h.rank != (uint32_t)*from) {
		snprintf(err, len, "a frame from rank %d says it is from rank %u", *from,
			 l->rx->h.rank);
		ret = -EBADMSG;
	}
	if (!ret)
		ret = sx_wire_seq_check(&l->rx_seq[*from], l->rx->h.seq, err, len);
	return ret ? ret : 1;
}

/* outside a calm spell: how long since work moved or the spell ended (-1: in one) */
static int64_t pace_since(const struct link_pace *p, uint64_t now)
{
	uint64_t from = p->busy > p->calm_until ? p->busy : p->calm_until;

	return now >= p->calm_until ? (int64_t)(now - from) : -1;
}

bool sx_link_idle(const struct link_pace *p, bool moved, uint64_t now, uint64_t ns)
{
	return !moved && p->busy && pace_since(p, now) >= (int64_t)ns;
}

void sx_link_pace(struct link_pace *p, bool moved, uint64_t now)
{
	int64_t since = pace_since(p, now);
	uint64_t nap;

	if (p->link)
		sx_link_crowd_tick(p->link, now);
	if (moved || !p->busy) {
		p->busy = now;
		p->nap = 50000;
	} else if (since >= 0 && since < (int64_t)LINK_HOT_NS) {
		/* hot: since work moved, or since the calm spell ended */
		sx_link_relax(p->link, p->mark);
	} else {
		nap = p->nap;
		if (now < p->calm_until && p->calm_until - now < p->nap)
			nap = p->calm_until - now;
		sx_link_doze(p->link, p->mark, nap);
		/*
		 * Naps grow by an eighth, to 100 us while work moved less than
		 * LINK_WARM_NS ago (a run is on: the next task or transfer is
		 * seen within 100 us, for at most 500 wake-ups), then to 1 ms.
		 * Doubling to 1 ms made a node idle for a few ms of a run see its
		 * next task up to a millisecond late: a 16 MiB transfer over TCP
		 * lost a third of its bandwidth to it.
		 */
		p->nap += p->nap / 8;
		if (p->nap > LINK_NAP_MAX_NS)
			p->nap = LINK_NAP_MAX_NS;
		if (now - p->busy < LINK_WARM_NS && p->nap > LINK_NAP_WARM_NS)
			p->nap = LINK_NAP_WARM_NS;
	}
}

struct bid {
	uint8_t *id;
	uint32_t cap, n;
};

/* the first object dl_iterate_phdr() reports is the program itself */
static int find_build_id(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct bid *b = arg;
	int i;

	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const uint8_t *name = p + sizeof(*nh);
			const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3U);

			if (desc + nh->n_descsz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(name, "GNU", 4)) {
				b->n = nh->n_descsz < b->cap ? nh->n_descsz : b->cap;
				memcpy(b->id, desc, b->n);
				return 1;
			}
			p = desc + ((nh->n_descsz + 3) & ~3U);
		}
	}
	return 1;	/* the program only */
}

uint32_t sx_link_build_id(uint8_t *id, uint32_t cap)
{
	struct bid b = { id, cap, 0 };

	dl_iterate_phdr(find_build_id, &b);
	return b.n;
}

const char *sx_link_hex(const uint8_t *id, uint32_t n, char *buf, size_t len)
{
	size_t i;

	buf[0] = 0;
	for (i = 0; i < n && 2 * i + 2 < len; i++)
		snprintf(buf + 2 * i, len - 2 * i, "%02x", id[i]);
	return buf;
}
