// The language model's native calls (models/lm.hpp): everything is checked, and every id
// the caller gave is copied, with the GIL held; the loops run without it.
#include "common.hpp"
#include "optim_state.hpp"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../msopt/core/threads.hpp"
#include "../msopt/models/lm.hpp"

namespace msopt {
namespace {

using bind::ArrayView;
using bind::Want;

const char* const kNames[8] = {"E", "W1", "b1", "W2", "b2", "O", "bo", "G"};

// The name of parameter i of a model of shape sh.
const char* pname(const lm::Shape& sh, int i) {
    if (sh.hidden2 || i < 3) return kNames[i];
    return kNames[i + 2];
}

std::vector<std::vector<Py_ssize_t>> shapes_of(const lm::Shape& sh) {
    const auto V = Py_ssize_t(sh.vocab), D = Py_ssize_t(sh.dim), K = Py_ssize_t(sh.K()),
               H1 = Py_ssize_t(sh.hidden1), H2 = Py_ssize_t(sh.hidden2),
               U = Py_ssize_t(sh.U());
    std::vector<std::vector<Py_ssize_t>> s = {{V, D}, {K, H1}, {H1}};
    if (sh.hidden2) s.push_back({H1, H2}), s.push_back({H2});
    s.push_back({V, U});
    s.push_back({V});
    if (sh.ngram) s.push_back({Py_ssize_t(sh.ngram_size)});
    return s;
}

std::size_t numel(const std::vector<Py_ssize_t>& s) {
    std::size_t n = 1;
    for (Py_ssize_t d : s) n *= std::size_t(d);
    return n;
}

std::string shape_str(const std::vector<Py_ssize_t>& s) {
    std::string r = "(";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + (s.size() == 1 ? ",)" : ")");
}

// The parameters, checked against the shape: all float32 or all float64, C-contiguous
// (writeable when trained).  Returns the dtype bit.
unsigned parse_params(const lm::Shape& sh, py::handle list, bool writeable, void** out,
                      std::vector<py::object>& keep) {
    if (!PyList_Check(list.ptr()) && !PyTuple_Check(list.ptr()))
        throw py::type_error("params: expected a list of arrays");
    py::sequence seq = py::reinterpret_borrow<py::sequence>(list);
    const int n = sh.n_params();
    if (int(seq.size()) != n)
        throw std::invalid_argument("params: expected " + std::to_string(n) + " arrays, got " +
                                    std::to_string(seq.size()));
    const auto shapes = shapes_of(sh);
    unsigned dt = bind::kFloat;
    for (int i = 0; i < n; ++i) {
        py::object o = seq[std::size_t(i)];
        const ArrayView v = bind::array(o, pname(sh, i), Want{dt, -1, writeable});
        dt = bind::dtype_bit(v);
        const auto& want = shapes[std::size_t(i)];
        bool ok = std::size_t(v.ndim) == want.size();
        for (std::size_t d = 0; ok && d < want.size(); ++d) ok = v.shape[d] == want[d];
        if (!ok)
            throw std::invalid_argument(std::string(pname(sh, i)) + ": expected shape " +
                                        shape_str(want) + ", got " + bind::shape_str(v));
        out[i] = v.data;
        keep.push_back(o);
    }
    return dt;
}

// Optimizer.native_state(): the parameters (checked as above) and the optimizer's part.
unsigned parse_optim(const lm::Shape& sh, py::handle state, lm::Optim& opt, void** params,
                     std::vector<py::object>& keep) {
    const unsigned dt = parse_params(sh, state.attr("params"), true, params, keep);
    const auto shapes = shapes_of(sh);
    bind::parse_optim_state(
        state, sh.n_params(), dt, [&](int p) { return numel(shapes[std::size_t(p)]); },
        [&](int p) { return pname(sh, p); }, opt, keep);
    return dt;
}


template <class T>
lm::Params<T> as_params(void** p, int n) {
    lm::Params<T> P;
    for (int i = 0; i < n; ++i) P.p[i] = static_cast<T*>(p[i]);
    return P;
}

py::tuple result_tuple(const lm::Result& r) {
    return py::make_tuple(r.loss, r.count, r.batches, r.status);
}

// Ids of a 1-D int32/int64 array, each in [0, vocab), copied.
std::vector<std::int32_t> copy_ids(py::handle o, const char* name, std::size_t vocab,
                                   int ndim = 1) {
    const ArrayView v = bind::array(o, name, Want{bind::kI64 | bind::kI32, ndim});
    const std::size_t n = v.size();
    std::vector<std::int32_t> out(n);
    const bool i64 = bind::dtype_bit(v) == bind::kI64;
    for (std::size_t j = 0; j < n; ++j) {
        const std::int64_t id = i64 ? reinterpret_cast<const std::int64_t*>(v.data)[j]
                                    : reinterpret_cast<const std::int32_t*>(v.data)[j];
        if (id < 0 || std::uint64_t(id) >= vocab)
            throw py::index_error(std::string(name) + "[" + std::to_string(j) + "] = " +
                                  std::to_string(id) + " is out of range for a vocabulary of " +
                                  std::to_string(vocab));
        out[j] = std::int32_t(id);
    }
    return out;
}

void check_range(const lm::Stream& s, std::size_t begin, std::size_t end) {
    if (begin > end || end > s.tok.size())
        throw std::invalid_argument("begin, end: expected 0 <= begin <= end <= " +
                                    std::to_string(s.tok.size()) + ", got " +
                                    std::to_string(begin) + ", " + std::to_string(end));
}

void check_threads(int threads) {
    if (threads < 1 || threads > kMaxThreads)
        throw std::invalid_argument("threads: must be in [1, " + std::to_string(kMaxThreads) +
                                    "], got " + std::to_string(threads));
}

unsigned check_update(const lm::Shape& sh, unsigned update) {
    return update & ((1u << sh.n_params()) - 1u);
}

py::tuple train(lm::Stream& s, const lm::Shape& sh, py::handle optimizer,
                std::size_t batch_size, std::uint64_t seed, std::int64_t epoch,
                std::size_t batch_begin, std::size_t batch_end, const Schedule& schedule,
                std::int64_t schedule_origin, unsigned update, int threads,
                std::size_t samples, py::handle sample_weights, double dropout) {
    if (!(dropout >= 0.0 && dropout < 1.0))
        throw std::invalid_argument("dropout: must be in [0, 1)");
    if (batch_size < 1) throw std::invalid_argument("batch_size: must be >= 1");
    if (epoch < 0) throw std::invalid_argument("epoch: must be >= 0");
    check_threads(threads);
    std::vector<py::object> keep;
    lm::Optim opt;
    void* p[lm::kMaxParams] = {};
    const unsigned dt = parse_optim(sh, optimizer, opt, p, keep);
    lm::TrainSpec spec;
    spec.batch_size = batch_size, spec.seed = seed, spec.epoch = epoch;
    spec.batch_begin = batch_begin, spec.batch_end = batch_end;
    spec.schedule = schedule, spec.schedule_origin = schedule_origin;
    spec.update = check_update(sh, update), spec.threads = threads;
    spec.dropout = dropout;
    std::vector<double> weights;
    if (samples) {
        if (samples > 1000000) throw std::invalid_argument("samples: must be <= 1,000,000");
        const ArrayView wv = bind::array(sample_weights, "sample_weights", Want{bind::kF64, 1});
        bind::shape(wv, "sample_weights", {Py_ssize_t(sh.vocab)}, " (one per token)");
        const auto* w = reinterpret_cast<const double*>(wv.data);
        weights.assign(w, w + sh.vocab);
        for (std::size_t c = 0; c < sh.vocab; ++c)
            if (!(weights[c] > 0.0) || !std::isfinite(weights[c]))
                throw std::invalid_argument("sample_weights[" + std::to_string(c) +
                                            "]: must be finite and > 0");
        spec.samples = samples;
        spec.sample_weights = weights.data();
    }
    lm::Result r;
    {
        py::gil_scoped_release nogil;
        r = dt == bind::kF32 ? lm::train<float>(s, sh, as_params<float>(p, sh.n_params()), opt, spec)
                             : lm::train<double>(s, sh, as_params<double>(p, sh.n_params()), opt, spec);
    }
    return result_tuple(r);
}

py::object score(const lm::Stream& s, const lm::Shape& sh, py::handle params,
                 std::size_t begin, std::size_t end, int threads, bool per_token) {
    check_range(s, begin, end);
    check_threads(threads);
    std::vector<py::object> keep;
    void* p[lm::kMaxParams] = {};
    const unsigned dt = parse_params(sh, params, false, p, keep);
    py::array_t<double> tok(per_token ? py::ssize_t(end - begin) : 0);
    double* tp = per_token ? tok.mutable_data() : nullptr;
    double total;
    {
        py::gil_scoped_release nogil;
        total = dt == bind::kF32
                    ? lm::score<float>(s, sh, as_params<float>(p, sh.n_params()), begin, end, threads, tp)
                    : lm::score<double>(s, sh, as_params<double>(p, sh.n_params()), begin, end, threads, tp);
    }
    if (per_token) return std::move(tok);
    return py::float_(total);
}

py::tuple dynamic(lm::Stream& s, const lm::Shape& sh, py::handle optimizer, std::size_t begin,
                  std::size_t end, std::size_t segment, int steps, unsigned update,
                  int threads, bool per_token) {
    check_range(s, begin, end);
    check_threads(threads);
    if (segment < 1) throw std::invalid_argument("segment: must be >= 1");
    if (steps < 0) throw std::invalid_argument("steps: must be >= 0");
    std::vector<py::object> keep;
    lm::Optim opt;
    void* p[lm::kMaxParams] = {};
    const unsigned dt = parse_optim(sh, optimizer, opt, p, keep);
    py::array_t<double> tok(per_token ? py::ssize_t(end - begin) : 0);
    double* tp = per_token ? tok.mutable_data() : nullptr;
    lm::Result r;
    const unsigned upd = check_update(sh, update);
    {
        py::gil_scoped_release nogil;
        r = dt == bind::kF32
                ? lm::dynamic<float>(s, sh, as_params<float>(p, sh.n_params()), opt, begin, end,
                                     segment, steps, upd, threads, tp)
                : lm::dynamic<double>(s, sh, as_params<double>(p, sh.n_params()), opt, begin, end,
                                      segment, steps, upd, threads, tp);
    }
    return py::make_tuple(r.loss, r.count, r.batches, r.status,
                          per_token ? py::object(tok) : py::object(py::none()));
}

py::tuple generate(const lm::Shape& sh, py::handle params, py::handle contexts,
                   std::size_t max_tokens, double temperature, std::size_t top_k, double top_p,
                   std::uint64_t seed, std::int64_t stop, py::handle banned, int threads,
                   py::handle kneser_ney, double kneser_ney_weight) {
    check_threads(threads);
    lm::Mix mix;
    if (!kneser_ney.is_none()) {
        if (!py::isinstance<kn::Counted>(kneser_ney))
            throw py::type_error("kneser_ney: expected a KneserNey or None");
        mix.ngram = &kneser_ney.cast<const kn::Counted&>().model;
        if (mix.ngram->vocab != sh.vocab)
            throw std::invalid_argument("kneser_ney: its vocabulary differs from the model's");
        if (std::size_t(mix.ngram->order) > sh.context + 1)
            throw std::invalid_argument("kneser_ney: its order must be at most context + 1");
        if (!(kneser_ney_weight >= 0.0 && kneser_ney_weight <= 1.0))
            throw std::invalid_argument("kneser_ney_weight: must be in [0, 1]");
        mix.weight = 1.0 - kneser_ney_weight;
    }
    if (!(temperature >= 0.0) || !std::isfinite(temperature))
        throw std::invalid_argument("temperature: must be finite and >= 0");
    if (!(top_p > 0.0 && top_p <= 1.0))
        throw std::invalid_argument("top_p: must be in (0, 1]");
    std::vector<py::object> keep;
    void* p[lm::kMaxParams] = {};
    const unsigned dt = parse_params(sh, params, false, p, keep);
    const ArrayView cv = bind::array(contexts, "contexts", Want{bind::kI64 | bind::kI32, 2});
    bind::shape(cv, "contexts", {-1, Py_ssize_t(sh.context)}, " (one row of context ids per sample)");
    const std::vector<std::int32_t> ctx = copy_ids(contexts, "contexts", sh.vocab, 2);
    const std::size_t n = std::size_t(cv.shape[0]);
    lm::Sampling smp;
    smp.temperature = temperature, smp.top_k = top_k, smp.top_p = top_p, smp.seed = seed;
    smp.stop = stop >= 0 && std::uint64_t(stop) < sh.vocab ? std::int32_t(stop) : -1;
    if (!banned.is_none()) smp.banned = copy_ids(banned, "banned", sh.vocab);
    if (smp.banned.size() >= sh.vocab)
        throw std::invalid_argument("banned: every token is banned");
    py::array_t<std::int32_t> out({py::ssize_t(n), py::ssize_t(max_tokens)});
    py::array_t<std::int64_t> lengths{py::ssize_t(n)};
    std::int32_t* op = out.mutable_data();
    std::int64_t* lp = lengths.mutable_data();
    if (n != 0 && max_tokens != 0) std::memset(op, 0, n * max_tokens * sizeof(std::int32_t));
    {
        py::gil_scoped_release nogil;
        if (dt == bind::kF32)
            lm::generate<float>(sh, as_params<float>(p, sh.n_params()), ctx.data(), n,
                                max_tokens, smp, threads, op, lp, &mix);
        else
            lm::generate<double>(sh, as_params<double>(p, sh.n_params()), ctx.data(), n,
                                 max_tokens, smp, threads, op, lp, &mix);
    }
    return py::make_tuple(out, lengths);
}

}  // namespace

void register_lm(py::module_& m) {
    py::native_enum<lm::Act>(m, "LmActivation", "enum.IntEnum",
                             "The language model's hidden activation.")
        .value("TANH", lm::Act::Tanh).value("RELU", lm::Act::Relu).finalize();
    py::class_<lm::Shape>(m, "LmShape",
                          "A language model's architecture (msopt/models/lm.hpp).")
        .def(py::init([](std::size_t vocab, std::size_t dim, std::size_t context,
                         std::size_t hidden1, std::size_t hidden2, bool direct, lm::Act act,
                         std::size_t ngram, std::size_t ngram_size) {
                 if (vocab < 2) throw std::invalid_argument("vocab: must be >= 2");
                 if (dim < 1) throw std::invalid_argument("dim: must be >= 1");
                 if (context < 1) throw std::invalid_argument("context: must be >= 1");
                 if (hidden1 < 1) throw std::invalid_argument("hidden: must be >= 1");
                 lm::Shape s;
                 s.vocab = vocab, s.dim = dim, s.context = context, s.hidden1 = hidden1;
                 s.hidden2 = hidden2, s.direct = direct, s.act = act;
                 if (ngram > context)
                     throw std::invalid_argument("ngram: must be <= context (" +
                                                 std::to_string(context) + "), got " +
                                                 std::to_string(ngram));
                 if (ngram && (ngram_size < 1 || ngram_size > (std::size_t(1) << 40)))
                     throw std::invalid_argument("ngram_size: must be in [1, 2**40] when ngram > 0");
                 s.ngram = ngram, s.ngram_size = ngram ? ngram_size : 0;
                 const double big = double(vocab) * double(s.U()) + double(s.K()) * double(hidden1) +
                                    double(hidden1) * double(hidden2);
                 if (vocab >= INT32_MAX || s.U() >= INT32_MAX || big > 4e18)
                     throw std::invalid_argument("the model is too large for the 32-bit BLAS");
                 return s;
             }),
             py::kw_only(), py::arg("vocab"), py::arg("dim"), py::arg("context"),
             py::arg("hidden1"), py::arg("hidden2") = 0, py::arg("direct") = false,
             py::arg("act") = lm::Act::Tanh, py::arg("ngram") = 0, py::arg("ngram_size") = 0)
        .def_readonly("vocab", &lm::Shape::vocab)
        .def_readonly("dim", &lm::Shape::dim)
        .def_readonly("context", &lm::Shape::context)
        .def_readonly("hidden1", &lm::Shape::hidden1)
        .def_readonly("hidden2", &lm::Shape::hidden2)
        .def_readonly("direct", &lm::Shape::direct)
        .def_readonly("ngram", &lm::Shape::ngram)
        .def_readonly("ngram_size", &lm::Shape::ngram_size)
        .def_readonly("act", &lm::Shape::act);
    py::class_<lm::Stream>(m, "LmData",
                           "A token stream (a private copy) and its cached epoch order.")
        .def(py::init([](py::handle tokens, std::size_t vocab, std::int64_t bos) {
                 if (bos < 0 || std::uint64_t(bos) >= vocab)
                     throw std::invalid_argument("bos: must be a token id below vocab");
                 auto s = std::make_unique<lm::Stream>();
                 s->tok = copy_ids(tokens, "tokens", vocab);
                 s->bos = std::int32_t(bos);
                 return s;
             }),
             py::arg("tokens"), py::arg("vocab"), py::arg("bos"))
        .def("__len__", [](const lm::Stream& s) { return s.tok.size(); });
    m.def("lm_train", &train, py::arg("data"), py::arg("shape"), py::arg("optimizer"),
          py::kw_only(), py::arg("batch_size"), py::arg("seed"), py::arg("epoch"),
          py::arg("batch_begin"), py::arg("batch_end"), py::arg("schedule") = Schedule{},
          py::arg("schedule_origin") = 0, py::arg("update") = ~0u, py::arg("threads") = 1,
          py::arg("samples") = 0, py::arg("sample_weights") = py::none(),
          py::arg("dropout") = 0.0,
          "Train batches [batch_begin, batch_end) of one epoch (positions in the order "
          "epoch_permutation(seed, epoch)); returns (summed loss, positions, batches, status: "
          "0 ok, 1 a non-finite loss, 2 a non-finite gradient; the failing batch wrote nothing).");
    m.def("lm_score", &score, py::arg("data"), py::arg("shape"), py::arg("params"),
          py::arg("begin"), py::arg("end"), py::kw_only(), py::arg("threads") = 1,
          py::arg("per_token") = false,
          "Summed -log p of the tokens at positions [begin, end) (full softmax), or each one's.");
    m.def("lm_dynamic", &dynamic, py::arg("data"), py::arg("shape"), py::arg("optimizer"),
          py::arg("begin"), py::arg("end"), py::kw_only(), py::arg("segment"),
          py::arg("steps"), py::arg("update") = ~0u, py::arg("threads") = 1,
          py::arg("per_token") = false,
          "Dynamic evaluation: score each segment, then take `steps` updates on it; returns "
          "(summed loss, positions, segments, status, per-token losses or None).");
    m.def("lm_generate", &generate, py::arg("shape"), py::arg("params"), py::arg("contexts"),
          py::kw_only(), py::arg("max_tokens"), py::arg("temperature") = 1.0,
          py::arg("top_k") = 0, py::arg("top_p") = 1.0, py::arg("seed") = 0,
          py::arg("stop") = -1, py::arg("banned") = py::none(), py::arg("threads") = 1,
          py::arg("kneser_ney") = py::none(), py::arg("kneser_ney_weight") = 0.5,
          "Sample max_tokens ids after each row of contexts; returns (ids, lengths).  With "
          "kneser_ney (a KneserNey), from (1 - w) p_network + w p_kneser_ney, w = "
          "kneser_ney_weight.");
}

MSOPT_REGISTER_BINDINGS("70 lm", register_lm)

}  // namespace msopt
