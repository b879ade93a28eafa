// embedding_bag_forward / embedding_bag_backward: ids and offsets copied and checked with
// the GIL held, then the pooling or its backward without it.  The ids, offsets and
// per-sample weights the kernels read are private copies (bind::Copies); the table and
// grad_out are read in place (a race on them gives wrong numbers, never a bad address).
#include "common.hpp"

#include <cstring>
#include <vector>

#include "../msopt/embedding/embedding.hpp"

namespace msopt {
namespace {

using bind::ArrayView;

embedding::Bags parse_bags(py::handle ids_o, py::handle offsets_o, std::int64_t rows,
                           bind::Copies& copies) {
    const auto r = bind::ragged_ids(ids_o, offsets_o, rows,
                                    "a table of " + std::to_string(rows) + " rows", copies);
    return {r.ids, r.n_ids, r.offsets, r.n};
}

const void* parse_weights(py::handle w, const ArrayView& like, std::size_t n_ids,
                          embedding::Mode mode, bind::Copies& copies) {
    if (w.is_none()) return nullptr;
    if (mode != embedding::Mode::Sum)
        throw std::invalid_argument("per_sample_weights: only with mode='sum'");
    const ArrayView wv = bind::private_array(w, "per_sample_weights",
                                             bind::Want{bind::dtype_bit(like), 1}, copies);
    bind::shape(wv, "per_sample_weights", {Py_ssize_t(n_ids)}, " (one weight per id)");
    return wv.data;
}

ArrayView float_matrix(py::handle o, const char* name) {
    return bind::array(o, name, bind::Want{bind::kFloat, 2});
}

embedding::Mode parse_mode(int mode) {
    if (mode != 0 && mode != 1) throw std::invalid_argument("mode: 0 (sum) or 1 (mean)");
    return embedding::Mode(mode);
}

py::array forward(py::handle table, py::handle ids, py::handle offsets, py::handle weights,
                  int mode_id) {
    const ArrayView tv = float_matrix(table, "table");
    const auto mode = parse_mode(mode_id);
    bind::Copies copies;
    const auto bags = parse_bags(ids, offsets, tv.shape[0], copies);
    const void* w = parse_weights(weights, tv, bags.n_ids, mode, copies);
    const std::size_t dim = std::size_t(tv.shape[1]);
    py::array out(py::reinterpret_borrow<py::object>(table).attr("dtype"),
                  {py::ssize_t(bags.n_bags), py::ssize_t(dim)});
    void* o = out.mutable_data();
    {
        py::gil_scoped_release nogil;
        if (tv.is_f32())
            embedding::bag_forward(reinterpret_cast<const float*>(tv.data), dim, bags,
                                   static_cast<const float*>(w), mode, static_cast<float*>(o));
        else
            embedding::bag_forward(reinterpret_cast<const double*>(tv.data), dim, bags,
                                   static_cast<const double*>(w), mode,
                                   static_cast<double*>(o));
    }
    return out;
}

struct BackwardArgs {
    bind::Copies copies;  // ids, offsets and weights, alive while the kernel reads them
    ArrayView grad;
    embedding::Mode mode;
    embedding::Bags bags;
    const void* weights;
};

void backward_args(BackwardArgs& a, py::handle grad_out, py::handle ids, py::handle offsets,
                   py::handle weights, int mode_id, std::int64_t rows) {
    a.grad = float_matrix(grad_out, "grad_out");
    a.mode = parse_mode(mode_id);
    a.bags = parse_bags(ids, offsets, rows, a.copies);
    bind::shape(a.grad, "grad_out", {Py_ssize_t(a.bags.n_bags), -1}, " (one row per bag)");
    a.weights = parse_weights(weights, a.grad, a.bags.n_ids, a.mode, a.copies);
}

py::array backward(py::handle grad_out, py::handle ids, py::handle offsets, py::handle weights,
                   int mode_id, std::int64_t rows) {
    BackwardArgs a;
    backward_args(a, grad_out, ids, offsets, weights, mode_id, rows);
    const std::size_t dim = std::size_t(a.grad.shape[1]);
    py::array values(py::reinterpret_borrow<py::object>(grad_out).attr("dtype"),
                     {py::ssize_t(a.bags.n_ids), py::ssize_t(dim)});
    void* v = values.mutable_data();
    {
        py::gil_scoped_release nogil;
        if (a.grad.is_f32())
            embedding::bag_backward(reinterpret_cast<const float*>(a.grad.data), dim, a.bags,
                                    static_cast<const float*>(a.weights), a.mode,
                                    static_cast<float*>(v));
        else
            embedding::bag_backward(reinterpret_cast<const double*>(a.grad.data), dim, a.bags,
                                    static_cast<const double*>(a.weights), a.mode,
                                    static_cast<double*>(v));
    }
    return values;
}

template <class T>
py::tuple merged_t(const BackwardArgs& a) {
    const std::size_t dim = std::size_t(a.grad.shape[1]);
    std::vector<std::int64_t> uniq;
    std::vector<T> merged;
    {
        py::gil_scoped_release nogil;
        embedding::bag_backward_merged(reinterpret_cast<const T*>(a.grad.data), dim, a.bags,
                                       static_cast<const T*>(a.weights), a.mode, uniq, merged);
    }
    py::array_t<std::int64_t> ids(py::ssize_t(uniq.size()));
    py::array_t<T> values({py::ssize_t(uniq.size()), py::ssize_t(dim)});
    if (!uniq.empty()) std::memcpy(ids.mutable_data(), uniq.data(), uniq.size() * 8);
    if (!merged.empty())
        std::memcpy(values.mutable_data(), merged.data(), merged.size() * sizeof(T));
    return py::make_tuple(ids, values);
}

py::tuple backward_merged(py::handle grad_out, py::handle ids, py::handle offsets,
                          py::handle weights, int mode_id, std::int64_t rows) {
    BackwardArgs a;
    backward_args(a, grad_out, ids, offsets, weights, mode_id, rows);
    return a.grad.is_f32() ? merged_t<float>(a) : merged_t<double>(a);
}

}  // namespace

void register_embedding(py::module_& m) {
    m.def("embedding_bag_backward_merged", &backward_merged, py::arg("grad_out"),
          py::arg("ids"), py::arg("offsets"), py::arg("per_sample_weights"), py::arg("mode"),
          py::arg("num_embeddings"),
          "The backward merged per id: (distinct ids in order of first appearance, their "
          "summed gradient rows).");
    m.def("embedding_bag_forward", &forward, py::arg("table"), py::arg("ids"),
          py::arg("offsets"), py::arg("per_sample_weights"), py::arg("mode"),
          "Pooled rows of the table per bag: (n_bags, dim).  mode 0 = sum, 1 = mean.");
    m.def("embedding_bag_backward", &backward, py::arg("grad_out"), py::arg("ids"),
          py::arg("offsets"), py::arg("per_sample_weights"), py::arg("mode"),
          py::arg("num_embeddings"),
          "One gradient row per id occurrence, (n_ids, dim), for a RowGrad.");
}

MSOPT_REGISTER_BINDINGS("30 embedding", register_embedding)

}  // namespace msopt
