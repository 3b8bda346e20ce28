/* SPDX-License-Identifier: MIT */
/*
 * The simpler Python module's C side (_simpler), written against
 * libsimpler's public header only.  Its parts, one concern each:
 *
 *   module.c   the module: exceptions by errno, fork hooks, closing at exit
 *   worker.c   simpler.Worker: options, start, kernels, runs, memory calls
 *   orch.c     simpler.Orchestrator: submit, groups, scopes, alloc
 *   tensors.c  Python objects as tensors (buffer protocol, __dlpack__),
 *              the objects a run keeps alive, arrays over raw memory
 *   kernels.c  Python callables as kernels: the trampoline the chips call,
 *              KernelArgs, the GIL on library threads
 *
 * Internal names carry spy_; everything but PyInit__simpler is hidden.
 */
#ifndef SPY_H
#define SPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>

#include <simpler.h>

/* limits libsimpler documents (simpler.h, simpler_register()) */
#define SPY_MAX_CALLABLES	1024
#define SPY_NAME_MAX		63
#define SPY_MAX_GROUP		64	/* chips per worker, so members per group */

/* ---- module.c ---- */

/* raise the simpler.Error subclass for -err with msg; returns NULL */
PyObject *spy_raise(int err, const char *msg);
/* spy_raise() with a message PyUnicode_FromFormat() makes (%R, %U...) */
PyObject *spy_raisef(int err, const char *fmt, ...);
/* a str as UTF-8 for a message: "?" if s is no str or has no UTF-8 form (lone surrogates) */
const char *spy_utf8(PyObject *s);
/* raise for a failed call on w (its errmsg), or on no worker (the thread's) */
PyObject *spy_raise_worker(int err, struct simpler_worker *w);
/* the numpy module, imported on first use (a new reference), or NULL with ImportError */
PyObject *spy_numpy(void);
/*
 * Forks libsimpler makes in this thread (simpler_worker_create(), a chip
 * restarted by simpler_run()) while this is set are forks of the
 * interpreter: the GIL is held, and the child is made ready to run Python
 * kernels on any of its threads.  Set only around those calls, with the
 * GIL held; cleared before any Python code runs inside them.
 */
extern __thread int spy_fork_armed;

/* ---- tensors.c ---- */

/* a Python object as a simpler tensor argument */
struct spy_desc {
	struct simpler_view v;	/* v.t is the tensor; offset/strides used when view */
	bool view;		/* not one row-major block: simpler_args_add_view() */
	bool readonly;
	uint64_t span;		/* bytes from the first element to the end of the last */
};

/* one object kept alive until the run ends (or until unregistered) */
struct spy_pin {
	PyObject *obj;		/* strong reference; NULL: a free hash slot */
	PyObject *capsule;	/* the __dlpack__ capsule holding obj's memory, or NULL */
	Py_buffer buf;		/* an export of obj, held while buf.obj is set */
	bool has_desc;		/* d describes obj itself */
	struct spy_desc d;
};

/* the objects a run passed as tensors: a hash set by identity */
struct spy_pins {
	struct spy_pin *v;
	size_t cap, n;		/* cap: a power of two, or 0 */
};

/*
 * Describe obj as tensor argument list[idx] of a task ("inputs", 2: for
 * messages; idx -1: list alone), pinning in pins whatever keeps its memory
 * alive; for writes it must be writable.  *out points into pins (valid
 * until the next call) or at scratch.  0, or -1 with an exception set.
 */
int spy_tensor(struct spy_pins *pins, PyObject *obj, bool write, const char *list, int idx,
	       const struct spy_desc **out, struct spy_desc *scratch);
/*
 * 1 and *d if o is a simpler.ChipTensor, else 0; -1 and InvalidArgument
 * about list[idx] if its __init__ did not run.
 */
int spy_chip_tensor_desc(PyObject *o, const struct spy_desc **d, const char *list, int idx);
int spy_tensors_init(void);
/* describe obj without pinning, holding pin->obj / buf / capsule in *pin for the caller */
int spy_tensor_hold(PyObject *obj, bool write, const char *what, struct spy_pin *pin);
void spy_pin_release(struct spy_pin *p);
void spy_pins_clear(struct spy_pins *pins);
int spy_pins_traverse(struct spy_pins *pins, visitproc visit, void *arg);

/* an array (numpy if importable, else a memoryview) over raw memory, no copy */
PyObject *spy_array(void *addr, uint8_t dtype, int ndims, const uint32_t *shape,
		    const uint64_t *strides, bool readonly);
/* "float32", numpy.float32, "f32"... as an enum simpler_dtype, or -1 with TypeError */
int spy_dtype_arg(PyObject *o);
const char *spy_dtype_name(uint8_t dtype);

extern PyTypeObject spy_ChipTensorType;

/* ---- kernels.c ---- */

/* Python kernels of one worker: what every process of the worker can reach */
struct spy_reg;

struct spy_reg *spy_reg_new(void);
void spy_reg_free(struct spy_reg *r);
/* the hidden scalar a Python kernel's task carries (after the caller's scalars) */
uint64_t spy_reg_tag(const struct spy_reg *r, int id);
/* the chips started: kernels registered from now on reach them pickled */
void spy_reg_started(struct spy_reg *r);
/*
 * What fn must travel as to reach processes already forked: its pickle (a
 * new bytes), Py_None when nothing must travel, NULL with TypeError when
 * pickle refuses it.
 */
PyObject *spy_reg_pickle(struct spy_reg *r, PyObject *fn, const char *name);
/* fn is Python kernel id (pickled: spy_reg_pickle()'s answer) */
void spy_reg_set(struct spy_reg *r, int id, PyObject *fn, PyObject *pickled);
bool spy_reg_is_py(const struct spy_reg *r, int id);
int spy_reg_traverse(struct spy_reg *r, visitproc visit, void *arg);
void spy_reg_clear(struct spy_reg *r);
/* the trampoline every Python kernel is registered with */
int spy_py_kernel(const struct simpler_kernel_args *a);

int spy_kernels_init(void);
/* an empty C kernel, exported for simpler.bench ("<module file>:spy_empty_kernel") */
__attribute__((visibility("default"))) int spy_empty_kernel(const struct simpler_kernel_args *a);

extern PyTypeObject spy_KernelArgsType;

/* ---- worker.c ---- */

typedef struct spy_worker {
	PyObject_HEAD
	struct simpler_worker *w;	/* NULL before start() and after close() */
	struct simpler_worker_opts opts;
	char *platform;
	bool inited;			/* __init__ succeeded: every method asks first */
	bool closed;
	bool starting;			/* in simpler_worker_create(), which may let the GIL go */
	bool in_run;			/* a run of this worker is in progress */
	/*
	 * The thread inside a call that lets the GIL go or runs Python code (a
	 * run, start, register, the memory and host calls), how deeply it
	 * re-entered, and the outermost call: until depth is 0 every other
	 * thread gets Busy and the worker is not closed.  libsimpler's rule: a
	 * worker is driven by one application thread at a time.
	 */
	unsigned long busy_thread;
	int busy_depth;
	const char *busy_what;
	/* kernels: ids are assigned here, in order, and given to libsimpler at start */
	int nr_kernels;
	int nr_py;			/* of which Python callables */
	char (*kname)[SPY_NAME_MAX + 1];
	simpler_kernel_fn *kfn;
	PyObject *names;		/* dict: name -> id */
	struct spy_reg *reg;
	struct simpler_args *args;	/* reused by every submit */
	struct simpler_args *gargs[SPY_MAX_GROUP];
	struct spy_pins pins;		/* the run's tensors */
	struct spy_pin *host;		/* registered host buffers (handle in hhandle) */
	uint64_t *hhandle;
	size_t nr_host, cap_host;
	struct spy_worker *next_live, **prev_live;
	PyObject *weakrefs;
} spy_worker;

extern PyTypeObject spy_WorkerType;
/* close every worker still open (at interpreter exit) */
void spy_worker_close_all(void);

/* ---- orch.c ---- */

typedef struct spy_orch {
	PyObject_HEAD
	struct simpler_orch *o;		/* NULL once its run's orchestration function returned */
	spy_worker *w;
} spy_orch;

extern PyTypeObject spy_OrchType;
extern PyTypeObject spy_ScopeType;
spy_orch *spy_orch_new(spy_worker *w, struct simpler_orch *o);
int spy_orch_init(void);

#endif /* SPY_H */
