// doc2vec_train and doc2vec_infer: documents, tags and counts copied and checked with the
// GIL held, then the walk without it.  Doc2VecSampler keeps what the walks draw from, so
// repeated calls on one vocabulary skip building it (a pow per word).  Training writes the input table (words then tags)
// and syn1 in place (a race on them gives wrong numbers, never a bad address); inference
// reads both and returns new arrays, so a refused call changes nothing.
#include "common.hpp"

#include <cmath>
#include <cstring>

#include "../msopt/models/doc2vec.hpp"

namespace msopt {
namespace {

using bind::ArrayView;

// The sampler a call draws from: `counts_a` itself when it is a Doc2VecSampler (built with
// this `sample`), else one built into `own` from the counts it holds.
const d2v::Sampler& sampler_for(py::handle counts_a, double sample, bind::Copies& copies,
                                std::unique_ptr<d2v::Sampler>& own) {
    if (py::isinstance<d2v::Sampler>(counts_a)) {
        const auto& s = counts_a.cast<const d2v::Sampler&>();
        if (s.sample() != sample)
            throw std::invalid_argument("sample: the Doc2VecSampler was built with sample=" +
                                        bind::repr_float(s.sample()) + ", the call has " +
                                        bind::repr_float(sample));
        return s;
    }
    std::size_t V = 0;
    const std::int64_t* counts = bind::word_counts(counts_a, copies, V);
    own = std::make_unique<d2v::Sampler>(counts, V, sample);
    return *own;
}

void check_walk(int window, int negative, double sample, double alpha, double min_alpha,
                int threads) {
    auto need = [](bool ok, const char* what) {
        if (!ok) throw std::invalid_argument(what);
    };
    need(window >= 1 && window <= (1 << 20), "window: 1 <= window <= 2^20 is required");
    need(negative >= 0 && negative <= 1000, "negative: 0 <= negative <= 1000 is required");
    need(threads >= 1, "threads: >= 1 is required");
    need(alpha > 0 && std::isfinite(alpha), "alpha: a finite rate > 0 is required");
    need(min_alpha >= 0 && std::isfinite(min_alpha), "min_alpha: finite and >= 0 is required");
    need(sample >= 0 && std::isfinite(sample), "sample: finite and >= 0 is required");
}

void set_walk(d2v::Walk& w, std::size_t dim, int window, int negative, double alpha,
              double min_alpha, std::uint64_t seed, int threads, bool dm) {
    w.dim = dim;
    w.window = window;
    w.negative = negative;
    w.alpha = alpha;
    w.min_alpha = min_alpha;
    w.seed = seed;
    w.threads = threads;
    w.dm = dm;
}

py::tuple train(py::handle ids_a, py::handle offsets_a, py::handle tags_a,
                py::handle tag_offsets_a, py::handle counts_a, py::handle in_a,
                py::handle syn1_a, int window, int negative, double sample, double alpha,
                double min_alpha, std::uint64_t seed, int threads, bool dm, bool dbow_words,
                int epoch, int epochs, std::int64_t first_doc, std::int64_t words_before,
                std::int64_t total_words, bool compute_loss, bool deterministic,
                std::size_t round_words) {
    bind::Copies copies;
    check_walk(window, negative, sample, alpha, min_alpha, threads);
    std::unique_ptr<d2v::Sampler> own;
    const d2v::Sampler& sampler = sampler_for(counts_a, sample, copies, own);
    const std::size_t V = sampler.size();
    const bind::Want table{bind::kF32, 2, true};
    const ArrayView in = bind::array(in_a, "vectors", table);
    const ArrayView s1 = bind::array(syn1_a, "syn1", table);
    if (std::size_t(in.shape[0]) < V)
        throw std::invalid_argument("vectors: one row per word, then one per tag (" +
                                    std::to_string(V) + " words, got " +
                                    bind::shape_str(in) + ")");
    if (std::size_t(in.shape[0]) >= std::size_t(INT32_MAX))
        throw std::invalid_argument("vectors: at most 2^31 - 2 rows (words and tags) are "
                                    "supported");
    const std::size_t T = std::size_t(in.shape[0]) - V;
    bind::shape(s1, "syn1", {Py_ssize_t(V), in.shape[1]}, " (one row per word, vectors' width)");
    if (in.shape[1] < 1) throw std::invalid_argument("vectors: dim must be >= 1");
    const auto g = bind::ragged_ids(ids_a, offsets_a, std::int64_t(V),
                                    "a vocabulary of " + std::to_string(V), copies);
    const ArrayView tv = bind::private_int64_vector(tags_a, "tags", copies);
    const ArrayView tov = bind::private_int64_vector(tag_offsets_a, "tag_offsets", copies);
    const auto* tags = reinterpret_cast<const std::int64_t*>(tv.data);
    const auto* tag_off = reinterpret_cast<const std::int64_t*>(tov.data);
    const std::size_t n_tags = std::size_t(tv.shape[0]);
    if (std::size_t(tov.shape[0]) != g.n)
        throw std::invalid_argument("tag_offsets: one per document (" + std::to_string(g.n) +
                                    "), got " + std::to_string(tov.shape[0]));
    for (std::size_t j = 0; j < n_tags; ++j)
        if (tags[j] < 0 || std::size_t(tags[j]) >= T)
            throw py::index_error("tags[" + std::to_string(j) + "] = " +
                                  std::to_string(tags[j]) + " is out of range for " +
                                  std::to_string(T) + " tag rows");
    for (std::size_t k = 0; k < g.n; ++k)
        if ((k == 0 ? tag_off[0] != 0 : tag_off[k] < tag_off[k - 1]) ||
            std::size_t(tag_off[k]) > n_tags)
            throw std::invalid_argument(
                "tag_offsets: must start at 0, never decrease and stay within the tags (at "
                "tag_offsets[" + std::to_string(k) + "] = " + std::to_string(tag_off[k]) + ")");
    if (epochs < 1 || epoch < 0 || epoch >= epochs)
        throw std::invalid_argument("epoch: 0 <= epoch < epochs is required");
    if (first_doc < 0 || words_before < 0 || total_words < words_before ||
        std::size_t(total_words - words_before) < g.n_ids)
        throw std::invalid_argument(
            "first_doc, words_before, total_words: the chunk's first document and word in a "
            "corpus of total_words words (>= 0, and the chunk's words fit after "
            "words_before)");
    d2v::Docs docs{g.ids, g.n_ids, g.offsets, g.n, tags, n_tags, tag_off};
    d2v::Params p;
    set_walk(p, std::size_t(in.shape[1]), window, negative, alpha, min_alpha, seed, threads, dm);
    p.dbow_words = dbow_words;
    p.compute_loss = compute_loss;
    p.deterministic = deterministic;
    p.round_words = round_words;
    p.epoch = epoch;
    p.epochs = epochs;
    p.first_doc = std::size_t(first_doc);
    p.words_before = std::size_t(words_before);
    p.total_words = std::size_t(total_words);
    d2v::Result r;
    {
        py::gil_scoped_release nogil;
        r = d2v::train(docs, sampler, T, reinterpret_cast<float*>(in.data),
                       reinterpret_cast<float*>(s1.data), p);
    }
    return py::make_tuple(r.loss, r.examples, r.words);
}

py::tuple infer(py::handle ids_a, py::handle offsets_a, py::handle counts_a,
                py::handle words_a, py::handle syn1_a, int window, int negative, double sample,
                double alpha, double min_alpha, std::uint64_t seed, int threads, bool dm,
                int epochs, int max_epochs, double tol) {
    bind::Copies copies;
    check_walk(window, negative, sample, alpha, min_alpha, threads);
    std::unique_ptr<d2v::Sampler> own;
    const d2v::Sampler& sampler = sampler_for(counts_a, sample, copies, own);
    const std::size_t V = sampler.size();
    // The tables are large and only read: in place (common.hpp's rule; a race on them
    // gives wrong numbers, never a bad address).
    const bind::Want table{bind::kF32, 2};
    const ArrayView wv = bind::array(words_a, "words", table);
    bind::shape(wv, "words", {Py_ssize_t(V), -1}, " (one row per word in counts)");
    const ArrayView s1 = bind::array(syn1_a, "syn1", table);
    bind::shape(s1, "syn1", {Py_ssize_t(V), wv.shape[1]}, " (words' shape)");
    if (wv.shape[1] < 1) throw std::invalid_argument("words: dim must be >= 1");
    if (epochs < 1 || max_epochs < 1)
        throw std::invalid_argument("epochs, max_epochs: >= 1 is required");
    if (!(tol >= 0) || !std::isfinite(tol))
        throw std::invalid_argument("tol: a finite value >= 0 is required (0: no test)");
    const auto g = bind::ragged_ids(ids_a, offsets_a, std::int64_t(V),
                                    "a vocabulary of " + std::to_string(V), copies);
    d2v::Docs docs{g.ids, g.n_ids, g.offsets, g.n, nullptr, 0, nullptr};
    d2v::InferParams p;
    set_walk(p, std::size_t(wv.shape[1]), window, negative, alpha, min_alpha, seed, threads, dm);
    p.epochs = epochs;
    p.max_epochs = max_epochs;
    p.tol = tol;
    py::array_t<float> out({py::ssize_t(g.n), py::ssize_t(p.dim)});
    py::array_t<std::int32_t> used(py::ssize_t(g.n));
    py::array_t<double> loss(py::ssize_t(g.n));
    py::array_t<bool> converged(py::ssize_t(g.n));
    float* o = out.mutable_data();
    std::int32_t* u = used.mutable_data();
    double* l = loss.mutable_data();
    auto* c = reinterpret_cast<std::uint8_t*>(converged.mutable_data());
    {
        py::gil_scoped_release nogil;
        d2v::infer(docs, sampler, reinterpret_cast<const float*>(wv.data),
                   reinterpret_cast<const float*>(s1.data), p, o, u, l, c);
    }
    return py::make_tuple(out, used, loss, converged);
}

}  // namespace

void register_doc2vec(py::module_& m) {
    bind::register_sampler<d2v::Sampler>(
        m, "Doc2VecSampler",
        "What Doc2Vec's walks draw from (subsampling's keep chances, the "
        "negatives' alias table), built once from a vocabulary's word "
        "counts and a subsampling threshold; doc2vec_train and "
        "doc2vec_infer take it in place of the counts.");
    m.def("doc2vec_train", &train, py::arg("ids"), py::arg("offsets"), py::arg("tags"),
          py::arg("tag_offsets"), py::arg("counts"), py::arg("vectors"), py::arg("syn1"),
          py::arg("window"), py::arg("negative"), py::arg("sample"), py::arg("alpha"),
          py::arg("min_alpha"), py::arg("seed"), py::arg("threads"), py::arg("dm"),
          py::arg("dbow_words"), py::arg("epoch"), py::arg("epochs"), py::arg("first_doc"),
          py::arg("words_before"), py::arg("total_words"), py::arg("compute_loss") = true,
          py::arg("deterministic") = false, py::arg("round_words") = 8192,
          "Doc2Vec training of a chunk of documents (ids, offsets, tags, tag_offsets) in "
          "epoch `epoch` out of `epochs`; the chunk starts at document first_doc and word "
          "words_before of a corpus of total_words words (the rate decays linearly over all "
          "epochs' words).  counts: the word counts (int64), or a Doc2VecSampler built from "
          "them with this sample.  vectors: the word rows, then the tag rows.  Returns (summed "
          "loss, examples, words trained).");
    m.def("doc2vec_infer", &infer, py::arg("ids"), py::arg("offsets"), py::arg("counts"),
          py::arg("words"), py::arg("syn1"), py::arg("window"), py::arg("negative"),
          py::arg("sample"), py::arg("alpha"), py::arg("min_alpha"), py::arg("seed"),
          py::arg("threads"), py::arg("dm"), py::arg("epochs"), py::arg("max_epochs"),
          py::arg("tol") = 0.0,
          "A new vector for each document with words and syn1 frozen (counts: as "
          "doc2vec_train's).  Returns (vectors "
          "(n, dim) float32, epochs run (n,) int32, loss (n,) float64, converged (n,) "
          "bool).");
}

MSOPT_REGISTER_BINDINGS("52 doc2vec", register_doc2vec)

}  // namespace msopt
