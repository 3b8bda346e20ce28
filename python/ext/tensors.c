// SPDX-License-Identifier: MIT
/*
 * Python objects as tensor arguments, without copies: anything with the
 * buffer protocol (numpy arrays, memoryviews, bytearrays, mmaps) or
 * __dlpack__ (torch CPU tensors).  A row-major block is a tensor, anything
 * else with positive strides a strided view; the dtype comes from the
 * object.  The objects a run names stay alive (referenced, their buffers
 * exported) until the run ends: a hash set by identity, which also caches
 * each object's description, so naming the same array again costs a
 * lookup.  Past SPY_PIN_CACHE objects, a new view is not kept itself but
 * through the array that owns its memory (numpy's .base, torch's ._base
 * chain), so a run over millions of fresh slices of one array keeps one
 * object alive, not millions.  And the other way: arrays over raw memory
 * (a kernel's tensors, simpler_orch_alloc()) as numpy arrays.
 */
#include "spy.h"

#include <errno.h>
#include <string.h>

#define SPY_PIN_CACHE 4096

/* ---- dtypes ---- */

static const struct {
	const char *name, *alias;
	char fmt;		/* the buffer-protocol code of what a kernel sees */
	uint8_t size;
} dtypes[SIMPLER_DTYPE_COUNT] = {
	[SIMPLER_F32] = { "float32", "f32", 'f', 4 },
	[SIMPLER_F16] = { "float16", "f16", 'e', 2 },
	[SIMPLER_BF16] = { "bfloat16", "bf16", 'H', 2 },	/* numpy has none: uint16 bits */
	[SIMPLER_F64] = { "float64", "f64", 'd', 8 },
	[SIMPLER_I8] = { "int8", "i8", 'b', 1 },
	[SIMPLER_I16] = { "int16", "i16", 'h', 2 },
	[SIMPLER_I32] = { "int32", "i32", 'i', 4 },
	[SIMPLER_I64] = { "int64", "i64", 'q', 8 },
	[SIMPLER_U8] = { "uint8", "u8", 'B', 1 },
	[SIMPLER_U16] = { "uint16", "u16", 'H', 2 },
	[SIMPLER_U32] = { "uint32", "u32", 'I', 4 },
	[SIMPLER_U64] = { "uint64", "u64", 'Q', 8 },
	[SIMPLER_BOOL] = { "bool", "b8", '?', 1 },
};

const char *spy_dtype_name(uint8_t dtype)
{
	return dtype < SIMPLER_DTYPE_COUNT ? dtypes[dtype].name : "?";
}

/* a buffer's element format as a dtype, or -1 */
static int fmt_dtype(const char *f, Py_ssize_t itemsize)
{
	int dt;

	if (!f)
		f = "B";
	if (*f == '@' || *f == '=' || *f == '<')
		f++;
	else if (*f == '>' || *f == '!')
		f = itemsize == 1 ? f + 1 : "";		/* big-endian: not this machine's order */
	if (!f[0] || f[1])
		return -1;
	switch (*f) {
	case 'f': dt = SIMPLER_F32; break;
	case 'd': dt = SIMPLER_F64; break;
	case 'e': dt = SIMPLER_F16; break;
	case 'b': dt = SIMPLER_I8; break;
	case 'B': case 'c': dt = SIMPLER_U8; break;
	case 'h': dt = SIMPLER_I16; break;
	case 'H': dt = SIMPLER_U16; break;
	case 'i': dt = itemsize == 8 ? SIMPLER_I64 : SIMPLER_I32; break;
	case 'I': dt = itemsize == 8 ? SIMPLER_U64 : SIMPLER_U32; break;
	case 'l': case 'q': case 'n': dt = itemsize == 4 ? SIMPLER_I32 : SIMPLER_I64; break;
	case 'L': case 'Q': case 'N': dt = itemsize == 4 ? SIMPLER_U32 : SIMPLER_U64; break;
	case '?': dt = SIMPLER_BOOL; break;
	default: return -1;
	}
	return dtypes[dt].size == itemsize ? dt : -1;
}

int spy_dtype_arg(PyObject *o)
{
	PyObject *s = NULL;
	const char *n;
	int i;

	if (PyLong_Check(o)) {
		i = (int)PyLong_AsLong(o);
		if (i >= 0 && i < SIMPLER_DTYPE_COUNT)
			return i;
		PyErr_Clear();
	} else {
		/* "float32"; numpy.float32 or numpy.dtype('float32') (.name, __name__); torch.float32 */
		if (PyUnicode_Check(o))
			s = (Py_INCREF(o), o);
		else if (PyObject_HasAttrString(o, "itemsize") && PyObject_HasAttrString(o, "name"))
			s = PyObject_GetAttrString(o, "name");
		else if (PyType_Check(o))
			s = PyObject_GetAttrString(o, "__name__");
		else
			s = PyObject_Str(o);
		n = s && PyUnicode_Check(s) ? PyUnicode_AsUTF8(s) : NULL;
		if (n && !strncmp(n, "torch.", 6))
			n += 6;
		for (i = 0; n && i < SIMPLER_DTYPE_COUNT; i++)
			if (!strcmp(n, dtypes[i].name) || !strcmp(n, dtypes[i].alias)) {
				Py_DECREF(s);
				return i;
			}
		Py_XDECREF(s);
		PyErr_Clear();
	}
	PyErr_Format(PyExc_TypeError, "dtype %R is none of simpler's: float32, float16, bfloat16, "
		     "float64, int8..int64, uint8..uint64, bool", o);
	return -1;
}

/* ---- describing one object ---- */

static PyObject *what_err(PyObject *exc, const char *list, int idx, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (idx >= 0)
		PyErr_Format(exc, "%s[%d]: %s", list, idx, msg);
	else
		PyErr_Format(exc, "%s: %s", list, msg);
	return NULL;
}

/* the exception being raised, prefixed with which argument it is about */
static void what_wrap(PyObject *exc, const char *list, int idx)
{
	PyObject *t, *v, *tb, *s;

	PyErr_Fetch(&t, &v, &tb);
	PyErr_NormalizeException(&t, &v, &tb);
	s = v ? PyObject_Str(v) : NULL;
	what_err(exc, list, idx, "%s: %s", t ? ((PyTypeObject *)t)->tp_name : "error",
		 spy_utf8(s));
	Py_XDECREF(s);
	Py_XDECREF(t);
	Py_XDECREF(v);
	Py_XDECREF(tb);
}

/* shape and strides (elements) of nd dims: a tensor, or a view; 0 or -1 */
static int fill_desc(struct spy_desc *d, uint64_t addr, int dtype, int nd, const int64_t *shape,
		     const int64_t *strides /* elements, NULL: row-major */, const char *list,
		     int idx)
{
	int64_t want = 1;
	int i;

	memset(d, 0, sizeof(*d));
	if (nd > SIMPLER_MAX_DIMS) {
		what_err(PyExc_ValueError, list, idx, "%d dims: simpler tensors have at most %d", nd,
			 SIMPLER_MAX_DIMS);
		return -1;
	}
	d->v.t.addr = addr;
	d->v.t.dtype = (uint8_t)dtype;
	d->v.t.ndims = nd ? (uint32_t)nd : 1;
	d->v.t.shape[0] = 1;	/* 0-d: one element */
	for (i = 0; i < nd; i++) {
		if (shape[i] < 0 || shape[i] > UINT32_MAX) {
			what_err(PyExc_ValueError, list, idx, "dim %d has %lld elements: at most "
				 "2^32 - 1 per dim", i, (long long)shape[i]);
			return -1;
		}
		d->v.t.shape[i] = (uint32_t)shape[i];
	}
	for (i = nd - 1; strides && i >= 0; i--) {
		if (shape[i] != 1 && strides[i] != want)
			d->view = true;
		want *= shape[i];
	}
	if (!d->view) {
		d->span = simpler_tensor_nbytes(&d->v.t);
		return 0;
	}
	for (i = 0; i < nd; i++) {
		if (shape[i] == 1) {
			d->v.strides[i] = 1;	/* never stepped: any positive stride */
			continue;
		}
		if (strides[i] <= 0) {
			what_err(PyExc_ValueError, list, idx, "stride %lld in dim %d: simpler views "
				 "step forward (no reversed or broadcast dims); pass a copy "
				 "(numpy.ascontiguousarray())", (long long)strides[i], i);
			return -1;
		}
		d->v.strides[i] = (uint64_t)strides[i];
	}
	d->span = simpler_view_span(&d->v);
	return 0;
}

static int desc_from_buffer(const Py_buffer *b, struct spy_desc *d, const char *list, int idx)
{
	int64_t shape[SIMPLER_MAX_DIMS], strides[SIMPLER_MAX_DIMS];
	int dt = fmt_dtype(b->format, b->itemsize), i;

	if (dt < 0) {
		what_err(PyExc_TypeError, list, idx, "element format '%s' (%zd bytes) is none of "
			 "simpler's dtypes", b->format ? b->format : "B", b->itemsize);
		return -1;
	}
	if (b->ndim > SIMPLER_MAX_DIMS)
		return fill_desc(d, 0, dt, b->ndim, NULL, NULL, list, idx);
	for (i = 0; i < b->ndim; i++) {
		shape[i] = b->shape ? b->shape[i] : b->len / b->itemsize;
		if (b->strides && b->strides[i] % b->itemsize && shape[i] != 1) {
			what_err(PyExc_ValueError, list, idx, "stride of %zd bytes in dim %d is not "
				 "a multiple of the element size (%zd); pass a copy", b->strides[i],
				 i, b->itemsize);
			return -1;
		}
		strides[i] = b->strides ? b->strides[i] / b->itemsize : 0;
	}
	if (fill_desc(d, (uintptr_t)b->buf, dt, b->ndim, shape, b->strides ? strides : NULL, list,
		      idx))
		return -1;
	d->readonly = b->readonly;
	return 0;
}

/* DLPack (dlpack.h, v0.x): the layout __dlpack__ capsules ("dltensor") carry */
struct dl_tensor {
	void *data;
	int32_t device_type, device_id;
	int32_t ndim;
	uint8_t code, bits;
	uint16_t lanes;
	int64_t *shape, *strides;	/* strides in elements; NULL: row-major */
	uint64_t byte_offset;
};

struct dl_managed {
	struct dl_tensor t;
	void *manager_ctx;
	void (*deleter)(struct dl_managed *self);
};

enum { DL_CPU = 1 };
enum { DL_INT = 0, DL_UINT = 1, DL_FLOAT = 2, DL_BFLOAT = 4, DL_BOOL = 6 };

static int dl_dtype(unsigned code, unsigned bits)
{
	static const int ints[] = { SIMPLER_I8, SIMPLER_I16, SIMPLER_I32, SIMPLER_I64 };
	static const int uints[] = { SIMPLER_U8, SIMPLER_U16, SIMPLER_U32, SIMPLER_U64 };
	int l = bits == 8 ? 0 : bits == 16 ? 1 : bits == 32 ? 2 : bits == 64 ? 3 : -1;

	if (l < 0)
		return -1;
	switch (code) {
	case DL_INT: return ints[l];
	case DL_UINT: return bits == 8 ? SIMPLER_U8 : uints[l];
	case DL_FLOAT: return bits == 16 ? SIMPLER_F16 : bits == 32 ? SIMPLER_F32 :
			      bits == 64 ? SIMPLER_F64 : -1;
	case DL_BFLOAT: return bits == 16 ? SIMPLER_BF16 : -1;
	case DL_BOOL: return bits == 8 ? SIMPLER_BOOL : -1;
	}
	return -1;
}

static int desc_from_dlpack(PyObject *cap, struct spy_desc *d, const char *list, int idx)
{
	struct dl_managed *m = PyCapsule_GetPointer(cap, "dltensor");
	struct dl_tensor *t;
	int dt;

	if (!m) {
		what_wrap(PyExc_TypeError, list, idx);
		return -1;
	}
	t = &m->t;
	if (t->device_type != DL_CPU) {
		what_err(PyExc_ValueError, list, idx, "the tensor lives on DLPack device type %d "
			 "(%s): only host (CPU) memory can be an argument", t->device_type,
			 t->device_type == 2 ? "CUDA" : "not the CPU");
		return -1;
	}
	dt = t->lanes == 1 ? dl_dtype(t->code, t->bits) : -1;
	if (dt < 0) {
		what_err(PyExc_TypeError, list, idx, "DLPack dtype code %u, %u bits, %u lanes is "
			 "none of simpler's dtypes", t->code, t->bits, t->lanes);
		return -1;
	}
	return fill_desc(d, (uintptr_t)t->data + t->byte_offset, dt, t->ndim, t->shape, t->strides,
			 list, idx);
}

static PyObject *s_dlpack, *s_base, *s__base;

/* the types whose views own no memory, found once their modules are loaded */
static PyTypeObject *nd_type, *torch_type;

static PyTypeObject *module_type(const char *mod, const char *name)
{
	PyObject *s = PyUnicode_FromString(mod), *m = s ? PyImport_GetModule(s) : NULL, *t;

	Py_XDECREF(s);
	PyErr_Clear();
	if (!m)
		return NULL;
	t = PyObject_GetAttrString(m, name);
	Py_DECREF(m);
	if (!t || !PyType_Check(t)) {
		PyErr_Clear();
		Py_XDECREF(t);
		return NULL;
	}
	return (PyTypeObject *)t;	/* kept for good */
}

/* the object that owns obj's memory, as far as numpy and torch say (new reference) */
static PyObject *mem_root(PyObject *obj)
{
	PyObject *cur = obj, *base;
	int depth;

	if (!nd_type)
		nd_type = module_type("numpy", "ndarray");
	if (!torch_type)
		torch_type = module_type("torch", "Tensor");
	Py_INCREF(cur);
	for (depth = 0; depth < 64; depth++) {
		bool nd = nd_type && PyObject_TypeCheck(cur, nd_type);
		bool th = !nd && torch_type && PyObject_TypeCheck(cur, torch_type);

		if (!nd && !th)
			break;
		base = PyObject_GetAttr(cur, nd ? s_base : s__base);
		if (!base) {
			PyErr_Clear();
			break;
		}
		if (!(nd ? PyObject_TypeCheck(base, nd_type) : PyObject_TypeCheck(base, torch_type))) {
			Py_DECREF(base);	/* None, or what the array wraps: cur holds it */
			break;
		}
		Py_DECREF(cur);
		cur = base;
	}
	return cur;
}

void spy_pin_release(struct spy_pin *p)
{
	if (p->buf.obj)
		PyBuffer_Release(&p->buf);
	Py_CLEAR(p->capsule);
	Py_CLEAR(p->obj);
	p->has_desc = false;
}

/* obj described into p (p->obj a new reference, its export or capsule held) */
static int describe(PyObject *obj, struct spy_pin *p, const char *list, int idx)
{
	PyObject *m;

	memset(p, 0, sizeof(*p));
	if (PyObject_CheckBuffer(obj)) {
		if (PyObject_GetBuffer(obj, &p->buf, PyBUF_RECORDS_RO)) {
			what_wrap(PyExc_TypeError, list, idx);
			return -1;
		}
		if (desc_from_buffer(&p->buf, &p->d, list, idx)) {
			PyBuffer_Release(&p->buf);
			return -1;
		}
	} else if ((m = PyObject_GetAttr(obj, s_dlpack))) {
		p->capsule = PyObject_CallNoArgs(m);
		Py_DECREF(m);
		if (!p->capsule) {
			what_wrap(PyExc_TypeError, list, idx);
			return -1;
		}
		if (desc_from_dlpack(p->capsule, &p->d, list, idx)) {
			Py_CLEAR(p->capsule);
			return -1;
		}
	} else {
		PyErr_Clear();
		what_err(PyExc_TypeError, list, idx, "a tensor must support the buffer protocol "
			 "or __dlpack__ (numpy array, torch CPU tensor, memoryview...) or be a "
			 "simpler.ChipTensor, not '%s'", Py_TYPE(obj)->tp_name);
		return -1;
	}
	p->has_desc = true;
	p->obj = obj;
	Py_INCREF(obj);
	return 0;
}

int spy_tensor_hold(PyObject *obj, bool write, const char *what, struct spy_pin *pin)
{
	if (describe(obj, pin, what, -1))
		return -1;
	if (write && pin->d.readonly) {
		spy_pin_release(pin);
		what_err(PyExc_ValueError, what, -1, "the object is read-only");
		return -1;
	}
	return 0;
}

/* ---- the run's objects ---- */

static size_t pin_hash(const PyObject *o, size_t cap)
{
	return (size_t)(((uintptr_t)o >> 4) * 0x9E3779B97F4A7C15ULL >> 20) & (cap - 1);
}

static struct spy_pin *pins_find(struct spy_pins *pins, const PyObject *o)
{
	size_t i;

	if (!pins->n)
		return NULL;
	for (i = pin_hash(o, pins->cap); pins->v[i].obj; i = (i + 1) & (pins->cap - 1))
		if (pins->v[i].obj == o)
			return &pins->v[i];
	return NULL;
}

/* p moved into the set (not there yet); the slot, or NULL with MemoryError */
static struct spy_pin *pins_add(struct spy_pins *pins, struct spy_pin *p)
{
	size_t i, j, cap;
	struct spy_pin *v;

	if ((pins->n + 1) * 2 > pins->cap) {
		cap = pins->cap ? pins->cap * 2 : 64;
		v = PyMem_Calloc(cap, sizeof(*v));
		if (!v) {
			PyErr_NoMemory();
			return NULL;
		}
		for (i = 0; i < pins->cap; i++) {
			if (!pins->v[i].obj)
				continue;
			for (j = pin_hash(pins->v[i].obj, cap); v[j].obj; j = (j + 1) & (cap - 1))
				;
			v[j] = pins->v[i];
		}
		PyMem_Free(pins->v);
		pins->v = v;
		pins->cap = cap;
	}
	for (i = pin_hash(p->obj, pins->cap); pins->v[i].obj; i = (i + 1) & (pins->cap - 1))
		;
	pins->v[i] = *p;
	pins->n++;
	return &pins->v[i];
}

void spy_pins_clear(struct spy_pins *pins)
{
	size_t i;

	for (i = 0; i < pins->cap && pins->n; i++) {
		if (!pins->v[i].obj)
			continue;
		spy_pin_release(&pins->v[i]);
		pins->n--;
	}
	/* a huge run's table goes; the usual one stays for the next run */
	if (pins->cap > 4 * SPY_PIN_CACHE) {
		PyMem_Free(pins->v);
		pins->v = NULL;
		pins->cap = 0;
	}
	pins->n = 0;
}

int spy_pins_traverse(struct spy_pins *pins, visitproc visit, void *arg)
{
	size_t i;

	for (i = 0; i < pins->cap; i++) {
		Py_VISIT(pins->v[i].obj);
		Py_VISIT(pins->v[i].capsule);
	}
	return 0;
}

int spy_tensor(struct spy_pins *pins, PyObject *obj, bool write, const char *list, int idx,
	       const struct spy_desc **out, struct spy_desc *scratch)
{
	struct spy_pin *p, tmp;
	PyObject *root;

	switch (spy_chip_tensor_desc(obj, out, list, idx)) {
	case 1:
		return 0;
	case -1:
		return -1;
	}
	p = pins_find(pins, obj);
	if (!p || !p->has_desc) {
		if (describe(obj, &tmp, list, idx))
			return -1;
		if (p) {
			/* pinned as the owner of views before: now described too */
			p->d = tmp.d;
			p->has_desc = true;
			spy_pin_release(&tmp);
		} else {
			root = mem_root(obj);
			if (root == obj || pins->n < SPY_PIN_CACHE) {
				p = pins_add(pins, &tmp);
				if (!p) {
					spy_pin_release(&tmp);
					Py_DECREF(root);
					return -1;
				}
			} else {
				*scratch = tmp.d;
				spy_pin_release(&tmp);
				if (!pins_find(pins, root)) {
					memset(&tmp, 0, sizeof(tmp));
					tmp.obj = root;
					Py_INCREF(root);
					if (!pins_add(pins, &tmp)) {
						Py_DECREF(root);
						Py_DECREF(root);
						return -1;
					}
				}
				Py_DECREF(root);
				p = NULL;
			}
			if (p)
				Py_DECREF(root);
		}
	}
	*out = p ? &p->d : scratch;
	if (write && (*out)->readonly) {
		what_err(PyExc_ValueError, list, idx, "'%s' is read-only, and the task writes it",
			 Py_TYPE(obj)->tp_name);
		return -1;
	}
	return 0;
}

/* ---- arrays over raw memory ---- */

static PyObject *np_asarray;

PyObject *spy_array(void *addr, uint8_t dtype, int ndims, const uint32_t *shape,
		    const uint64_t *strides, bool readonly)
{
	static char fmts[SIMPLER_DTYPE_COUNT][2];
	Py_ssize_t shp[SIMPLER_MAX_DIMS], str[SIMPLER_MAX_DIMS], n = 1, size;
	PyObject *mv, *np, *arr;
	Py_buffer b;
	int i;

	if (dtype >= SIMPLER_DTYPE_COUNT || ndims < 1 || ndims > SIMPLER_MAX_DIMS)
		return PyErr_Format(PyExc_ValueError, "no array of dtype %u and %d dims", dtype,
				    ndims);
	size = dtypes[dtype].size;
	fmts[dtype][0] = dtypes[dtype].fmt;
	for (i = ndims - 1; i >= 0; i--) {
		shp[i] = shape[i];
		str[i] = strides ? (Py_ssize_t)strides[i] * size : n * size;
		n *= shape[i];
	}
	memset(&b, 0, sizeof(b));
	b.buf = addr;
	b.len = n * size;
	b.itemsize = size;
	b.readonly = readonly;
	b.ndim = ndims;
	b.format = fmts[dtype];
	b.shape = shp;
	b.strides = str;
	mv = PyMemoryView_FromBuffer(&b);	/* copies shape and strides */
	if (!mv)
		return NULL;
	if (!np_asarray) {
		np = spy_numpy();
		np_asarray = np ? PyObject_GetAttrString(np, "asarray") : NULL;
		Py_XDECREF(np);
		if (!np_asarray) {
			PyErr_Clear();
			return mv;	/* no numpy: the memoryview */
		}
	}
	arr = PyObject_CallOneArg(np_asarray, mv);
	Py_DECREF(mv);
	return arr;
}

/* ---- simpler.ChipTensor ---- */

typedef struct {
	PyObject_HEAD
	bool inited;		/* __init__ succeeded (ChipTensor.__new__() makes one without) */
	struct spy_desc d;
} spy_chip_tensor;

/* __init__ ran: 0, or -1 and InvalidArgument about what (list[idx], or list if idx < 0) */
static int ct_initialized(spy_chip_tensor *self, const char *what, int idx)
{
	static const char m[] = "ChipTensor.__init__ was not called (or failed): make one with "
				"simpler.ChipTensor(addr, shape, dtype)";

	if (self->inited)
		return 0;
	if (idx >= 0)
		spy_raisef(-EINVAL, "%s[%d]: %s", what, idx, m);
	else
		spy_raisef(-EINVAL, "%s: %s", what, m);
	return -1;
}

int spy_chip_tensor_desc(PyObject *o, const struct spy_desc **d, const char *list, int idx)
{
	if (Py_TYPE(o) != &spy_ChipTensorType)
		return 0;
	if (ct_initialized((spy_chip_tensor *)o, list, idx))
		return -1;
	*d = &((spy_chip_tensor *)o)->d;
	return 1;
}

static int ct_init(spy_chip_tensor *self, PyObject *args, PyObject *kw)
{
	static char *kwl[] = { "addr", "shape", "dtype", NULL };
	int64_t shape[SIMPLER_MAX_DIMS];
	unsigned long long addr;
	PyObject *shp, *dt = NULL, *seq;
	Py_ssize_t n, i;
	int dtype = SIMPLER_U8;

	self->inited = false;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "KO|O:ChipTensor", kwl, &addr, &shp, &dt))
		return -1;
	if (dt && (dtype = spy_dtype_arg(dt)) < 0)
		return -1;
	seq = PyLong_Check(shp) ? PyTuple_Pack(1, shp) : PySequence_Tuple(shp);
	if (!seq)
		return -1;
	n = PyTuple_GET_SIZE(seq);
	for (i = 0; i < n && i < SIMPLER_MAX_DIMS; i++) {
		shape[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(seq, i));
		if (shape[i] == -1 && PyErr_Occurred()) {
			Py_DECREF(seq);
			return -1;
		}
	}
	Py_DECREF(seq);
	if (n < 1 || fill_desc(&self->d, addr, dtype, (int)n, shape, NULL, "ChipTensor", -1))
		return n < 1 ? (PyErr_SetString(PyExc_ValueError, "ChipTensor: a shape of 1..5 "
						"dims"), -1) : -1;
	self->d.v.t.child_memory = 1;
	self->inited = true;
	return 0;
}

static PyObject *ct_addr(spy_chip_tensor *self, void *c)
{
	if (ct_initialized(self, "addr", -1))
		return NULL;
	return PyLong_FromUnsignedLongLong(self->d.v.t.addr);
}

static PyObject *ct_shape(spy_chip_tensor *self, void *c)
{
	PyObject *t;
	uint32_t i;

	if (ct_initialized(self, "shape", -1))
		return NULL;
	t = PyTuple_New(self->d.v.t.ndims);
	for (i = 0; t && i < self->d.v.t.ndims; i++)
		PyTuple_SET_ITEM(t, i, PyLong_FromUnsignedLong(self->d.v.t.shape[i]));
	return t;
}

static PyObject *ct_dtype(spy_chip_tensor *self, void *c)
{
	if (ct_initialized(self, "dtype", -1))
		return NULL;
	return PyUnicode_FromString(spy_dtype_name(self->d.v.t.dtype));
}

static PyObject *ct_nbytes(spy_chip_tensor *self, void *c)
{
	if (ct_initialized(self, "nbytes", -1))
		return NULL;
	return PyLong_FromUnsignedLongLong(self->d.span);
}

static PyObject *ct_repr(spy_chip_tensor *self)
{
	PyObject *s, *r;
	char addr[24];

	if (!self->inited)
		return PyUnicode_FromString("<simpler.ChipTensor: __init__ not called>");
	s = ct_shape(self, NULL);
	if (!s)
		return NULL;
	/* PyUnicode_FromFormat() has no %llx */
	snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)self->d.v.t.addr);
	r = PyUnicode_FromFormat("ChipTensor(%s, %R, '%s')", addr, s,
				 spy_dtype_name(self->d.v.t.dtype));
	Py_DECREF(s);
	return r;
}

static PyGetSetDef ct_getset[] = {
	{ "addr", (getter)ct_addr, NULL, "The chip address (from Worker.malloc()).", NULL },
	{ "shape", (getter)ct_shape, NULL, "The shape, a tuple.", NULL },
	{ "dtype", (getter)ct_dtype, NULL, "The dtype's name (\"float32\"...).", NULL },
	{ "nbytes", (getter)ct_nbytes, NULL, "Bytes it covers.", NULL },
	{ NULL }
};

PyTypeObject spy_ChipTensorType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "simpler.ChipTensor",
	.tp_basicsize = sizeof(spy_chip_tensor),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "ChipTensor(addr, shape, dtype='uint8')\n\n"
		  "Chip memory as a task argument: addr from Worker.malloc(nbytes, chip=c), shape\n"
		  "an int or a tuple of up to 5 dims.  The task must name that chip (chip=c);\n"
		  "dependencies are tracked in the chip's own address space.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)ct_init,
	.tp_repr = (reprfunc)ct_repr,
	.tp_getset = ct_getset,
};

int spy_tensors_init(void)
{
	s_dlpack = PyUnicode_InternFromString("__dlpack__");
	s_base = PyUnicode_InternFromString("base");
	s__base = PyUnicode_InternFromString("_base");
	return s_dlpack && s_base && s__base ? 0 : -1;
}
