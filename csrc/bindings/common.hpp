// Included first by every binding file: one way to look at NumPy arrays and to report
// bad ones.  Checks use NumPy's array struct directly (a few ns an array) rather than
// py::array_t conversion (~200 ns, and it copies what it should refuse).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>

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

// A 1-D C-contiguous int64 array (ids, offsets, counts), or TypeError naming it.
inline ArrayView int64_vector(py::handle o, const char* name) {
    ArrayView v;
    if (!view(o.ptr(), v) || !v.is_i64() || v.ndim != 1 || !v.c_contiguous())
        throw py::type_error(std::string(name) + ": expected a 1-D C-contiguous int64 array");
    return v;
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

inline Ragged ragged_ids(py::handle ids, py::handle offsets, std::int64_t rows,
                         const std::string& what) {
    const ArrayView iv = int64_vector(ids, "ids");
    const ArrayView ov = int64_vector(offsets, "offsets");
    const Ragged r{reinterpret_cast<const std::int64_t*>(iv.data), std::size_t(iv.shape[0]),
                   reinterpret_cast<const std::int64_t*>(ov.data), std::size_t(ov.shape[0])};
    check_ids(r.ids, r.n_ids, rows, what);
    check_offsets(r.offsets, r.n, r.n_ids);
    return r;
}

}  // namespace msopt::bind
