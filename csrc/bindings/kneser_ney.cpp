// The Kneser-Ney n-gram model (models/kneser_ney.hpp) that LanguageModel mixes with its
// network: arrays are checked and copied with the GIL held; counting, building and scoring
// run without it.
#include "common.hpp"

#include <string>
#include <utility>

#include "../msopt/models/kneser_ney.hpp"
#include "../msopt/models/lm.hpp"

namespace msopt {
namespace {

using bind::ArrayView;
using bind::Want;

using KneserNey = kn::Counted;

std::unique_ptr<KneserNey> make(py::handle grams, py::handle counts, std::size_t vocab) {
    const ArrayView g = bind::array(grams, "grams", Want{bind::kI32 | bind::kI64, 2});
    const ArrayView c = bind::array(counts, "counts", Want{bind::kI64, 1});
    const std::size_t n = std::size_t(g.shape[0]), order = std::size_t(g.shape[1]);
    if (order < 1 || order > std::size_t(kn::kMaxOrder))
        throw std::invalid_argument("grams: expected 1 to " + std::to_string(kn::kMaxOrder) +
                                    " columns (the order), got " + std::to_string(order));
    if (std::size_t(c.shape[0]) != n)
        throw std::invalid_argument("counts: expected " + std::to_string(n) +
                                    " values (a row of grams each), got " +
                                    std::to_string(c.shape[0]));
    if (vocab < 1) throw std::invalid_argument("vocab: must be >= 1");
    std::vector<std::int32_t> rows(n * order);
    const bool i64 = bind::dtype_bit(g) == bind::kI64;
    for (std::size_t j = 0; j < n * order; ++j) {
        const std::int64_t id = i64 ? reinterpret_cast<const std::int64_t*>(g.data)[j]
                                    : reinterpret_cast<const std::int32_t*>(g.data)[j];
        if (id < 0 || std::uint64_t(id) >= vocab)
            throw py::index_error("grams: id " + std::to_string(id) +
                                  " is out of range for a vocabulary of " +
                                  std::to_string(vocab));
        rows[j] = std::int32_t(id);
    }
    const auto* cp = reinterpret_cast<const std::int64_t*>(c.data);
    std::vector<std::int64_t> w(cp, cp + n);
    for (std::size_t j = 0; j < n; ++j)
        if (w[j] < 1)
            throw std::invalid_argument("counts: expected counts >= 1, got " +
                                        std::to_string(w[j]) + " at " + std::to_string(j));
    auto r = std::make_unique<KneserNey>();
    {
        py::gil_scoped_release nogil;
        kn::Counts given;
        given.order = int(order);
        given.grams = std::move(rows);
        given.count = std::move(w);
        // merged with nothing: the rows sorted, repeated ones summed
        r->counts = kn::merge(kn::Counts{int(order), {}, {}}, given);
        r->model = kn::build(r->counts, vocab);
    }
    return r;
}

}  // namespace

void register_kneser_ney(py::module_& m) {
    py::class_<KneserNey>(m, "KneserNey",
                          "An interpolated modified Kneser-Ney n-gram model "
                          "(msopt/models/kneser_ney.hpp), built from its order-N counts.")
        .def(py::init(&make), py::arg("grams"), py::arg("counts"), py::arg("vocab"),
             "From n-grams (rows of ids, oldest first; repeated rows are summed) and their "
             "counts.")
        .def_static(
            "count_grams",
            [](const lm::Stream& s, int order) {
                if (order < 1 || order > kn::kMaxOrder)
                    throw std::invalid_argument("order: expected 1 to " +
                                                std::to_string(kn::kMaxOrder) + ", got " +
                                                std::to_string(order));
                kn::Counts c;
                {
                    py::gil_scoped_release nogil;
                    c = kn::count(s.tok.data(), s.tok.size(), s.bos, order);
                }
                const auto n = py::ssize_t(c.count.size());
                py::array_t<std::int32_t> g({n, py::ssize_t(order)});
                py::array_t<std::int64_t> k{n};
                if (n) {
                    std::memcpy(g.mutable_data(), c.grams.data(), c.grams.size() * 4);
                    std::memcpy(k.mutable_data(), c.count.data(), c.count.size() * 8);
                }
                return py::make_tuple(g, k);
            },
            py::arg("data"), py::arg("order"),
            "The order-N grams of a token stream (LmData; <s> before its start) and their "
            "counts: (grams, counts), sorted.")
        .def_property_readonly("order", [](const KneserNey& k) { return k.model.order; })
        .def_property_readonly("vocab", [](const KneserNey& k) { return k.model.vocab; })
        .def_property_readonly("grams",
                               [](const KneserNey& k) {
                                   const auto n = py::ssize_t(k.counts.count.size());
                                   py::array_t<std::int32_t> g({n, py::ssize_t(k.model.order)});
                                   if (n)
                                       std::memcpy(g.mutable_data(), k.counts.grams.data(),
                                                   k.counts.grams.size() * 4);
                                   return g;
                               })
        .def_property_readonly("counts",
                               [](const KneserNey& k) {
                                   py::array_t<std::int64_t> c{
                                       py::ssize_t(k.counts.count.size())};
                                   if (!k.counts.count.empty())
                                       std::memcpy(c.mutable_data(), k.counts.count.data(),
                                                   k.counts.count.size() * 8);
                                   return c;
                               })
        .def(
            "score",
            [](const KneserNey& k, const lm::Stream& s, std::size_t begin, std::size_t end,
               int threads) {
                if (begin > end || end > s.tok.size())
                    throw std::invalid_argument(
                        "begin, end: expected 0 <= begin <= end <= " +
                        std::to_string(s.tok.size()));
                if (threads < 1) throw std::invalid_argument("threads: must be >= 1");
                for (std::int32_t id : s.tok)
                    if (std::size_t(id) >= k.model.vocab)
                        throw std::invalid_argument("data: an id is outside the vocabulary");
                py::array_t<double> out{py::ssize_t(end - begin)};
                double* o = out.mutable_data();
                {
                    py::gil_scoped_release nogil;
                    kn::score(k.model, s.tok.data(), s.bos, begin, end, o,
                              threads);
                }
                return out;
            },
            py::arg("data"), py::arg("begin"), py::arg("end"), py::kw_only(),
            py::arg("threads") = 1,
            "log p of the tokens at positions [begin, end) of a token stream (LmData).")
        .def(
            "distribution",
            [](const KneserNey& k, py::handle history) {
                const ArrayView h = bind::array(history, "history", Want{bind::kI64, 1});
                const std::size_t len = std::size_t(k.model.order - 1);
                bind::shape(h, "history", {py::ssize_t(len)}, " (order - 1 ids, oldest first)");
                std::vector<std::int32_t> ids(len + 1);
                for (std::size_t j = 0; j < len; ++j) {
                    const std::int64_t id = reinterpret_cast<const std::int64_t*>(h.data)[j];
                    if (id < 0 || std::uint64_t(id) >= k.model.vocab)
                        throw py::index_error("history: id " + std::to_string(id) +
                                              " is out of range");
                    ids[j] = std::int32_t(id);
                }
                py::array_t<double> out{py::ssize_t(k.model.vocab)};
                kn::distribution(k.model, ids.data(), out.mutable_data());
                return out;
            },
            py::arg("history"), "p(. | history) over the vocabulary.");
}

MSOPT_REGISTER_BINDINGS("71 kneser_ney", register_kneser_ney)

}  // namespace msopt
