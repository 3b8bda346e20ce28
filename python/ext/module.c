// SPDX-License-Identifier: MIT
/*
 * The module: its types and exceptions, the errno -> exception mapping, the
 * fork hooks that make libsimpler's forks forks of the interpreter, and
 * closing the workers still open when the interpreter exits.
 */
#include "spy.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

__thread int spy_fork_armed;

static PyObject *spy_Error;

/* errno -> class; the rest raise simpler.Error itself */
static struct {
	int err;
	const char *name;
	PyObject **extra;	/* a builtin base beside simpler.Error, or NULL */
	const char *doc;
} errclass[] = {
	{ EINVAL, "InvalidArgument", &PyExc_ValueError,
	  "EINVAL: an argument libsimpler refused (the message says which and why)." },
	{ ENOMEM, "OutOfMemory", &PyExc_MemoryError,
	  "ENOMEM: no memory left (host, runtime-owned or chip memory)." },
	{ EBUSY, "Busy", NULL,
	  "EBUSY: a run is in progress (on another thread, or a buffer it uses)." },
	{ ENOENT, "NotFound", &PyExc_LookupError,
	  "ENOENT: no such kernel, handle, platform or shared object." },
	{ EEXIST, "Exists", NULL,
	  "EEXIST: the name or memory is already registered." },
	{ EFAULT, "AddressError", NULL,
	  "EFAULT: memory the chip processes cannot see (allocated after they started and\n"
	  "not registered: Worker.register_host()), or a chip range outside its allocation." },
	{ ECHILD, "ChipDied", NULL,
	  "ECHILD: a chip or sub process died (it restarts at the next run)." },
	{ EREMOTEIO, "KernelError", NULL,
	  "EREMOTEIO: a Python kernel raised; the message has its type, text and place." },
	{ ETIMEDOUT, "TimedOut", &PyExc_TimeoutError,
	  "ETIMEDOUT: a chip process did not start in time." },
};

static PyObject *errcls[sizeof(errclass) / sizeof(errclass[0])];

/* raise the class for -err with message m (a str, stolen; NULL: an error is set) */
static PyObject *raise_str(int err, PyObject *m)
{
	PyObject *cls = spy_Error, *e;
	size_t i;

	if (!m)
		return NULL;
	for (i = 0; i < sizeof(errclass) / sizeof(errclass[0]); i++)
		if (errclass[i].err == err)
			cls = errcls[i];
	e = PyObject_CallFunction(cls, "iO", err, m);
	Py_DECREF(m);
	if (e) {
		PyErr_SetObject(cls, e);
		Py_DECREF(e);
	}
	return NULL;
}

PyObject *spy_raise(int err, const char *msg)
{
	if (err < 0)
		err = -err;
	if (!msg || !msg[0])
		msg = strerror(err);
	/* a path in it may not be UTF-8: its other bytes as \xff */
	return raise_str(err, PyUnicode_DecodeUTF8(msg, (Py_ssize_t)strlen(msg),
						   "backslashreplace"));
}

PyObject *spy_raisef(int err, const char *fmt, ...)
{
	va_list ap;
	PyObject *m;

	va_start(ap, fmt);
	m = PyUnicode_FromFormatV(fmt, ap);
	va_end(ap);
	return raise_str(err < 0 ? -err : err, m);
}

const char *spy_utf8(PyObject *s)
{
	const char *u;

	if (!s || !PyUnicode_Check(s))
		return "?";
	u = PyUnicode_AsUTF8(s);
	if (!u)
		PyErr_Clear();	/* the UnicodeEncodeError */
	return u ? u : "?";
}

PyObject *spy_raise_worker(int err, struct simpler_worker *w)
{
	return spy_raise(err, simpler_worker_errmsg(w));
}

PyObject *spy_numpy(void)
{
	return PyImport_ImportModule("numpy");
}

/* ---- forks of the interpreter ---- */

static void flush_stdio(void)
{
	static const char *const names[] = { "stdout", "stderr" };
	PyObject *f, *r;
	size_t i;

	for (i = 0; i < 2; i++) {
		f = PySys_GetObject(names[i]);	/* borrowed */
		if (!f || f == Py_None)
			continue;
		r = PyObject_CallMethod(f, "flush", NULL);
		Py_XDECREF(r);
		PyErr_Clear();
	}
}

/* nothing the parent had buffered is written twice: flushed before the fork */
static void fork_prepare(void)
{
	if (!spy_fork_armed)
		return;
	flush_stdio();
	PyOS_BeforeFork();
}

static void fork_parent(void)
{
	if (spy_fork_armed)
		PyOS_AfterFork_Parent();
}

/*
 * A chip or sub process: the interpreter is this thread's alone now
 * (PyOS_AfterFork_Child() forgets the parent's other threads and runs
 * os.register_at_fork() hooks), then it lets the GIL go for good: this
 * thread never returns to Python code, and Python kernels run on whichever
 * thread of the process calls them.  A kernel's print() shows up at once,
 * like a C kernel's printf (libsimpler makes stdout line-buffered too).
 */
static void fork_child(void)
{
	PyObject *f, *m, *kw, *none, *r;

	if (!spy_fork_armed)
		return;
	spy_fork_armed = 0;
	PyOS_AfterFork_Child();
	f = PySys_GetObject("stdout");	/* borrowed */
	m = f && f != Py_None ? PyObject_GetAttrString(f, "reconfigure") : NULL;
	kw = m ? Py_BuildValue("{s:O}", "line_buffering", Py_True) : NULL;
	none = kw ? PyTuple_New(0) : NULL;
	r = none ? PyObject_Call(m, none, kw) : NULL;
	Py_XDECREF(r);
	Py_XDECREF(none);
	Py_XDECREF(kw);
	Py_XDECREF(m);
	PyErr_Clear();
	PyEval_SaveThread();
}

/* ---- the module ---- */

static PyObject *mod_version(PyObject *self, PyObject *unused)
{
	return PyUnicode_FromString(simpler_version_string());
}

static PyObject *mod_close_all(PyObject *self, PyObject *unused)
{
	spy_worker_close_all();
	Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
	{ "library_version", mod_version, METH_NOARGS,
	  "library_version() -> str\n\nThe version of the libsimpler loaded (\"0.1.0\")." },
	{ "_close_all", mod_close_all, METH_NOARGS,
	  "Close every worker still open (registered with atexit)." },
	{ NULL }
};

static struct PyModuleDef mod_def = {
	PyModuleDef_HEAD_INIT,
	.m_name = "simpler._simpler",
	.m_doc = "The C side of the simpler module (see help(simpler)).",
	.m_size = -1,
	.m_methods = mod_methods,
};

static int add_type(PyObject *m, PyTypeObject *t, const char *name)
{
	if (PyType_Ready(t) < 0)
		return -1;
	Py_INCREF(t);
	if (PyModule_AddObject(m, name, (PyObject *)t) < 0) {
		Py_DECREF(t);
		return -1;
	}
	return 0;
}

static int add_errors(PyObject *m)
{
	PyObject *bases, *extra;
	char qual[64];
	size_t i;

	spy_Error = PyErr_NewExceptionWithDoc("simpler.Error",
		"A libsimpler call failed.  errno is the error number libsimpler returned\n"
		"(negated), strerror and str() carry its message, which says what went wrong\n"
		"and what to do.  Subclasses by errno: InvalidArgument, OutOfMemory, Busy,\n"
		"NotFound, Exists, AddressError, ChipDied, KernelError, TimedOut.",
		PyExc_OSError, NULL);
	if (!spy_Error || PyModule_AddObjectRef(m, "Error", spy_Error) < 0)
		return -1;
	for (i = 0; i < sizeof(errclass) / sizeof(errclass[0]); i++) {
		extra = errclass[i].extra ? *errclass[i].extra : NULL;
		bases = extra ? PyTuple_Pack(2, spy_Error, extra) : PyTuple_Pack(1, spy_Error);
		if (!bases)
			return -1;
		snprintf(qual, sizeof(qual), "simpler.%s", errclass[i].name);
		errcls[i] = PyErr_NewExceptionWithDoc(qual, errclass[i].doc, bases, NULL);
		Py_DECREF(bases);
		if (!errcls[i] || PyModule_AddObjectRef(m, errclass[i].name, errcls[i]) < 0)
			return -1;
	}
	return 0;
}

PyMODINIT_FUNC PyInit__simpler(void);

PyMODINIT_FUNC PyInit__simpler(void)
{
	static int hooked;
	PyObject *m;

	if (spy_tensors_init() || spy_kernels_init() || spy_orch_init())
		return PyErr_Occurred() ? NULL : PyErr_NoMemory();
	m = PyModule_Create(&mod_def);
	if (!m)
		return NULL;
	if (add_errors(m) || add_type(m, &spy_WorkerType, "Worker") ||
	    add_type(m, &spy_OrchType, "Orchestrator") || add_type(m, &spy_ScopeType, "_Scope") ||
	    add_type(m, &spy_KernelArgsType, "KernelArgs") ||
	    add_type(m, &spy_ChipTensorType, "ChipTensor"))
		goto fail;
	if (PyModule_AddStringConstant(m, "__version__", SIMPLER_VERSION_STRING) ||
	    PyModule_AddIntConstant(m, "IN", SIMPLER_IN) ||
	    PyModule_AddIntConstant(m, "OUT", SIMPLER_OUT) ||
	    PyModule_AddIntConstant(m, "INOUT", SIMPLER_INOUT) ||
	    PyModule_AddIntConstant(m, "OUT_EXISTING", SIMPLER_OUT_EXISTING) ||
	    PyModule_AddIntConstant(m, "NO_DEP", SIMPLER_NO_DEP))
		goto fail;
	/*
	 * Kernels in shared objects call libsimpler (simpler_kernel_errmsg()...)
	 * and, built for C programs, expect it in the global scope, where a
	 * program linked with -lsimpler has it; an extension's libraries are
	 * local: make libsimpler global.
	 */
	if (!dlopen("libsimpler.so.0", RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL)) {
		PyErr_Format(PyExc_ImportError, "libsimpler.so.0 is not global: %s", dlerror());
		goto fail;
	}
	/* once per process: the hooks stay (a re-import must not add a second set) */
	if (!hooked) {
		if (pthread_atfork(fork_prepare, fork_parent, fork_child)) {
			PyErr_SetString(PyExc_RuntimeError, "pthread_atfork failed");
			goto fail;
		}
		hooked = 1;
	}
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
