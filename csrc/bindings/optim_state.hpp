// Optimizer.native_state()'s optimizer part, for the models whose native loops step their
// parameters through the optimizer engine (the language model, the sentence encoder): the
// algorithm, the clipping norm, and per parameter its group's hyperparameters, its state
// slots and its step counter.
#pragma once

#include <string>
#include <vector>

#include "../msopt/optim/optim.hpp"
#include "common.hpp"

namespace msopt::bind {

// Into opt (lm::Optim, enc::Optim: algo, max_norm, hyper[p][8], state[p][slot], step[p]) for
// n parameters, whose state arrays are of dtype `dt` and size(p) elements; name(p) names
// parameter p in errors.  Arrays read in place are kept alive in `keep`.
template <class Optim, class Size, class NameOf>
void parse_optim_state(py::handle state, int n, unsigned dt, Size size, NameOf name, Optim& opt,
                       std::vector<py::object>& keep) {
    opt.algo = enum_value<Algo>(state.attr("algo"), "optimizer.algo");
    opt.max_norm = state.attr("max_grad_norm").cast<double>();
    py::sequence hypers = state.attr("hypers");
    py::sequence sizes = state.attr("group_sizes");
    if (hypers.size() != sizes.size())
        throw std::invalid_argument("optimizer: one hyperparameter tuple per group expected");
    int i = 0;
    for (std::size_t g = 0; g < sizes.size(); ++g) {
        py::tuple hy = hypers[g];
        if (int(hy.size()) != hyper_len(opt.algo))
            throw std::invalid_argument("optimizer.hypers: wrong length");
        const int cnt = sizes[g].cast<int>();
        for (int j = 0; j < cnt && i < n; ++j, ++i)
            for (std::size_t q = 0; q < hy.size(); ++q) opt.hyper[i][q] = hy[q].cast<double>();
    }
    if (i != n) throw std::invalid_argument("optimizer: group sizes do not cover the parameters");
    py::list states = state.attr("states");
    if (int(states.size()) != n * kMaxSlots)
        throw std::invalid_argument("optimizer.states: expected " +
                                    std::to_string(n * kMaxSlots) + " entries");
    for (int p = 0; p < n; ++p) {
        bool need[kMaxSlots];
        make_coeffs(opt.algo, opt.hyper[p], 1, need);
        for (int s = 0; s < kMaxSlots; ++s) {
            py::object o = states[std::size_t(p * kMaxSlots + s)];
            opt.state[p][s] = nullptr;
            if (o.is_none()) {
                if (need[s])
                    throw std::invalid_argument(std::string(name(p)) +
                                                ": the optimizer lacks state for " +
                                                slot_option(opt.algo, s));
                continue;
            }
            const ArrayView v = array(o, Name("optimizer.states", std::size_t(p * kMaxSlots + s)),
                                      Want{dt, -1, true});
            if (v.size() != size(p))
                throw std::invalid_argument(std::string(name(p)) +
                                            ": a state array of another size");
            opt.state[p][s] = v.data;
            keep.push_back(o);
        }
    }
    py::object steps = state.attr("steps");
    const ArrayView sv = array(steps, "optimizer.steps", Want{kI64, 1, true});
    shape(sv, "optimizer.steps", {Py_ssize_t(n)}, " (one count per parameter)");
    keep.push_back(steps);
    for (int p = 0; p < n; ++p) opt.step[p] = reinterpret_cast<std::int64_t*>(sv.data) + p;
}

}  // namespace msopt::bind
