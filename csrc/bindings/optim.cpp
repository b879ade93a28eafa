// optimizer_step: one native call that validates every array (GIL held), then releases
// the GIL and runs one step over all parameters.  A rejected call changes nothing.
#include "common.hpp"

#include <cmath>
#include <utility>
#include <vector>

#include "../msopt/optim/optim.hpp"
#include "../msopt/optim/schedule.hpp"
#include "../msopt/optim/step.hpp"

namespace msopt {
namespace {

using bind::ArrayView;

struct GroupHyper {
    double h[8];
};

std::string at(const char* what, std::size_t i) {
    return std::string(what) + "[" + std::to_string(i) + "]";
}

// Scratch that outlives the GIL-free section: converted gradients and coalesced rows.
struct Scratch {
    // References to every array the GIL-free part reads or writes (and contiguous copies
    // of non-contiguous gradients): another Python thread may drop the caller's.
    std::vector<py::object> keep;
    std::vector<std::vector<std::int64_t>> ids;  // private copies of RowGrad ids
    std::vector<std::vector<std::int64_t>> uniq;
    std::vector<std::vector<float>> rows_f32;
    std::vector<std::vector<double>> rows_f64;
};

// Makes a C-contiguous version of a read-only input (a copy only when needed).
PyObject* contiguous(PyObject* o, Scratch& s) {
    ArrayView v;
    bind::view(o, v);
    if (v.c_contiguous()) return o;
    auto arr = py::reinterpret_borrow<py::array>(o);
    py::object c = py::module_::import("numpy").attr("ascontiguousarray")(arr);
    s.keep.push_back(c);
    return c.ptr();
}

// A shallow copy of a list: the checks below call Python code (numpy.ascontiguousarray,
// __float__), during which another thread may shrink or refill the caller's lists.
py::list snapshot(const py::list& l) {
    PyObject* c = PyList_GetSlice(l.ptr(), 0, PyList_GET_SIZE(l.ptr()));
    if (!c) throw py::error_already_set();
    return py::reinterpret_steal<py::list>(c);
}

// The random-stream key of parameter `param` at step t (bfloat16 state):
// splitmix64's finalizer, chained; msopt.reference.lowbit.stream_key is its twin.
std::uint64_t mix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
std::uint32_t stream_key(std::uint64_t seed, std::uint64_t param, std::uint64_t t) {
    return std::uint32_t(mix64(mix64(mix64(seed) ^ param) ^ t));
}

// The compressed-state options: (kind, block, seed, scales), scales holding two float32
// arrays per parameter (int8) or being empty (bfloat16).
struct Compress {
    StateKind kind = StateKind::Same;
    std::size_t block = 0;
    std::uint64_t seed = 0;
    py::list scales;
};

Compress parse_compress(py::handle o, Algo algo, std::size_t n) {
    Compress c;
    if (o.is_none()) return c;
    if (!PyTuple_Check(o.ptr()) || PyTuple_GET_SIZE(o.ptr()) != 4)
        throw py::type_error("compress: expected a tuple (kind, block, seed, scales)");
    py::tuple t = py::reinterpret_borrow<py::tuple>(o);
    const auto kind = bind::int_arg(t[0], "compress.kind", 1, 2);
    c.kind = StateKind(kind);
    if (algo != Algo::Adam && algo != Algo::AdamW)
        throw std::invalid_argument("state_dtype: compressed state is available for Adam and "
                                    "AdamW only");
    c.block = std::size_t(bind::int_arg(t[1], "compress.block", 1,
                                        std::int64_t(kMaxQ8Block)));
    c.seed = py::reinterpret_borrow<py::int_>(t[2]).cast<std::uint64_t>();
    if (!PyList_Check(t[3].ptr())) throw py::type_error("compress.scales: expected a list");
    c.scales = snapshot(t[3].cast<py::list>());
    if (c.kind == StateKind::Int8 && c.scales.size() != 2 * n)
        throw std::invalid_argument("compress.scales: expected " + std::to_string(2 * n) +
                                    " arrays (two per parameter), got " +
                                    std::to_string(c.scales.size()));
    return c;
}

// The moments of parameter i stored compressed (slots 0 and 1; slot 2, amsgrad's, unused).
void compressed_state(const Compress& c, const py::list& states, std::size_t i,
                      const ArrayView& pv, std::uint64_t t, ParamTask& task, Scratch& scratch) {
    if (!pv.is_f32())
        throw py::type_error(at("params", i) + ": compressed optimizer state needs float32 "
                             "parameters, got " + bind::dtype_name(pv.obj));
    if (task.coeffs.amsgrad)
        throw std::invalid_argument(at("params", i) + ": amsgrad is not available with "
                                    "compressed optimizer state");
    const unsigned want[2] = {c.kind == StateKind::BF16 ? unsigned(bind::kU16) : bind::kU8,
                              c.kind == StateKind::BF16 ? unsigned(bind::kU16) : bind::kU8};
    for (int s = 0; s < 2; ++s) {
        PyObject* so = PyList_GET_ITEM(states.ptr(), Py_ssize_t(i * kMaxSlots + s));
        const bind::Name sn("states", i * kMaxSlots + std::size_t(s));
        const ArrayView st = bind::array(so, sn, bind::Want{want[s], -1, true});
        bind::shape_like(st, sn, pv, " (its parameter's)");
        task.state[s] = st.data;
        scratch.keep.push_back(py::reinterpret_borrow<py::object>(so));
    }
    task.skind = c.kind;
    if (c.kind == StateKind::BF16) {
        task.key = stream_key(c.seed, i, t);
        return;
    }
    // The block layout: the parameter as (rows, cols), cols its last axes (1-D: one row).
    Py_ssize_t rows = pv.ndim >= 2 ? pv.shape[0] : 1, cols = 1;
    for (int d = pv.ndim >= 2 ? 1 : 0; d < pv.ndim; ++d) cols *= pv.shape[d];
    const Py_ssize_t nb = (cols + Py_ssize_t(c.block) - 1) / Py_ssize_t(c.block);
    for (int s = 0; s < 2; ++s) {
        PyObject* so = PyList_GET_ITEM(c.scales.ptr(), Py_ssize_t(2 * i + std::size_t(s)));
        const bind::Name sn("compress.scales", 2 * i + std::size_t(s));
        const ArrayView sv = bind::array(so, sn, bind::Want{bind::kF32, 2, true});
        bind::shape(sv, sn, {rows, nb}, " (rows by blocks of the parameter)");
        task.scale[s] = reinterpret_cast<float*>(sv.data);
        scratch.keep.push_back(py::reinterpret_borrow<py::object>(so));
    }
    task.block = c.block;
    task.cols = std::size_t(cols);
}

py::tuple optimizer_step(py::handle algo_o, py::list params_in, py::list grads_in,
                         py::list states_in, py::handle steps_arr, py::list hypers,
                         py::list group_sizes, double max_norm, bool check_finite,
                         py::handle compress_o) {
    const py::list params = snapshot(params_in), grads = snapshot(grads_in),
                   states = snapshot(states_in);
    const Algo algo = bind::enum_value<Algo>(algo_o, "algo");
    const std::size_t n = params.size();
    if (grads.size() != n)
        throw std::invalid_argument("grads: expected " + std::to_string(n) +
                                    " gradients (one per parameter), got " +
                                    std::to_string(grads.size()));
    if (states.size() != n * kMaxSlots)
        throw std::invalid_argument("states: expected " + std::to_string(n * kMaxSlots) +
                                    " entries, got " + std::to_string(states.size()));
    const ArrayView sv = bind::array(steps_arr, "steps", bind::Want{bind::kI64, 1, true});
    bind::shape(sv, "steps", {Py_ssize_t(n)}, " (one count per parameter)");
    auto* steps = reinterpret_cast<std::int64_t*>(sv.data);
    const Compress compress = parse_compress(compress_o, algo, n);

    // Group hyperparameters.
    const int hl = hyper_len(algo);
    std::vector<GroupHyper> gh(hypers.size());
    std::vector<std::size_t> group_of;
    group_of.reserve(n);
    if (group_sizes.size() != hypers.size())
        throw std::invalid_argument("group_sizes: one size per group expected");
    for (std::size_t g = 0; g < hypers.size(); ++g) {
        if (!PyTuple_Check(hypers[g].ptr()))
            throw py::type_error(bind::Name("hypers", g).str() + ": expected a tuple, got " +
                                 bind::type_name(hypers[g].ptr()));
        py::tuple t = hypers[g].cast<py::tuple>();
        if (int(t.size()) != hl)
            throw std::invalid_argument("hypers: group " + std::to_string(g) + " has " +
                                        std::to_string(t.size()) + " values, expected " +
                                        std::to_string(hl));
        for (int j = 0; j < hl; ++j)
            gh[g].h[j] = bind::real_arg(t[j], bind::Name("hypers", g), true);
        const auto cnt = std::size_t(bind::int_arg(group_sizes[g], bind::Name("group_sizes", g),
                                                   0, std::int64_t(n)));
        for (std::size_t k = 0; k < cnt; ++k) group_of.push_back(g);
    }
    if (group_of.size() != n)
        throw std::invalid_argument("group_sizes: sizes do not add up to the parameter count");

    Scratch scratch;
    scratch.keep.reserve(n * (2 + kMaxSlots) + 4);
    scratch.ids.resize(n);
    std::vector<const void*> row_values(n, nullptr);
    scratch.uniq.resize(n);
    scratch.rows_f32.resize(n);
    scratch.rows_f64.resize(n);
    std::vector<ParamTask> tasks;
    tasks.reserve(n);
    std::vector<std::size_t> task_param;
    task_param.reserve(n);

    for (std::size_t i = 0; i < n; ++i) {
        PyObject* po = PyList_GET_ITEM(params.ptr(), Py_ssize_t(i));
        PyObject* go = PyList_GET_ITEM(grads.ptr(), Py_ssize_t(i));
        const ArrayView pv =
            bind::array(po, bind::Name("params", i), bind::Want{bind::kFloat, -1, true});
        if (go == Py_None) continue;  // no gradient: the parameter and its step count stay
        scratch.keep.push_back(py::reinterpret_borrow<py::object>(po));
        scratch.keep.push_back(py::reinterpret_borrow<py::object>(go));

        ParamTask task;
        task.dtype = pv.is_f32() ? DType::F32 : DType::F64;
        task.param = pv.data;
        bool need[kMaxSlots];
        task.coeffs = make_coeffs(algo, gh[group_of[i]].h, steps[i] + 1, need);
        if (compress.kind != StateKind::Same)
            compressed_state(compress, states, i, pv, std::uint64_t(steps[i] + 1), task, scratch);
        for (int s = 0; s < kMaxSlots && compress.kind == StateKind::Same; ++s) {
            PyObject* so = PyList_GET_ITEM(states.ptr(), Py_ssize_t(i * kMaxSlots + s));
            if (so == Py_None) {
                if (need[s])
                    throw std::invalid_argument(
                        at("params", i) + ": its group asks for " + slot_option(algo, s) +
                        " but the optimizer was built without that state; set it when the "
                        "optimizer is created");
                continue;
            }
            const bind::Name sn("states", i * kMaxSlots + std::size_t(s));
            const ArrayView st = bind::array(so, sn, bind::Want{bind::dtype_bit(pv), -1, true});
            bind::shape_like(st, sn, pv, " (its parameter's)");
            task.state[s] = st.data;
            scratch.keep.push_back(py::reinterpret_borrow<py::object>(so));
        }

        // Gradients are only read: a non-contiguous one is copied, not refused.
        const bind::Want grad_want{bind::dtype_bit(pv), -1, false, false};
        if (bind::is_array(go)) {
            const bind::Name gn("grads", i);
            ArrayView gv = bind::array(go, gn, grad_want);
            bind::shape_like(gv, gn, pv, " (the parameter's)");
            PyObject* gc = contiguous(go, scratch);
            bind::view(gc, gv);
            task.grad = gv.data;
            task.n = pv.size();
        } else if (PyTuple_Check(go) && PyTuple_GET_SIZE(go) == 2) {
            // RowGrad(indices, values)
            PyObject* io = PyTuple_GET_ITEM(go, 0);
            PyObject* vo = PyTuple_GET_ITEM(go, 1);
            if (pv.ndim != 2)
                throw std::invalid_argument(at("grads", i) +
                                            ": a RowGrad needs a 2-D parameter, got shape " +
                                            bind::shape_str(pv));
            ArrayView iv = bind::array(io, bind::Name("grads", i, "indices"),
                                       bind::Want{bind::kI64, 1, false, false});
            const bind::Name vn("grads", i, "values");
            ArrayView vv = bind::array(vo, vn, bind::Want{bind::dtype_bit(pv), 2, false, false});
            const Py_ssize_t k = iv.shape[0];
            bind::shape(vv, vn, {k, pv.shape[1]}, " (a row of the table per index)");
            io = contiguous(io, scratch);
            bind::view(io, iv);
            vo = contiguous(vo, scratch);
            bind::view(vo, vv);
            scratch.keep.push_back(py::reinterpret_borrow<py::object>(vo));
            // A private copy of the ids: the range check must hold for what is used.
            const auto* src = reinterpret_cast<const std::int64_t*>(iv.data);
            auto& ids = scratch.ids[i];
            ids.assign(src, src + k);
            const std::int64_t rows = pv.shape[0];
            for (Py_ssize_t j = 0; j < k; ++j)
                if (ids[std::size_t(j)] < 0 || ids[std::size_t(j)] >= rows)
                    throw py::index_error(at("grads", i) + ".indices[" + std::to_string(j) +
                                          "] = " + std::to_string(ids[std::size_t(j)]) +
                                          " is out of range for a table of " +
                                          std::to_string(rows) + " rows");
            row_values[i] = vv.data;
            task.dim = std::size_t(pv.shape[1]);
        } else {
            throw py::type_error(at("grads", i) +
                                 ": expected a numpy.ndarray, a RowGrad or None, got " +
                                 bind::type_name(go));
        }
        tasks.push_back(task);
        task_param.push_back(i);
    }

    // Everything is validated: from here on no Python object is touched.
    StepStats st;
    {
        py::gil_scoped_release nogil;
        for (std::size_t j = 0; j < tasks.size(); ++j) {
            ParamTask& t = tasks[j];
            if (t.dim == 0) continue;
            const std::size_t i = task_param[j];
            const auto& ids = scratch.ids[i];
            auto& uniq = scratch.uniq[i];
            bool merged;
            if (t.dtype == DType::F32)
                merged = coalesce_rows(ids.data(), ids.size(),
                                       static_cast<const float*>(row_values[i]), t.dim, uniq,
                                       scratch.rows_f32[i]);
            else
                merged = coalesce_rows(ids.data(), ids.size(),
                                       static_cast<const double*>(row_values[i]), t.dim, uniq,
                                       scratch.rows_f64[i]);
            t.grad = !merged ? row_values[i]
                     : t.dtype == DType::F32
                         ? static_cast<const void*>(scratch.rows_f32[i].data())
                         : static_cast<const void*>(scratch.rows_f64[i].data());
            t.rows = uniq.data();
            t.n = uniq.size() * t.dim;
        }
        st = run_step(tasks, max_norm, check_finite);
    }
    if (st.finite)
        for (std::size_t j = 0; j < task_param.size(); ++j) ++steps[task_param[j]];
    return py::make_tuple(st.finite, st.norm, st.scale);
}

}  // namespace

void register_optim(py::module_& m) {
    m.attr("MAX_STATE_SLOTS") = kMaxSlots;
    py::native_enum<Algo>(m, "Algo", "enum.IntEnum", "An optimizer's update rule.")
        .value("SGD", Algo::SGD).value("ADAM", Algo::Adam).value("ADAMW", Algo::AdamW)
        .value("ADAGRAD", Algo::Adagrad).value("RMSPROP", Algo::RMSprop)
        .value("LION", Algo::Lion).finalize();
    bind::EnumType<Algo>::type = m.attr("Algo").ptr();  // the module keeps it alive
    py::native_enum<ScheduleKind>(m, "ScheduleKind", "enum.IntEnum",
                                  "The kinds of Schedule (formulas in Schedule's doc).")
        .value("CONSTANT", ScheduleKind::Constant).value("LINEAR", ScheduleKind::Linear)
        .value("STEP", ScheduleKind::Step).value("EXPONENTIAL", ScheduleKind::Exponential)
        .value("WARMUP_COSINE", ScheduleKind::WarmupCosine).finalize();
    py::class_<Schedule>(
        m, "Schedule",
        "A learning-rate schedule: the rate at step k (msopt/optim/schedule.hpp), the one\n"
        "definition the linear runner, word2vec, the text classifier and\n"
        "msopt.optim.lr_scheduler evaluate.\n\n"
        "  CONSTANT       base\n"
        "  LINEAR         max(base - (base - end) * (k / total), floor)\n"
        "  STEP           base * gamma ** floor(k / step_size)\n"
        "  EXPONENTIAL    base * gamma ** k\n"
        "  WARMUP_COSINE  base * k / warmup (k < warmup); floor (k >= total); else\n"
        "                 floor + (base - floor) * (1 + cos(pi * (k - warmup) / (total - warmup))) / 2")
        .def(py::init([](ScheduleKind kind, double base, double end, double floor, double total,
                         double warmup, double gamma, std::int64_t step_size) {
                 const std::pair<const char*, double> fields[] = {
                     {"base", base},   {"end", end},       {"total", total},
                     {"warmup", warmup}, {"gamma", gamma}};
                 for (const auto& [name, v] : fields)
                     if (!std::isfinite(v))
                         throw std::invalid_argument(std::string(name) +
                                                     ": must be finite, got " + std::to_string(v));
                 // floor = -inf: no floor (word2vec's and the classifier's linear decay)
                 if (std::isnan(floor) || floor == HUGE_VAL ||
                     (kind == ScheduleKind::WarmupCosine && !std::isfinite(floor)))
                     throw std::invalid_argument("floor: must be finite (or -inf for no floor), "
                                                 "got " + std::to_string(floor));
                 if (kind == ScheduleKind::Step && step_size < 1)
                     throw std::invalid_argument("step_size: must be >= 1, got " +
                                                 std::to_string(step_size));
                 if ((kind == ScheduleKind::Linear || kind == ScheduleKind::WarmupCosine) &&
                     !(total > 0))
                     throw std::invalid_argument("total: must be > 0");
                 if (kind == ScheduleKind::WarmupCosine && !(warmup >= 0))
                     throw std::invalid_argument("warmup: must be >= 0");
                 return Schedule{kind, base, end, floor, total, warmup, gamma, step_size};
             }),
             py::arg("kind") = ScheduleKind::Constant, py::kw_only(), py::arg("base") = 1.0,
             py::arg("end") = 0.0, py::arg("floor") = 0.0, py::arg("total") = 1.0,
             py::arg("warmup") = 0.0, py::arg("gamma") = 1.0, py::arg("step_size") = 1)
        .def_readonly("kind", &Schedule::kind)
        .def_readonly("base", &Schedule::base)
        .def_readonly("end", &Schedule::end)
        .def_readonly("floor", &Schedule::floor)
        .def_readonly("total", &Schedule::total)
        .def_readonly("warmup", &Schedule::warmup)
        .def_readonly("gamma", &Schedule::gamma)
        .def_readonly("step_size", &Schedule::step_size)
        .def("at", &Schedule::at, py::arg("k"), "The rate at step k.")
        .def(
            "rates",
            [](const Schedule& s, std::int64_t start, std::int64_t stop) {
                if (stop < start)
                    throw std::invalid_argument("stop: must be >= start");
                const std::uint64_t count = std::uint64_t(stop) - std::uint64_t(start);
                if (count > (std::uint64_t(1) << 32))
                    throw std::invalid_argument("start, stop: at most 2**32 rates at once");
                py::array_t<double> out{py::ssize_t(count)};
                double* p = out.mutable_data();
                for (std::int64_t k = start; k < stop; ++k) p[k - start] = s.at(double(k));
                return out;
            },
            py::arg("start"), py::arg("stop"), "The rates at steps start, ..., stop - 1.")
        .def("__repr__", [](const Schedule& s) {
            return py::str("Schedule(ScheduleKind.{}, base={}, end={}, floor={}, total={}, "
                           "warmup={}, gamma={}, step_size={})")
                .format(py::cast(s.kind).attr("name"), s.base, s.end, s.floor, s.total, s.warmup, s.gamma,
                        s.step_size);
        });
    m.def("optimizer_step", &optimizer_step, py::arg("algo"), py::arg("params"),
          py::arg("grads"), py::arg("states"), py::arg("steps"), py::arg("hypers"),
          py::arg("group_sizes"), py::arg("max_norm"), py::arg("check_finite"),
          py::arg("compress") = py::none(),
          "One step of optimizer `algo` over every parameter, in one native call.\n\n"
          "compress: None, or (kind, block, seed, scales) for Adam/AdamW with compressed\n"
          "moments: kind 1 = bfloat16 (uint16 arrays, stochastic rounding keyed by seed),\n"
          "2 = int8 (uint8 codes of m and v, two float32 scale arrays per parameter of\n"
          "shape (rows, ceil(cols / block)) in scales).\n\n"
          "Returns (finite, grad_norm, clip_scale).  When finite is False nothing changed.");
    m.def(
        "stream7",
        [](py::handle p, py::handle g, py::handle m, py::handle v) {
            const bind::Want rw{bind::kF32, -1, true};
            const ArrayView pv = bind::array(p, "p", rw);
            const ArrayView gv = bind::array(g, "g", bind::Want{bind::kF32, -1});
            const ArrayView mv =
                bind::array(m, "m", bind::Want{bind::kF32 | bind::kU16 | bind::kU8, -1, true});
            const unsigned kind = bind::dtype_bit(mv);
            const ArrayView vv = bind::array(v, "v", bind::Want{kind, -1, true});
            bind::shape_like(gv, "g", pv, " (p's)");
            bind::shape_like(mv, "m", pv, " (p's)");
            bind::shape_like(vv, "v", pv, " (p's)");
            const std::size_t n = pv.size();
            float* pp = reinterpret_cast<float*>(pv.data);
            const float* gp = reinterpret_cast<const float*>(gv.data);
            py::gil_scoped_release nogil;
            if (kind == bind::kU16)
                stream7(pp, gp, reinterpret_cast<std::uint16_t*>(mv.data),
                        reinterpret_cast<std::uint16_t*>(vv.data), n);
            else if (kind == bind::kU8)
                stream7(pp, gp, reinterpret_cast<std::uint8_t*>(mv.data),
                        reinterpret_cast<std::uint8_t*>(vv.data), n);
            else
                stream7(pp, gp, reinterpret_cast<float*>(mv.data),
                        reinterpret_cast<float*>(vv.data), n);
        },
        py::arg("p"), py::arg("g"), py::arg("m"), py::arg("v"),
        "Benchmark floor: the memory traffic of an Adam step (read 4 arrays, write 3) with "
        "next to no arithmetic, split over threads as optimizer_step splits it.  m and v are "
        "float32, or uint16 / uint8 (the traffic of bfloat16 / int8 state).");
}

MSOPT_REGISTER_BINDINGS("10 optim", register_optim)

}  // namespace msopt
