// linear_run / linear_forward / linear_loss_grad: validate the data, the model and the
// optimizer state (GIL held), then run without the GIL.
#include "common.hpp"

#include <cstring>
#include <vector>

#include "../msopt/linear/linear.hpp"

namespace msopt {
namespace {

using bind::ArrayView;

ArrayView need_array(py::handle o, const char* name) {
    ArrayView v;
    if (!bind::view(o.ptr(), v))
        throw py::type_error(std::string(name) + ": expected a numpy.ndarray, got " +
                             bind::type_name(o.ptr()));
    if (!v.c_contiguous())
        throw std::invalid_argument(std::string(name) + ": must be C-contiguous");
    return v;
}

void need_dtype(const ArrayView& v, int type_num, const char* name) {
    if (v.type_num != type_num || !v.native())
        throw py::type_error(std::string(name) + ": dtype " + bind::dtype_name(v.obj) +
                             " does not match the model's");
}

// The data: X dense (2-D) or CSR (X holds the values; indptr/indices given), targets.
template <class T>
linear::Data<T> parse_data(py::handle X, py::handle indptr, py::handle indices,
                           std::size_t n_features, py::handle y, py::handle labels,
                           py::handle sw, int type_num, std::size_t C, linear::Loss loss,
                           bool targets_optional = false) {
    linear::Data<T> D;
    ArrayView xv = need_array(X, "X");
    need_dtype(xv, type_num, "X");
    D.d = n_features;
    if (indptr.is_none()) {
        if (xv.ndim != 2 || std::size_t(xv.shape[1]) != n_features)
            throw std::invalid_argument("X: expected shape (n, " + std::to_string(n_features) +
                                        "), got " + bind::shape_str(xv));
        D.x = reinterpret_cast<const T*>(xv.data);
        D.ldx = n_features;
        D.n = std::size_t(xv.shape[0]);
    } else {
        ArrayView pv = need_array(indptr, "indptr"), iv = need_array(indices, "indices");
        if (!pv.is_i64() || pv.ndim != 1 || pv.shape[0] < 1)
            throw py::type_error("indptr: expected a 1-D int64 array of length n + 1");
        if (!iv.is_i64() || iv.ndim != 1)
            throw py::type_error("indices: expected a 1-D int64 array");
        if (xv.ndim != 1 || xv.shape[0] != iv.shape[0])
            throw std::invalid_argument("X: CSR values and indices differ in length");
        const auto* ip = reinterpret_cast<const std::int64_t*>(pv.data);
        const auto* ix = reinterpret_cast<const std::int64_t*>(iv.data);
        D.n = std::size_t(pv.shape[0] - 1);
        if (ip[0] != 0 || ip[D.n] != iv.shape[0])
            throw std::invalid_argument("indptr: must start at 0 and end at nnz = " +
                                        std::to_string(iv.shape[0]));
        for (std::size_t r = 0; r < D.n; ++r)
            if (ip[r + 1] < ip[r])
                throw std::invalid_argument("indptr: must be non-decreasing (row " +
                                            std::to_string(r) + ")");
        for (Py_ssize_t j = 0; j < iv.shape[0]; ++j)
            if (ix[j] < 0 || std::size_t(ix[j]) >= n_features)
                throw py::index_error("indices[" + std::to_string(j) + "] = " +
                                      std::to_string(ix[j]) + " is out of range for " +
                                      std::to_string(n_features) + " features");
        D.indptr = ip;
        D.indices = ix;
        D.vals = reinterpret_cast<const T*>(xv.data);
    }
    constexpr std::size_t kBlasMax = std::size_t(INT32_MAX);  // scipy-openblas32: 32-bit sizes
    if (D.n > kBlasMax || D.d > kBlasMax || C > kBlasMax || D.n * D.d > (std::size_t(1) << 62))
        throw std::invalid_argument("X: too large for the 32-bit BLAS msopt links");
    const bool regression = loss == linear::Loss::Squared || loss == linear::Loss::Huber;
    if (regression && !y.is_none()) {
        ArrayView yv = need_array(y, "y");
        need_dtype(yv, type_num, "y");
        if (yv.ndim != 2 || std::size_t(yv.shape[0]) != D.n || std::size_t(yv.shape[1]) != C)
            throw std::invalid_argument("y: expected shape (" + std::to_string(D.n) + ", " +
                                        std::to_string(C) + "), got " + bind::shape_str(yv));
        D.y = reinterpret_cast<const T*>(yv.data);
    } else if (!regression && !labels.is_none()) {
        ArrayView lv = need_array(labels, "labels");
        if (!lv.is_i64() || lv.ndim != 1 || std::size_t(lv.shape[0]) != D.n)
            throw std::invalid_argument("labels: expected an int64 array of length " +
                                        std::to_string(D.n));
        const auto* lp = reinterpret_cast<const std::int64_t*>(lv.data);
        const bool binary = C == 1 && loss != linear::Loss::Softmax;
        const std::int64_t hi = binary ? 2 : std::int64_t(C);
        for (std::size_t i = 0; i < D.n; ++i)
            if (lp[i] < 0 || lp[i] >= hi)
                throw py::index_error("labels[" + std::to_string(i) + "] = " +
                                      std::to_string(lp[i]) + " is not a class id below " +
                                      std::to_string(hi));
        D.label = lp;
    } else if (!targets_optional) {
        throw std::invalid_argument(regression ? "y: targets are required for this loss"
                                               : "labels: class ids are required for this loss");
    }
    if (!sw.is_none()) {
        ArrayView wv = need_array(sw, "sample_weight");
        need_dtype(wv, type_num, "sample_weight");
        if (wv.ndim != 1 || std::size_t(wv.shape[0]) != D.n)
            throw std::invalid_argument("sample_weight: expected shape (" +
                                        std::to_string(D.n) + ",)");
        D.sw = reinterpret_cast<const T*>(wv.data);
    }
    return D;
}

struct Model {
    ArrayView W, b;
    bool has_b = false;
    std::size_t d = 0, C = 0;
    int type_num = 0;
};

Model parse_model(py::handle W, py::handle b, bool writeable) {
    Model m;
    m.W = need_array(W, "W");
    if (!m.W.is_f32() && !m.W.is_f64())
        throw py::type_error("W: dtype must be float32 or float64, got " +
                             bind::dtype_name(W.ptr()));
    if (m.W.ndim != 2) throw std::invalid_argument("W: expected a 2-D array (n_features, n_outputs)");
    if (writeable && !m.W.writeable()) throw std::invalid_argument("W: is read-only");
    m.d = std::size_t(m.W.shape[0]);
    m.C = std::size_t(m.W.shape[1]);
    m.type_num = m.W.type_num;
    if (!b.is_none()) {
        m.b = need_array(b, "b");
        need_dtype(m.b, m.type_num, "b");
        if (m.b.ndim != 1 || std::size_t(m.b.shape[0]) != m.C)
            throw std::invalid_argument("b: expected shape (" + std::to_string(m.C) + ",)");
        if (writeable && !m.b.writeable()) throw std::invalid_argument("b: is read-only");
        m.has_b = true;
    }
    return m;
}

template <class T>
py::tuple run_t(const Model& m, const linear::Data<T>& D, const linear::LossSpec& loss,
                linear::OptimSpec& opt, const linear::RunSpec& spec) {
    T* W = reinterpret_cast<T*>(m.W.data);
    T* b = m.has_b ? reinterpret_cast<T*>(m.b.data) : nullptr;
    linear::RunResult r;
    {
        py::gil_scoped_release nogil;
        r = linear::run<T>(D, W, b, m.C, loss, opt, spec);
    }
    py::array_t<double> losses(py::ssize_t(r.epoch_loss.size()));
    if (!r.epoch_loss.empty())
        std::memcpy(losses.mutable_data(), r.epoch_loss.data(), r.epoch_loss.size() * 8);
    return py::make_tuple(losses, r.finite, r.steps);
}

void fill_hyper(Algo algo, py::handle t, double* out, const char* name) {
    if (!PyTuple_Check(t.ptr()))
        throw py::type_error(std::string(name) + ": expected a tuple of hyperparameters");
    auto tup = py::reinterpret_borrow<py::tuple>(t);
    if (int(tup.size()) != hyper_len(algo))
        throw std::invalid_argument(std::string(name) + ": wrong number of hyperparameters");
    for (std::size_t j = 0; j < tup.size(); ++j) out[j] = tup[j].cast<double>();
}

void fill_states(const Model& m, py::list states, std::size_t offset, void** out, Algo algo,
                 const double* hyper, const ArrayView& param, const char* name,
                 std::vector<py::object>& keep) {
    bool need[kMaxSlots];
    make_coeffs(algo, hyper, 1, need);
    for (int s = 0; s < kMaxSlots; ++s) {
        py::handle o = states[offset + std::size_t(s)];
        out[s] = nullptr;
        if (o.is_none()) {
            if (need[s])
                throw std::invalid_argument(std::string(name) + ": the optimizer lacks state for " +
                                            slot_option(algo, s));
            continue;
        }
        ArrayView v;
        if (!bind::view(o.ptr(), v) || v.type_num != m.type_num || !v.native() ||
            !v.same_shape(param) || !v.c_contiguous() || !v.writeable())
            throw std::invalid_argument(std::string(name) + ": state array does not match");
        out[s] = v.data;
        keep.push_back(py::reinterpret_borrow<py::object>(o));  // the list may be edited
    }
}

py::tuple linear_run(py::handle X, py::handle indptr, py::handle indices, py::handle y,
                     py::handle labels, py::handle sample_weight, py::handle W, py::handle b,
                     int loss_id, double huber_eps, int algo_id, py::tuple hypers,
                     py::list states, py::array steps_arr, double max_norm,
                     std::size_t batch_size, std::int64_t epochs, std::int64_t epoch0,
                     std::uint64_t seed, bool shuffle, double l2, double l1, int sched_kind,
                     std::int64_t sched_total, std::int64_t sched_warmup, double min_factor,
                     std::int64_t sched_origin) {
    if (loss_id < 0 || loss_id > 4) throw std::invalid_argument("loss: unknown id");
    if (algo_id < 0 || algo_id > int(Algo::Lion)) throw std::invalid_argument("algo: unknown id");
    if (batch_size < 1) throw std::invalid_argument("batch_size: must be >= 1");
    if (epochs < 0) throw std::invalid_argument("epochs: must be >= 0");
    const Model m = parse_model(W, b, true);
    linear::LossSpec loss{linear::Loss(loss_id), huber_eps};
    if ((loss.loss == linear::Loss::Logistic) && m.C != 1)
        throw std::invalid_argument("W: the logistic loss takes one output column");
    linear::OptimSpec opt;
    opt.algo = Algo(algo_id);
    opt.max_norm = max_norm;
    if (hypers.size() != (m.has_b ? 2u : 1u))
        throw std::invalid_argument("hypers: one tuple for W and one for b expected");
    fill_hyper(opt.algo, hypers[0], opt.hyper_w, "hypers[0]");
    if (m.has_b) fill_hyper(opt.algo, hypers[1], opt.hyper_b, "hypers[1]");
    if (states.size() != (m.has_b ? 2u : 1u) * kMaxSlots)
        throw std::invalid_argument("states: wrong length");
    std::vector<py::object> keep;  // the state arrays, alive while the GIL is released
    fill_states(m, states, 0, opt.state_w, opt.algo, opt.hyper_w, m.W, "W", keep);
    if (m.has_b)
        fill_states(m, states, kMaxSlots, opt.state_b, opt.algo, opt.hyper_b, m.b, "b", keep);
    ArrayView sv;
    if (!bind::view(steps_arr.ptr(), sv) || !sv.is_i64() || sv.ndim != 1 ||
        sv.shape[0] != (m.has_b ? 2 : 1) || !sv.writeable() || !sv.c_contiguous())
        throw std::invalid_argument("steps: expected a writeable int64 array, one per array");
    opt.step_w = reinterpret_cast<std::int64_t*>(sv.data);
    opt.step_b = m.has_b ? opt.step_w + 1 : nullptr;
    linear::RunSpec spec;
    spec.batch_size = batch_size;
    spec.epochs = epochs;
    spec.epoch0 = epoch0;
    spec.seed = seed;
    spec.shuffle = shuffle;
    spec.l2 = l2;
    spec.l1 = l1;
    spec.schedule.kind = sched_kind;
    spec.schedule.total = sched_total > 0 ? sched_total : 1;
    spec.schedule.warmup = sched_warmup;
    spec.schedule.min_factor = min_factor;
    spec.schedule.origin = sched_origin;
    if (m.W.is_f32()) {
        auto D = parse_data<float>(X, indptr, indices, m.d, y, labels, sample_weight,
                                   m.type_num, m.C, loss.loss);
        return run_t<float>(m, D, loss, opt, spec);
    }
    auto D = parse_data<double>(X, indptr, indices, m.d, y, labels, sample_weight, m.type_num,
                                m.C, loss.loss);
    return run_t<double>(m, D, loss, opt, spec);
}

template <class T>
py::array forward_t(const Model& m, const linear::Data<T>& D) {
    py::array_t<T> Z({py::ssize_t(D.n), py::ssize_t(m.C)});
    T* z = Z.mutable_data();
    const T* W = reinterpret_cast<const T*>(m.W.data);
    const T* b = m.has_b ? reinterpret_cast<const T*>(m.b.data) : nullptr;
    {
        py::gil_scoped_release nogil;
        linear::forward<T>(D, W, b, m.C, z);
    }
    return Z;
}

py::array linear_forward(py::handle X, py::handle indptr, py::handle indices, py::handle W,
                         py::handle b) {
    const Model m = parse_model(W, b, false);
    // Targets are not needed: borrow the regression path with no y.
    if (m.W.is_f32()) {
        linear::Data<float> D = parse_data<float>(X, indptr, indices, m.d, py::none(),
                                                  py::none(), py::none(), m.type_num, m.C,
                                                  linear::Loss::Squared, true);
        return forward_t<float>(m, D);
    }
    linear::Data<double> D = parse_data<double>(X, indptr, indices, m.d, py::none(), py::none(),
                                                py::none(), m.type_num, m.C,
                                                linear::Loss::Squared, true);
    return forward_t<double>(m, D);
}

template <class T>
py::tuple loss_grad_t(const Model& m, const linear::Data<T>& D, const linear::LossSpec& loss) {
    py::array_t<T> dW({py::ssize_t(m.d), py::ssize_t(m.C)});
    py::array_t<T> db(py::ssize_t(m.C));
    T* dwp = dW.mutable_data();
    T* dbp = db.mutable_data();
    const T* W = reinterpret_cast<const T*>(m.W.data);
    const T* b = m.has_b ? reinterpret_cast<const T*>(m.b.data) : nullptr;
    double value;
    {
        py::gil_scoped_release nogil;
        value = linear::loss_and_grad<T>(D, W, b, m.C, loss, dwp, dbp);
    }
    return py::make_tuple(value, dW, db);
}

py::tuple linear_loss_grad(py::handle X, py::handle indptr, py::handle indices, py::handle y,
                           py::handle labels, py::handle sample_weight, py::handle W,
                           py::handle b, int loss_id, double huber_eps) {
    if (loss_id < 0 || loss_id > 4) throw std::invalid_argument("loss: unknown id");
    const Model m = parse_model(W, b, false);
    linear::LossSpec loss{linear::Loss(loss_id), huber_eps};
    if (m.W.is_f32())
        return loss_grad_t<float>(m, parse_data<float>(X, indptr, indices, m.d, y, labels,
                                                       sample_weight, m.type_num, m.C,
                                                       loss.loss),
                                  loss);
    return loss_grad_t<double>(m, parse_data<double>(X, indptr, indices, m.d, y, labels,
                                                     sample_weight, m.type_num, m.C, loss.loss),
                               loss);
}

py::array epoch_permutation(std::uint64_t seed, std::int64_t epoch, std::size_t n) {
    py::array_t<std::int64_t> perm(static_cast<py::ssize_t>(n));
    linear::epoch_permutation(seed, epoch, perm.mutable_data(), n);
    return perm;
}

}  // namespace

void register_linear(py::module_& m) {
    m.def("linear_run", &linear_run, py::arg("X"), py::arg("indptr"), py::arg("indices"),
          py::arg("y"), py::arg("labels"), py::arg("sample_weight"), py::arg("W"), py::arg("b"),
          py::arg("loss"), py::arg("huber_eps"), py::arg("algo"), py::arg("hypers"),
          py::arg("states"), py::arg("steps"), py::arg("max_norm"), py::arg("batch_size"),
          py::arg("epochs"), py::arg("epoch0"), py::arg("seed"), py::arg("shuffle"),
          py::arg("l2"), py::arg("l1"), py::arg("schedule"), py::arg("schedule_total"),
          py::arg("schedule_warmup"), py::arg("min_factor"), py::arg("schedule_origin") = 0,
          "Run minibatch epochs of a linear model with a fused loss, in one native call.\n\n"
          "Returns (epoch_losses, finite, steps).");
    m.def("linear_forward", &linear_forward, py::arg("X"), py::arg("indptr"),
          py::arg("indices"), py::arg("W"), py::arg("b"), "Z = X W + b (dense or CSR X).");
    m.def("linear_loss_grad", &linear_loss_grad, py::arg("X"), py::arg("indptr"),
          py::arg("indices"), py::arg("y"), py::arg("labels"), py::arg("sample_weight"),
          py::arg("W"), py::arg("b"), py::arg("loss"), py::arg("huber_eps"),
          "Mean loss over the data and its gradient: (loss, dW, db).");
    m.def(
        "linear_tile_max",
        [](py::object n) {
            if (!n.is_none()) linear::set_tile_max_work(n.cast<std::size_t>());
            return linear::tile_max_work();
        },
        py::arg("n") = py::none(),
        "Get (and set) the product size, in multiply-adds, below which dense products with "
        "2 to 16 outputs run in msopt's register tiles rather than BLAS.");
    m.def("epoch_permutation", &epoch_permutation, py::arg("seed"), py::arg("epoch"),
          py::arg("n"), "The row order linear_run uses for that seed and epoch.");
}

MSOPT_REGISTER_BINDINGS("20 linear", register_linear)

}  // namespace msopt
