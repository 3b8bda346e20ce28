/* SPDX-License-Identifier: MIT */
/*
 * A rank's side of an L4 session over MPI, shared by the L4 (rank 0,
 * remote.c) and its node ranks (noderank.c): the MPI plugin, loaded once
 * per process; this rank's place in the job, read from the launcher's
 * environment before MPI is initialised (every rank forks first); and
 * frames sent and received with per-peer sequence numbers, every frame
 * decoded and checked (wire.h) before anyone acts on it.
 *
 * Tags: frames on LINK_TAG_FRAME, the bulk bytes they announce on
 * LINK_TAG_DATA (MPI keeps each pair's order per tag, so the receiver
 * posts its receives in the order it reads the frames), ping-pongs on
 * LINK_TAG_PING, node-to-node transfers on tags from LINK_TAG_XFER up.
 * A copy into node memory has its own tag (LINK_TAG_COPY): the node may
 * post its receive later than it reads the frame (once no send reads that
 * memory), and tasks' staged bytes must not match it meanwhile.
 */
#ifndef SIMPLER_MPILINK_H
#define SIMPLER_MPILINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/wire.h"
#include "mpi_plugin.h"

#define LINK_TAG_FRAME	1
#define LINK_TAG_DATA	2
#define LINK_TAG_PING	3
#define LINK_TAG_COPY	4
#define LINK_TAG_XFER	WIRE_XFER_TAG

/* heartbeats: a beat every timeout / 30 (100 ms of the default 3 s), at least 5 ms */
#define LINK_DEFAULT_TIMEOUT_MS	3000

struct link_out;
struct link_bell;
#define LINK_BELL_BYTES	64		/* one rank's doorbell */

/* SIMPLER_MPI_NAP: unset or "auto" (the crowd detector decides), "0", "1" */
enum link_nap_mode { LINK_NAP_OFF, LINK_NAP_ON, LINK_NAP_AUTO };

/*
 * The crowd detector (nap mode by itself, LINK_NAP_AUTO): every
 * LINK_CROWD_NS a polling thread of the rank reads how many threads the
 * host has runnable (/proc/loadavg), takes away this host's ranks that
 * are polling (each rank one polling thread, less those dozing or napping:
 * their bells say), and keeps a moving average of the rest, the crowd (on
 * a quiet host about one: the job's dispatchers, standbys and chips); and
 * how long it waited for a CPU each time it got one (the kernel's
 * run_delay and pcount).  Nap mode goes on when the crowd is
 * LINK_CROWD_ENTER or more, crowd and ranks together exceed the CPUs, and
 * a wait averages LINK_CROWD_WAIT_NS or more (a yield hands the CPU to a
 * stranger for its slice: 0.5-2.5 ms beside two busy processes, mostly
 * under 25 us among the job's own threads); off when the crowd falls under
 * LINK_CROWD_LEAVE or everyone fits (the crowd a quarter of a thread under
 * the CPUs the ranks leave free).  Runnable threads are the host's, CPUs
 * those this process may use (its affinity): the wait, not the count,
 * tells whether our CPUs are the busy ones.  Without schedstat (no
 * CONFIG_SCHED_INFO) nap mode stays off.  Not on the wait: dozing ranks are
 * woken in time, their waits short beside busy processes too (a detector
 * that ended nap mode on short waits flapped every 100 ms).  Each state
 * lasts at least LINK_CROWD_HOLD_NS.
 */
#define LINK_CROWD_NS		2000000ULL
#define LINK_CROWD_HOLD_NS	100000000ULL
#define LINK_CROWD_ONE		256	/* one thread, in the average's fixed point */
#define LINK_CROWD_ENTER	(LINK_CROWD_ONE * 7 / 4)
#define LINK_CROWD_LEAVE	(LINK_CROWD_ONE * 5 / 4)
#define LINK_CROWD_WAIT_NS	200000ULL

struct link_crowd {
	int fd;				/* /proc/loadavg; -1: not open */
	int cpus;			/* online CPUs */
	int avg;			/* the crowd, moving average, LINK_CROWD_ONE a thread */
	bool crowded;
	bool verbose;			/* SIMPLER_MPI_NAP_DEBUG: says when it changes */
	bool mpi_yields;		/* OMPI_MCA_mpi_yield_when_idle set: left alone */
	bool waits_seen, said;		/* schedstat read at least once; said it is not */
	uint64_t since;			/* when the state began */
	uint64_t opened;		/* when MPI started (for SIMPLER_MPI_NAP_DEBUG) */
	uint64_t flips;			/* how often it changed (diagnostics) */
	double waited, got;		/* the lookers' waits for a CPU (ns) and CPUs got, averaged */
	_Atomic uint64_t next;		/* the next look */
	_Atomic bool looking;		/* a thread is looking (others do not) */
};

struct link {
	const struct sx_mpi_ops *mpi;
	int rank, size;
	bool recovery;			/* mpirun --enable-recovery */
	bool open;			/* MPI initialised by us */
	bool peer_lost;			/* a rank of the job died: MPI_Finalize must not wait for it */
	char host[64];
	uint64_t *tx_seq, *rx_seq;	/* per peer: the next number to send, to expect */
	struct link_out *out;		/* frames in flight, with their buffers */
	uint8_t *rxbuf;			/* WIRE_MAX_FRAME bytes */
	struct wire_frame *rx;		/* the frame sx_link_recv() decoded */
	struct wire_frame *tx;		/* scratch to build one in */
	/* doorbells of this host's ranks: NULL, or rank r has one where slot[r] >= 0 */
	struct link_bell *bells;
	int *slot;
	enum link_nap_mode nap_mode;
	_Atomic bool nap;		/* nap mode: dozes where it would yield */
	struct link_crowd crowd;	/* LINK_NAP_AUTO: what turns nap on and off */
};

/*
 * This rank and the job's size as the launcher (mpirun) says, before MPI
 * exists: 0, or -ENOENT when the process was not started by an MPI
 * launcher.
 */
int sx_link_env(int *rank, int *size);
/* the plugin, loaded once per process: 0, or -ENOPKG with what to install in err */
int sx_link_plugin(const struct sx_mpi_ops **ops, char *err, size_t len);
/*
 * Initialise MPI and check that its rank and size are what the launcher
 * said: 0, or -errno with the reason in err.  sx_link_close() undoes it
 * (MPI_Finalize: the process cannot initialise MPI again).
 */
int sx_link_open(struct link *l, int rank, int size, char *err, size_t len);
void sx_link_close(struct link *l);
/*
 * Send frame f (type and body set; rank, seq and version are filled in)
 * to dst without blocking: the frame is copied, its buffer kept until MPI
 * is done with it.  0, or -errno with the reason in err.
 */
int sx_link_send(struct link *l, int dst, struct wire_frame *f, char *err, size_t len);
/*
 * sx_link_send() in two steps: encode f for dst (-EINVAL with the codec's
 * reason: nothing was sent, the session is fine), then send it (-errno:
 * MPI failed).  Nothing else may go to dst in between.
 */
int sx_link_prepare(struct link *l, int dst, struct wire_frame *f, struct link_out **o,
		    char *err, size_t len);
int sx_link_post(struct link *l, int dst, struct link_out *o, char *err, size_t len);
void sx_link_unprepare(struct link_out *o);
/* MPI's isend, then dst's doorbell rung (sx_link_ring()) */
int sx_link_isend(struct link *l, const void *buf, uint64_t len, int dst, int tag,
		  struct sx_mpi_req **r, char *err, size_t elen);
/* sx_link_send() of a frame with no body (HEARTBEAT, SHUTDOWN) */
int sx_link_send_empty(struct link *l, int dst, unsigned type, char *err, size_t len);
/* retire the frames MPI has finished sending; true if any frame is still in flight */
bool sx_link_flush(struct link *l);
/*
 * The next frame waiting from src (-1: anyone): 1 with it decoded in l->rx
 * and its sender in *from, 0 if none is waiting, or -errno with the reason
 * in err (*from then names whoever sent something bad: the session with it
 * is over).  Waits at most timeout_ms for a frame's bytes once MPI has
 * announced it.
 */
int sx_link_recv(struct link *l, int src, int *from, uint32_t timeout_ms, char *err, size_t len);
/*
 * Wait at most timeout_ms for request r (posted by the plugin): 0 done,
 * -ETIMEDOUT (r dropped), or -errno from MPI.  Between looks it spins, then
 * dozes; sx_link_wait_with() calls pause(arg, now, looks before this one,
 * the bell's mark before this one) instead.
 */
int sx_link_wait(struct link *l, struct sx_mpi_req *r, uint32_t timeout_ms, char *err, size_t len);
int sx_link_wait_with(struct link *l, struct sx_mpi_req *r, uint32_t timeout_ms,
		      void (*pause)(void *arg, uint64_t now, int looks, uint32_t mark), void *arg,
		      char *err, size_t len);
/*
 * Doorbells: MPI gives nothing to sleep on, so the ranks of one host share
 * a word each (memory the plugin maps into all of them when MPI starts,
 * sx_link_open()).  Whoever sends a rank of this host a frame or a ping
 * rings its bell (sx_link_isend()); bulk bytes (staged tensors, transfers,
 * copies) ring nobody: their receiver polls for them without a pause, and
 * beside busy processes the wake-up of a dozing rank took a CPU from the
 * ranks moving them (transfers over shared memory at 0.32-0.41x MPI's
 * bandwidth with such rings, 0.73-1.30x without).  A polling loop reads
 * its own bell (sx_link_mark()) before it looks.  In nap mode
 * (SIMPLER_MPI_NAP or the crowd detector, above) it then dozes where it would nap or yield
 * (sx_link_doze()): sleeps until the bell moves past that mark, at most
 * the nap, so a frame wakes it at once instead of after the nap.  A wake-up is sure where MPI has the message at the receiver
 * when the send returns (small frames); where bytes still move after it (a
 * rendezvous, queued TCP fragments) the doze's timeout bounds the wait.
 * Outside nap mode, and for a rank without bells (another host, no shared
 * memory), sx_link_doze() is the plain nap: on a quiet host yielding and
 * napping as before measured faster (a futex wake-up of a sleeping rank
 * costs this VM tens of microseconds), and rings cost one atomic add.
 */
void sx_link_ring(struct link *l, int dst);
uint32_t sx_link_mark(const struct link *l);
void sx_link_doze(struct link *l, uint32_t mark, uint64_t ns);

/*
 * How a polling loop waits: while work
 * moved less than LINK_HOT_NS ago it yields the CPU and looks again (a
 * chain of tasks keeps every party awake between its steps), then it
 * sleeps, 50 us first, each nap an eighth longer, up to 100 us until
 * LINK_WARM_NS after work moved, then up to 1 ms (so an idle session costs
 * a thousand wake-ups a second, and the heartbeats keep their pace).
 */
#define LINK_HOT_NS	2000000ULL
#define LINK_WARM_NS	50000000ULL
#define LINK_NAP_WARM_NS	100000ULL
#define LINK_NAP_MAX_NS	1000000ULL

struct link_pace {
	struct link *link;		/* whose bell it dozes on (NULL: it naps) */
	uint32_t mark;			/* sx_link_mark() before the look that found nothing */
	uint64_t busy, nap;
	/*
	 * Until then this party expects nothing (others move bulk bytes): it
	 * naps, then stays hot for LINK_HOT_NS as if work had just moved.
	 */
	uint64_t calm_until;
};

void sx_link_pace(struct link_pace *p, bool moved, uint64_t now);
/*
 * What a polling thread does where it gives way: yield the CPU, or, in nap
 * mode (hosts shared with busy processes), doze for up to
 * LINK_NAP_CROWDED_NS: beside a busy process a yielding thread waits for the
 * scheduler's next tick, a sleeping one is woken in time, ahead of it.
 * (Spinning 50-300 us after work moved before dozing made remote chains
 * 3-8 us a task instead of 35 on a quiet host, but beside busy processes
 * it took the CPU from the ranks moving a transfer's bytes: 0.52-0.86x
 * MPI's bandwidth against 0.88-0.94x without.)
 */
#define LINK_NAP_CROWDED_NS	20000
void sx_link_relax(struct link *l, uint32_t mark);
/* has work not moved for ns, outside a calm spell (sx_link_pace() naps meanwhile)? */
bool sx_link_idle(const struct link_pace *p, bool moved, uint64_t now, uint64_t ns);

/*
 * One look of the crowd detector, without I/O: running threads of the
 * host (the looking one among them), ours of them polling, ranks on this
 * host; returns whether the host is crowded now (and updates c).
 */
bool sx_link_crowd_judge(struct link_crowd *c, int running, int ours, int ranks, uint64_t wait,
			 uint64_t now);
/*
 * In LINK_NAP_AUTO, a look if LINK_CROWD_NS passed since the last: the
 * pause sites call it (sx_link_pace(), sx_link_wait()'s pause, the node's
 * ping wait and bulk polling), so sx_link_relax() does not.
 */
void sx_link_crowd_tick(struct link *l, uint64_t now);

/* the program's GNU build-id: its length (0 if it has none) */
uint32_t sx_link_build_id(uint8_t *id, uint32_t cap);
/* "ab12cd..." of n bytes of id into buf */
const char *sx_link_hex(const uint8_t *id, uint32_t n, char *buf, size_t len);

#endif /* SIMPLER_MPILINK_H */
