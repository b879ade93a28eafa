// linear_run / linear_forward / linear_loss_grad: validate the data, the model and the
// optimizer state (GIL held), then run without the GIL.  CSR indices and indptr, labels and
// sample weights are private copies, checked after they are taken (bind::Copies); X and y
// are read in place, W, b and the optimizer state written in place (a race on those gives
// wrong numbers, never a bad address: no kernel derives an address from their contents).
#include "common.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../msopt/linear/linear.hpp"

namespace msopt {
namespace {

using bind::ArrayView;

using bind::Want;

// The dtype mask of "the model's dtype" (W's).
unsigned model_dtype(int type_num) {
    return type_num == py::detail::npy_api::NPY_FLOAT_ ? bind::kF32 : bind::kF64;
}

// The data: X dense (2-D) or CSR (X holds the values; indptr/indices given), targets.
template <class T>
linear::Data<T> parse_data(py::handle X, py::handle indptr, py::handle indices,
                           std::size_t n_features, py::handle y, py::handle labels,
                           py::handle sw, int type_num, std::size_t C, linear::Loss loss,
                           bind::Copies& copies, bool targets_optional = false) {
    linear::Data<T> D;
    const unsigned dt = model_dtype(type_num);
    D.d = n_features;
    if (indptr.is_none()) {
        const ArrayView xv = bind::array(X, "X", Want{dt, 2});
        bind::shape(xv, "X", {-1, Py_ssize_t(n_features)});
        D.x = reinterpret_cast<const T*>(xv.data);
        D.ldx = n_features;
        D.n = std::size_t(xv.shape[0]);
    } else {
        const ArrayView xv = bind::array(X, "X", Want{dt, 1});
        const ArrayView pv = bind::private_int64_vector(indptr, "indptr", copies);
        const ArrayView iv = bind::private_int64_vector(indices, "indices", copies);
        if (pv.shape[0] < 1) bind::shape(pv, "indptr", {-1}, " (n + 1 >= 1 row pointers)");
        bind::shape(xv, "X", {iv.shape[0]}, " (CSR values, one per index)");
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
        const ArrayView yv = bind::array(y, "y", Want{dt, 2});
        bind::shape(yv, "y", {Py_ssize_t(D.n), Py_ssize_t(C)});
        D.y = reinterpret_cast<const T*>(yv.data);
    } else if (!regression && !labels.is_none()) {
        const ArrayView lv = bind::private_int64_vector(labels, "labels", copies);
        bind::shape(lv, "labels", {Py_ssize_t(D.n)});
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
        const ArrayView wv = bind::private_array(sw, "sample_weight", Want{dt, 1}, copies);
        bind::shape(wv, "sample_weight", {Py_ssize_t(D.n)});
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
    m.W = bind::array(W, "W", Want{bind::kFloat, 2, writeable});
    m.d = std::size_t(m.W.shape[0]);
    m.C = std::size_t(m.W.shape[1]);
    m.type_num = m.W.type_num;
    if (!b.is_none()) {
        m.b = bind::array(b, "b", Want{model_dtype(m.type_num), 1, writeable});
        bind::shape(m.b, "b", {Py_ssize_t(m.C)});
        m.has_b = true;
    }
    return m;
}

template <class T>
py::tuple run_t(const Model& m, const linear::Data<T>& D, const linear::LossSpec& loss,
                linear::OptimSpec& opt, const linear::RunSpec& spec) {
    const std::size_t bs = spec.batch_size < D.n ? spec.batch_size : D.n;
    if (spec.epochs > 0 && spec.first_batch > 0 &&
        std::uint64_t(spec.first_batch) >= (D.n + bs - 1) / std::max<std::size_t>(bs, 1))
        throw std::invalid_argument("options.first_batch: " + std::to_string(spec.first_batch) +
                                    " is past the epoch's last batch");
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
    return py::make_tuple(losses, r.finite, r.steps, r.batch, r.carry);
}

// The options of one linear_run call besides the data, the model and the optimizer.
struct LinearRunOptions {
    linear::Loss loss = linear::Loss::Squared;
    double huber_eps = 1.35;
    linear::RunSpec run;
};

void fill_hyper(Algo algo, py::handle t, double* out, const bind::Name& name) {
    if (!PyTuple_Check(t.ptr()))
        throw py::type_error(name.str() + ": expected a tuple of hyperparameters, got " +
                             bind::type_name(t.ptr()));
    auto tup = py::reinterpret_borrow<py::tuple>(t);
    if (int(tup.size()) != hyper_len(algo))
        throw std::invalid_argument(name.str() + ": expected " + std::to_string(hyper_len(algo)) +
                                    " hyperparameters, got " + std::to_string(tup.size()));
    for (std::size_t j = 0; j < tup.size(); ++j) out[j] = tup[j].cast<double>();
}

void fill_states(const Model& m, py::list states, std::size_t offset, void** out, Algo algo,
                 const double* hyper, const ArrayView& param, const char* name,
                 std::vector<py::object>& keep) {
    bool need[kMaxSlots];
    make_coeffs(algo, hyper, 1, need);
    const Want want{model_dtype(m.type_num), param.ndim, true};
    for (int s = 0; s < kMaxSlots; ++s) {
        py::handle o = states[offset + std::size_t(s)];
        out[s] = nullptr;
        if (o.is_none()) {
            if (need[s])
                throw std::invalid_argument(std::string(name) + ": the optimizer lacks state for " +
                                            slot_option(algo, s));
            continue;
        }
        const bind::Name sn("states", offset + std::size_t(s));
        const ArrayView v = bind::array(o, sn, want);
        if (!v.same_shape(param))
            throw std::invalid_argument(sn.str() + ": state array does not match " + name +
                                        ": expected shape " + bind::shape_str(param) + ", got " +
                                        bind::shape_str(v));
        out[s] = v.data;
        keep.push_back(py::reinterpret_borrow<py::object>(o));  // the list may be edited
    }
}

// The optimizer's state, as Optimizer.native_state() hands it over (see optimizers.py).
py::tuple linear_run(py::handle X, py::handle indptr, py::handle indices, py::handle y,
                     py::handle labels, py::handle sample_weight, py::handle W, py::handle b,
                     py::handle optimizer, const LinearRunOptions& o) {
    if (o.run.batch_size < 1) throw std::invalid_argument("batch_size: must be >= 1");
    if (o.run.epochs < 0) throw std::invalid_argument("epochs: must be >= 0");
    if (o.run.first_batch < 0 || !std::isfinite(o.run.carry))
        throw std::invalid_argument("options.first_batch, options.carry: a chunk starts at a "
                                    "batch >= 0 with a finite loss sum");
    // (the layer checks these too; the options object can be edited field by field)
    if (!(std::isfinite(o.run.l2) && o.run.l2 >= 0))
        throw std::invalid_argument("options.l2: must be finite and >= 0");
    if (!(std::isfinite(o.run.l1) && o.run.l1 >= 0))
        throw std::invalid_argument("options.l1: must be finite and >= 0");
    if (o.loss == linear::Loss::Huber && !(std::isfinite(o.huber_eps) && o.huber_eps > 0))
        throw std::invalid_argument("options.huber_eps: must be finite and > 0");
    for (const char* attr : {"algo", "hypers", "states", "steps", "max_grad_norm"})
        if (!py::hasattr(optimizer, attr))
            throw py::type_error(std::string("optimizer: expected an Optimizer.native_state(), "
                                             "got ") + bind::type_name(optimizer.ptr()));
    const Model m = parse_model(W, b, true);
    const linear::LossSpec loss{o.loss, o.huber_eps};
    if ((loss.loss == linear::Loss::Logistic) && m.C != 1)
        throw std::invalid_argument("W: the logistic loss takes one output column");
    linear::OptimSpec opt;
    opt.algo = bind::enum_value<Algo>(optimizer.attr("algo"), "optimizer.algo");
    opt.max_norm = optimizer.attr("max_grad_norm").cast<double>();
    const std::size_t arrays = m.has_b ? 2u : 1u;
    py::object hypers_o = optimizer.attr("hypers");
    if (!PyList_Check(hypers_o.ptr()) && !PyTuple_Check(hypers_o.ptr()))
        throw py::type_error("optimizer.hypers: expected a list of tuples, one per group");
    py::sequence hypers = hypers_o;
    if (hypers.size() != arrays)
        throw std::invalid_argument("optimizer.hypers: one tuple for W and one for b expected");
    fill_hyper(opt.algo, hypers[0], opt.hyper_w, bind::Name("optimizer.hypers", 0));
    if (m.has_b) fill_hyper(opt.algo, hypers[1], opt.hyper_b, bind::Name("optimizer.hypers", 1));
    py::object states_o = optimizer.attr("states");
    if (!PyList_Check(states_o.ptr()))
        throw py::type_error("optimizer.states: expected a list");
    py::list states = states_o;
    if (states.size() != arrays * kMaxSlots)
        throw std::invalid_argument("optimizer.states: expected " +
                                    std::to_string(arrays * kMaxSlots) + " entries, got " +
                                    std::to_string(states.size()));
    std::vector<py::object> keep;  // the state arrays, alive while the GIL is released
    fill_states(m, states, 0, opt.state_w, opt.algo, opt.hyper_w, m.W, "W", keep);
    if (m.has_b)
        fill_states(m, states, kMaxSlots, opt.state_b, opt.algo, opt.hyper_b, m.b, "b", keep);
    py::object steps = optimizer.attr("steps");
    const ArrayView sv = bind::array(steps, "optimizer.steps", Want{bind::kI64, 1, true});
    bind::shape(sv, "optimizer.steps", {Py_ssize_t(arrays)}, " (one count per array)");
    keep.push_back(steps);
    opt.step_w = reinterpret_cast<std::int64_t*>(sv.data);
    opt.step_b = m.has_b ? opt.step_w + 1 : nullptr;
    linear::RunSpec spec = o.run;
    bind::Copies copies;
    if (m.W.is_f32()) {
        auto D = parse_data<float>(X, indptr, indices, m.d, y, labels, sample_weight,
                                   m.type_num, m.C, loss.loss, copies);
        return run_t<float>(m, D, loss, opt, spec);
    }
    auto D = parse_data<double>(X, indptr, indices, m.d, y, labels, sample_weight, m.type_num,
                                m.C, loss.loss, copies);
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
    bind::Copies copies;
    if (m.W.is_f32()) {
        linear::Data<float> D = parse_data<float>(X, indptr, indices, m.d, py::none(),
                                                  py::none(), py::none(), m.type_num, m.C,
                                                  linear::Loss::Squared, copies, true);
        return forward_t<float>(m, D);
    }
    linear::Data<double> D = parse_data<double>(X, indptr, indices, m.d, py::none(), py::none(),
                                                py::none(), m.type_num, m.C,
                                                linear::Loss::Squared, copies, true);
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
                           py::handle b, linear::Loss loss_kind, double huber_eps) {
    if (loss_kind == linear::Loss::Huber && !(std::isfinite(huber_eps) && huber_eps > 0))
        throw std::invalid_argument("huber_eps: must be finite and > 0");
    const Model m = parse_model(W, b, false);
    linear::LossSpec loss{loss_kind, huber_eps};
    bind::Copies copies;
    if (m.W.is_f32())
        return loss_grad_t<float>(m, parse_data<float>(X, indptr, indices, m.d, y, labels,
                                                       sample_weight, m.type_num, m.C,
                                                       loss.loss, copies),
                                  loss);
    return loss_grad_t<double>(m, parse_data<double>(X, indptr, indices, m.d, y, labels,
                                                     sample_weight, m.type_num, m.C, loss.loss,
                                                     copies),
                               loss);
}

py::array epoch_permutation(std::uint64_t seed, std::int64_t epoch, std::size_t n) {
    py::array_t<std::int64_t> perm(static_cast<py::ssize_t>(n));
    linear::epoch_permutation(seed, epoch, perm.mutable_data(), n);
    return perm;
}

}  // namespace

// One field of LinearRunOptions::run (a linear::RunSpec) as a read-write property.
template <class V>
void run_field(py::class_<LinearRunOptions>& c, const char* name, V linear::RunSpec::*m) {
    c.def_property(
        name, [m](const LinearRunOptions& o) { return o.run.*m; },
        [m](LinearRunOptions& o, const V& v) { o.run.*m = v; });
}

void register_linear(py::module_& m) {
    py::native_enum<linear::Loss>(m, "Loss", "enum.IntEnum",
                                  "The loss a linear model is trained on (see linear.hpp).")
        .value("SQUARED", linear::Loss::Squared).value("HUBER", linear::Loss::Huber)
        .value("LOGISTIC", linear::Loss::Logistic).value("SOFTMAX", linear::Loss::Softmax)
        .value("HINGE", linear::Loss::Hinge).finalize();
    py::class_<LinearRunOptions> options(
        m, "LinearRunOptions",
        "What one linear_run call does, besides the data, the model and the optimizer.");
    options.def(py::init([](linear::Loss loss, double huber_eps, std::size_t batch_size,
                         std::int64_t epochs, std::int64_t epoch0, std::uint64_t seed,
                         bool shuffle, double l2, double l1, const Schedule& schedule,
                         std::int64_t schedule_origin) {
                 LinearRunOptions o;
                 o.loss = loss;
                 o.huber_eps = huber_eps;
                 o.run.batch_size = batch_size;
                 o.run.epochs = epochs;
                 o.run.epoch0 = epoch0;
                 o.run.seed = seed;
                 o.run.shuffle = shuffle;
                 o.run.l2 = l2;
                 o.run.l1 = l1;
                 o.run.schedule = schedule;
                 o.run.schedule_origin = schedule_origin;
                 return o;
             }),
             py::kw_only(), py::arg("loss") = linear::Loss::Squared, py::arg("huber_eps") = 1.35,
             py::arg("batch_size") = 32, py::arg("epochs") = 1, py::arg("epoch0") = 0,
             py::arg("seed") = 0, py::arg("shuffle") = true, py::arg("l2") = 0.0,
             py::arg("l1") = 0.0, py::arg("schedule") = Schedule{},
             py::arg("schedule_origin") = 0)
        .def_readwrite("loss", &LinearRunOptions::loss)
        .def_readwrite("huber_eps", &LinearRunOptions::huber_eps);
    run_field(options, "batch_size", &linear::RunSpec::batch_size);
    run_field(options, "epochs", &linear::RunSpec::epochs);
    run_field(options, "epoch0", &linear::RunSpec::epoch0);
    run_field(options, "seed", &linear::RunSpec::seed);
    run_field(options, "shuffle", &linear::RunSpec::shuffle);
    run_field(options, "l2", &linear::RunSpec::l2);
    run_field(options, "l1", &linear::RunSpec::l1);
    run_field(options, "schedule", &linear::RunSpec::schedule);
    run_field(options, "schedule_origin", &linear::RunSpec::schedule_origin);
    run_field(options, "first_batch", &linear::RunSpec::first_batch);
    run_field(options, "max_batches", &linear::RunSpec::max_batches);
    run_field(options, "carry", &linear::RunSpec::carry);
    m.def("linear_run", &linear_run, py::arg("X"), py::arg("indptr"), py::arg("indices"),
          py::arg("y"), py::arg("labels"), py::arg("sample_weight"), py::arg("W"), py::arg("b"),
          py::arg("optimizer"), py::arg("options"),
          "Run minibatch epochs of a linear model with a fused loss, in one native call.\n\n"
          "`optimizer` is an Optimizer.native_state() (algo, hypers, states, steps, "
          "max_grad_norm; states and steps are updated in place); `options` a "
          "LinearRunOptions.  The schedule is a factor (base 1) of the optimizer's rates at "
          "step (its count on W) - schedule_origin.  A chunk of a longer run starts at "
          "options.first_batch of its first epoch with that epoch's loss sum so far "
          "options.carry, and stops after options.max_batches batches (< 0: none).  Returns "
          "(losses of the epochs completed, finite, steps, batch, carry): where a chunk "
          "stopped, the batch of the next epoch and its loss sum so far (0, 0 at an epoch's "
          "end).");
    m.def("linear_forward", &linear_forward, py::arg("X"), py::arg("indptr"),
          py::arg("indices"), py::arg("W"), py::arg("b"), "Z = X W + b (dense or CSR X).");
    m.def("linear_loss_grad", &linear_loss_grad, py::arg("X"), py::arg("indptr"),
          py::arg("indices"), py::arg("y"), py::arg("labels"), py::arg("sample_weight"),
          py::arg("W"), py::arg("b"), py::arg("loss"), py::arg("huber_eps"),
          "Mean loss over the data and its gradient: (loss, dW, db).");
    m.def(
        "linear_tile_max",
        [](py::object n) {
            if (!n.is_none())
                linear::set_tile_max_work(std::size_t(
                    bind::int_arg(n, "n", 0, std::numeric_limits<std::int64_t>::max())));
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
