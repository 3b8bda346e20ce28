// SPDX-License-Identifier: MIT
/*
 * simpler.Orchestrator: what an orchestration function submits through,
 * valid during its call only.  submit() is the hot path: keywords are
 * matched by identity first, tensors come from the run's cache of objects
 * (tensors.c) straight into one reused simpler_args.  The GIL stays held
 * unless a Python kernel may run on a library thread of this process
 * (threads=True with Python kernels registered), which needs it to finish
 * and free the slot a full submit waits for.
 */
#include "spy.h"

#include <errno.h>
#include <string.h>

enum { K_INPUTS, K_OUTPUTS, K_INOUTS, K_ARGS, K_SCALARS, K_CHIP, K_SUB, K_BLOCK_DIM, K_N };
static const char *const kw_str[K_N] = { "inputs", "outputs", "inouts", "args", "scalars",
					 "chip", "sub", "block_dim" };
static PyObject *kw_names[K_N];

static const char *const acc_str[] = { "in", "out", "inout", "out_existing", "no_dep" };

struct task_kw {
	PyObject *v[K_N];
};

static int kw_index(PyObject *name)
{
	int j;

	for (j = 0; j < K_N; j++)
		if (kw_names[j] == name)
			return j;
	for (j = 0; j < K_N; j++)
		if (PyUnicode_Check(name) && !PyUnicode_Compare(kw_names[j], name))
			return j;
	return -1;
}

/* a group member: a dict of submit()'s tensor and scalar keywords */
static int parse_member(PyObject *d, struct task_kw *k, Py_ssize_t idx)
{
	PyObject *key, *val;
	Py_ssize_t pos = 0;
	int j;

	if (!PyDict_Check(d)) {
		PyErr_Format(PyExc_TypeError, "submit_group: members[%zd] is a dict of inputs=, "
			     "outputs=, inouts=, args=, scalars=, not '%s'", idx,
			     Py_TYPE(d)->tp_name);
		return -1;
	}
	memset(k, 0, sizeof(*k));
	while (PyDict_Next(d, &pos, &key, &val)) {
		j = kw_index(key);
		if (j < 0 || j > K_SCALARS) {
			PyErr_Format(PyExc_TypeError, "submit_group: members[%zd] has key %R (a "
				     "member has inputs, outputs, inouts, args, scalars)", idx, key);
			return -1;
		}
		k->v[j] = val;
	}
	return 0;
}

static int orch_live(spy_orch *self, const char *what)
{
	char msg[200];

	if (self->o && self->w->busy_thread == PyThread_get_thread_ident())
		return 0;
	snprintf(msg, sizeof(msg), "%s: %s", what, self->o ?
		 "only the thread running the orchestration function may use its orchestrator" :
		 "the orchestrator is only valid while its orchestration function runs");
	spy_raise(-EINVAL, msg);
	return -1;
}

/* ---- arguments ---- */

static int add_desc(struct simpler_args *a, const struct spy_desc *d, enum simpler_access acc)
{
	int r = d->view ? simpler_args_add_view(a, &d->v, acc) :
			  simpler_args_add_tensor(a, &d->v.t, acc);

	if (r < 0)
		spy_raise(r, simpler_last_errmsg());
	return r < 0 ? -1 : 0;
}

static bool writes(enum simpler_access acc)
{
	return acc != SIMPLER_IN && acc != SIMPLER_NO_DEP;
}

static int add_list(spy_worker *w, struct simpler_args *a, PyObject *list,
		    enum simpler_access acc, const char *name)
{
	const struct spy_desc *d;
	struct spy_desc scratch;
	PyObject **items;
	Py_ssize_t i, n;

	if (!list || list == Py_None)
		return 0;
	if (!PyList_Check(list) && !PyTuple_Check(list)) {
		PyErr_Format(PyExc_TypeError, "%s is a list or tuple of tensors, not '%s'", name,
			     Py_TYPE(list)->tp_name);
		return -1;
	}
	n = PySequence_Fast_GET_SIZE(list);
	items = PySequence_Fast_ITEMS(list);
	for (i = 0; i < n; i++)
		if (spy_tensor(&w->pins, items[i], writes(acc), name, (int)i, &d, &scratch) ||
		    add_desc(a, d, acc))
			return -1;
	return 0;
}

static int access_arg(PyObject *o, Py_ssize_t idx)
{
	long v = -1;
	size_t i;

	if (PyLong_Check(o)) {
		v = PyLong_AsLong(o);
	} else if (PyUnicode_Check(o)) {
		for (i = 0; i < sizeof(acc_str) / sizeof(acc_str[0]); i++)
			if (!PyUnicode_CompareWithASCIIString(o, acc_str[i]))
				v = (long)i;
	}
	PyErr_Clear();
	if (v >= SIMPLER_IN && v <= SIMPLER_NO_DEP)
		return (int)v;
	PyErr_Format(PyExc_ValueError, "args[%zd]: access %R is none of simpler.IN, OUT, INOUT, "
		     "OUT_EXISTING, NO_DEP (or \"in\", \"out\", \"inout\", \"out_existing\", "
		     "\"no_dep\")", idx, o);
	return -1;
}

/* args=[(tensor, access), ...]: tensors in that order, each with its access */
static int add_pairs(spy_worker *w, struct simpler_args *a, PyObject *list)
{
	const struct spy_desc *d;
	struct spy_desc scratch;
	PyObject **items, *p;
	Py_ssize_t i, n;
	int acc;

	if (!list || list == Py_None)
		return 0;
	if (!PyList_Check(list) && !PyTuple_Check(list)) {
		PyErr_Format(PyExc_TypeError, "args is a list of (tensor, access) pairs, not '%s'",
			     Py_TYPE(list)->tp_name);
		return -1;
	}
	n = PySequence_Fast_GET_SIZE(list);
	items = PySequence_Fast_ITEMS(list);
	for (i = 0; i < n; i++) {
		p = items[i];
		if (!PyTuple_Check(p) || PyTuple_GET_SIZE(p) != 2) {
			PyErr_Format(PyExc_TypeError, "args[%zd] is a (tensor, access) pair, not "
				     "'%s'", i, Py_TYPE(p)->tp_name);
			return -1;
		}
		acc = access_arg(PyTuple_GET_ITEM(p, 1), i);
		if (acc < 0 || spy_tensor(&w->pins, PyTuple_GET_ITEM(p, 0), writes(acc), "args",
					  (int)i, &d, &scratch) ||
		    add_desc(a, d, acc))
			return -1;
	}
	return 0;
}

/* ints as 64-bit words (negative ones two's complement), floats as double bits */
static int add_scalars(struct simpler_args *a, PyObject *list, bool py)
{
	unsigned long long v;
	PyObject **items, *x, *ix;
	Py_ssize_t i, n;
	double f;
	int r;

	if (!list || list == Py_None)
		return 0;
	if (!PyList_Check(list) && !PyTuple_Check(list)) {
		PyErr_Format(PyExc_TypeError, "scalars is a list or tuple of ints and floats, not "
			     "'%s'", Py_TYPE(list)->tp_name);
		return -1;
	}
	n = PySequence_Fast_GET_SIZE(list);
	items = PySequence_Fast_ITEMS(list);
	if (py && n > SIMPLER_MAX_SCALARS - 1) {
		PyErr_Format(PyExc_ValueError, "scalars: a Python kernel takes at most %d (one "
			     "more carries the kernel), not %zd", SIMPLER_MAX_SCALARS - 1, n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		x = items[i];
		if (PyFloat_Check(x)) {
			f = PyFloat_AS_DOUBLE(x);
			memcpy(&v, &f, sizeof(v));
		} else {
			ix = PyNumber_Index(x);
			if (!ix) {
				PyErr_Format(PyExc_TypeError, "scalars[%zd]: an int or a float, not "
					     "'%s'", i, Py_TYPE(x)->tp_name);
				return -1;
			}
			v = PyLong_AsUnsignedLongLong(ix);
			if (v == (unsigned long long)-1 && PyErr_Occurred()) {
				PyErr_Clear();
				v = (unsigned long long)PyLong_AsLongLong(ix);
				if (v == (unsigned long long)-1 && PyErr_Occurred()) {
					Py_DECREF(ix);
					PyErr_Format(PyExc_OverflowError, "scalars[%zd]: %R does not "
						     "fit in 64 bits", i, x);
					return -1;
				}
			}
			Py_DECREF(ix);
		}
		r = simpler_args_add_scalar(a, v);
		if (r < 0) {
			spy_raise(r, simpler_last_errmsg());
			return -1;
		}
	}
	return 0;
}

static int build_args(spy_worker *w, struct simpler_args *a, const struct task_kw *k, int id,
		      bool py)
{
	int r;

	simpler_args_reset(a);
	if (add_list(w, a, k->v[K_INPUTS], SIMPLER_IN, "inputs") ||
	    add_list(w, a, k->v[K_OUTPUTS], SIMPLER_OUT, "outputs") ||
	    add_list(w, a, k->v[K_INOUTS], SIMPLER_INOUT, "inouts") ||
	    add_pairs(w, a, k->v[K_ARGS]) || add_scalars(a, k->v[K_SCALARS], py))
		return -1;
	if (py) {
		r = simpler_args_add_scalar(a, spy_reg_tag(w->reg, id));
		if (r < 0) {
			spy_raise(r, simpler_last_errmsg());
			return -1;
		}
	}
	return 0;
}

/* a kernel named by id or name; *py: a Python kernel */
static int kernel_id(spy_worker *w, PyObject *k, bool *py)
{
	PyObject *v;
	long id;

	if (PyUnicode_Check(k)) {
		v = PyDict_GetItemWithError(w->names, k);
		if (!v) {
			if (!PyErr_Occurred())
				spy_raisef(-ENOENT, "submit: no kernel named %R (register it first)",
					   k);
			return -1;
		}
		k = v;
	} else if (!PyLong_Check(k)) {
		PyErr_Format(PyExc_TypeError, "submit: the kernel is an id or a name, not '%s'",
			     Py_TYPE(k)->tp_name);
		return -1;
	}
	id = PyLong_AsLong(k);
	if (id == -1 && PyErr_Occurred())
		return -1;
	if (id < INT32_MIN || id > INT32_MAX)
		id = INT32_MAX;		/* libsimpler says it is not registered */
	*py = id >= 0 && id < w->nr_kernels && spy_reg_is_py(w->reg, (int)id);
	return (int)id;
}

/* ---- submit ---- */

static int submit_opts(const struct task_kw *k, struct simpler_submit_opts *o)
{
	PyObject *chip = k->v[K_CHIP], *sub = k->v[K_SUB], *bd = k->v[K_BLOCK_DIM];
	long v;

	memset(o, 0, sizeof(*o));
	o->sz = sizeof(*o);
	o->worker = -1;
	if (chip && chip != Py_None) {
		v = PyLong_AsLong(chip);
		if (v == -1 && PyErr_Occurred())
			return -1;
		o->worker = v < -1 || v > INT32_MAX ? INT32_MAX : (int)v;
	}
	if (sub && sub != Py_False && sub != Py_None) {
		o->flags |= SIMPLER_SUBMIT_SUB;
		if (sub != Py_True) {
			/* sub=i: sub worker i */
			v = PyLong_AsLong(sub);
			if (v == -1 && PyErr_Occurred())
				return -1;
			if (o->worker != -1) {
				PyErr_SetString(PyExc_ValueError, "submit: chip= or sub=i, not both");
				return -1;
			}
			o->worker = v < 0 || v > INT32_MAX ? INT32_MAX : (int)v;
		}
	}
	if (bd && bd != Py_None) {
		v = PyLong_AsLong(bd);
		if (v == -1 && PyErr_Occurred())
			return -1;
		if (v < 0 || v > UINT32_MAX) {
			PyErr_Format(PyExc_ValueError, "submit: block_dim %ld is not 1..2^32-1", v);
			return -1;
		}
		o->block_dim = (uint32_t)v;
	}
	return 0;
}

static PyObject *orch_submit(spy_orch *self, PyObject *const *args, Py_ssize_t nargs,
			     PyObject *kwnames)
{
	struct simpler_submit_opts opts;
	spy_worker *w = self->w;
	struct task_kw k;
	bool py;
	int id, ret;

	if (orch_live(self, "submit"))
		return NULL;
	memset(&k, 0, sizeof(k));
	if (nargs != 1) {
		PyErr_SetString(PyExc_TypeError, "submit(kernel, *, inputs=(), outputs=(), "
				"inouts=(), args=(), scalars=(), chip=None, sub=False, "
				"block_dim=1)");
		return NULL;
	}
	if (kwnames) {
		Py_ssize_t i, n = PyTuple_GET_SIZE(kwnames);

		for (i = 0; i < n; i++) {
			int j = kw_index(PyTuple_GET_ITEM(kwnames, i));

			if (j < 0) {
				PyErr_Format(PyExc_TypeError, "submit() got an unexpected keyword "
					     "argument %R", PyTuple_GET_ITEM(kwnames, i));
				return NULL;
			}
			k.v[j] = args[nargs + i];
		}
	}
	id = kernel_id(w, args[0], &py);
	if (id == -1 && PyErr_Occurred())
		return NULL;
	if (submit_opts(&k, &opts) || build_args(w, w->args, &k, id, py))
		return NULL;
	/* only a Python kernel on a library thread of this process needs the GIL */
	if (!(w->opts.flags & SIMPLER_WORKER_THREADS) || !w->nr_py) {
		ret = simpler_submit(self->o, id, w->args, &opts);
	} else {
		Py_BEGIN_ALLOW_THREADS
		ret = simpler_submit(self->o, id, w->args, &opts);
		Py_END_ALLOW_THREADS
	}
	if (ret < 0)
		return spy_raise_worker(ret, w->w);
	return PyLong_FromLong(ret);
}

static PyObject *orch_submit_group(spy_orch *self, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "kernel", "members", "chips", NULL };
	PyObject *kernel, *members, *chips = Py_None, *seq = NULL, *cs = NULL;
	int workers[SPY_MAX_GROUP], id, ret = -1;
	spy_worker *w = self->w;
	struct task_kw k;
	Py_ssize_t i, n;
	bool py;

	if (orch_live(self, "submit_group"))
		return NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$O:submit_group", kwl, &kernel, &members,
					 &chips))
		return NULL;
	id = kernel_id(w, kernel, &py);
	if (id == -1 && PyErr_Occurred())
		return NULL;
	seq = PySequence_Fast(members, "submit_group: members is a list of dicts");
	if (!seq)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n < 1 || n > SPY_MAX_GROUP) {
		PyErr_Format(PyExc_ValueError, "submit_group: 1..%d members, not %zd",
			     SPY_MAX_GROUP, n);
		goto out;
	}
	if (chips != Py_None) {
		cs = PySequence_Fast(chips, "submit_group: chips is a list of chip indices");
		if (!cs)
			goto out;
		if (PySequence_Fast_GET_SIZE(cs) != n) {
			PyErr_Format(PyExc_ValueError, "submit_group: %zd members but %zd chips", n,
				     PySequence_Fast_GET_SIZE(cs));
			goto out;
		}
		for (i = 0; i < n; i++) {
			long c = PyLong_AsLong(PySequence_Fast_GET_ITEM(cs, i));

			if (c == -1 && PyErr_Occurred())
				goto out;
			workers[i] = c < INT32_MIN || c > INT32_MAX ? INT32_MAX : (int)c;
		}
	}
	for (i = 0; i < n; i++) {
		if (!w->gargs[i] && !(w->gargs[i] = simpler_args_new())) {
			PyErr_NoMemory();
			goto out;
		}
		if (parse_member(PySequence_Fast_GET_ITEM(seq, i), &k, i) ||
		    build_args(w, w->gargs[i], &k, id, py))
			goto out;
	}
	Py_BEGIN_ALLOW_THREADS
	ret = simpler_submit_group(self->o, id, w->gargs, (int)n, cs ? workers : NULL);
	Py_END_ALLOW_THREADS
	if (ret < 0) {
		spy_raise_worker(ret, w->w);
		ret = -1;
	}
out:
	Py_XDECREF(seq);
	Py_XDECREF(cs);
	return ret < 0 ? NULL : PyLong_FromLong(ret);
}

/* ---- scopes and memory ---- */

static PyObject *orch_scope_call(spy_orch *self, bool begin)
{
	int ret;

	if (orch_live(self, begin ? "scope_begin" : "scope_end"))
		return NULL;
	ret = begin ? simpler_scope_begin(self->o) : simpler_scope_end(self->o);
	if (ret < 0)
		return spy_raise_worker(ret, self->w->w);
	Py_RETURN_NONE;
}

static PyObject *orch_scope_begin(spy_orch *self, PyObject *unused)
{
	return orch_scope_call(self, true);
}

static PyObject *orch_scope_end(spy_orch *self, PyObject *unused)
{
	return orch_scope_call(self, false);
}

typedef struct {
	PyObject_HEAD
	spy_orch *orch;
} spy_scope;

static PyObject *orch_scope(spy_orch *self, PyObject *unused)
{
	spy_scope *s;

	if (orch_live(self, "scope"))
		return NULL;
	s = PyObject_New(spy_scope, &spy_ScopeType);
	if (s)
		s->orch = (spy_orch *)Py_NewRef(self);
	return (PyObject *)s;
}

static PyObject *scope_enter(spy_scope *s, PyObject *unused)
{
	PyObject *r = orch_scope_call(s->orch, true);

	Py_XDECREF(r);
	return r ? Py_NewRef(s->orch) : NULL;
}

static PyObject *scope_exit(spy_scope *s, PyObject *args)
{
	return orch_scope_call(s->orch, false);
}

static void scope_dealloc(spy_scope *s)
{
	Py_XDECREF(s->orch);
	PyObject_Free(s);
}

static PyMethodDef scope_methods[] = {
	{ "__enter__", (PyCFunction)scope_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)scope_exit, METH_VARARGS, NULL },
	{ NULL }
};

PyTypeObject spy_ScopeType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "simpler._Scope",
	.tp_basicsize = sizeof(spy_scope),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A scope as a context manager (Orchestrator.scope()).",
	.tp_dealloc = (destructor)scope_dealloc,
	.tp_methods = scope_methods,
};

static PyObject *orch_alloc(spy_orch *self, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "size", "dtype", NULL };
	uint32_t shape[SIMPLER_MAX_DIMS];
	PyObject *size, *dt = NULL, *seq;
	uint64_t n;
	Py_ssize_t i, nd;
	int dtype = SIMPLER_U8;
	void *p;

	if (orch_live(self, "alloc") ||
	    !PyArg_ParseTupleAndKeywords(args, kw, "O|O:alloc", kwl, &size, &dt))
		return NULL;
	if (dt && dt != Py_None && (dtype = spy_dtype_arg(dt)) < 0)
		return NULL;
	seq = PyLong_Check(size) ? PyTuple_Pack(1, size) : PySequence_Tuple(size);
	if (!seq)
		return NULL;
	nd = PyTuple_GET_SIZE(seq);
	n = simpler_dtype_size((uint8_t)dtype);
	for (i = 0; i < nd && i < SIMPLER_MAX_DIMS; i++) {
		long long d = PyLong_AsLongLong(PyTuple_GET_ITEM(seq, i));

		if (d <= 0 || d > UINT32_MAX || (n && (uint64_t)d > UINT64_MAX / n)) {
			Py_DECREF(seq);
			if (!PyErr_Occurred())
				PyErr_Format(PyExc_ValueError, "alloc: dim %zd of %lld elements", i,
					     d);
			return NULL;
		}
		shape[i] = (uint32_t)d;
		n *= (uint64_t)d;
	}
	Py_DECREF(seq);
	if (nd < 1 || nd > SIMPLER_MAX_DIMS)
		return PyErr_Format(PyExc_ValueError, "alloc: a size or a shape of 1..5 dims");
	Py_BEGIN_ALLOW_THREADS
	p = simpler_orch_alloc(self->o, n);
	Py_END_ALLOW_THREADS
	if (!p)
		return spy_raise_worker(-errno, self->w->w);
	return spy_array(p, (uint8_t)dtype, (int)nd, shape, NULL, false);
}

static PyObject *orch_worker(spy_orch *self, void *c)
{
	return Py_NewRef(self->w);
}

static void orch_dealloc(spy_orch *self)
{
	Py_XDECREF(self->w);
	PyObject_Free(self);
}

spy_orch *spy_orch_new(spy_worker *w, struct simpler_orch *o)
{
	spy_orch *self = PyObject_New(spy_orch, &spy_OrchType);

	if (!self)
		return NULL;
	self->o = o;
	self->w = (spy_worker *)Py_NewRef(w);
	return self;
}

static PyMethodDef orch_methods[] = {
	{ "submit", (PyCFunction)(void (*)(void))orch_submit, METH_FASTCALL | METH_KEYWORDS,
	  "submit(kernel, *, inputs=(), outputs=(), inouts=(), args=(), scalars=(), chip=None,\n"
	  "       sub=False, block_dim=1) -> int\n\n"
	  "Submit a task: kernel (an id or a name) with tensors (numpy arrays, torch CPU\n"
	  "tensors, anything with the buffer protocol or __dlpack__, ChipTensor), which\n"
	  "the kernel sees in this order: inputs (read), outputs (written), inouts (both),\n"
	  "then args, a list of (tensor, access) pairs (simpler.IN, OUT, INOUT,\n"
	  "OUT_EXISTING, NO_DEP).  Dependencies follow from the tensors' bytes.  A\n"
	  "non-contiguous array goes as a strided view.  scalars: ints (64-bit) and\n"
	  "floats (double bits).  chip: the chip to run on (default any); sub=True: a\n"
	  "sub worker (sub=i: sub worker i).  Returns the task's sequence number in the\n"
	  "run.  In process mode a host tensor must be memory the chips see: registered\n"
	  "(Worker.register_host()), alloc() memory, or shared memory mapped before they\n"
	  "started; anything else raises AddressError with libsimpler's message." },
	{ "submit_group", (PyCFunction)(void (*)(void))orch_submit_group,
	  METH_VARARGS | METH_KEYWORDS,
	  "submit_group(kernel, members, *, chips=None) -> int\n\n"
	  "One task run by len(members) chips at once, member i with members[i] (a dict of\n"
	  "submit()'s inputs, outputs, inouts, args, scalars) on chips[i] (or chips the\n"
	  "library picks).  It completes when every member did." },
	{ "scope", (PyCFunction)orch_scope, METH_NOARGS,
	  "scope()\n\nA context manager: alloc() memory of the block lives until the block "
	  "ended and\nits tasks finished." },
	{ "scope_begin", (PyCFunction)orch_scope_begin, METH_NOARGS, "scope_begin()" },
	{ "scope_end", (PyCFunction)orch_scope_end, METH_NOARGS, "scope_end()" },
	{ "alloc", (PyCFunction)(void (*)(void))orch_alloc, METH_VARARGS | METH_KEYWORDS,
	  "alloc(size, dtype=None) -> numpy.ndarray\n\n"
	  "Runtime-owned memory every chip and sub sees: size bytes (uint8), or an array of\n"
	  "shape size (an int or a tuple) and dtype.  It lives until the innermost scope\n"
	  "ends and its tasks finished: keep no reference past that." },
	{ NULL }
};

static PyGetSetDef orch_getset[] = {
	{ "worker", (getter)orch_worker, NULL, "The Worker this run is on.", NULL },
	{ NULL }
};

PyTypeObject spy_OrchType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "simpler.Orchestrator",
	.tp_basicsize = sizeof(spy_orch),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "What run() passes its orchestration function: submit tasks through it.  Valid\n"
		  "during that call only, on that thread.",
	.tp_dealloc = (destructor)orch_dealloc,
	.tp_methods = orch_methods,
	.tp_getset = orch_getset,
};

int spy_orch_init(void)
{
	int j;

	for (j = 0; j < K_N; j++) {
		kw_names[j] = PyUnicode_InternFromString(kw_str[j]);
		if (!kw_names[j])
			return -1;
	}
	return 0;
}
