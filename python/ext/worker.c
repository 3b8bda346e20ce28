// SPDX-License-Identifier: MIT
/*
 * simpler.Worker: a libsimpler worker (a node: chips and sub workers) for
 * Python.  Its chips start at the first call that needs them (run(),
 * malloc(), register_host()...) or at start(): Python kernels registered
 * before that are in the memory the chip processes are forked from.
 * Kernel ids are handed out here, in order, and given to libsimpler in the
 * same order when the chips start.  Runs call the orchestration function
 * holding the GIL and wait for the tasks without it; calls that may wait
 * for a chip let it go too.  Each call that lets it go or runs Python code
 * claims the worker for its thread first: meanwhile other threads' calls
 * get Busy and nothing closes it.
 */
#include "spy.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

static spy_worker *live;	/* open workers, closed at exit (under the GIL) */

static bool threads_mode(const spy_worker *self)
{
	return self->opts.flags & SIMPLER_WORKER_THREADS;
}

/* __init__ ran: 0, or -1 and InvalidArgument (Worker.__new__(Worker) makes one without) */
static int initialized(spy_worker *self, const char *what)
{
	char msg[200];

	if (self->inited)
		return 0;
	snprintf(msg, sizeof(msg), "%s: Worker.__init__ was not called (or failed): make a "
		 "worker with simpler.Worker(...)", what);
	spy_raise(-EINVAL, msg);
	return -1;
}

/* no other thread is inside a call on the worker: 0, or -1 and Busy */
static int not_others(spy_worker *self, const char *what)
{
	char msg[240];

	if (!self->busy_depth || self->busy_thread == PyThread_get_thread_ident())
		return 0;
	snprintf(msg, sizeof(msg), "%s: another thread is in %s() on this worker (a worker is "
		 "driven by one thread at a time): call it after that returns, or share the "
		 "worker under a lock", what, self->busy_what);
	spy_raise(-EBUSY, msg);
	return -1;
}

/* the current thread may drive the worker now: 0, or -1 with an exception */
static int enter(spy_worker *self, const char *what)
{
	char msg[160];

	if (initialized(self, what))
		return -1;
	if (self->closed) {
		snprintf(msg, sizeof(msg), "%s: the worker is closed", what);
		spy_raise(-EBADF, msg);
		return -1;
	}
	return not_others(self, what);
}

/*
 * enter(), and keep every other thread out (and the worker open) until
 * leave(): around each call that lets the GIL go or runs Python code, where
 * another thread may get the GIL.  The same thread may come back in (a
 * malloc() from its run's orchestration function).
 */
static int claim(spy_worker *self, const char *what)
{
	if (enter(self, what))
		return -1;
	if (!self->busy_depth++) {
		self->busy_thread = PyThread_get_thread_ident();
		self->busy_what = what;
	}
	return 0;
}

static void leave(spy_worker *self)
{
	self->busy_depth--;
}

/* start the chips, the worker claimed: 0, or -1 with an exception */
static int start(spy_worker *self)
{
	struct simpler_worker *w;
	int ret, i;

	if (self->w)
		return 0;
	/* the claim keeps other threads out; this one may come back from fork_prepare() */
	if (self->starting) {
		spy_raise(-EBUSY, "start: this worker is starting (its chips are forking): call "
			  "it after that returns");
		return -1;
	}
	/* the forks happen here, holding the GIL: module.c readies each child */
	self->starting = true;
	spy_fork_armed = 1;
	ret = simpler_worker_create(&self->opts, &w);
	spy_fork_armed = 0;
	self->starting = false;
	if (ret < 0) {
		spy_raise_worker(ret, NULL);
		return -1;
	}
	for (i = 0; i < self->nr_kernels; i++) {
		ret = simpler_register(w, self->kname[i], self->kfn[i]);
		if (ret != i) {
			spy_raise_worker(ret < 0 ? ret : -EPROTO, w);
			Py_BEGIN_ALLOW_THREADS
			simpler_worker_destroy(w);
			Py_END_ALLOW_THREADS
			return -1;
		}
	}
	self->w = w;
	if (!threads_mode(self))
		spy_reg_started(self->reg);
	return 0;
}

/* claimed and started: 0 (leave() when done), or -1 with an exception (not claimed) */
static int ready(spy_worker *self, const char *what)
{
	if (claim(self, what))
		return -1;
	if (!start(self))
		return 0;
	leave(self);
	return -1;
}

/*
 * Not while a call is inside (another thread's, without the GIL): wk_close()
 * says Busy, the garbage collector and close_all() leave it open.
 */
static void close_worker(spy_worker *self)
{
	struct simpler_worker *w = self->w;
	size_t i;

	if (self->closed || self->busy_depth)
		return;
	/* closed first: another thread finds it closed while destroy runs without the GIL */
	self->closed = true;
	self->w = NULL;
	if (self->prev_live) {
		*self->prev_live = self->next_live;
		if (self->next_live)
			self->next_live->prev_live = self->prev_live;
		self->prev_live = NULL;
	}
	if (w) {
		Py_BEGIN_ALLOW_THREADS
		simpler_worker_destroy(w);
		Py_END_ALLOW_THREADS
	}
	for (i = 0; i < self->nr_host; i++)
		spy_pin_release(&self->host[i]);
	self->nr_host = 0;
	spy_pins_clear(&self->pins);
	spy_reg_free(self->reg);
	self->reg = NULL;
	simpler_args_free(self->args);
	self->args = NULL;
	for (i = 0; i < SPY_MAX_GROUP; i++) {
		simpler_args_free(self->gargs[i]);
		self->gargs[i] = NULL;
	}
}

/* at exit: a worker another thread is inside stays open (the process ends it) */
void spy_worker_close_all(void)
{
	spy_worker *s;

	for (;;) {
		for (s = live; s && s->busy_depth; s = s->next_live)
			;
		if (!s)
			return;
		Py_INCREF(s);	/* another thread may drop it while destroy lets the GIL go */
		close_worker(s);
		Py_DECREF(s);
	}
}

/* ---- construction ---- */

static int wk_init(spy_worker *self, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "chips", "subs", "threads", "hostmem", "platform", "ring_size",
			       "arena_size", "chip_mem_size", "cores_per_chip", "spin_us",
			       "start_timeout_ms", "shm_mirror_size", "staging", "bind", NULL };
	int chips = 1, subs = 0, threads = 0, staging = 0, bind = 1;
	const char *hostmem = "auto", *platform = NULL;
	unsigned ring = 0, cores = 0, spin = 0, start_ms = 0;
	unsigned long long arena = 0, chipmem = 0, mirror = 0;

	if (self->inited) {
		PyErr_SetString(PyExc_RuntimeError, "Worker.__init__ called twice");
		return -1;
	}
	/* what an __init__ that failed before left */
	PyMem_RawFree(self->platform);
	PyMem_RawFree(self->kname);
	PyMem_RawFree(self->kfn);
	simpler_args_free(self->args);
	self->platform = NULL;
	self->kname = NULL;
	self->kfn = NULL;
	self->args = NULL;
	Py_CLEAR(self->names);
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|ii$pszIKKIIIKpp:Worker", kwl, &chips, &subs,
					 &threads, &hostmem, &platform, &ring, &arena, &chipmem,
					 &cores, &spin, &start_ms, &mirror, &staging, &bind))
		return -1;
	memset(&self->opts, 0, sizeof(self->opts));
	self->opts.sz = sizeof(self->opts);
	self->opts.nr_chips = chips;
	self->opts.nr_subs = subs;
	self->opts.flags = (threads ? SIMPLER_WORKER_THREADS : 0) |
			   (staging ? SIMPLER_WORKER_STAGING : 0) | (bind ? 0 : SIMPLER_WORKER_NO_BIND);
	if (!strcmp(hostmem, "auto"))
		self->opts.hostmem = SIMPLER_HOSTMEM_AUTO;
	else if (!strcmp(hostmem, "kmod"))
		self->opts.hostmem = SIMPLER_HOSTMEM_KMOD;
	else if (!strcmp(hostmem, "shm"))
		self->opts.hostmem = SIMPLER_HOSTMEM_SHM;
	else {
		PyErr_Format(PyExc_ValueError, "Worker: hostmem is \"auto\", \"kmod\" or \"shm\", "
			     "not \"%s\"", hostmem);
		return -1;
	}
	self->platform = platform ? PyMem_RawMalloc(strlen(platform) + 1) : NULL;
	if (platform && !self->platform) {
		PyErr_NoMemory();
		return -1;
	}
	if (platform)
		strcpy(self->platform, platform);
	self->opts.platform = self->platform;
	self->opts.ring_size = ring;
	self->opts.arena_size = arena;
	self->opts.chip_mem_size = chipmem;
	self->opts.cores_per_chip = cores;
	self->opts.spin_us = spin;
	self->opts.start_timeout_ms = start_ms;
	self->opts.shm_mirror_size = mirror;

	self->names = PyDict_New();
	self->kname = PyMem_RawCalloc(SPY_MAX_CALLABLES, sizeof(*self->kname));
	self->kfn = PyMem_RawCalloc(SPY_MAX_CALLABLES, sizeof(*self->kfn));
	self->args = simpler_args_new();
	if (!self->names || !self->kname || !self->kfn || !self->args) {
		PyErr_NoMemory();
		return -1;
	}
	self->reg = spy_reg_new();
	if (!self->reg)
		return -1;
	self->next_live = live;
	if (live)
		live->prev_live = &self->next_live;
	live = self;
	self->prev_live = &live;
	self->inited = true;
	return 0;
}

static int wk_traverse(spy_worker *self, visitproc visit, void *arg)
{
	size_t i;

	Py_VISIT(self->names);
	for (i = 0; i < self->nr_host; i++)
		Py_VISIT(self->host[i].obj);
	if (spy_pins_traverse(&self->pins, visit, arg))
		return -1;
	return spy_reg_traverse(self->reg, visit, arg);
}

static int wk_clear(spy_worker *self)
{
	/* never while a call is inside (its caller holds a reference), but stay safe */
	if (self->busy_depth)
		return 0;
	close_worker(self);
	spy_reg_clear(self->reg);
	Py_CLEAR(self->names);
	return 0;
}

static void wk_dealloc(spy_worker *self)
{
	PyObject_GC_UnTrack(self);
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	close_worker(self);
	Py_CLEAR(self->names);
	PyMem_RawFree(self->kname);
	PyMem_RawFree(self->kfn);
	PyMem_RawFree(self->platform);
	PyMem_RawFree(self->host);
	PyMem_RawFree(self->hhandle);
	PyMem_Free(self->pins.v);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ---- lifetime ---- */

static PyObject *wk_start(spy_worker *self, PyObject *unused)
{
	if (ready(self, "start"))
		return NULL;
	leave(self);
	Py_RETURN_NONE;
}

static PyObject *wk_close(spy_worker *self, PyObject *unused)
{
	char msg[200];

	if (initialized(self, "close"))
		return NULL;
	if (self->closed)
		Py_RETURN_NONE;
	if (self->busy_depth) {
		snprintf(msg, sizeof(msg), "close: %s %s() on this worker is in progress; close it "
			 "after %s() returns", self->busy_thread == PyThread_get_thread_ident() ?
			 "this thread's" : "another thread's", self->busy_what, self->busy_what);
		return spy_raise(-EBUSY, msg);
	}
	close_worker(self);
	Py_RETURN_NONE;
}

static PyObject *wk_enter_ctx(spy_worker *self, PyObject *unused)
{
	if (enter(self, "with"))
		return NULL;
	return Py_NewRef(self);
}

static PyObject *wk_exit_ctx(spy_worker *self, PyObject *args)
{
	return wk_close(self, NULL);
}

/* ---- kernels ---- */

/* "path/libk.so:symbol" as a C kernel, its object kept loaded for good */
static simpler_kernel_fn c_kernel(const char *spec)
{
	const char *colon = strrchr(spec, ':');
	char path[4096], msg[4400];
	void *h, *fn;

	if (!colon || colon == spec || !colon[1] || (size_t)(colon - spec) >= sizeof(path)) {
		snprintf(msg, sizeof(msg), "register: a C kernel is \"path/to/lib.so:symbol\", not "
			 "\"%s\"", spec);
		spy_raise(-EINVAL, msg);
		return NULL;
	}
	memcpy(path, spec, (size_t)(colon - spec));
	path[colon - spec] = 0;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(msg, sizeof(msg), "register: cannot load %s: %s", path, dlerror());
		spy_raise(-ENOENT, msg);
		return NULL;
	}
	dlerror();
	fn = dlsym(h, colon + 1);
	if (!fn) {
		snprintf(msg, sizeof(msg), "register: %s has no symbol '%s'", path, colon + 1);
		spy_raise(-ENOENT, msg);
		dlclose(h);
		return NULL;
	}
	return (simpler_kernel_fn)(uintptr_t)fn;
}

/* fn (and *pickled for a Python kernel) of a register()'s kernel: 0, or -1 with an exception */
static int kernel_fn(spy_worker *self, PyObject *kernel, const char *name,
		     simpler_kernel_fn *fn, PyObject **pickled)
{
	PyObject *path;

	if (PyUnicode_Check(kernel)) {
		/* a path as os.fsencode() makes it: "lib\udcff.so" is the file lib<0xff>.so */
		path = PyUnicode_EncodeFSDefault(kernel);
		if (!path) {
			PyErr_Clear();
			spy_raisef(-EINVAL, "register: kernel %R has no file-system encoding: a C "
				   "kernel is \"path/to/lib.so:symbol\"", kernel);
			return -1;
		}
		*fn = c_kernel(PyBytes_AS_STRING(path));
		Py_DECREF(path);
		return *fn ? 0 : -1;
	}
	if (PyCallable_Check(kernel)) {
		*fn = spy_py_kernel;
		*pickled = spy_reg_pickle(self->reg, kernel, name);
		return *pickled ? 0 : -1;
	}
	PyErr_Format(PyExc_TypeError, "register: a kernel is \"lib.so:symbol\" (C) or a callable "
		     "(Python), not '%s'", Py_TYPE(kernel)->tp_name);
	return -1;
}

static PyObject *wk_register(spy_worker *self, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "name", "kernel", NULL };
	PyObject *kernel, *pickled = NULL, *idobj, *ret = NULL;
	simpler_kernel_fn fn;
	const char *name;
	char msg[200];
	Py_ssize_t len;
	int id;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "s#O:register", kwl, &name, &len, &kernel) ||
	    claim(self, "register"))
		return NULL;
	if (self->starting) {
		/* one made now would be in no chip: they are forking from what is registered */
		spy_raise(-EBUSY, "register: this worker is starting (its chips are forking): "
			  "register after that returns");
		goto out;
	}
	if (len < 1 || len > SPY_NAME_MAX || strlen(name) != (size_t)len) {
		snprintf(msg, sizeof(msg), "register: need a name of 1..%d bytes", SPY_NAME_MAX);
		spy_raise(-EINVAL, msg);
		goto out;
	}
	if (kernel_fn(self, kernel, name, &fn, &pickled))
		goto out;
	/* after pickling, which runs Python code that may have registered too */
	idobj = PyDict_GetItemString(self->names, name);
	if (idobj) {
		snprintf(msg, sizeof(msg), "register: '%s' is already callable %ld", name,
			 PyLong_AsLong(idobj));
		spy_raise(-EEXIST, msg);
		goto out;
	}
	if (self->nr_kernels == SPY_MAX_CALLABLES) {
		snprintf(msg, sizeof(msg), "register: at most %d callables", SPY_MAX_CALLABLES);
		spy_raise(-ENOSPC, msg);
		goto out;
	}
	if (self->w) {
		id = simpler_register(self->w, name, fn);
		if (id < 0) {
			spy_raise_worker(id, self->w);
			goto out;
		}
	} else {
		id = self->nr_kernels;
	}
	snprintf(self->kname[id], sizeof(self->kname[id]), "%s", name);
	self->kfn[id] = fn;
	self->nr_kernels = id + 1;
	if (pickled) {
		spy_reg_set(self->reg, id, kernel, pickled);
		self->nr_py++;
	}
	idobj = PyLong_FromLong(id);
	if (idobj && PyDict_SetItemString(self->names, name, idobj))
		Py_CLEAR(idobj);
	ret = idobj;
out:
	Py_XDECREF(pickled);
	leave(self);
	return ret;
}

static PyObject *wk_callable(spy_worker *self, PyObject *name)
{
	PyObject *id;

	if (initialized(self, "callable"))
		return NULL;
	id = PyUnicode_Check(name) ? PyDict_GetItem(self->names, name) : NULL;
	if (id)
		return Py_NewRef(id);
	return spy_raisef(-ENOENT, "callable: no kernel named %R", name);
}

/* ---- runs ---- */

struct run_ctx {
	spy_worker *w;
	PyObject *const *args;		/* the orchestration function, then its arguments */
	Py_ssize_t nargs;
	PyObject *result;
	PyObject *et, *ev, *etb;	/* what it raised */
	PyThreadState *ts;		/* the GIL let go after it returned */
};

/* errno of a simpler.Error being raised, else ECANCELED */
static int raised_errno(PyObject *v)
{
	PyObject *e = v ? PyObject_GetAttrString(v, "errno") : NULL;
	long n = e && PyLong_Check(e) ? PyLong_AsLong(e) : 0;

	Py_XDECREF(e);
	PyErr_Clear();
	return n > 0 && n < 4096 ? (int)-n : -ECANCELED;
}

static int orch_tramp(struct simpler_orch *o, void *arg)
{
	struct run_ctx *c = arg;
	PyObject *stack[16], **v = stack, *orch;
	Py_ssize_t i;
	int ret = 0;

	spy_fork_armed = 0;	/* the Python code below may fork on its own */
	orch = (PyObject *)spy_orch_new(c->w, o);
	if (orch && c->nargs > (Py_ssize_t)(sizeof(stack) / sizeof(stack[0])))
		v = PyMem_Malloc(sizeof(*v) * (size_t)c->nargs);
	if (orch && v) {
		v[0] = orch;
		for (i = 1; i < c->nargs; i++)
			v[i] = c->args[i];
		c->result = PyObject_Vectorcall(c->args[0], v, (size_t)c->nargs, NULL);
	} else if (!v) {
		PyErr_NoMemory();
	}
	if (v != stack)
		PyMem_Free(v);
	if (orch)
		((spy_orch *)orch)->o = NULL;	/* only valid inside the function */
	Py_XDECREF(orch);
	if (!c->result) {
		PyErr_Fetch(&c->et, &c->ev, &c->etb);
		PyErr_NormalizeException(&c->et, &c->ev, &c->etb);
		ret = raised_errno(c->ev);
	}
	/* the tasks' completion is waited for without the GIL */
	c->ts = PyEval_SaveThread();
	return ret;
}

static PyObject *wk_run(spy_worker *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct run_ctx c = { .w = self, .args = args, .nargs = nargs };
	PyObject *r;
	int ret;

	if (nargs < 1 || !PyCallable_Check(args[0]))
		return PyErr_Format(PyExc_TypeError, "run(orch_fn, *args): orch_fn(orchestrator, "
				    "*args) must be callable");
	if (ready(self, "run"))
		return NULL;
	if (self->in_run) {
		leave(self);
		return spy_raise(-EBUSY, "run: a run is already in progress on this worker (run() "
				 "inside an orchestration function)");
	}
	self->in_run = true;
	/* a chip that died is forked again as the run starts: with the GIL held */
	spy_fork_armed = 1;
	ret = simpler_run(self->w, orch_tramp, &c);
	spy_fork_armed = 0;
	if (c.ts)
		PyEval_RestoreThread(c.ts);
	self->in_run = false;
	spy_pins_clear(&self->pins);
	r = c.et || ret < 0 ? NULL : c.result ? c.result : Py_NewRef(Py_None);
	if (c.et)
		PyErr_Restore(c.et, c.ev, c.etb);
	else if (ret < 0)
		spy_raise_worker(ret, self->w);
	leave(self);
	if (!r)
		Py_XDECREF(c.result);
	return r;
}

/* ---- chip memory ---- */

/* the result of a libsimpler call made without the GIL, the worker left */
static PyObject *done(spy_worker *self, int ret)
{
	PyObject *r = ret < 0 ? spy_raise_worker(ret, self->w) : Py_NewRef(Py_None);

	leave(self);
	return r;
}

static PyObject *wk_malloc(spy_worker *self, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "nbytes", "chip", NULL };
	PyObject *r;
	Py_ssize_t n;
	uint64_t addr = 0;
	int chip = 0, ret;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "n|$i:malloc", kwl, &n, &chip) ||
	    ready(self, "malloc"))
		return NULL;
	if (n < 0) {
		leave(self);
		return spy_raise(-EINVAL, "malloc: a negative size");
	}
	Py_BEGIN_ALLOW_THREADS
	ret = simpler_malloc(self->w, chip, (size_t)n, &addr);
	Py_END_ALLOW_THREADS
	r = ret < 0 ? spy_raise_worker(ret, self->w) : PyLong_FromUnsignedLongLong(addr);
	leave(self);
	return r;
}

static PyObject *wk_free(spy_worker *self, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "addr", "chip", NULL };
	unsigned long long addr;
	int chip = 0, ret;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "K|$i:free", kwl, &addr, &chip) ||
	    ready(self, "free"))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	ret = simpler_free(self->w, chip, addr);
	Py_END_ALLOW_THREADS
	return done(self, ret);
}

/* a contiguous host buffer of a copy, held in *p; its length (of nbytes if given) or -1 */
static Py_ssize_t copy_buffer(PyObject *obj, bool write, PyObject *nbytes, const char *what,
			      struct spy_pin *p)
{
	Py_ssize_t n;

	if (spy_tensor_hold(obj, write, what, p))
		return -1;
	if (p->d.view || p->d.v.t.child_memory) {
		spy_pin_release(p);
		PyErr_Format(PyExc_ValueError, "%s: the host side of a copy is one contiguous "
			     "block of host memory", what);
		return -1;
	}
	n = (Py_ssize_t)p->d.span;
	if (nbytes && nbytes != Py_None) {
		Py_ssize_t want = PyLong_AsSsize_t(nbytes);

		if (want < 0 || want > n) {
			spy_pin_release(p);
			if (!PyErr_Occurred())
				PyErr_Format(PyExc_ValueError, "%s: nbytes=%zd, but the buffer has "
					     "%zd bytes", what, want, n);
			return -1;
		}
		n = want;
	}
	return n;
}

/* copy_to(addr, src) and copy_from(dst, addr): one contiguous host buffer each way */
static PyObject *copy_call(spy_worker *self, PyObject *args, PyObject *kw, bool to)
{
	static char *kw_to[] = { "addr", "src", "chip", "nbytes", NULL };
	static char *kw_from[] = { "dst", "addr", "chip", "nbytes", NULL };
	PyObject *buf, *nbytes = NULL;
	unsigned long long addr;
	struct spy_pin p;
	Py_ssize_t n;
	int chip = 0, ret;

	if (!(to ? PyArg_ParseTupleAndKeywords(args, kw, "KO|$iO:copy_to", kw_to, &addr, &buf,
					       &chip, &nbytes) :
		   PyArg_ParseTupleAndKeywords(args, kw, "OK|$iO:copy_from", kw_from, &buf, &addr,
					       &chip, &nbytes)) ||
	    ready(self, to ? "copy_to" : "copy_from"))
		return NULL;
	n = copy_buffer(buf, !to, nbytes, to ? "copy_to: src" : "copy_from: dst", &p);
	if (n < 0) {
		leave(self);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	ret = to ? simpler_copy_to(self->w, chip, addr, (const void *)(uintptr_t)p.d.v.t.addr,
				   (size_t)n) :
		   simpler_copy_from(self->w, chip, (void *)(uintptr_t)p.d.v.t.addr, addr,
				     (size_t)n);
	Py_END_ALLOW_THREADS
	spy_pin_release(&p);
	return done(self, ret);
}

static PyObject *wk_copy_to(spy_worker *self, PyObject *args, PyObject *kw)
{
	return copy_call(self, args, kw, true);
}

static PyObject *wk_copy_from(spy_worker *self, PyObject *args, PyObject *kw)
{
	return copy_call(self, args, kw, false);
}

/* ---- host memory ---- */

static PyObject *wk_register_host(spy_worker *self, PyObject *obj)
{
	struct spy_pin p;
	PyObject *r = NULL;
	uint64_t h = 0;
	int ret;

	if (ready(self, "register_host"))
		return NULL;
	if (spy_tensor_hold(obj, false, "register_host", &p))
		goto out;
	if (self->nr_host == self->cap_host) {
		size_t cap = self->cap_host ? self->cap_host * 2 : 16;
		struct spy_pin *v = PyMem_RawRealloc(self->host, cap * sizeof(*v));
		uint64_t *hh = v ? PyMem_RawRealloc(self->hhandle, cap * sizeof(*hh)) : NULL;

		if (v)
			self->host = v;
		if (!hh) {
			spy_pin_release(&p);
			PyErr_NoMemory();
			goto out;
		}
		self->hhandle = hh;
		self->cap_host = cap;
	}
	Py_BEGIN_ALLOW_THREADS
	ret = simpler_host_register(self->w, (void *)(uintptr_t)p.d.v.t.addr, p.d.span, 0, &h);
	Py_END_ALLOW_THREADS
	if (ret < 0) {
		spy_raise_worker(ret, self->w);
		spy_pin_release(&p);
		goto out;
	}
	/* kept (referenced, exported) while registered */
	self->host[self->nr_host] = p;
	self->hhandle[self->nr_host++] = h;
	r = PyLong_FromUnsignedLongLong(h);
out:
	leave(self);
	return r;
}

static PyObject *wk_unregister_host(spy_worker *self, PyObject *arg)
{
	unsigned long long h = PyLong_AsUnsignedLongLong(arg);
	struct spy_pin p = { 0 };
	size_t i;
	int ret;

	if (PyErr_Occurred())
		return NULL;
	if (ready(self, "unregister_host"))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	ret = simpler_host_unregister(self->w, h);
	Py_END_ALLOW_THREADS
	for (i = 0; ret >= 0 && i < self->nr_host; i++) {
		if (self->hhandle[i] != h)
			continue;
		p = self->host[i];
		self->host[i] = self->host[--self->nr_host];
		self->hhandle[i] = self->hhandle[self->nr_host];
		break;
	}
	spy_pin_release(&p);	/* the array's own code may run: after the table is right */
	return done(self, ret);
}

static PyObject *wk_check_host(spy_worker *self, PyObject *obj)
{
	struct spy_pin p;
	int ret;

	if (ready(self, "check_host"))
		return NULL;
	if (spy_tensor_hold(obj, false, "check_host", &p)) {
		leave(self);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	ret = simpler_host_check(self->w, (const void *)(uintptr_t)p.d.v.t.addr, p.d.span);
	Py_END_ALLOW_THREADS
	spy_pin_release(&p);
	return done(self, ret);
}

/* ---- the same graph from C, for simpler.bench ---- */

struct c_graph {
	int cid;
	bool sub;
	uint64_t base, region;		/* region r is [base + r * region, + region) */
	const int32_t *task;		/* per task: n, then n (region, access) pairs */
	size_t ntasks, nwords;
	double submit_s;
	PyThreadState *ts;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* what a C program submitting the graph does: one reused args, one submit per task */
static int c_graph_orch(struct simpler_orch *o, void *arg)
{
	struct c_graph *g = arg;
	SIMPLER_OPTS(simpler_submit_opts, opts, .worker = -1,
		     .flags = g->sub ? SIMPLER_SUBMIT_SUB : 0);
	struct simpler_args *a = simpler_args_new();
	struct simpler_tensor t;
	const int32_t *p = g->task, *end = g->task + g->nwords;
	double t0 = now_s();
	int ret = 0, k;

	/* as orch_tramp(): the run started holding the GIL, the tasks go without it */
	spy_fork_armed = 0;
	g->ts = PyEval_SaveThread();
	if (!a)
		return -ENOMEM;
	while (p < end && ret >= 0) {
		simpler_args_reset(a);
		for (k = 0; k < p[0]; k++) {
			t = simpler_tensor_1d((void *)(uintptr_t)(g->base + (uint64_t)p[1 + 2 * k] *
								  g->region),
					      (uint32_t)g->region, SIMPLER_U8);
			simpler_args_add_tensor(a, &t, (enum simpler_access)p[2 + 2 * k]);
		}
		p += 1 + 2 * p[0];
		ret = simpler_submit(o, g->cid, a, &opts);
	}
	g->submit_s = now_s() - t0;
	simpler_args_free(a);
	return ret < 0 ? ret : 0;
}

static PyObject *wk_bench_c(spy_worker *self, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "kernel", "base", "region", "tasks", "sub", NULL };
	struct c_graph g = { 0 };
	unsigned long long base, region;
	PyObject *tasks, *r = NULL;
	Py_buffer b;
	double t0, total;
	int sub = 0, ret;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "iKKO|p:_bench_c", kwl, &g.cid, &base, &region,
					 &tasks, &sub) || ready(self, "_bench_c"))
		return NULL;
	if (PyObject_GetBuffer(tasks, &b, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT))
		goto out;
	if (b.itemsize != 4) {
		PyErr_Format(PyExc_TypeError, "_bench_c: tasks is an int32 array");
		goto out_buf;
	}
	g.sub = sub;
	g.base = base;
	g.region = region;
	g.task = b.buf;
	g.nwords = (size_t)(b.len / 4);
	if (self->in_run) {
		spy_raise(-EBUSY, "_bench_c: a run is in progress");
		goto out_buf;
	}
	self->in_run = true;
	t0 = now_s();
	spy_fork_armed = 1;
	ret = simpler_run(self->w, c_graph_orch, &g);
	spy_fork_armed = 0;
	total = now_s() - t0;
	if (g.ts)
		PyEval_RestoreThread(g.ts);
	self->in_run = false;
	r = ret < 0 ? spy_raise_worker(ret, self->w) : Py_BuildValue("dd", g.submit_s, total);
out_buf:
	PyBuffer_Release(&b);
out:
	leave(self);
	return r;
}

/* ---- state ---- */

static PyObject *wk_stats(spy_worker *self, PyObject *unused)
{
	struct simpler_stats s = { .sz = sizeof(s) };
	int ret;

	if (ready(self, "stats"))
		return NULL;
	ret = simpler_worker_stats(self->w, &s);
	leave(self);
	if (ret < 0)
		return spy_raise_worker(ret, self->w);
	return Py_BuildValue("{sKsKsKsKsKsKsKsKsKsKsK}",
			     "tasks_submitted", (unsigned long long)s.tasks_submitted,
			     "tasks_completed", (unsigned long long)s.tasks_completed,
			     "tasks_failed", (unsigned long long)s.tasks_failed,
			     "edges", (unsigned long long)s.edges,
			     "tensormap_fast", (unsigned long long)s.tensormap_fast,
			     "tensormap_slow", (unsigned long long)s.tensormap_slow,
			     "submit_waits", (unsigned long long)s.submit_waits,
			     "bytes_staged", (unsigned long long)s.bytes_staged,
			     "host_bytes_copied", (unsigned long long)s.host_bytes_copied,
			     "chip_restarts", (unsigned long long)s.chip_restarts,
			     "slots_used", (unsigned long long)s.slots_used);
}

static PyObject *pid_of(spy_worker *self, PyObject *arg, bool chip)
{
	long i = PyLong_AsLong(arg);
	int ret;

	if (i == -1 && PyErr_Occurred())
		return NULL;
	if (ready(self, chip ? "chip_pid" : "sub_pid"))
		return NULL;
	ret = chip ? simpler_chip_pid(self->w, (int)i) : simpler_sub_pid(self->w, (int)i);
	leave(self);
	if (ret < 0)
		return spy_raise_worker(ret, self->w);
	return PyLong_FromLong(ret);
}

static PyObject *wk_chip_pid(spy_worker *self, PyObject *arg)
{
	return pid_of(self, arg, true);
}

static PyObject *wk_sub_pid(spy_worker *self, PyObject *arg)
{
	return pid_of(self, arg, false);
}

static PyObject *wk_errmsg(spy_worker *self, void *c)
{
	/* another thread's call may be writing it */
	if (initialized(self, "errmsg") || not_others(self, "errmsg"))
		return NULL;
	return PyUnicode_FromString(self->w ? simpler_worker_errmsg(self->w) : "");
}

static PyObject *wk_hostmem(spy_worker *self, void *c)
{
	PyObject *r;

	if (ready(self, "hostmem"))
		return NULL;
	r = PyUnicode_FromString(simpler_worker_hostmem(self->w));
	leave(self);
	return r;
}

static const char *const wk_attr[] = { "chips", "subs", "threads", "started", "closed" };

static PyObject *wk_get(spy_worker *self, void *c)
{
	if (initialized(self, wk_attr[(intptr_t)c]))
		return NULL;
	switch ((int)(intptr_t)c) {
	case 0: return PyLong_FromLong(self->opts.nr_chips ? self->opts.nr_chips : 1);
	case 1: return PyLong_FromLong(self->opts.nr_subs);
	case 2: return PyBool_FromLong(threads_mode(self));
	case 3: return PyBool_FromLong(self->w != NULL);
	default: return PyBool_FromLong(self->closed);
	}
}

static PyObject *wk_kernels(spy_worker *self, void *c)
{
	if (initialized(self, "kernels"))
		return NULL;
	return PyDict_Copy(self->names);
}

static PyObject *wk_repr(spy_worker *self)
{
	if (!self->inited)
		return PyUnicode_FromString("<simpler.Worker: __init__ not called>");
	return PyUnicode_FromFormat("<simpler.Worker: %d chips, %d subs, %s, %s>",
				    self->opts.nr_chips ? self->opts.nr_chips : 1,
				    self->opts.nr_subs, threads_mode(self) ? "threads" : "processes",
				    self->closed ? "closed" : self->w ? "started" : "not started");
}

static PyMethodDef wk_methods[] = {
	{ "start", (PyCFunction)wk_start, METH_NOARGS,
	  "start()\n\nStart the chips and subs now (fork them, in process mode).  Otherwise the\n"
	  "first call that needs them does.  Python kernels registered before reach them in\n"
	  "the fork; later ones travel pickled.  Host memory allocated after it must be\n"
	  "registered (register_host()) unless it is shared memory they inherited." },
	{ "close", (PyCFunction)wk_close, METH_NOARGS,
	  "close()\n\nStop the chips and subs and free everything; the worker is unusable after.\n"
	  "Also on leaving a with block, on garbage collection and at interpreter exit." },
	{ "__enter__", (PyCFunction)wk_enter_ctx, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)wk_exit_ctx, METH_VARARGS, NULL },
	{ "register", (PyCFunction)(void (*)(void))wk_register, METH_VARARGS | METH_KEYWORDS,
	  "register(name, kernel) -> int\n\nRegister a kernel under name (1..63 bytes) and return its "
	  "id.  kernel is a C\nfunction in a shared object, \"path/to/lib.so:symbol\" (int "
	  "fn(const struct\nsimpler_kernel_args *)), loaded here and by each chip process, or a "
	  "Python\ncallable fn(args: KernelArgs) run in the chip or sub process (a fork of this\n"
	  "interpreter) or, with threads=True, on a library thread.  It returns None or\n"
	  "an int >= 0 on success, a negative errno (-1..-4095) to fail; an exception\n"
	  "fails the task with KernelError and its type and message, and so does any\n"
	  "other result (TypeError, ValueError).  A Python kernel registered after the\n"
	  "chips started reaches them pickled (a module-level function is fine, a lambda\n"
	  "is not)." },
	{ "callable", (PyCFunction)wk_callable, METH_O,
	  "callable(name) -> int\n\nThe id of the kernel registered as name (NotFound if none)." },
	{ "run", (PyCFunction)(void (*)(void))wk_run, METH_FASTCALL,
	  "run(orch_fn, *args)\n\nCall orch_fn(orchestrator, *args), which submits tasks, then wait for "
	  "every\ntask.  Returns what orch_fn returned.  If orch_fn raises, the tasks it\n"
	  "submitted still finish and run() raises that exception; else the first task\n"
	  "that failed raises (simpler.Error, by errno: KernelError for a Python kernel\n"
	  "that raised, ChipDied for a chip process that died...).  The worker stays\n"
	  "usable.  Objects passed as tensors are kept alive until the run ends.\n\n"
	  "KeyboardInterrupt (Ctrl-C) while run() waits for the tasks is delivered when\n"
	  "they have ended: a kernel that hangs cannot be interrupted from Python (kill\n"
	  "its chip process, or the program).  A Python kernel's tensors are numpy arrays\n"
	  "over the task's memory during its call only: an array it keeps past the call\n"
	  "points at memory it no longer owns (reused by later tasks, or unmapped), so\n"
	  "reading it gives other data and writing it corrupts them; copy what must last." },
	{ "malloc", (PyCFunction)(void (*)(void))wk_malloc, METH_VARARGS | METH_KEYWORDS,
	  "malloc(nbytes, *, chip=0) -> int\n\nAllocate chip memory; its chip address (pass it as "
	  "ChipTensor(addr, shape,\ndtype) to tasks on that chip)." },
	{ "free", (PyCFunction)(void (*)(void))wk_free, METH_VARARGS | METH_KEYWORDS,
	  "free(addr, *, chip=0)\n\nFree chip memory from malloc()." },
	{ "copy_to", (PyCFunction)(void (*)(void))wk_copy_to, METH_VARARGS | METH_KEYWORDS,
	  "copy_to(addr, src, *, chip=0, nbytes=None)\n\nCopy a contiguous host buffer (all of it, or "
	  "nbytes) to chip memory at addr." },
	{ "copy_from", (PyCFunction)(void (*)(void))wk_copy_from, METH_VARARGS | METH_KEYWORDS,
	  "copy_from(dst, addr, *, chip=0, nbytes=None)\n\nCopy chip memory at addr into a contiguous "
	  "writable host buffer." },
	{ "register_host", (PyCFunction)wk_register_host, METH_O,
	  "register_host(array) -> int\n\nMake an array's memory (buffer protocol or __dlpack__; a view: "
	  "its span)\nusable by chip and sub tasks, whenever it was allocated; returns a handle.\n"
	  "The array is kept alive until unregister_host(handle)." },
	{ "unregister_host", (PyCFunction)wk_unregister_host, METH_O,
	  "unregister_host(handle)\n\nForget a registered buffer (Busy while a run uses it)." },
	{ "check_host", (PyCFunction)wk_check_host, METH_O,
	  "check_host(array)\n\nNone if every chip and sub process can see the array's memory, else\n"
	  "AddressError saying why." },
	{ "stats", (PyCFunction)wk_stats, METH_NOARGS,
	  "stats() -> dict\n\nThe worker's counters (simpler_worker_stats())." },
	{ "_bench_c", (PyCFunction)(void (*)(void))wk_bench_c, METH_VARARGS | METH_KEYWORDS,
	  "_bench_c(kernel, base, region, tasks, sub=False) -> (submit_s, total_s)\n\n"
	  "simpler.bench's C side: one run submitting, from C, the graph tasks describes\n"
	  "(int32: per task n, then n (region, access) pairs; region r at base + r * region)." },
	{ "chip_pid", (PyCFunction)wk_chip_pid, METH_O,
	  "chip_pid(chip) -> int\n\nThe pid of a chip's process (process mode)." },
	{ "sub_pid", (PyCFunction)wk_sub_pid, METH_O,
	  "sub_pid(sub) -> int\n\nThe pid of a sub worker's process (process mode)." },
	{ NULL }
};

static PyGetSetDef wk_getset[] = {
	{ "errmsg", (getter)wk_errmsg, NULL, "The message of the last failure (\"\" if none).", NULL },
	{ "hostmem", (getter)wk_hostmem, NULL,
	  "The host-memory backend: \"kmod\", \"shm\" or \"threads\" (starts the chips).", NULL },
	{ "chips", (getter)wk_get, NULL, "How many chips.", (void *)0 },
	{ "subs", (getter)wk_get, NULL, "How many sub workers.", (void *)1 },
	{ "threads", (getter)wk_get, NULL, "Chips and subs are threads of this process.", (void *)2 },
	{ "started", (getter)wk_get, NULL, "The chips and subs are running.", (void *)3 },
	{ "closed", (getter)wk_get, NULL, "close() was called.", (void *)4 },
	{ "kernels", (getter)wk_kernels, NULL, "The registered kernels: {name: id}.", NULL },
	{ NULL }
};

PyTypeObject spy_WorkerType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "simpler.Worker",
	.tp_basicsize = sizeof(spy_worker),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "Worker(chips=1, subs=0, *, threads=False, hostmem='auto', platform=None,\n"
		  "       ring_size=0, arena_size=0, chip_mem_size=0, cores_per_chip=0, spin_us=0,\n"
		  "       start_timeout_ms=0, shm_mirror_size=0, staging=False, bind=True)\n\n"
		  "A node: chips (processes forked from this interpreter, or threads with\n"
		  "threads=True) and host sub workers.  Register kernels, then run()\n"
		  "orchestration functions.  The chips start at the first call that needs them, or\n"
		  "at start().  A context manager: leaving the with block closes it.  Options\n"
		  "left 0 take libsimpler's defaults (simpler_worker_create(3)).",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)wk_init,
	.tp_dealloc = (destructor)wk_dealloc,
	.tp_traverse = (traverseproc)wk_traverse,
	.tp_clear = (inquiry)wk_clear,
	.tp_repr = (reprfunc)wk_repr,
	.tp_methods = wk_methods,
	.tp_getset = wk_getset,
	.tp_weaklistoffset = offsetof(spy_worker, weakrefs),
};
