// optimizer_step: one native call that validates every array (GIL held), then releases
// the GIL and runs one step over all parameters.  A rejected call changes nothing.
#include "common.hpp"

#include <cmath>
#include <vector>

#include "../msopt/optim/optim.hpp"
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

py::tuple optimizer_step(int algo_id, py::list params, py::list grads, py::list states,
                         py::array steps_arr, py::list hypers, py::list group_sizes,
                         double max_norm, bool check_finite) {
    if (algo_id < 0 || algo_id > int(Algo::Lion))
        throw std::invalid_argument("algo: unknown optimizer id " + std::to_string(algo_id));
    const Algo algo = Algo(algo_id);
    const std::size_t n = params.size();
    if (grads.size() != n)
        throw std::invalid_argument("grads: expected " + std::to_string(n) +
                                    " gradients (one per parameter), got " +
                                    std::to_string(grads.size()));
    if (states.size() != n * kMaxSlots)
        throw std::invalid_argument("states: expected " + std::to_string(n * kMaxSlots) +
                                    " entries, got " + std::to_string(states.size()));
    ArrayView sv;
    if (!bind::view(steps_arr.ptr(), sv) || !sv.is_i64() || sv.ndim != 1 ||
        std::size_t(sv.shape[0]) != n || !sv.c_contiguous() || !sv.writeable())
        throw std::invalid_argument("steps: expected a writeable int64 array of length " +
                                    std::to_string(n));
    auto* steps = reinterpret_cast<std::int64_t*>(sv.data);

    // Group hyperparameters.
    const int hl = hyper_len(algo);
    std::vector<GroupHyper> gh(hypers.size());
    std::vector<std::size_t> group_of;
    group_of.reserve(n);
    if (group_sizes.size() != hypers.size())
        throw std::invalid_argument("group_sizes: one size per group expected");
    for (std::size_t g = 0; g < hypers.size(); ++g) {
        py::tuple t = hypers[g].cast<py::tuple>();
        if (int(t.size()) != hl)
            throw std::invalid_argument("hypers: group " + std::to_string(g) + " has " +
                                        std::to_string(t.size()) + " values, expected " +
                                        std::to_string(hl));
        for (int j = 0; j < hl; ++j) gh[g].h[j] = t[j].cast<double>();
        const std::size_t cnt = group_sizes[g].cast<std::size_t>();
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
        ArrayView pv;
        if (!bind::view(po, pv))
            throw py::type_error(at("params", i) + ": expected a numpy.ndarray, got " +
                                 bind::type_name(po));
        if (!pv.is_f32() && !pv.is_f64())
            throw py::type_error(at("params", i) + ": dtype must be float32 or float64, got " +
                                 bind::dtype_name(po));
        if (!pv.c_contiguous())
            throw std::invalid_argument(at("params", i) +
                                        ": must be C-contiguous (it is updated in place)");
        if (!pv.writeable())
            throw std::invalid_argument(at("params", i) + ": is read-only");
        if (go == Py_None) continue;  // no gradient: the parameter and its step count stay
        scratch.keep.push_back(py::reinterpret_borrow<py::object>(po));
        scratch.keep.push_back(py::reinterpret_borrow<py::object>(go));

        ParamTask task;
        task.dtype = pv.is_f32() ? DType::F32 : DType::F64;
        task.param = pv.data;
        bool need[kMaxSlots];
        task.coeffs = make_coeffs(algo, gh[group_of[i]].h, steps[i] + 1, need);
        for (int s = 0; s < kMaxSlots; ++s) {
            PyObject* so = PyList_GET_ITEM(states.ptr(), Py_ssize_t(i * kMaxSlots + s));
            if (so == Py_None) {
                if (need[s])
                    throw std::invalid_argument(
                        at("params", i) + ": its group asks for " + slot_option(algo, s) +
                        " but the optimizer was built without that state; set it when the "
                        "optimizer is created");
                continue;
            }
            ArrayView st;
            if (!bind::view(so, st) || st.type_num != pv.type_num || !st.same_shape(pv) ||
                !st.c_contiguous() || !st.writeable())
                throw std::invalid_argument(at("state", i) +
                                            ": state array does not match its parameter");
            task.state[s] = st.data;
            scratch.keep.push_back(py::reinterpret_borrow<py::object>(so));
        }

        ArrayView gv;
        if (bind::view(go, gv)) {
            if (gv.type_num != pv.type_num || !gv.native())
                throw py::type_error(at("grads", i) + ": dtype " + bind::dtype_name(go) +
                                     " does not match the parameter's " + bind::dtype_name(po));
            if (!gv.same_shape(pv))
                throw std::invalid_argument(at("grads", i) + ": shape " + bind::shape_str(gv) +
                                            " does not match the parameter's " +
                                            bind::shape_str(pv));
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
            ArrayView iv, vv;
            if (!bind::view(io, iv) || !iv.is_i64() || iv.ndim != 1)
                throw py::type_error(at("grads", i) +
                                     ".indices: expected a 1-D int64 array");
            if (!bind::view(vo, vv))
                throw py::type_error(at("grads", i) + ".values: expected a numpy.ndarray");
            if (vv.type_num != pv.type_num || !vv.native())
                throw py::type_error(at("grads", i) + ".values: dtype " + bind::dtype_name(vo) +
                                     " does not match the parameter's " + bind::dtype_name(po));
            const Py_ssize_t k = iv.shape[0];
            if (vv.ndim != 2 || vv.shape[0] != k || vv.shape[1] != pv.shape[1])
                throw std::invalid_argument(
                    at("grads", i) + ".values: shape " + bind::shape_str(vv) + " should be (" +
                    std::to_string(k) + ", " + std::to_string(pv.shape[1]) +
                    ") for that many indices into a table of shape " + bind::shape_str(pv));
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
    m.def("optimizer_step", &optimizer_step, py::arg("algo"), py::arg("params"),
          py::arg("grads"), py::arg("states"), py::arg("steps"), py::arg("hypers"),
          py::arg("group_sizes"), py::arg("max_norm"), py::arg("check_finite"),
          "One step of optimizer `algo` over every parameter, in one native call.\n\n"
          "Returns (finite, grad_norm, clip_scale).  When finite is False nothing changed.");
    m.def(
        "stream7",
        [](py::array_t<float, 0> p, py::array_t<float, 0> g, py::array_t<float, 0> m,
           py::array_t<float, 0> v) {
            const std::size_t n = std::size_t(p.size());
            for (auto* a : {&g, &m, &v})
                if (std::size_t(a->size()) != n)
                    throw std::invalid_argument("stream7: arrays must have one size");
            for (auto* a : {&p, &g, &m, &v})
                if (!(a->flags() & py::array::c_style))
                    throw std::invalid_argument("stream7: arrays must be C-contiguous");
            float* pp = p.mutable_data();
            float* mp = m.mutable_data();
            float* vp = v.mutable_data();
            const float* gp = g.data();
            py::gil_scoped_release nogil;
            stream7(pp, gp, mp, vp, n);
        },
        py::arg("p").noconvert(), py::arg("g").noconvert(), py::arg("m").noconvert(),
        py::arg("v").noconvert(),
        "Benchmark floor: the memory traffic of an fp32 Adam step (read 4 arrays, write 3) "
        "with next to no arithmetic, split over threads as optimizer_step splits it.");
}

MSOPT_REGISTER_BINDINGS("10 optim", register_optim)

}  // namespace msopt
