// Included first by every binding file: one way to look at NumPy arrays and to report
// bad ones.  Checks use NumPy's array struct directly (a few ns an array) rather than
// py::array_t conversion (~200 ns, and it copies what it should refuse).
#pragma once

#include <pybind11/native_enum.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace py = pybind11;

namespace msopt::bind {

struct ArrayView {
    PyObject* obj = nullptr;
    char* data = nullptr;
    int ndim = 0;
    const Py_ssize_t* shape = nullptr;
    int flags = 0;
    int type_num = -1;
    char byteorder = '=';

    bool c_contiguous() const { return flags & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_; }
    bool writeable() const { return flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_; }
    bool native() const { return byteorder != '>'; }
    bool is_f32() const { return type_num == py::detail::npy_api::NPY_FLOAT_ && native(); }
    bool is_f64() const { return type_num == py::detail::npy_api::NPY_DOUBLE_ && native(); }
    bool is_i64() const {
        return native() && ((sizeof(long) == 8 && type_num == py::detail::npy_api::NPY_LONG_) ||
                            type_num == py::detail::npy_api::NPY_LONGLONG_);
    }
    std::size_t size() const {
        std::size_t n = 1;
        for (int d = 0; d < ndim; ++d) n *= std::size_t(shape[d]);
        return n;
    }
    bool same_shape(const ArrayView& o) const {
        if (ndim != o.ndim) return false;
        for (int d = 0; d < ndim; ++d)
            if (shape[d] != o.shape[d]) return false;
        return true;
    }
};

inline bool is_array(PyObject* o) { return py::detail::npy_api::get().PyArray_Check_(o); }

// Fills `v` if `o` is an ndarray; returns false otherwise.
inline bool view(PyObject* o, ArrayView& v) {
    if (!is_array(o)) return false;
    auto* a = py::detail::array_proxy(o);
    auto* d = py::detail::array_descriptor_proxy(a->descr);
    v.obj = o;
    v.data = a->data;
    v.ndim = a->nd;
    v.shape = a->dimensions;
    v.flags = a->flags;
    v.type_num = d->type_num;
    v.byteorder = d->byteorder;
    return true;
}

inline std::string dtype_name(PyObject* o) {
    return py::str(py::reinterpret_borrow<py::object>(o).attr("dtype")).cast<std::string>();
}
inline std::string shape_str(const ArrayView& v) {
    std::string s = "(";
    for (int d = 0; d < v.ndim; ++d) {
        s += std::to_string(v.shape[d]);
        if (v.ndim == 1 || d + 1 < v.ndim) s += d + 1 < v.ndim ? ", " : ",";
    }
    return s + ")";
}
inline std::string type_name(PyObject* o) { return Py_TYPE(o)->tp_name; }

// -- the one array checker -------------------------------------------------------------
// Every binding checks its arrays with `array(obj, name, Want{...})`: one function, one
// wording.  A refusal names the argument, says what was expected and what came:
//   X: expected a 2-D C-contiguous float32 array, got a 1-D float64 array of shape (3,)
// TypeError when `obj` is not an ndarray or has the wrong dtype, ValueError for the wrong
// ndim, a non-contiguous array or a read-only one where the array is written.  Shapes are
// checked with `shape(...)` (ValueError), ids with `check_ids` (IndexError).  The passing
// path reads NumPy's array struct and a few flags (a few ns); messages are built only on
// failure, out of line.
enum DTypes : unsigned {
    kF32 = 1, kF64 = 2, kI64 = 4, kI32 = 8, kU8 = 16, kU16 = 32,
    kFloat = kF32 | kF64
};

inline unsigned dtype_bit(const ArrayView& v) {
    if (!v.native()) return 0;
    if (v.type_num == py::detail::npy_api::NPY_FLOAT_) return kF32;
    if (v.type_num == py::detail::npy_api::NPY_DOUBLE_) return kF64;
    if (v.type_num == py::detail::npy_api::NPY_INT_) return kI32;
    if (v.type_num == py::detail::npy_api::NPY_UBYTE_) return kU8;
    if (v.type_num == py::detail::npy_api::NPY_USHORT_) return kU16;
    return v.is_i64() ? unsigned(kI64) : 0u;
}

struct Want {
    unsigned dtypes = kFloat;  // a DTypes mask; `dtype_bit(other)` asks for other's dtype
    int ndim = -1;             // -1: any
    bool writeable = false;    // updated in place: refuse read-only arrays
    bool contiguous = true;    // C-contiguous (always, for arrays updated in place)
};

// "name" or "name[i]" (i == npos) or "name[i].field".
struct Name {
    const char* base;
    std::size_t index = std::size_t(-1);
    const char* field = nullptr;
    std::string str() const {
        std::string s = base;
        if (index != std::size_t(-1)) s += "[" + std::to_string(index) + "]";
        if (field) s += std::string(".") + field;
        return s;
    }
    Name(const char* b) : base(b) {}  // NOLINT: names are passed as literals
    Name(const char* b, std::size_t i, const char* f = nullptr) : base(b), index(i), field(f) {}
};

inline std::string dtypes_str(unsigned m) {
    std::string s;
    const char* names[] = {"float32", "float64", "int64", "int32", "uint8", "uint16"};
    int n = 0;
    for (unsigned b = 0; b < 6; ++b)
        if (m & (1u << b)) {
            if (n++) s += " or ";
            s += names[b];
        }
    return s;
}

inline std::string expected_str(const Want& w) {
    std::string s = "expected a ";
    if (w.ndim >= 0) s += std::to_string(w.ndim) + "-D ";
    if (w.contiguous) s += "C-contiguous ";
    if (w.writeable) s += "writeable ";
    return s + dtypes_str(w.dtypes) + " array";
}

inline std::string got_str(PyObject* o) {
    ArrayView v;
    if (!view(o, v)) return std::string("got ") + (o == Py_None ? "None" : type_name(o));
    std::string s = "got a ";
    if (!v.c_contiguous()) s += "non-contiguous ";
    if (!v.writeable()) s += "read-only ";
    return s + std::to_string(v.ndim) + "-D " + dtype_name(o) + " array of shape " +
           shape_str(v);
}

[[noreturn]] __attribute__((noinline, cold)) inline void refuse(PyObject* o, const Name& name,
                                                                const Want& w, bool type_err) {
    const std::string msg = name.str() + ": " + expected_str(w) + ", " + got_str(o);
    if (type_err) throw py::type_error(msg);
    throw std::invalid_argument(msg);
}

inline ArrayView array(PyObject* o, const Name& name, const Want& w) {
    ArrayView v;
    if (!view(o, v) || !(dtype_bit(v) & w.dtypes)) refuse(o, name, w, true);
    if ((w.ndim >= 0 && v.ndim != w.ndim) || (w.contiguous && !v.c_contiguous()) ||
        (w.writeable && !v.writeable()))
        refuse(o, name, w, false);
    return v;
}
inline ArrayView array(py::handle o, const Name& name, const Want& w) {
    return array(o.ptr(), name, w);
}

// The shape, dimension by dimension (-1: any), or ValueError naming both shapes.
[[noreturn]] __attribute__((noinline, cold)) inline void refuse_shape(
    const ArrayView& v, const Name& name, std::initializer_list<Py_ssize_t> want,
    const char* why) {
    std::string s = "(";
    std::size_t d = 0;
    for (Py_ssize_t n : want) {
        if (d++) s += ", ";
        s += n < 0 ? std::string("*") : std::to_string(n);
    }
    s += want.size() == 1 ? ",)" : ")";
    throw std::invalid_argument(name.str() + ": expected shape " + s + (why ? why : "") +
                                ", got " + shape_str(v));
}
inline void shape(const ArrayView& v, const Name& name, std::initializer_list<Py_ssize_t> want,
                  const char* why = nullptr) {
    bool ok = std::size_t(v.ndim) == want.size();
    int d = 0;
    for (Py_ssize_t n : want) ok = ok && (n < 0 || (d < v.ndim && v.shape[d] == n)), ++d;
    if (!ok) refuse_shape(v, name, want, why);
}

// The same shape as `like` (a parameter, a table), or ValueError naming both shapes.
[[noreturn]] __attribute__((noinline, cold)) inline void refuse_shape_like(
    const ArrayView& v, const Name& name, const ArrayView& like, const char* why) {
    throw std::invalid_argument(name.str() + ": expected shape " + shape_str(like) +
                                (why ? why : "") + ", got " + shape_str(v));
}
inline void shape_like(const ArrayView& v, const Name& name, const ArrayView& like,
                       const char* why = nullptr) {
    if (!v.same_shape(like)) refuse_shape_like(v, name, like, why);
}

// -- scalars ----------------------------------------------------------------------------
// An int (a Python int, a NumPy integer: anything with __index__, not a bool or a float) in
// [lo, hi]; TypeError / ValueError naming it.  pybind11's own casts would raise a generic
// "Unable to cast" RuntimeError instead.
inline std::int64_t int_arg(py::handle o, const Name& name, std::int64_t lo, std::int64_t hi) {
    if (PyBool_Check(o.ptr()) || PyFloat_Check(o.ptr()) || !PyIndex_Check(o.ptr()))
        throw py::type_error(name.str() + ": expected an int, got " + type_name(o.ptr()));
    py::int_ i = py::reinterpret_steal<py::int_>(PyNumber_Index(o.ptr()));
    if (!i) throw py::error_already_set();
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
    if (overflow || v < lo || v > hi)
        throw py::value_error(name.str() + ": expected an int in [" + std::to_string(lo) + ", " +
                              std::to_string(hi) + "], got " + py::str(i).cast<std::string>());
    return std::int64_t(v);
}

// A real number (int, float, NumPy real scalar; not a str or complex, and a bool only with
// allow_bool, for flags packed among numbers) as a double; TypeError naming it.
inline double real_arg(py::handle o, const Name& name, bool allow_bool = false) {
    PyObject* p = o.ptr();
    if (PyBool_Check(p) && allow_bool) return p == Py_True ? 1.0 : 0.0;
    if (PyBool_Check(p) || PyComplex_Check(p) || PyUnicode_Check(p) || PyBytes_Check(p) ||
        !(PyFloat_Check(p) || PyIndex_Check(p) || (PyNumber_Check(p) && !is_array(p) &&
                                                    PyObject_HasAttrString(p, "__float__"))))
        throw py::type_error(name.str() + ": expected a real number, got " + type_name(p));
    const double v = PyFloat_AsDouble(p);
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        throw py::type_error(name.str() + ": expected a real number, got " + type_name(p));
    }
    return v;
}

// A str's UTF-8 bytes (valid while the str lives); TypeError for another type, ValueError
// for text that has no UTF-8 form (lone surrogates).
inline std::string_view utf8_arg(py::handle o, const Name& name) {
    if (!PyUnicode_Check(o.ptr()))
        throw py::type_error(name.str() + ": expected str, got " + type_name(o.ptr()));
    Py_ssize_t len = 0;
    const char* p = PyUnicode_AsUTF8AndSize(o.ptr(), &len);
    if (!p) {
        PyErr_Clear();
        throw py::value_error(name.str() + ": not valid Unicode text (lone surrogates)");
    }
    return {p, std::size_t(len)};
}

// A 1-D C-contiguous int64 array (ids, offsets, counts).
inline ArrayView int64_vector(py::handle o, const char* name) {
    return array(o, name, Want{kI64, 1});
}

// -- private copies of inputs read without the GIL -------------------------------------
// Another Python thread may write the caller's arrays at any time while a native call
// runs without the GIL (and even with it held, when the binding runs Python code: an
// attribute, a __float__, a garbage collection).  So a check of an array's *contents*
// holds only for a copy that no one else can reach.  The rule of every binding:
//   - inputs whose contents are checked or used to address memory (ids, offsets, labels,
//     CSR indices and indptr, counts, sampler weights) and the small per-sample float
//     inputs (sample weights, per-sample weights) are read through a private copy, taken
//     *before* the contents are checked: copy, check the copy, use the copy (the copy may
//     be taken a chunk at a time without the GIL, each worker checking and reading only its
//     own, as the sentence encoder's encode does);
//   - large float operands that are only read (X, CSR values, y, scores, grad_out, the
//     tables of a forward pass) are read in place: a race there gives wrong numbers,
//     never an out-of-range access, and copying them would cost a pass over the data;
//   - arrays written in place (parameters, optimizer state, step counts, tables being
//     trained) cannot be copied; no kernel derives an address from their contents, so a
//     race on them also gives wrong numbers only.
// Shapes, dtypes and flags are read while the GIL is held; a copy keeps its own shape.
class Copies {
  public:
    // A view of a private copy of v's elements and shape (v C-contiguous, as array()
    // checked).
    ArrayView of(ArrayView v) {
        const std::size_t bytes = v.size() * elsize(v), nd = std::size_t(v.ndim);
        static_assert(sizeof(Py_ssize_t) == 8);
        auto buf = std::unique_ptr<std::int64_t[]>(new std::int64_t[nd + bytes / 8 + 1]);
        auto* dims = reinterpret_cast<Py_ssize_t*>(buf.get());
        for (std::size_t d = 0; d < nd; ++d) dims[d] = v.shape[d];
        if (bytes) std::memcpy(buf.get() + nd, v.data, bytes);
        v.shape = dims;
        v.data = reinterpret_cast<char*>(buf.get() + nd);
        v.flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
        bufs_.push_back(std::move(buf));
        return v;
    }

  private:
    static std::size_t elsize(const ArrayView& v) {
        return (dtype_bit(v) & (kF32 | kI32)) ? 4u : 8u;
    }
    std::vector<std::unique_ptr<std::int64_t[]>> bufs_;
};

// array(o, name, w), then a private copy of it in `copies` (see Copies).
inline ArrayView private_array(py::handle o, const Name& name, const Want& w, Copies& copies) {
    Want cw = w;
    cw.contiguous = true;
    cw.writeable = false;
    return copies.of(array(o.ptr(), name, cw));
}

// A private copy of a 1-D C-contiguous int64 array (ids, offsets, labels, indices).
inline ArrayView private_int64_vector(py::handle o, const char* name, Copies& copies) {
    return private_array(o, name, Want{kI64, 1}, copies);
}

// Word counts (word2vec, Doc2Vec): a private int64 copy, every count >= 1, fewer than
// 2^31 words; their number into V.
inline const std::int64_t* word_counts(py::handle counts_a, Copies& copies, std::size_t& V) {
    const ArrayView cv = private_int64_vector(counts_a, "counts", copies);
    V = std::size_t(cv.shape[0]);
    if (V >= std::size_t(INT32_MAX))
        throw std::invalid_argument("counts: at most 2^31 - 2 words are supported");
    const auto* counts = reinterpret_cast<const std::int64_t*>(cv.data);
    for (std::size_t w = 0; w < V; ++w)
        if (counts[w] < 1) throw std::invalid_argument("counts: every word needs a count >= 1");
    return counts;
}

// repr(x) of a Python float, for messages.
inline std::string repr_float(double x) { return py::repr(py::float_(x)).cast<std::string>(); }

// A sampler class (word2vec's w2v::Sampler, Doc2Vec's d2v::Sampler: S(counts, V, sample),
// size(), sample()) as msopt._core.<name>: the counts copied and checked with the GIL held,
// the tables built without it.
template <class S>
void register_sampler(py::module_& m, const char* name, const char* doc) {
    const std::string label(name);
    py::class_<S>(m, name, doc)
        .def(py::init([](py::handle counts_a, double sample) {
                 if (!(sample >= 0) || !std::isfinite(sample))
                     throw std::invalid_argument("sample: finite and >= 0 is required");
                 Copies copies;
                 std::size_t V = 0;
                 const std::int64_t* counts = word_counts(counts_a, copies, V);
                 py::gil_scoped_release nogil;  // the counts are a private copy
                 return std::make_unique<S>(counts, V, sample);
             }),
             py::arg("counts"), py::arg("sample"))
        .def_property_readonly("size", &S::size, "The number of words.")
        .def_property_readonly("sample", &S::sample,
                               "The subsampling threshold it was built with.")
        .def("__repr__", [label](const S& s) {
            return label + "(" + std::to_string(s.size()) + " words, sample=" +
                   repr_float(s.sample()) + ")";
        });
}

// -- typed enums at the boundary ------------------------------------------------------
// Enums cross as py::native_enum (enum.IntEnum subclasses).  Functions on a hot path take
// them as a handle and read them here: a type check against the registered class and an
// int read (a few ns), where pybind11's caster looks the type up first.
template <class E>
struct EnumType {
    static inline PyObject* type = nullptr;  // set by the register_<area> that binds E
};

template <class E>
E enum_value(py::handle o, const char* name) {
    PyObject* t = EnumType<E>::type;
    if (!t || !PyObject_TypeCheck(o.ptr(), reinterpret_cast<PyTypeObject*>(t)))
        throw py::type_error(std::string(name) + ": expected msopt._core." +
                             (t ? reinterpret_cast<PyTypeObject*>(t)->tp_name : "enum") +
                             ", got " + type_name(o.ptr()));
    return E(PyLong_AsLong(o.ptr()));
}

// Every id in [0, rows), or IndexError naming the first that is not (`what` says what the
// rows are, e.g. "a table of 10 rows").
inline void check_ids(const std::int64_t* ids, std::size_t n, std::int64_t rows,
                      const std::string& what) {
    for (std::size_t j = 0; j < n; ++j)
        if (ids[j] < 0 || ids[j] >= rows)
            throw py::index_error("ids[" + std::to_string(j) + "] = " + std::to_string(ids[j]) +
                                  " is out of range for " + what);
}

// Offsets that split n_ids ids into groups: start at 0, never decrease, stay within the ids.
inline void check_offsets(const std::int64_t* off, std::size_t n, std::size_t n_ids) {
    if (n == 0) {
        if (n_ids)
            throw std::invalid_argument("offsets: empty, but there are " +
                                        std::to_string(n_ids) + " ids");
        return;
    }
    if (off[0] != 0)
        throw std::invalid_argument("offsets: must start at 0, got " + std::to_string(off[0]));
    for (std::size_t b = 1; b < n; ++b)
        if (off[b] < off[b - 1])
            throw std::invalid_argument("offsets: must be non-decreasing (offsets[" +
                                        std::to_string(b) + "] = " + std::to_string(off[b]) +
                                        " < " + std::to_string(off[b - 1]) + ")");
    if (std::size_t(off[n - 1]) > n_ids)
        throw std::invalid_argument("offsets: the last offset " + std::to_string(off[n - 1]) +
                                    " runs past the " + std::to_string(n_ids) + " ids");
}

}  // namespace msopt::bind

namespace msopt {
void register_optim(py::module_& m);
void register_runtime(py::module_& m);
void register_linear(py::module_& m);
void register_embedding(py::module_& m);
void register_text(py::module_& m);
void register_word2vec(py::module_& m);
void register_fasttext(py::module_& m);
void register_kneser_ney(py::module_& m);

// Binding files register themselves, so a new area adds a file and edits no shared one:
// MSOPT_REGISTER_BINDINGS("50 word2vec", register_word2vec) at namespace scope in the
// file; module.cpp calls every registered function in the order of their keys.
using RegisterFn = void (*)(py::module_&);
struct Registration {
    Registration(const char* key, RegisterFn fn);
};
}  // namespace msopt

#define MSOPT_REGISTER_BINDINGS(key, fn)                                    \
    namespace {                                                             \
    const ::msopt::Registration msopt_bindings_registration(key, fn);       \
    }

namespace msopt::bind {

// Groups of ids (bags, documents, sentences): every group's ids back to back in `ids`,
// group g starting at offsets[g].  Both int64 arrays, checked as above.
struct Ragged {
    const std::int64_t* ids;
    std::size_t n_ids;
    const std::int64_t* offsets;
    std::size_t n;
};

// Both are private copies (in `copies`), checked after they are taken.
inline Ragged ragged_ids(py::handle ids, py::handle offsets, std::int64_t rows,
                         const std::string& what, Copies& copies) {
    const ArrayView iv = private_int64_vector(ids, "ids", copies);
    const ArrayView ov = private_int64_vector(offsets, "offsets", copies);
    const Ragged r{reinterpret_cast<const std::int64_t*>(iv.data), std::size_t(iv.shape[0]),
                   reinterpret_cast<const std::int64_t*>(ov.data), std::size_t(ov.shape[0])};
    check_ids(r.ids, r.n_ids, rows, what);
    check_offsets(r.offsets, r.n, r.n_ids);
    return r;
}

}  // namespace msopt::bind
