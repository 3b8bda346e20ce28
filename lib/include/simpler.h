/* SPDX-License-Identifier: MIT */
/*
 * libsimpler: run task graphs on the chips of one host.
 *
 * An application creates a *worker* (a node: N chips, M host sub workers),
 * registers kernels, and calls simpler_run() with an *orchestration function*
 * that submits tasks.  Each task names a kernel and its arguments: tensors
 * (byte ranges tagged IN, OUT, INOUT, OUT_EXISTING or NO_DEP) and scalars.
 * The library infers every dependency from the tensors and runs tasks in
 * parallel on the chips, preserving sequential consistency (see
 * simpler_submit()).
 *
 * Conventions
 * - Functions returning int return 0 (or a non-negative id or count) on
 *   success and a negative errno on failure; pointer-returning functions
 *   return NULL and set errno.
 * - Every failure leaves a message in simpler_worker_errmsg() saying what went
 *   wrong and what to do.
 * - Options structs start with `size_t sz` (set it to sizeof the struct, or
 *   use SIMPLER_OPTS()); fields the library does not know are zero in older
 *   callers and rejected with -E2BIG when a newer caller sets them non-zero.
 * - A worker is driven by one application thread at a time.
 */
#ifndef SIMPLER_H
#define SIMPLER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define SIMPLER_API __attribute__((visibility("default")))
#else
#define SIMPLER_API
#endif

/*
 * The one place simpler's version is written: the build reads these three
 * lines for the library's file name, simpler.pc, the module's MODULE_VERSION
 * and the DKMS tree.
 */
#define SIMPLER_VERSION_MAJOR 0
#define SIMPLER_VERSION_MINOR 1
#define SIMPLER_VERSION_PATCH 0
#define SIMPLER_VERSION_STR_(x) #x
#define SIMPLER_VERSION_STR(x) SIMPLER_VERSION_STR_(x)
/* "0.1.0" */
#define SIMPLER_VERSION_STRING SIMPLER_VERSION_STR(SIMPLER_VERSION_MAJOR) "." \
	SIMPLER_VERSION_STR(SIMPLER_VERSION_MINOR) "." SIMPLER_VERSION_STR(SIMPLER_VERSION_PATCH)
/* one number per version, ordered: SIMPLER_VERSION_NUMBER(0, 1, 0) */
#define SIMPLER_VERSION_NUMBER(major, minor, patch) (((major) << 16) | ((minor) << 8) | (patch))
#define SIMPLER_VERSION SIMPLER_VERSION_NUMBER(SIMPLER_VERSION_MAJOR, SIMPLER_VERSION_MINOR, \
					       SIMPLER_VERSION_PATCH)

/*
 * The version of the library loaded at run time, as SIMPLER_VERSION_NUMBER()
 * makes it (compare with SIMPLER_VERSION, the headers built against), and as
 * a string ("0.1.0").
 */
SIMPLER_API unsigned simpler_version(void);
SIMPLER_API const char *simpler_version_string(void);

/* declare and zero an options struct with its size set: SIMPLER_OPTS(simpler_worker_opts, o, .nr_chips = 4) */
#define SIMPLER_OPTS(type, name, ...) \
	struct type name = { .sz = sizeof(struct type), __VA_ARGS__ }

/* ------------------------------------------------------------------------ */
/* tensors                                                                   */

enum simpler_dtype {
	SIMPLER_F32 = 0,
	SIMPLER_F16 = 1,
	SIMPLER_BF16 = 2,
	SIMPLER_F64 = 3,
	SIMPLER_I8 = 4,
	SIMPLER_I16 = 5,
	SIMPLER_I32 = 6,
	SIMPLER_I64 = 7,
	SIMPLER_U8 = 8,
	SIMPLER_U16 = 9,
	SIMPLER_U32 = 10,
	SIMPLER_U64 = 11,
	SIMPLER_BOOL = 12,
	SIMPLER_DTYPE_COUNT
};

#define SIMPLER_MAX_DIMS 5

/*
 * A contiguous tensor: 40 bytes, wire-stable.  addr is a host address, or,
 * with child_memory = 1, an address returned by simpler_malloc() on the chip
 * the task runs on.  shape[ndims..4] and reserved must be zero.
 */
struct simpler_tensor {
	uint64_t addr;
	uint32_t shape[SIMPLER_MAX_DIMS];
	uint32_t ndims;		/* 1..5 */
	uint8_t dtype;		/* enum simpler_dtype */
	uint8_t child_memory;
	uint8_t reserved[6];
};

/* bytes covered by t: product of the shape times the element size; 0 if invalid */
SIMPLER_API uint64_t simpler_tensor_nbytes(const struct simpler_tensor *t);
/* bytes per element of a dtype, 0 if unknown */
SIMPLER_API uint32_t simpler_dtype_size(uint8_t dtype);
/* a 1-D tensor over n elements at addr */
SIMPLER_API struct simpler_tensor simpler_tensor_1d(const void *addr, uint32_t n, uint8_t dtype);

/*
 * A strided view of memory: element idx (0 <= idx[d] < t.shape[d]) is at
 *   t.addr + (offset + idx[0] * strides[0] + ... + idx[n-1] * strides[n-1]) * size
 * where size is the dtype's element size.  t.addr is where element offset 0
 * is (a matrix's first element, say); shape, ndims, dtype and child_memory
 * mean what they mean for a tensor.  strides are in elements, > 0, and 0 past
 * ndims.  A tile of a row-major matrix is a view; so is a column panel, a
 * transposed matrix (strides {1, ld}) or every other row.  Views whose
 * elements happen to be one contiguous row-major block are plain tensors.
 */
struct simpler_view {
	struct simpler_tensor t;
	uint64_t offset;		/* elements from t.addr to the view's first element */
	uint64_t strides[SIMPLER_MAX_DIMS];	/* elements per step in each dim */
};

/*
 * The rows x cols tile at (row0, col0) of a row-major matrix at base with ld
 * elements per row: shape {rows, cols}, strides {ld, 1}.  Not validated here:
 * simpler_args_add_view() says what is wrong with it.
 */
SIMPLER_API struct simpler_view simpler_view_2d(const void *base, uint64_t ld, uint64_t row0,
						uint64_t col0, uint32_t rows, uint32_t cols,
						uint8_t dtype);
/*
 * Bytes from the view's first element to the end of its last (the range
 * that must be mapped, registered or allocated for it); 0 if v is invalid.
 */
SIMPLER_API uint64_t simpler_view_span(const struct simpler_view *v);

/* ------------------------------------------------------------------------ */
/* arguments                                                                 */

enum simpler_access {
	SIMPLER_IN = 0,			/* read */
	SIMPLER_OUT = 1,		/* write (every byte) */
	SIMPLER_INOUT = 2,		/* read, then write */
	SIMPLER_OUT_EXISTING = 3,	/* write into an existing buffer */
	SIMPLER_NO_DEP = 4,		/* not tracked: the caller orders it */
};

#define SIMPLER_MAX_TENSORS 256
#define SIMPLER_MAX_SCALARS 128

struct simpler_args;

/* an empty argument list; NULL and errno ENOMEM on failure */
SIMPLER_API struct simpler_args *simpler_args_new(void);
/* free a (NULL: nothing); a submit copied what it needed, so any time after it */
SIMPLER_API void simpler_args_free(struct simpler_args *a);
/* drop every tensor and scalar, keep the allocation */
SIMPLER_API void simpler_args_reset(struct simpler_args *a);
/*
 * Append a tensor: its index, -E2BIG past 256, -EINVAL for a bad access or
 * tensor (the reason in simpler_last_errmsg()).  A refused tensor or scalar
 * is remembered: simpler_submit() with these args fails with the reason
 * until simpler_args_reset(), so a kernel never runs short of an argument.
 */
SIMPLER_API int simpler_args_add_tensor(struct simpler_args *a, const struct simpler_tensor *t,
					enum simpler_access acc);
/*
 * Append a strided view, like a tensor: its index, -E2BIG past 256 tensors
 * and views, -EINVAL for a bad access or view (1..5 dims, every shape and
 * stride > 0 up to ndims and 0 beyond, the extent without overflow; the
 * reason in simpler_last_errmsg()), remembered like a refused tensor.
 * Dependencies follow the bytes the view's elements cover, not its span.
 */
SIMPLER_API int simpler_args_add_view(struct simpler_args *a, const struct simpler_view *v,
				      enum simpler_access acc);
/* append a scalar: its index, -E2BIG past 128 (remembered like a refused tensor) */
SIMPLER_API int simpler_args_add_scalar(struct simpler_args *a, uint64_t v);
/* how many tensors (scalars) a holds; -EINVAL for a NULL a */
SIMPLER_API int simpler_args_nr_tensors(const struct simpler_args *a);
SIMPLER_API int simpler_args_nr_scalars(const struct simpler_args *a);

/* ------------------------------------------------------------------------ */
/* kernels                                                                   */

/*
 * What a kernel sees.  Tensor addresses are resolved to pointers the chip can
 * use (a host tensor may have been staged into chip memory); scalars are as
 * submitted.  A launch runs the kernel once per block: block_idx in
 * [0, block_dim).  chip is the chip index, or -1 on a sub worker.
 *
 * Every tensor argument, view or not, arrives as its first element's address
 * (tensors[i].addr, a view's offset applied), its shape and its strides in
 * elements: strides[i * SIMPLER_MAX_DIMS + d] (simpler_kernel_stride()); a
 * plain tensor reports row-major strides.  Element idx of tensor i is at
 * addr + sum(idx[d] * stride(i, d)) * size.  strides was added after the
 * first release, at the end: kernels built before it keep working.
 */
struct simpler_kernel_args {
	uint32_t nr_tensors, nr_scalars;
	const struct simpler_tensor *tensors;
	const uint64_t *scalars;
	uint32_t block_idx, block_dim;
	int chip;
	const uint64_t *strides;	/* nr_tensors x SIMPLER_MAX_DIMS, 0 past ndims */
};

/* elements per step in dim d of tensor argument i of a kernel */
static inline uint64_t simpler_kernel_stride(const struct simpler_kernel_args *args, uint32_t i,
					     uint32_t d)
{
	return args->strides[(uint64_t)i * SIMPLER_MAX_DIMS + d];
}

/* 0 on success, a negative errno on failure (the task fails) */
typedef int (*simpler_kernel_fn)(const struct simpler_kernel_args *args);

/* inside a kernel: attach a message to the failure it is about to return */
SIMPLER_API void simpler_kernel_errmsg(const struct simpler_kernel_args *args, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------ */
/* workers                                                                   */

struct simpler_worker;
struct simpler_orch;

/* flags of simpler_worker_opts */
#define SIMPLER_WORKER_THREADS	(1U << 0)	/* chips and subs as threads, no fork */
#define SIMPLER_WORKER_STAGING	(1U << 1)	/* sim: behave like a discrete device (copy in/out) */
/*
 * By default, when there are no more chips than usable CPUs, chip i (its
 * process, or its thread) runs on the i-th CPU this process may use, as
 * StarPU binds its workers: on a shared machine a chip then keeps its CPU
 * instead of being shuffled around with the other programs.  This flag
 * leaves placement to the kernel.
 */
#define SIMPLER_WORKER_NO_BIND	(1U << 2)
/*
 * Level 4 under mpirun (see "Beyond one host"): rank 0 of the job is this
 * L4, ranks 1..N-1 are its remote nodes.  Every rank calls
 * simpler_worker_create() with this flag, before MPI is initialised (it
 * forks first, then initialises MPI itself); on a node rank it serves the
 * L4 until the L4 is destroyed, then returns 1 with *w NULL.
 */
#define SIMPLER_WORKER_MPI	(1U << 3)

/* hostmem of simpler_worker_opts: how host buffers registered later reach the chips */
#define SIMPLER_HOSTMEM_AUTO	0	/* kmod when /dev/simpler is usable, else shm */
#define SIMPLER_HOSTMEM_KMOD	1	/* simpler.ko pins and maps them: zero copies */
#define SIMPLER_HOSTMEM_SHM	2	/* a shared mirror, copied in and out per run */

/*
 * Chip bootstrap (simpler_worker_opts.bootstrap, one entry per chip): a comm
 * domain and named buffers carved from the chip's window, staged from and to
 * host memory.  Everything is validated before any chip or comm state is
 * touched; a failure makes simpler_worker_create() fail with "chip N
 * bootstrap failed: <reason>".
 */
#define SIMPLER_LOAD_FROM_HOST	(1U << 0)	/* copy load_from into the buffer at bootstrap */
#define SIMPLER_STORE_TO_HOST	(1U << 1)	/* copy the buffer to store_to after every
						   successful task on the chip, before it is done */
#define SIMPLER_MAX_BUFFERS	64		/* per chip */
#define SIMPLER_BUFFER_NAME_LEN	32		/* names: 1..31 bytes, unique per chip */

struct simpler_comm_config {
	const char *domain;	/* NULL or "": no comm (and no buffers); chips naming the
				   same domain share it, ranks 0..nranks-1 each exactly once */
	int rank, nranks;
	uint64_t window_size;	/* bytes per rank; the platform may round it up */
};

struct simpler_buffer_config {
	const char *name;
	uint64_t nbytes;	/* > 0; buffers are carved back to back, in order, from the window */
	unsigned flags;		/* SIMPLER_LOAD_FROM_HOST | SIMPLER_STORE_TO_HOST */
	const void *load_from;	/* LOAD_FROM_HOST: host memory read once, at create */
	uint64_t load_size;	/* its size: must equal nbytes */
	void *store_to;		/* STORE_TO_HOST: host memory written after every successful
				   task; in process mode it must be shared memory mapped
				   before create (MAP_SHARED, memfd, SysV), read it only
				   after simpler_run() returned */
	uint64_t store_size;	/* its size: must equal nbytes */
};

struct simpler_bootstrap_config {
	struct simpler_comm_config comm;
	const struct simpler_buffer_config *buffers;
	int nr_buffers;		/* 0..SIMPLER_MAX_BUFFERS */
};

struct simpler_worker_opts {
	size_t sz;
	const char *platform;	/* NULL: "sim" */
	int nr_chips;		/* 0: 1; at most 64 */
	int nr_subs;		/* host sub workers, at most 64 */
	unsigned flags;		/* SIMPLER_WORKER_* */
	uint32_t ring_size;	/* in-flight task slots, power of two; 0: 4096 */
	uint64_t arena_size;	/* bytes for simpler_orch_alloc(); 0: 256 MiB (reserved, not committed) */
	uint64_t chip_mem_size;	/* bytes of memory per chip; 0: 1 GiB (reserved, not committed) */
	uint32_t cores_per_chip; /* sim: threads that run the blocks of a launch; 0: 4 */
	uint32_t spin_us;	/* how long an idle waiter spins before it sleeps; 0: 50 */
	unsigned hostmem;	/* SIMPLER_HOSTMEM_*; ignored with SIMPLER_WORKER_THREADS */
	uint32_t start_timeout_ms; /* deadline for the chip processes to start; 0: 10000 */
	uint64_t shm_mirror_size; /* shm: address space reserved for mirrors; 0: 16 GiB */
	/* NULL, or nr_chips entries (chip i bootstraps with bootstrap[i]); copied at create */
	const struct simpler_bootstrap_config *bootstrap;
	uint32_t comm_timeout_ms; /* bootstrap barrier of a comm domain; 0: 10000 */
	/*
	 * The level (see "Beyond one host" below).  0 or 3: an L3 node, whose
	 * workers are chips and subs.  4: an L4, whose next-level workers are
	 * nr_nodes L3 nodes (nr_chips must be 0, bootstrap NULL); nr_subs are
	 * the L4's own subs, which run kernels.
	 */
	int level;
	int nr_nodes;		/* level 4: nodes forked on this host, 1..64 */
	/*
	 * level 4: NULL (every node: 1 chip, no subs), or nr_nodes pointers,
	 * node i an L3 created with *node_opts[i] (NULL entry: 1 chip).  The
	 * structs are copied at create; what they point to (platform,
	 * bootstrap) must stay valid while the L4 lives: a node that died is
	 * created again from them at the next run.
	 */
	const struct simpler_worker_opts *const *node_opts;
	/*
	 * SIMPLER_WORKER_MPI (every rank reads these; give every rank the
	 * same): a remote node silent for node_timeout_ms is lost, and a node
	 * that hears nothing from rank 0 for as long exits (0: 3000; beats go
	 * every node_timeout_ms / 30).  stage_size: the address space each
	 * node rank reserves for node memory (half) and for staged tensors and
	 * transfers (the other half); 0: 16 GiB (reserved, not committed).
	 * remote_opts: the L3 options every node rank creates its worker with
	 * (NULL: 1 chip); each rank reads its own.
	 */
	uint32_t node_timeout_ms;
	uint64_t stage_size;
	const struct simpler_worker_opts *remote_opts;
};

/*
 * Create a worker and start its chips and subs: by default one process per
 * chip and per sub, forked here, so call it before starting threads of your
 * own that hold locks.  Host memory mapped MAP_SHARED before this call is
 * visible to every chip; memory created later must be registered with
 * simpler_host_register().  SIMPLER_WORKER_THREADS runs chips and subs as
 * threads instead.  On failure *w is NULL and nothing is left behind; the
 * message is in simpler_last_errmsg().
 */
SIMPLER_API int simpler_worker_create(const struct simpler_worker_opts *o, struct simpler_worker **w);
/* stop and free everything; waits for a run in progress to end */
SIMPLER_API void simpler_worker_destroy(struct simpler_worker *w);
/*
 * The message of the last failure on w ("" if none).  w NULL: the calling
 * thread's last message, which calls without a worker leave (a failed
 * create, a NULL worker or orch, a refused simpler_args_add_*()).
 */
SIMPLER_API const char *simpler_worker_errmsg(const struct simpler_worker *w);
/* the calling thread's last message, as simpler_worker_errmsg(NULL) */
SIMPLER_API const char *simpler_last_errmsg(void);
/* how many chips (subs) w has; -EINVAL for a NULL worker */
SIMPLER_API int simpler_worker_nr_chips(const struct simpler_worker *w);
SIMPLER_API int simpler_worker_nr_subs(const struct simpler_worker *w);
/* the pid of a chip's (or sub's) process; -EINVAL in thread mode, -ECHILD if it is dead */
SIMPLER_API int simpler_chip_pid(const struct simpler_worker *w, int chip);
SIMPLER_API int simpler_sub_pid(const struct simpler_worker *w, int sub);
/* the level of w: 3 (chips and subs) or 4 (nodes and subs); -EINVAL for a NULL worker */
SIMPLER_API int simpler_worker_level(const struct simpler_worker *w);
/* how many nodes an L4 has (0 for an L3); -EINVAL for a NULL worker */
SIMPLER_API int simpler_worker_nr_nodes(const struct simpler_worker *w);
/*
 * The pid of a node's process (L4; a remote node's on its own host);
 * -EINVAL in thread mode or for no such node, -ECHILD if dead (a remote
 * node that was lost: -EHOSTDOWN)
 */
SIMPLER_API int simpler_node_pid(const struct simpler_worker *w, int node);

/* what an L4 knows of one of its nodes (simpler_node_info()) */
struct simpler_node_info {
	size_t sz;
	int rank;		/* its rank in the mpirun job; -1: forked on this host */
	int pid;		/* its process, on its host */
	int nr_chips, nr_subs;	/* of its L3 worker */
	int lost;		/* 1: it stopped responding (or broke the protocol): it stays lost */
	int fault_isolated;	/* 1: its loss leaves the rest running (a local node, or
				   mpirun --enable-recovery); 0: Open MPI ends the job */
	char host[64];
};

/*
 * Fill i (set i->sz first) with what w knows of node: 0, or -EINVAL for a
 * worker that is not an L4 or a node that does not exist.
 */
SIMPLER_API int simpler_node_info(const struct simpler_worker *w, int node,
				  struct simpler_node_info *i);

/*
 * The transport's own floor to a remote node: reps round trips of bytes
 * each between this rank and the node's (MPI sends and receives, nothing
 * of simpler in between); *ns the total.  Not during a run.  -EINVAL for a
 * node that is not remote, -EHOSTDOWN for a lost one.
 */
SIMPLER_API int simpler_node_ping(struct simpler_worker *w, int node, size_t bytes,
				  uint32_t reps, uint64_t *ns);
/*
 * The same between two remote nodes' ranks (from sends first): the floor
 * of a transfer between them.  Both nodes serve nothing else meanwhile:
 * keep it well under node_timeout_ms.  -EINVAL unless from and to are two
 * remote nodes, -EHOSTDOWN if either is lost.
 */
SIMPLER_API int simpler_node_ping_pair(struct simpler_worker *w, int from, int to, size_t bytes,
				       uint32_t reps, uint64_t *ns);
/* the host-memory backend in use: "kmod", "shm" or "threads" */
SIMPLER_API const char *simpler_worker_hostmem(const struct simpler_worker *w);

/* a bootstrapped buffer: its chip address (in the chip's window) */
struct simpler_chip_buffer {
	const char *name;
	uint64_t addr, nbytes;
	unsigned flags;
};

/*
 * What a chip was bootstrapped with.  Window addresses are the same in every
 * process of the worker: a kernel on one rank may read and write a peer's
 * window (pass it as a child_memory tensor of the task's chip, and the
 * TensorMap orders the accesses across chips).
 */
struct simpler_chip_context {
	size_t sz;
	const char *domain;	/* "" without comm */
	int rank, nranks;	/* 0 and 1 without comm */
	uint64_t window_base;	/* this rank's window; 0 without comm */
	uint64_t window_size;	/* the actual size (the platform may round up) */
	int nr_buffers;
	const struct simpler_chip_buffer *buffers;	/* valid while the worker lives */
};

/* the bootstrap context of chip; -EINVAL for a chip that does not exist */
SIMPLER_API int simpler_chip_context(const struct simpler_worker *w, int chip,
				     struct simpler_chip_context *ctx);
/* the chip address of chip's buffer called name; -ENOENT (with a message) if none */
SIMPLER_API int simpler_chip_buffer(struct simpler_worker *w, int chip, const char *name,
				    uint64_t *addr);
/* the chip address of rank's window in chip's comm domain; -EINVAL if out of range */
SIMPLER_API int simpler_chip_peer_window(struct simpler_worker *w, int chip, int rank,
					 uint64_t *addr);

/*
 * Register a kernel under a name; returns its callable id (>= 0).  -EEXIST if
 * the name is taken, -ENOSPC past 1024 callables, -EINVAL for a NULL fn or an
 * empty name longer than 63 bytes.  In process mode fn must live in the
 * program or in a shared object (one dlopen()ed after the chips started is
 * loaded by them on first use); anything else is -EINVAL.
 */
SIMPLER_API int simpler_register(struct simpler_worker *w, const char *name, simpler_kernel_fn fn);
/* the callable id of a registered name, -ENOENT if none */
SIMPLER_API int simpler_callable(struct simpler_worker *w, const char *name);

/* ------------------------------------------------------------------------ */
/* beyond one host: L4 workers and node functions                            */

/*
 * A node function is an L3 orchestration function an L4 runs on one of its
 * nodes: submitted on the L4 (simpler_submit() with its callable id, worker
 * = the node or -1 for any), it runs there as one complete simpler_run() of
 * the node's L3 worker (own scopes, own drain), with o that run's orch and
 * args the task's arguments as a kernel sees them (host tensors are shared
 * memory both levels see; scalars as submitted).  It returns 0 or a
 * negative errno; the node run's error (first failed task, stacked under
 * "node 1 (pid N): node fn 'step' (task #7): ...") fails the L4 task and
 * poisons its dependents at the L4.  The L4's TensorMap orders node tasks
 * against each other and against the L4's sub tasks by their tensors, as
 * for chips.  Kernels registered on the L4 with simpler_register() run on
 * its subs and are registered on every node's L3 too, in the same order,
 * before a node function runs there: their ids are valid inside node
 * functions (unless the node function registers callables of its own;
 * simpler_callable() by name always works).
 */
typedef int (*simpler_node_fn)(struct simpler_orch *o, const struct simpler_kernel_args *args);

/*
 * Register a node function on an L4 worker: its callable id.  Errors as
 * simpler_register(), and -EINVAL on a worker that is not an L4.  In
 * process mode fn must live in the program or in a shared object (each
 * node process finds it as chip processes find kernels); registering after
 * the nodes started is fine.
 */
SIMPLER_API int simpler_register_node_fn(struct simpler_worker *w, const char *name,
					 simpler_node_fn fn);

/* ------------------------------------------------------------------------ */
/* runs                                                                      */

typedef int (*simpler_orch_fn)(struct simpler_orch *o, void *arg);

/*
 * Run an orchestration function: open a scope, call fn(o, arg), close the
 * scope and wait for every task it submitted.  Returns fn's negative return
 * if it had one, else the error of the first task that failed, else 0.  The
 * worker stays usable after any failure.  -EBUSY if a run is in progress.
 */
SIMPLER_API int simpler_run(struct simpler_worker *w, simpler_orch_fn fn, void *arg);

/* flags of simpler_submit_opts */
#define SIMPLER_SUBMIT_SUB	(1U << 0)	/* run on a host sub worker */
/*
 * L4: refuse (-EXDEV) a task that reads another remote node's memory
 * instead of inferring a transfer to the node it runs on
 */
#define SIMPLER_SUBMIT_NO_TRANSFER	(1U << 1)

struct simpler_submit_opts {
	size_t sz;
	int worker;		/* chip (or sub) index to run on; -1: any */
	uint32_t block_dim;	/* blocks of the launch; 0: 1 */
	unsigned flags;		/* SIMPLER_SUBMIT_* */
};

/*
 * Submit a task: callable with a, on any chip (opts NULL or worker -1), a
 * named one, or a sub worker.  The arguments are copied; a may be reused at
 * once.  Returns the task's sequence number in the run (>= 0).
 *
 * Ordering guarantee (sequential consistency): if tasks A and B (A submitted
 * first) touch overlapping bytes of the same address space and at least one
 * of them writes (OUT, INOUT, OUT_EXISTING), B starts after A finished.
 * Nothing else is ordered.  The host is one address space; each chip's
 * memory (child_memory tensors) is another, and such a task must name its
 * chip (-EINVAL otherwise).  NO_DEP tensors are not tracked.  Two OUT, INOUT
 * or OUT_EXISTING tensors of one task may not overlap (-EINVAL, both named);
 * for a group this holds per member.
 *
 * If a task fails, every task that depends on it fails without running and
 * carries its message; independent tasks keep running.  After a failure in
 * the run, submit returns that error at once.  Blocks (sleeping, not
 * spinning) while every task slot is in use.
 */
SIMPLER_API int simpler_submit(struct simpler_orch *o, int callable, const struct simpler_args *a,
			       const struct simpler_submit_opts *opts);

/*
 * Submit a group: n members of one callable, member i with a[i], started
 * together on n distinct chips (workers[i], or chosen by the library when
 * workers is NULL).  One node of the graph: it depends on the union of the
 * members' accesses and completes when every member did.  Members are not
 * ordered against each other.  A group waiting for its chips reserves them.
 */
SIMPLER_API int simpler_submit_group(struct simpler_orch *o, int callable,
				     struct simpler_args *const *a, int n, const int *workers);

/* scopes bound the lifetime of simpler_orch_alloc() memory; nesting up to 64 */
SIMPLER_API int simpler_scope_begin(struct simpler_orch *o);
/* -EINVAL without a matching simpler_scope_begin() */
SIMPLER_API int simpler_scope_end(struct simpler_orch *o);

/*
 * Runtime-owned memory visible to every chip and sub, 64-byte aligned.  It
 * lives until the innermost open scope has ended and every task submitted
 * while it was open has finished.  NULL and errno ENOMEM when the arena
 * cannot satisfy the request even after in-flight work drains.
 */
SIMPLER_API void *simpler_orch_alloc(struct simpler_orch *o, size_t nbytes);
/* the worker o runs on */
SIMPLER_API struct simpler_worker *simpler_orch_worker(struct simpler_orch *o);

/* ------------------------------------------------------------------------ */
/* chip memory (usable in and out of runs)                                   */

/*
 * Chip memory lives in the chip's own address space: pass it to that chip's
 * tasks as child_memory tensors.  These calls go to the chip (its process's
 * control lane, beside any task it runs: one waits at most for the kernel
 * in progress) and may be made during a run from the orchestration
 * function.  They fail with -EINVAL for a chip that does not exist and
 * -ECHILD while the chip's process is dead (it restarts at the next run,
 * with its memory gone).
 */
/* allocate n bytes (> 0) on chip; its address in *chip_addr.  -ENOMEM when it is full */
SIMPLER_API int simpler_malloc(struct simpler_worker *w, int chip, size_t n, uint64_t *chip_addr);
/*
 * Free an allocation of chip.  An address that is not a live allocation of
 * this chip fails (-EINVAL), naming the chip it belongs to if another's.
 */
SIMPLER_API int simpler_free(struct simpler_worker *w, int chip, uint64_t chip_addr);
/*
 * Copy n bytes from host src to chip_addr on chip, or from chip_addr to host
 * dst.  The range must lie inside one live allocation (-EFAULT otherwise);
 * it is checked whole first, so a refused copy moves nothing.  Synchronous:
 * done on return.
 */
SIMPLER_API int simpler_copy_to(struct simpler_worker *w, int chip, uint64_t chip_addr,
				const void *src, size_t n);
SIMPLER_API int simpler_copy_from(struct simpler_worker *w, int chip, void *dst,
				  uint64_t chip_addr, size_t n);

/* ------------------------------------------------------------------------ */
/* host memory created after the chips started                               */

/*
 * Make [addr, addr + len) usable by chip and sub tasks, whatever it is
 * (malloc, mmap, stack...).  kmod backend: the pages are pinned and mapped
 * into the chip processes, zero copies.  shm backend: tasks use a shared
 * mirror; what a task may read is copied in at submit (unless the run
 * already put it there), what tasks wrote is copied back when the run ends
 * (do not touch the buffer from the host during the run).  Views
 * inside a registered buffer are accepted; views running past its end are
 * refused at submit.  With SIMPLER_WORKER_THREADS every host address is
 * already visible and this only records the range.  -EEXIST if it overlaps
 * a registered buffer.
 */
SIMPLER_API int simpler_host_register(struct simpler_worker *w, void *addr, size_t len,
				      unsigned flags, uint64_t *handle);
/*
 * Forget a registered buffer: the chip processes drop their mappings of it
 * and simpler.ko unpins it (shm: its mirror is freed).  -ENOENT for an
 * unknown handle; -EBUSY while the run in progress uses it (unregister after
 * simpler_run() returns).
 */
SIMPLER_API int simpler_host_unregister(struct simpler_worker *w, uint64_t handle);
/*
 * 0 if every chip and sub process can see [addr, addr + len) (registered, or
 * shared memory they inherited), else -EFAULT and a message saying why.
 */
SIMPLER_API int simpler_host_check(struct simpler_worker *w, const void *addr, size_t len);

/* ------------------------------------------------------------------------ */
/* statistics                                                                */

struct simpler_stats {
	size_t sz;
	uint64_t tasks_submitted;	/* since create */
	uint64_t tasks_completed;
	uint64_t tasks_failed;		/* including poisoned ones */
	uint64_t edges;			/* dependency edges created */
	uint64_t tensormap_fast;	/* accesses resolved by the exact-range fast path */
	uint64_t tensormap_slow;	/* accesses that needed an overlap search */
	uint64_t submit_waits;		/* submits that slept for a free slot */
	uint64_t bytes_staged;		/* host bytes copied to or from chip memory */
	uint64_t host_bytes_copied;	/* shm backend: bytes copied into and out of mirrors */
	uint64_t chip_restarts;		/* chip, node and sub processes restarted after dying */
	/* an L4's remote nodes (SIMPLER_WORKER_MPI) */
	uint64_t bytes_to_nodes;	/* staged tensors and copies sent to nodes */
	uint64_t bytes_from_nodes;	/* and received from them */
	uint64_t transfers;		/* node-to-node transfers inferred */
	uint64_t transfer_cache_hits;	/* reads of another node's memory already there */
	uint64_t nodes_lost;
	/* remote nodes' tasks sent before the tasks they wait for finished */
	uint64_t tasks_sent_ahead;
	/*
	 * task slots used at least once: about the most tasks in flight at
	 * once (finished tasks' slots are reused first); at most ring_size
	 */
	uint64_t slots_used;
};

/*
 * Fill s (set s->sz first) with w's counters; a longer struct than this
 * library knows gets its unknown tail zeroed.  -EINVAL if s->sz cannot hold
 * more than sz.
 */
SIMPLER_API int simpler_worker_stats(const struct simpler_worker *w, struct simpler_stats *s);

#ifdef __cplusplus
}
#endif

#endif /* SIMPLER_H */
