// loss_grad: the loss kernels of csrc/msopt/losses on their own (for tests and for Python
// code that wants a loss and its gradient).  Inputs checked with the GIL held; the scores
// are copied into the returned gradient array, which the kernel then overwrites.  Class
// ids and the sampler's weights are private copies checked after they are taken
// (bind::Copies); float targets and log_q are read in place (wrong numbers at worst).
#include "common.hpp"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../msopt/core/random.hpp"
#include "../msopt/losses/alias.hpp"
#include "../msopt/losses/losses.hpp"
#include "../msopt/simd/vec_math.hpp"

namespace msopt {
namespace {

using bind::ArrayView;

ArrayView matrix(py::handle o, const char* name) {
    ArrayView v;
    if (!bind::view(o.ptr(), v) || (!v.is_f32() && !v.is_f64()) || v.ndim != 2 ||
        !v.c_contiguous())
        throw py::type_error(std::string(name) +
                             ": expected a C-contiguous float32 or float64 2-D array");
    return v;
}

// A copy of the scores, the kernel's in-place input and output.
template <class T>
py::array_t<T> copy_of(const ArrayView& s) {
    py::array_t<T> out({py::ssize_t(s.shape[0]), py::ssize_t(s.shape[1])});
    if (s.size()) std::memcpy(out.mutable_data(), s.data, s.size() * sizeof(T));
    return out;
}

template <class T>
py::tuple dense(losses::Dense kind, const ArrayView& s, py::handle targets, double huber_eps) {
    bind::Copies copies;
    const std::size_t B = std::size_t(s.shape[0]), C = std::size_t(s.shape[1]);
    losses::DenseSpec spec{kind, huber_eps};
    const T* y = nullptr;
    const std::int64_t* label = nullptr;
    if (kind == losses::Dense::Squared || kind == losses::Dense::Huber) {
        ArrayView t;
        if (!bind::view(targets.ptr(), t) || t.type_num != s.type_num || !t.same_shape(s) ||
            !t.c_contiguous())
            throw py::type_error("targets: expected a C-contiguous array of the scores' dtype "
                                 "and shape " + bind::shape_str(s));
        y = reinterpret_cast<const T*>(t.data);
    } else {
        const ArrayView t = bind::private_int64_vector(targets, "targets", copies);
        if (std::size_t(t.shape[0]) != B)
            throw std::invalid_argument("targets: one class id per row of scores " +
                                        bind::shape_str(s) + " expected, got " +
                                        bind::shape_str(t));
        label = reinterpret_cast<const std::int64_t*>(t.data);
        const std::int64_t classes = kind == losses::Dense::Softmax ||
                                             (kind == losses::Dense::Hinge && C > 1)
                                         ? std::int64_t(C)
                                         : 2;
        if ((kind == losses::Dense::Logistic) && C != 1)
            throw std::invalid_argument("scores: logistic takes one column, got " +
                                        bind::shape_str(s));
        if (C < 1) throw std::invalid_argument("scores: at least one column expected");
        bind::check_ids(label, B, classes, std::to_string(classes) + " classes");
    }
    py::array_t<T> out = copy_of<T>(s);
    T* z = out.mutable_data();
    double loss;
    {
        py::gil_scoped_release nogil;
        const losses::Kernels& k = losses::kernels();
        if constexpr (sizeof(T) == 4)
            loss = k.dense_f32(spec, z, B, C, y, label, nullptr, nullptr, 1.0);
        else
            loss = k.dense_f64(spec, z, B, C, y, label, nullptr, nullptr, 1.0);
    }
    return py::make_tuple(loss, out);
}

py::tuple ns(const ArrayView& s, bool table_sigmoid) {
    if (!s.is_f32()) throw py::type_error("scores: negative sampling takes float32");
    const std::size_t B = std::size_t(s.shape[0]), n = std::size_t(s.shape[1]);
    if (n < 1) throw std::invalid_argument("scores: the positive's column 0 is needed");
    static const std::vector<float> table = simd::make_sigmoid_table();
    py::array_t<float> out = copy_of<float>(s);
    float* z = out.mutable_data();
    double loss;
    {
        py::gil_scoped_release nogil;
        loss = losses::kernels().ns(z, B, n, table_sigmoid ? table.data() : nullptr);
    }
    return py::make_tuple(loss, out);
}

template <class T>
py::tuple sampled(const ArrayView& s, py::handle targets, py::handle log_q, bool remove) {
    const std::size_t B = std::size_t(s.shape[0]), n = std::size_t(s.shape[1]);
    if (n < 1) throw std::invalid_argument("scores: the true class's column 0 is needed");
    ArrayView ids, q;
    if (!bind::view(targets.ptr(), ids) || !ids.is_i64() || !ids.same_shape(s) ||
        !ids.c_contiguous())
        throw py::type_error("targets: expected C-contiguous int64 class ids of the scores' "
                             "shape " + bind::shape_str(s));
    if (!bind::view(log_q.ptr(), q) || q.type_num != s.type_num || !q.same_shape(s) ||
        !q.c_contiguous())
        throw py::type_error("log_q: expected a C-contiguous array of the scores' dtype and "
                             "shape " + bind::shape_str(s));
    bind::Copies copies;
    ids = copies.of(ids);
    py::array_t<T> out = copy_of<T>(s);
    T* z = out.mutable_data();
    double loss;
    {
        py::gil_scoped_release nogil;
        const losses::Kernels& k = losses::kernels();
        const auto* id = reinterpret_cast<const std::int64_t*>(ids.data);
        const auto* lq = reinterpret_cast<const T*>(q.data);
        if constexpr (sizeof(T) == 4)
            loss = k.sampled_f32.loss_grad(z, B, n, id, lq, remove, 1.0);
        else
            loss = k.sampled_f64.loss_grad(z, B, n, id, lq, remove, 1.0);
    }
    return py::make_tuple(loss, out);
}

py::tuple loss_grad(const std::string& kind, py::handle scores, py::handle targets,
                    double huber_eps, py::handle log_q, bool remove_accidental_hits,
                    bool table_sigmoid) {
    const ArrayView s = matrix(scores, "scores");
    const bool f32 = s.is_f32();
    const std::pair<const char*, losses::Dense> dense_kinds[] = {
        {"squared", losses::Dense::Squared}, {"huber", losses::Dense::Huber},
        {"logistic", losses::Dense::Logistic}, {"softmax", losses::Dense::Softmax},
        {"hinge", losses::Dense::Hinge}};
    if (kind == "huber" && !(std::isfinite(huber_eps) && huber_eps > 0))
        throw std::invalid_argument("huber_eps: must be finite and > 0");
    for (const auto& [name, k] : dense_kinds)
        if (kind == name)
            return f32 ? dense<float>(k, s, targets, huber_eps)
                       : dense<double>(k, s, targets, huber_eps);
    if (kind == "ns") return ns(s, table_sigmoid);
    if (kind == "sampled_softmax")
        return f32 ? sampled<float>(s, targets, log_q, remove_accidental_hits)
                   : sampled<double>(s, targets, log_q, remove_accidental_hits);
    throw std::invalid_argument("kind: expected 'squared', 'huber', 'logistic', 'softmax', "
                                "'hinge', 'ns' or 'sampled_softmax', got '" + kind + "'");
}

// n draws from the alias sampler over `weights` (a splitmix64 stream seeded with seed),
// each redrawn while it equals `exclude` (-1: none); -1 for a draw with no class to give.
py::array_t<std::int64_t> sample_classes(py::handle weights, std::int64_t n, std::uint64_t seed,
                                         std::int64_t exclude) {
    ArrayView w;
    if (!bind::view(weights.ptr(), w) || !w.is_f64() || w.ndim != 1 || !w.c_contiguous())
        throw py::type_error("weights: expected a 1-D C-contiguous float64 array");
    bind::Copies copies;  // checked below, then read without the GIL
    w = copies.of(w);
    const std::size_t K = std::size_t(w.shape[0]);
    const auto* wp = reinterpret_cast<const double*>(w.data);
    double total = 0.0;
    for (std::size_t k = 0; k < K; ++k) {
        if (!(wp[k] >= 0.0) || !std::isfinite(wp[k]))
            throw std::invalid_argument("weights[" + std::to_string(k) +
                                        "]: must be finite and >= 0");
        total += wp[k];
    }
    if (!(total > 0.0) || !std::isfinite(total))
        throw std::invalid_argument("weights: a positive, finite sum is needed");
    if (n < 0) throw std::invalid_argument("n: must be >= 0");
    if (exclude < -1 || exclude >= std::int64_t(K))
        throw py::index_error("exclude: not a class id (or -1)");
    py::array_t<std::int64_t> out(py::ssize_t{n});
    std::int64_t* o = out.mutable_data();
    {
        py::gil_scoped_release nogil;
        const losses::AliasTable table(wp, K);
        SplitMix64 rng{seed};
        for (std::int64_t i = 0; i < n; ++i) {
            const std::size_t k = exclude < 0
                                      ? table.draw(rng.next())
                                      : table.draw_except(std::size_t(exclude),
                                                          [&] { return rng.next(); });
            o[i] = k < K ? std::int64_t(k) : -1;
        }
    }
    return out;
}

}  // namespace

void register_losses(py::module_& m) {
    m.def("loss_grad", &loss_grad, py::arg("kind"), py::arg("scores"),
          py::arg("targets") = py::none(), py::kw_only(), py::arg("huber_eps") = 1.35,
          py::arg("log_q") = py::none(), py::arg("remove_accidental_hits") = false,
          py::arg("table_sigmoid") = false,
          "(summed loss, dLoss/dscores) of one of the loss kernels, scores (B, n) per row: "
          "squared, huber (targets: floats like scores); logistic, softmax, hinge (targets: "
          "int64 class ids, one per row); ns (column 0 the positive, the rest negatives; "
          "float32); sampled_softmax (column 0 the true class; targets: int64 class ids of "
          "every column, log_q: log of each class's expected count).");
    m.def("sample_classes", &sample_classes, py::arg("weights"), py::arg("n"),
          py::arg("seed") = 0, py::arg("exclude") = -1,
          "n draws from the alias sampler in proportion to weights (the negatives' sampler "
          "of word2vec, the classifier and sampled softmax); a draw equal to exclude is "
          "redrawn (-1 when no other class has weight).");
}

MSOPT_REGISTER_BINDINGS("70 losses", register_losses)

}  // namespace msopt
