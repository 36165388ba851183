/* vfswasi._hostcall: the wasm -> Python transition of vfswasi's host functions, in C.
 *
 * Optional: vfswasi/fastcall.py uses it when it was built (pip install with a C compiler)
 * and serves the same functions through ctypes otherwise, with identical behaviour. See
 * fastcall.py for the contract; in short, one call of a host function here
 *
 *   - counts the call (the usage report) and checks the run's stop request
 *     (`control.reason is not None` -> raise Stopped(reason), a trap);
 *   - finds the calling instance's `memory` export and asks wasmtime for its base and
 *     length, calling
 *     `GuestMemory.refresh(base, size)` only when they changed (or someone else moved the
 *     view, e.g. the other ABI's functions of the same WASI bound to another store);
 *   - decodes the raw argument array per the signature ('i' = i32, read unsigned; 'I' = i64)
 *     and calls the syscall with vectorcall;
 *   - maps WasiError -> its errno, OSError -> wasi_errno_from_oserror(e), struct.error ->
 *     EFAULT, RecursionError -> EIO; anything else becomes a trap, with the exception left in
 *     `wasmtime._func.LAST_EXCEPTION` so wasmtime-py re-raises it (what its own trampoline
 *     does).
 *
 * Nothing here is linked against wasmtime: the C-API functions are called through the
 * addresses fastcall.py takes (with ctypes) from the libwasmtime that wasmtime-py loaded, so
 * the extension always talks to that same library. Only CPython's C API is used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* --- the wasmtime C API, by address ------------------------------------------------------ */

typedef void *(*unchecked_callback_t)(void *env, void *caller, void *args_and_results,
                                      size_t nargs_and_results);
typedef void (*finalizer_t)(void *env);

static void *(*wt_caller_context)(void *caller);
/* returns a C bool: only its low byte is defined, so it must be declared as one */
static bool (*wt_caller_export_get)(void *caller, const char *name, size_t name_len,
                                    void *extern_out);
static uint8_t *(*wt_memory_data)(const void *ctx, const void *memory);
static size_t (*wt_memory_data_size)(const void *ctx, const void *memory);
static void *(*wt_trap_new)(const char *msg, size_t len);
static void *(*wt_define_unchecked)(void *linker, const char *module, size_t module_len,
                                    const char *name, size_t name_len, const void *functype,
                                    unchecked_callback_t cb, void *env, finalizer_t fin);
static void (*wt_func_new_unchecked)(void *ctx, const void *functype, unchecked_callback_t cb,
                                     void *env, finalizer_t fin, void *func_out);

/* --- what init() hands over ----------------------------------------------------------------- */

static PyObject *WasiError;         /* vfswasi.abi.WasiError */
static PyObject *StructError;       /* struct.error */
static PyObject *errno_from_oserror; /* vfswasi.abi.wasi_errno_from_oserror */
static PyObject *Stopped;           /* vfswasi.control.Stopped */
static PyObject *func_module;       /* wasmtime._func, which holds LAST_EXCEPTION */
static long errno_fault, errno_io;
static int initialized;

/* wasmtime_extern_t, as wasmtime-py's bindings lay it out (fastcall.py derives the numbers):
 * a kind byte at 0, then the union `of` at extern_of, whose wasmtime_memory_t starts with
 * the store's id and the memory's index in it: extern_key bytes that name the memory (store
 * ids are never reused, unlike the address of a freed store's context; padding is left out) */
#define EXTERN_MAX 64
static Py_ssize_t extern_size, extern_of, extern_key;
static unsigned char extern_kind_memory;

static PyObject *s_reason, *s_errno, *s_view, *s_refresh, *s_forget, *s_last_exception;

/* wasmtime_val_raw_t is a 16-byte union; an i32 sits in its low 4 bytes, an i64 in its low 8 */
#define RAW_SIZE 16
#define MAX_PARAMS 16

/* --- Counter: calls of one function (all its definitions together) ------------------------ */

typedef struct {
    PyObject_HEAD
    unsigned long long value;
} Counter;

static PyObject *counter_get_value(Counter *self, void *Py_UNUSED(closure)) {
    return PyLong_FromUnsignedLongLong(self->value);
}

static int counter_set_value(Counter *self, PyObject *value, void *Py_UNUSED(closure)) {
    unsigned long long v;
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "cannot delete a counter's value");
        return -1;
    }
    v = PyLong_AsUnsignedLongLong(value);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    self->value = v;
    return 0;
}

static PyGetSetDef counter_getset[] = {
    {"value", (getter)counter_get_value, (setter)counter_set_value,
     "calls so far (settable: a reused set of functions starts a new run at 0)", NULL},
    {NULL},
};

static PyTypeObject CounterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vfswasi._hostcall.Counter",
    .tp_basicsize = sizeof(Counter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Calls of one host function (its `value`).",
    .tp_new = PyType_GenericNew,
    .tp_getset = counter_getset,
};

/* --- Binding: where one HostFunctions' guest memory is -------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *mem;     /* the GuestMemory */
    int bound;         /* `found` holds the calling instance's memory export */
    unsigned char found[EXTERN_MAX]; /* that export, a wasmtime_extern_t */
    uint8_t *base;     /* what mem.refresh was last given ... */
    size_t size;
    PyObject *view;    /* ... and the view it answered (identity: has anyone moved it since?) */
} Binding;

static int binding_init(Binding *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"mem", NULL};
    PyObject *mem;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:Binding", kwlist, &mem))
        return -1;
    Py_INCREF(mem);
    Py_XSETREF(self->mem, mem);
    self->bound = 0;
    Py_CLEAR(self->view);
    return 0;
}

static int binding_traverse(Binding *self, visitproc visit, void *arg) {
    Py_VISIT(self->mem);
    Py_VISIT(self->view);
    return 0;
}

static int binding_clear(Binding *self) {
    Py_CLEAR(self->mem);
    Py_CLEAR(self->view);
    return 0;
}

static void binding_dealloc(Binding *self) {
    PyObject_GC_UnTrack(self);
    binding_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *binding_forget(Binding *self, PyObject *Py_UNUSED(ignored)) {
    self->bound = 0;
    Py_CLEAR(self->view);
    Py_RETURN_NONE;
}

static PyMethodDef binding_methods[] = {
    {"forget", (PyCFunction)binding_forget, METH_NOARGS,
     "Forget the store bound to (the next call binds again)."},
    {NULL},
};

static PyTypeObject BindingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vfswasi._hostcall.Binding",
    .tp_basicsize = sizeof(Binding),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Binding(mem): shows a GuestMemory the memory of whichever instance calls.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)binding_init,
    .tp_traverse = (traverseproc)binding_traverse,
    .tp_clear = (inquiry)binding_clear,
    .tp_dealloc = (destructor)binding_dealloc,
    .tp_methods = binding_methods,
};

/* Make the GuestMemory show the calling instance's memory. -1 with an exception set on error.
 *
 * The `memory` export is looked up on every call and compared with the last one, store id
 * included: a WASI linked into a Linker may serve many stores in turn, and a new store can
 * get the address of a freed one, so neither the context nor a cached export can be trusted
 * (using a memory with another store's context aborts the process). */
static int binding_sync(Binding *b, void *caller) {
    void *ctx = wt_caller_context(caller);
    unsigned char found[EXTERN_MAX];
    memset(found, 0, sizeof found);
    int has = wt_caller_export_get(caller, "memory", 6, found) && found[0] == extern_kind_memory;
    if (!has) { /* no memory export: an empty view (once, unless someone set another) */
        PyObject *view = PyObject_GetAttr(b->mem, s_view);
        if (view == NULL)
            return -1;
        Py_DECREF(view);
        if (b->bound || view != b->view) {
            b->bound = 0;
            PyObject *r = PyObject_CallMethodNoArgs(b->mem, s_forget);
            if (r == NULL)
                return -1;
            Py_DECREF(r);
            Py_XSETREF(b->view, PyObject_GetAttr(b->mem, s_view));
            if (b->view == NULL)
                return -1;
        }
        return 0;
    }
    if (!b->bound || memcmp(found + extern_of, b->found + extern_of, extern_key) != 0) {
        memcpy(b->found, found, extern_size);
        b->bound = 1;
        Py_CLEAR(b->view); /* another memory: refresh whatever base and size say */
    }
    const void *memory = b->found + extern_of;
    uint8_t *base = wt_memory_data(ctx, memory);
    size_t size = wt_memory_data_size(ctx, memory);
    PyObject *view = PyObject_GetAttr(b->mem, s_view);
    if (view == NULL)
        return -1;
    Py_DECREF(view); /* only its identity matters: b->view holds the one we compare with */
    if (view == b->view && base == b->base && size == b->size)
        return 0;
    PyObject *pbase = PyLong_FromVoidPtr(base);
    PyObject *psize = pbase ? PyLong_FromSize_t(size) : NULL;
    PyObject *fresh = NULL;
    if (psize != NULL) {
        PyObject *args[3] = {b->mem, pbase, psize};
        fresh = PyObject_VectorcallMethod(s_refresh, args,
                                          3 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    }
    Py_XDECREF(pbase);
    Py_XDECREF(psize);
    if (fresh == NULL)
        return -1;
    Py_XSETREF(b->view, fresh);
    b->base = base;
    b->size = size;
    return 0;
}

/* --- Trampoline: one host function ------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *fn;
    Counter *counter;
    PyObject *control; /* RunControl: .reason */
    Binding *binding;
    int returns;       /* write the errno into the first result */
    Py_ssize_t nparams;
    char wide[MAX_PARAMS]; /* 1 for an i64 parameter */
} Trampoline;

static int trampoline_init(Trampoline *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"fn", "sig", "returns", "counter", "control", "binding", NULL};
    PyObject *fn, *control;
    const char *sig;
    Py_ssize_t siglen;
    int returns;
    Counter *counter;
    Binding *binding;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Os#pO!OO!:Trampoline", kwlist, &fn, &sig,
                                     &siglen, &returns, &CounterType, &counter, &control,
                                     &BindingType, &binding))
        return -1;
    if (siglen > MAX_PARAMS) {
        PyErr_Format(PyExc_ValueError, "at most %d parameters", MAX_PARAMS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < siglen; i++) {
        if (sig[i] != 'i' && sig[i] != 'I') {
            PyErr_Format(PyExc_ValueError, "signature %R: only 'i' and 'I'",
                         PyTuple_GET_ITEM(args, 1));
            return -1;
        }
        self->wide[i] = sig[i] == 'I';
    }
    self->nparams = siglen;
    self->returns = returns;
    Py_INCREF(fn);
    Py_INCREF(counter);
    Py_INCREF(control);
    Py_INCREF(binding);
    Py_XSETREF(self->fn, fn);
    Py_XSETREF(self->counter, counter);
    Py_XSETREF(self->control, control);
    Py_XSETREF(self->binding, binding);
    return 0;
}

static int trampoline_traverse(Trampoline *self, visitproc visit, void *arg) {
    Py_VISIT(self->fn);
    Py_VISIT(self->counter);
    Py_VISIT(self->control);
    Py_VISIT(self->binding);
    return 0;
}

static int trampoline_clear(Trampoline *self) {
    Py_CLEAR(self->fn);
    Py_CLEAR(self->counter);
    Py_CLEAR(self->control);
    Py_CLEAR(self->binding);
    return 0;
}

static void trampoline_dealloc(Trampoline *self) {
    PyObject_GC_UnTrack(self);
    trampoline_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject TrampolineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vfswasi._hostcall.Trampoline",
    .tp_basicsize = sizeof(Trampoline),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Trampoline(fn, sig, returns, counter, control, binding): one host function.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)trampoline_init,
    .tp_traverse = (traverseproc)trampoline_traverse,
    .tp_clear = (inquiry)trampoline_clear,
    .tp_dealloc = (destructor)trampoline_dealloc,
};

/* The current exception, normalized, with its traceback attached (NULL if none). */
static PyObject *take_exception(void) {
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* The errno for the exception a syscall raised, or -1 when it must become a trap (the
 * exception is then set again); any failure while mapping also becomes a trap. */
static long errno_of(PyObject *exc) {
    long result;
    if (PyErr_GivenExceptionMatches(exc, WasiError)) {
        PyObject *e = PyObject_GetAttr(exc, s_errno);
        if (e == NULL)
            return -1;
        result = PyLong_AsLong(e);
        Py_DECREF(e);
    } else if (PyErr_GivenExceptionMatches(exc, PyExc_OSError)) {
        PyObject *e = PyObject_CallOneArg(errno_from_oserror, exc);
        if (e == NULL)
            return -1;
        result = PyLong_AsLong(e);
        Py_DECREF(e);
    } else if (PyErr_GivenExceptionMatches(exc, StructError)) {
        return errno_fault;
    } else if (PyErr_GivenExceptionMatches(exc, PyExc_RecursionError)) {
        return errno_io;
    } else {
        Py_INCREF(exc);
#if PY_VERSION_HEX >= 0x030C0000
        PyErr_SetRaisedException(exc);
#else
        PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc,
                      PyException_GetTraceback(exc));
#endif
        return -1;
    }
    if (result == -1 && PyErr_Occurred())
        return -1;
    return result;
}

/* The pending exception as a trap, left for wasmtime-py to re-raise. */
static void *make_trap(void) {
    PyObject *exc = take_exception();
    void *trap = NULL;
    if (exc != NULL && PyObject_SetAttr(func_module, s_last_exception, exc) == 0) {
        PyObject *name = PyType_GetName(Py_TYPE(exc));
        PyObject *msg = name ? PyUnicode_FromFormat("%U: %S", name, exc) : NULL;
        Py_XDECREF(name);
        Py_ssize_t len;
        const char *text = msg ? PyUnicode_AsUTF8AndSize(msg, &len) : NULL;
        if (text != NULL)
            trap = wt_trap_new(text, (size_t)len);
        Py_XDECREF(msg);
    }
    Py_XDECREF(exc);
    if (trap == NULL) { /* an error while reporting the error: still trap */
        PyErr_Clear();
        static const char fallback[] = "python exception";
        trap = wt_trap_new(fallback, sizeof fallback - 1);
    }
    return trap;
}

static void *trampoline_call(void *env, void *caller, void *raw, size_t nraw) {
    Trampoline *t = (Trampoline *)env;
    PyGILState_STATE gil = PyGILState_Ensure();
    void *trap = NULL;
    PyObject *argv[MAX_PARAMS + 1];
    Py_ssize_t n = 0;

    t->counter->value++;
    PyObject *reason = PyObject_GetAttr(t->control, s_reason);
    if (reason == NULL)
        goto fail;
    if (reason != Py_None) {
        PyObject *stop = PyObject_CallOneArg(Stopped, reason);
        Py_DECREF(reason);
        if (stop != NULL) {
            PyErr_SetObject((PyObject *)Py_TYPE(stop), stop);
            Py_DECREF(stop);
        }
        goto fail;
    }
    Py_DECREF(reason);
    if (binding_sync(t->binding, caller) < 0)
        goto fail;

    const uint8_t *vals = (const uint8_t *)raw;
    for (; n < t->nparams; n++) {
        const uint8_t *slot = vals + RAW_SIZE * n;
        PyObject *v;
        if (t->wide[n]) {
            uint64_t x;
            memcpy(&x, slot, sizeof x);
            v = PyLong_FromUnsignedLongLong(x);
        } else {
            uint32_t x;
            memcpy(&x, slot, sizeof x);
            v = PyLong_FromUnsignedLong(x);
        }
        if (v == NULL)
            goto fail;
        argv[n + 1] = v;
    }
    PyObject *res = PyObject_Vectorcall(t->fn, argv + 1, n | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                        NULL);
    long result = 0;
    if (res != NULL) {
        Py_DECREF(res);
    } else {
        PyObject *exc = take_exception();
        if (exc == NULL) { /* NULL without an exception: a broken callable */
            PyErr_SetString(PyExc_SystemError, "host function failed without an exception");
            goto fail;
        }
        result = errno_of(exc);
        Py_DECREF(exc);
        if (result == -1)
            goto fail;
    }
    if (t->returns && nraw > 0) {
        uint32_t r = (uint32_t)result;
        memcpy(raw, &r, sizeof r);
    }
    goto done;
fail:
    trap = make_trap();
done:
    for (Py_ssize_t i = 1; i <= n; i++)
        Py_DECREF(argv[i]);
    PyGILState_Release(gil);
    return trap;
}

/* wasmtime drops a function: release the Trampoline reference it held. */
static void trampoline_release(void *env) {
    /* At interpreter exit there may be no Python left to release into; the leak is moot. */
#if PY_VERSION_HEX >= 0x030D0000
    if (!Py_IsInitialized() || Py_IsFinalizing())
        return;
#else
    if (!Py_IsInitialized() || _Py_IsFinalizing())
        return;
#endif
    PyGILState_STATE gil = PyGILState_Ensure();
    Py_DECREF((PyObject *)env);
    PyGILState_Release(gil);
}

/* --- module functions ------------------------------------------------------------------------ */

static int need_init(void) {
    if (!initialized) {
        PyErr_SetString(PyExc_RuntimeError, "vfswasi._hostcall.init() was not called");
        return -1;
    }
    return 0;
}

static int addr_of(PyObject *symbols, const char *name, void **out) {
    PyObject *v = PyDict_GetItemString(symbols, name); /* borrowed */
    if (v == NULL) {
        PyErr_Format(PyExc_KeyError, "missing wasmtime symbol %s", name);
        return -1;
    }
    *out = PyLong_AsVoidPtr(v);
    if (*out == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_ValueError, "null address for %s", name);
        return -1;
    }
    return 0;
}

static PyObject *hc_init(PyObject *module, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"symbols", "wasi_error", "struct_error", "errno_from_oserror",
                             "stopped", "func_module", "fault", "io", "extern_layout", NULL};
    PyObject *symbols, *we, *se, *efo, *st, *fm;
    long fault, io;
    Py_ssize_t ext_size, ext_of, ext_key;
    unsigned char kind_memory;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOOOOll(nnnb):init", kwlist, &PyDict_Type,
                                     &symbols, &we, &se, &efo, &st, &fm, &fault, &io,
                                     &ext_size, &ext_of, &ext_key, &kind_memory))
        return NULL;
    if (ext_size > EXTERN_MAX || ext_of < 1 || ext_key < 8 || ext_of + ext_key > ext_size) {
        PyErr_SetString(PyExc_ValueError, "unexpected wasmtime_extern_t layout");
        return NULL;
    }
    void *p;
#define SYMBOL(var, name)                                                                   \
    if (addr_of(symbols, name, &p) < 0)                                                     \
        return NULL;                                                                        \
    *(void **)&var = p;
    SYMBOL(wt_caller_context, "wasmtime_caller_context")
    SYMBOL(wt_caller_export_get, "wasmtime_caller_export_get")
    SYMBOL(wt_memory_data, "wasmtime_memory_data")
    SYMBOL(wt_memory_data_size, "wasmtime_memory_data_size")
    SYMBOL(wt_trap_new, "wasmtime_trap_new")
    SYMBOL(wt_define_unchecked, "wasmtime_linker_define_func_unchecked")
    SYMBOL(wt_func_new_unchecked, "wasmtime_func_new_unchecked")
#undef SYMBOL
    Py_INCREF(we);
    Py_INCREF(se);
    Py_INCREF(efo);
    Py_INCREF(st);
    Py_INCREF(fm);
    Py_XSETREF(WasiError, we);
    Py_XSETREF(StructError, se);
    Py_XSETREF(errno_from_oserror, efo);
    Py_XSETREF(Stopped, st);
    Py_XSETREF(func_module, fm);
    errno_fault = fault;
    errno_io = io;
    extern_size = ext_size;
    extern_of = ext_of;
    extern_key = ext_key;
    extern_kind_memory = kind_memory;
    initialized = 1;
    Py_RETURN_NONE;
}

static PyObject *hc_define(PyObject *module, PyObject *args) {
    /* define(linker, module, name, functype, trampoline) -> wasmtime_error_t* or 0 */
    PyObject *plinker, *pty, *tramp;
    const char *mod, *name;
    Py_ssize_t modlen, namelen;
    if (!PyArg_ParseTuple(args, "Oy#y#OO!:define", &plinker, &mod, &modlen, &name, &namelen,
                          &pty, &TrampolineType, &tramp))
        return NULL;
    if (need_init() < 0)
        return NULL;
    void *linker = PyLong_AsVoidPtr(plinker);
    void *ty = linker ? PyLong_AsVoidPtr(pty) : NULL;
    if (ty == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "null linker or functype");
        return NULL;
    }
    /* wasmtime owns this reference from here on and gives it back through the finalizer,
     * also when the definition fails (it drops the callback then) */
    Py_INCREF(tramp);
    void *err = wt_define_unchecked(linker, mod, (size_t)modlen, name, (size_t)namelen, ty,
                                    trampoline_call, tramp, trampoline_release);
    return PyLong_FromVoidPtr(err);
}

static PyObject *hc_func_new(PyObject *module, PyObject *args) {
    /* func_new(context, functype, trampoline, out) writes a wasmtime_func_t at `out` */
    PyObject *pctx, *pty, *tramp, *pout;
    if (!PyArg_ParseTuple(args, "OOO!O:func_new", &pctx, &pty, &TrampolineType, &tramp, &pout))
        return NULL;
    if (need_init() < 0)
        return NULL;
    void *ctx = PyLong_AsVoidPtr(pctx);
    void *ty = ctx ? PyLong_AsVoidPtr(pty) : NULL;
    void *out = ty ? PyLong_AsVoidPtr(pout) : NULL;
    if (out == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "null context, functype or output");
        return NULL;
    }
    Py_INCREF(tramp);
    wt_func_new_unchecked(ctx, ty, trampoline_call, tramp, trampoline_release, out);
    Py_RETURN_NONE;
}

/* The [offset, offset+length) range of a memory, or NULL with IndexError. */
static uint8_t *memory_range(PyObject *pctx, PyObject *pmem, unsigned long long offset,
                             unsigned long long length) {
    void *ctx = PyLong_AsVoidPtr(pctx);
    void *mem = ctx ? PyLong_AsVoidPtr(pmem) : NULL;
    if (mem == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "null context or memory");
        return NULL;
    }
    size_t size = wt_memory_data_size(ctx, mem);
    if (offset > size || length > size - offset) {
        PyErr_Format(PyExc_IndexError, "guest memory range [%llu, +%llu) outside %zu bytes",
                     offset, length, size);
        return NULL;
    }
    return wt_memory_data(ctx, mem) + offset;
}

static PyObject *hc_copy_from(PyObject *module, PyObject *args) {
    /* copy_from(context, memory, offset, length) -> bytes */
    PyObject *pctx, *pmem;
    unsigned long long offset, length;
    if (!PyArg_ParseTuple(args, "OOKK:copy_from", &pctx, &pmem, &offset, &length))
        return NULL;
    if (need_init() < 0)
        return NULL;
    uint8_t *src = memory_range(pctx, pmem, offset, length);
    if (src == NULL)
        return NULL;
    return PyBytes_FromStringAndSize((const char *)src, (Py_ssize_t)length);
}

static PyObject *hc_copy_to(PyObject *module, PyObject *args) {
    /* copy_to(context, memory, offset, data) -> None */
    PyObject *pctx, *pmem;
    unsigned long long offset;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "OOKy*:copy_to", &pctx, &pmem, &offset, &data))
        return NULL;
    uint8_t *dst = need_init() < 0 ? NULL
                                   : memory_range(pctx, pmem, offset, (unsigned long long)data.len);
    if (dst != NULL)
        memmove(dst, data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    if (dst == NULL)
        return NULL;
    Py_RETURN_NONE;
}

/* --- openat2 for the host-directory backend ------------------------------------------------ */

#if defined(__linux__)
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef SYS_openat2
#define SYS_openat2 437 /* the same on every architecture; older headers lack the name */
#endif
/* struct open_how, spelled out: <linux/openat2.h> is missing from older kernel headers */
struct vfswasi_open_how {
    uint64_t flags, mode, resolve;
};
#endif

static PyObject *hc_openat2(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    /* openat2(dirfd, path: bytes, flags, resolve) -> fd, or -1 on any failure (the caller
       then walks the path itself, so which errno it was does not matter) */
    if (nargs != 4 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "openat2(dirfd: int, path: bytes, flags, resolve)");
        return NULL;
    }
    long dirfd = PyLong_AsLong(args[0]);
    unsigned long long flags = PyLong_AsUnsignedLongLong(args[2]);
    unsigned long long resolve = PyLong_AsUnsignedLongLong(args[3]);
    if (PyErr_Occurred())
        return NULL;
#if defined(__linux__)
    struct vfswasi_open_how how = {flags, 0, resolve};
    const char *path = PyBytes_AS_STRING(args[1]);
    long fd;
    /* a slow filesystem (NFS, FUSE) must not stop other threads */
    Py_BEGIN_ALLOW_THREADS
    fd = syscall(SYS_openat2, (int)dirfd, path, &how, sizeof how);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(fd < 0 ? -1 : fd);
#else
    (void)dirfd, (void)flags, (void)resolve;
    return PyLong_FromLong(-1);
#endif
}

static PyMethodDef hc_methods[] = {
    {"init", (PyCFunction)(void (*)(void))hc_init, METH_VARARGS | METH_KEYWORDS,
     "init(symbols, wasi_error, struct_error, errno_from_oserror, stopped, func_module, "
     "fault, io, extern_layout): the wasmtime C-API addresses, the Python pieces calls need, "
     "and wasmtime_extern_t's layout: (size, offset of `of`, memory key bytes, memory kind)."},
    {"define", hc_define, METH_VARARGS,
     "define(linker, module, name, functype, trampoline) -> address of a wasmtime_error_t "
     "or 0: wasmtime_linker_define_func_unchecked."},
    {"func_new", hc_func_new, METH_VARARGS,
     "func_new(context, functype, trampoline, out): wasmtime_func_new_unchecked."},
    {"copy_from", hc_copy_from, METH_VARARGS,
     "copy_from(context, memory, offset, length) -> bytes: guest memory to Python."},
    {"copy_to", hc_copy_to, METH_VARARGS,
     "copy_to(context, memory, offset, data): a Python buffer into guest memory."},
    {"openat2", (PyCFunction)(void (*)(void))hc_openat2, METH_FASTCALL,
     "openat2(dirfd, path, flags, resolve) -> fd or -1: Linux's openat2 (-1 elsewhere)."},
    {NULL},
};

static struct PyModuleDef hc_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "vfswasi._hostcall",
    .m_doc = "The compiled wasm -> Python transition of vfswasi's host functions.",
    .m_size = -1,
    .m_methods = hc_methods,
};

PyMODINIT_FUNC PyInit__hostcall(void) {
    if (PyType_Ready(&CounterType) < 0 || PyType_Ready(&BindingType) < 0 ||
        PyType_Ready(&TrampolineType) < 0)
        return NULL;
#define INTERN(var, text)                                                                   \
    if ((var = PyUnicode_InternFromString(text)) == NULL)                                    \
        return NULL;
    INTERN(s_reason, "reason")
    INTERN(s_errno, "errno")
    INTERN(s_view, "view")
    INTERN(s_refresh, "refresh")
    INTERN(s_forget, "forget")
    INTERN(s_last_exception, "LAST_EXCEPTION")
#undef INTERN
    PyObject *m = PyModule_Create(&hc_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Counter", (PyObject *)&CounterType) < 0 ||
        PyModule_AddObjectRef(m, "Binding", (PyObject *)&BindingType) < 0 ||
        PyModule_AddObjectRef(m, "Trampoline", (PyObject *)&TrampolineType) < 0 ||
        PyModule_AddIntConstant(m, "MAX_PARAMS", MAX_PARAMS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
