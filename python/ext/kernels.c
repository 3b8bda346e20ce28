// SPDX-License-Identifier: MIT
/*
 * Python callables as kernels.  Every one is registered with libsimpler as
 * the same C function, spy_py_kernel(), which finds the callable through a
 * hidden last scalar its tasks carry (the worker's registry and the kernel
 * id) and calls it with a KernelArgs.
 *
 * Where it runs.  In process mode, on a thread of a chip or sub process,
 * which is a fork of the interpreter (module.c readied it); in thread mode,
 * on a library thread of this process.  Either way a thread Python has not
 * seen gets a thread state on its first kernel and keeps it (creating one
 * per call would cost more than the call); a thread that exits drops it.
 *
 * How a callable reaches a chip process.  One registered before the chips
 * started is in the memory they were forked from.  One registered later
 * travels pickled, through memory shared with them since before the fork,
 * and is loaded on first use.
 */
#include "spy.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define TAG_MAGIC	0x53505931ULL		/* "SPY1" */
#define MAX_REGS	256
#define SHARED_BYTES	(64ULL << 20)		/* reserved, touched as used */

/* written by the application process only; children read it */
struct spy_shared {
	_Atomic uint32_t ready[SPY_MAX_CALLABLES];	/* release: after off, len and bytes */
	uint32_t len[SPY_MAX_CALLABLES];
	uint64_t off[SPY_MAX_CALLABLES];
	uint64_t used;
	unsigned char data[];
};

struct spy_reg {
	int index;			/* in regs[] */
	bool pickle;			/* chip processes exist: new kernels go pickled */
	PyObject *fn[SPY_MAX_CALLABLES];	/* NULL: a C kernel, or not loaded here yet */
	struct spy_shared *sh;
};

/* the live registries, by index (under the GIL); a chip process has its fork's copy */
static struct spy_reg *regs[MAX_REGS];

struct spy_reg *spy_reg_new(void)
{
	struct spy_reg *r;
	int i;

	for (i = 0; i < MAX_REGS && regs[i]; i++)
		;
	if (i == MAX_REGS) {
		spy_raise(-ENOSPC, "Worker: at most 256 workers at a time in one process");
		return NULL;
	}
	r = PyMem_RawCalloc(1, sizeof(*r));
	if (!r) {
		PyErr_NoMemory();
		return NULL;
	}
	r->sh = mmap(NULL, SHARED_BYTES, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->sh == MAP_FAILED) {
		PyMem_RawFree(r);
		spy_raise(-errno, "Worker: cannot map the memory Python kernels reach the chips "
			  "through");
		return NULL;
	}
	r->index = i;
	regs[i] = r;
	return r;
}

void spy_reg_clear(struct spy_reg *r)
{
	int i;

	for (i = 0; r && i < SPY_MAX_CALLABLES; i++)
		Py_CLEAR(r->fn[i]);
}

void spy_reg_free(struct spy_reg *r)
{
	if (!r)
		return;
	spy_reg_clear(r);
	munmap(r->sh, SHARED_BYTES);
	regs[r->index] = NULL;
	PyMem_RawFree(r);
}

int spy_reg_traverse(struct spy_reg *r, visitproc visit, void *arg)
{
	int i;

	for (i = 0; r && i < SPY_MAX_CALLABLES; i++)
		Py_VISIT(r->fn[i]);
	return 0;
}

uint64_t spy_reg_tag(const struct spy_reg *r, int id)
{
	return TAG_MAGIC << 32 | (uint64_t)r->index << 16 | (uint64_t)id;
}

void spy_reg_started(struct spy_reg *r)
{
	r->pickle = true;
}

bool spy_reg_is_py(const struct spy_reg *r, int id)
{
	return r->fn[id] != NULL;
}

PyObject *spy_reg_pickle(struct spy_reg *r, PyObject *fn, const char *name)
{
	PyObject *pk, *b, *t, *v, *tb, *s;

	if (!r->pickle)
		Py_RETURN_NONE;
	pk = PyImport_ImportModule("pickle");
	b = pk ? PyObject_CallMethod(pk, "dumps", "Oi", fn, -1) : NULL;
	Py_XDECREF(pk);
	if (b && (uint64_t)PyBytes_GET_SIZE(b) > SHARED_BYTES - sizeof(struct spy_shared) -
						 r->sh->used) {
		Py_DECREF(b);
		return spy_raise(-ENOMEM, "register: no room left for pickled Python kernels "
				 "(64 MiB); register them before the chips start");
	}
	if (b)
		return b;
	PyErr_Fetch(&t, &v, &tb);
	s = v ? PyObject_Str(v) : NULL;
	PyErr_Format(PyExc_TypeError, "register: Python kernel '%s' was registered after the "
		     "chips started (Worker.start() or the first run), so it reaches them "
		     "pickled, and pickle refused it (%s): register it before they start, or "
		     "make it a module-level function", name,
		     spy_utf8(s));
	Py_XDECREF(s);
	Py_XDECREF(t);
	Py_XDECREF(v);
	Py_XDECREF(tb);
	return NULL;
}

void spy_reg_set(struct spy_reg *r, int id, PyObject *fn, PyObject *pickled)
{
	struct spy_shared *sh = r->sh;

	if (pickled && PyBytes_Check(pickled)) {
		sh->off[id] = sh->used;
		sh->len[id] = (uint32_t)PyBytes_GET_SIZE(pickled);
		memcpy(sh->data + sh->used, PyBytes_AS_STRING(pickled), sh->len[id]);
		sh->used += (sh->len[id] + 7) & ~7U;
		/* release: the bytes first; pairs with reg_load()'s acquire in a chip process */
		atomic_store_explicit(&sh->ready[id], 1, memory_order_release);
	}
	Py_INCREF(fn);
	Py_XSETREF(r->fn[id], fn);
}

/* ---- the GIL on threads Python has not seen ---- */

static pthread_key_t keep_key;

/* a library thread that ran kernels exits: its thread state goes */
static void keep_drop(void *p)
{
	PyThreadState *ts = p;

	if (_Py_IsFinalizing())
		return;		/* the interpreter clears it itself */
	PyEval_RestoreThread(ts);
	PyThreadState_Clear(ts);
	PyThreadState_DeleteCurrent();
}

static PyGILState_STATE gil_enter(void)
{
	bool fresh = !PyGILState_GetThisThreadState();
	PyGILState_STATE s = PyGILState_Ensure();

	if (fresh) {
		/* a second hold: releasing the first never deletes the thread state */
		PyGILState_Ensure();
		pthread_setspecific(keep_key, PyThreadState_Get());
	}
	return s;
}

/* ---- KernelArgs ---- */

typedef struct {
	PyObject_HEAD
	const struct simpler_kernel_args *a;	/* NULL once the call returned */
	uint32_t nr_scalars;			/* the caller's (not the hidden tag) */
	int block_idx, block_dim, chip;
	PyObject *tensors, *scalars;
} spy_kargs;

static int kargs_live(spy_kargs *k)
{
	if (k->a)
		return 0;
	PyErr_SetString(PyExc_RuntimeError, "KernelArgs: a kernel's tensors and scalars are "
			"only valid during its call");
	return -1;
}

static PyObject *kargs_tensors(spy_kargs *k, void *c)
{
	const struct simpler_kernel_args *a = k->a;
	PyObject *l, *t;
	uint32_t i;

	if (kargs_live(k))
		return NULL;	/* the arrays would point at memory the task no longer owns */
	if (k->tensors)
		return Py_NewRef(k->tensors);
	l = PyList_New(a->nr_tensors);
	for (i = 0; l && i < a->nr_tensors; i++) {
		t = spy_array((void *)(uintptr_t)a->tensors[i].addr, a->tensors[i].dtype,
			      (int)a->tensors[i].ndims, a->tensors[i].shape,
			      a->strides ? a->strides + (size_t)i * SIMPLER_MAX_DIMS : NULL, false);
		if (!t)
			Py_CLEAR(l);
		else
			PyList_SET_ITEM(l, i, t);
	}
	k->tensors = l;
	return Py_XNewRef(l);
}

static PyObject *kargs_scalars(spy_kargs *k, void *c)
{
	PyObject *t;
	uint32_t i;

	if (k->scalars)
		return Py_NewRef(k->scalars);
	if (kargs_live(k))
		return NULL;
	t = PyTuple_New(k->nr_scalars);
	for (i = 0; t && i < k->nr_scalars; i++)
		PyTuple_SET_ITEM(t, i, PyLong_FromUnsignedLongLong(k->a->scalars[i]));
	k->scalars = t;
	return Py_XNewRef(t);
}

static PyObject *kargs_int(spy_kargs *k, void *c)
{
	return PyLong_FromLong(*(int *)((char *)k + (size_t)c));
}

static Py_ssize_t kargs_len(spy_kargs *k)
{
	return kargs_live(k) ? -1 : (Py_ssize_t)k->a->nr_tensors;
}

static PyObject *kargs_item(spy_kargs *k, Py_ssize_t i)
{
	PyObject *l = kargs_tensors(k, NULL), *t;

	if (!l)
		return NULL;
	t = i >= 0 && i < PyList_GET_SIZE(l) ? Py_NewRef(PyList_GET_ITEM(l, i)) : NULL;
	if (!t)
		PyErr_SetString(PyExc_IndexError, "KernelArgs: no such tensor");
	Py_DECREF(l);
	return t;
}

static PyObject *kargs_repr(spy_kargs *k)
{
	return PyUnicode_FromFormat("<KernelArgs: %u tensors, %u scalars, block %d of %d, %s %d>",
				    k->a ? k->a->nr_tensors : 0, k->nr_scalars, k->block_idx,
				    k->block_dim, k->chip >= 0 ? "chip" : "sub", k->chip);
}

static void kargs_dealloc(spy_kargs *k)
{
	Py_XDECREF(k->tensors);
	Py_XDECREF(k->scalars);
	Py_TYPE(k)->tp_free((PyObject *)k);
}

static PyGetSetDef kargs_getset[] = {
	{ "tensors", (getter)kargs_tensors, NULL,
	  "The tensors, as numpy arrays over the task's memory (no copy; strided views\n"
	  "as strided arrays; bfloat16 as uint16), in submit order: inputs, outputs,\n"
	  "inouts, then args=.  Valid during the call only.", NULL },
	{ "scalars", (getter)kargs_scalars, NULL,
	  "The scalars, a tuple of ints (unsigned 64-bit; a float was sent as its\n"
	  "IEEE-754 double bits).", NULL },
	{ "block_idx", (getter)kargs_int, NULL, "This block's index, 0..block_dim-1.",
	  (void *)offsetof(spy_kargs, block_idx) },
	{ "block_dim", (getter)kargs_int, NULL, "Blocks of the launch.",
	  (void *)offsetof(spy_kargs, block_dim) },
	{ "chip", (getter)kargs_int, NULL, "The chip it runs on, or -1 on a sub worker.",
	  (void *)offsetof(spy_kargs, chip) },
	{ NULL }
};

static PySequenceMethods kargs_seq = {
	.sq_length = (lenfunc)kargs_len,
	.sq_item = (ssizeargfunc)kargs_item,
};

PyTypeObject spy_KernelArgsType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "simpler.KernelArgs",
	.tp_basicsize = sizeof(spy_kargs),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "What a Python kernel is called with: tensors (numpy arrays over the task's\n"
		  "memory), scalars, block_idx, block_dim, chip.  args[i] is tensors[i].\n"
		  "Valid during the call only: keep no array past it.",
	.tp_dealloc = (destructor)kargs_dealloc,
	.tp_repr = (reprfunc)kargs_repr,
	.tp_getset = kargs_getset,
	.tp_as_sequence = &kargs_seq,
};

/* ---- the trampoline ---- */

/* the exception being raised as "Type: message (file:line in function)" */
static void exc_text(char *buf, size_t len)
{
	PyObject *t, *v, *tb, *s = NULL, *mod, *name, *last, *next, *fr = NULL, *code = NULL;
	PyObject *file = NULL, *func = NULL, *line = NULL;
	const char *m;

	PyErr_Fetch(&t, &v, &tb);
	PyErr_NormalizeException(&t, &v, &tb);
	s = v ? PyObject_Str(v) : NULL;
	if (s && !PyUnicode_AsUTF8(s)) {
		PyErr_Clear();
		Py_SETREF(s, PyObject_ASCII(s));	/* lone surrogates as \udcff */
	}
	mod = t ? PyObject_GetAttrString(t, "__module__") : NULL;
	name = t ? PyObject_GetAttrString(t, "__qualname__") : NULL;
	for (last = tb ? Py_NewRef(tb) : NULL; last; last = next) {
		next = PyObject_GetAttrString(last, "tb_next");
		if (!next || next == Py_None) {
			Py_XDECREF(next);
			break;
		}
		Py_DECREF(last);
	}
	if (last) {
		line = PyObject_GetAttrString(last, "tb_lineno");
		fr = PyObject_GetAttrString(last, "tb_frame");
		code = fr ? PyObject_GetAttrString(fr, "f_code") : NULL;
		file = code ? PyObject_GetAttrString(code, "co_filename") : NULL;
		func = code ? PyObject_GetAttrString(code, "co_name") : NULL;
	}
	PyErr_Clear();
	m = mod && PyUnicode_Check(mod) ? spy_utf8(mod) : "";
	snprintf(buf, len, "%s%s%s: %s", strcmp(m, "builtins") ? m : "",
		 strcmp(m, "builtins") && m[0] ? "." : "",
		 name && PyUnicode_Check(name) ? spy_utf8(name) : "exception", spy_utf8(s));
	if (file && func && line && PyUnicode_Check(file) && PyUnicode_Check(func))
		snprintf(buf + strlen(buf), len - strlen(buf), " (%s:%ld in %s)", spy_utf8(file),
			 PyLong_AsLong(line), spy_utf8(func));
	PyErr_Clear();
	Py_XDECREF(last);
	Py_XDECREF(line);
	Py_XDECREF(fr);
	Py_XDECREF(code);
	Py_XDECREF(file);
	Py_XDECREF(func);
	Py_XDECREF(mod);
	Py_XDECREF(name);
	Py_XDECREF(s);
	Py_XDECREF(t);
	Py_XDECREF(v);
	Py_XDECREF(tb);
}

/* a kernel registered after this process was forked: its pickle */
static PyObject *reg_load(struct spy_reg *r, int id, const struct simpler_kernel_args *a)
{
	struct spy_shared *sh = r->sh;
	PyObject *pk, *b, *fn;
	char msg[512];

	/* acquire: pairs with spy_reg_set()'s release */
	if (!atomic_load_explicit(&sh->ready[id], memory_order_acquire)) {
		simpler_kernel_errmsg(a, "Python kernel %d is unknown in this process", id);
		return NULL;
	}
	pk = PyImport_ImportModule("pickle");
	b = pk ? PyBytes_FromStringAndSize((char *)sh->data + sh->off[id], sh->len[id]) : NULL;
	fn = b ? PyObject_CallMethod(pk, "loads", "O", b) : NULL;
	Py_XDECREF(b);
	Py_XDECREF(pk);
	if (!fn) {
		exc_text(msg, sizeof(msg));
		simpler_kernel_errmsg(a, "cannot load the Python kernel here: it was registered "
				      "after the chips started, so it came pickled, and unpickling "
				      "failed: %s", msg);
		return NULL;
	}
	r->fn[id] = fn;		/* this process's copy of the registry keeps it */
	return fn;
}

/*
 * What a Python kernel's result means: None or an int >= 0 (however big)
 * succeed, -1..-4095 fails with that errno; anything else is the kernel's
 * bug, failed like an exception it raised (KernelError, TypeError or
 * ValueError in the message).
 */
static int result_code(PyObject *res, const struct simpler_kernel_args *a)
{
	PyObject *s;
	long long v;
	int over;

	if (res == Py_None)
		return 0;
	if (!PyLong_Check(res)) {
		simpler_kernel_errmsg(a, "TypeError: a Python kernel returns None or an int >= 0 "
				      "(success) or a negative errno (failure), not '%s'",
				      Py_TYPE(res)->tp_name);
		return -EREMOTEIO;
	}
	v = PyLong_AsLongLongAndOverflow(res, &over);
	if (over > 0 || (!over && v >= 0))
		return 0;
	if (!over && v >= -4095)
		return (int)v;
	s = PyObject_Str(res);
	simpler_kernel_errmsg(a, "ValueError: a Python kernel returned %s: a negative result is "
			      "an errno, -1..-4095", spy_utf8(s));
	Py_XDECREF(s);
	PyErr_Clear();
	return -EREMOTEIO;
}

int spy_py_kernel(const struct simpler_kernel_args *a)
{
	uint64_t tag = a->nr_scalars ? a->scalars[a->nr_scalars - 1] : 0;
	unsigned idx = (unsigned)(tag >> 16 & 0xffff), id = (unsigned)(tag & 0xffff);
	struct spy_reg *r;
	PyGILState_STATE st;
	PyObject *fn, *res;
	spy_kargs *k;
	char msg[1024];
	int ret = 0;

	if (tag >> 32 != TAG_MAGIC) {
		simpler_kernel_errmsg(a, "a Python kernel's task must come from Python "
				      "(Orchestrator.submit()): its last scalar names the callable");
		return -EINVAL;
	}
	st = gil_enter();
	r = idx < MAX_REGS ? regs[idx] : NULL;
	fn = r && id < SPY_MAX_CALLABLES ? r->fn[id] : NULL;
	if (!fn && r && id < SPY_MAX_CALLABLES)
		fn = reg_load(r, id, a);
	if (!fn) {
		if (!r)
			simpler_kernel_errmsg(a, "no Python kernel registry %u in this process", idx);
		ret = -EREMOTEIO;
		goto out;
	}
	k = PyObject_New(spy_kargs, &spy_KernelArgsType);
	if (!k) {
		exc_text(msg, sizeof(msg));
		simpler_kernel_errmsg(a, "%s", msg);
		ret = -ENOMEM;
		goto out;
	}
	k->a = a;
	k->nr_scalars = a->nr_scalars - 1;
	k->block_idx = (int)a->block_idx;
	k->block_dim = (int)a->block_dim;
	k->chip = a->chip;
	k->tensors = NULL;
	k->scalars = NULL;
	res = PyObject_CallOneArg(fn, (PyObject *)k);
	k->a = NULL;
	Py_CLEAR(k->tensors);
	Py_DECREF(k);
	if (!res) {
		exc_text(msg, sizeof(msg));
		simpler_kernel_errmsg(a, "%s", msg);
		ret = -EREMOTEIO;
	} else {
		ret = result_code(res, a);
		Py_DECREF(res);
	}
out:
	PyGILState_Release(st);
	return ret;
}

int spy_kernels_init(void)
{
	return pthread_key_create(&keep_key, keep_drop) ? -1 : 0;
}

/*
 * An empty C kernel, exported: simpler.bench registers it as
 * "<this module's file>:spy_empty_kernel", the way a user's C kernel in
 * any shared object is registered.
 */
__attribute__((visibility("default"))) int spy_empty_kernel(const struct simpler_kernel_args *a)
{
	(void)a;
	return 0;
}
