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

}  // namespace msopt::bind

namespace msopt {
void register_optim(py::module_& m);
void register_runtime(py::module_& m);
void register_linear(py::module_& m);
void register_embedding(py::module_& m);
void register_text(py::module_& m);
void register_word2vec(py::module_& m);
void register_fasttext(py::module_& m);
}  // namespace msopt
