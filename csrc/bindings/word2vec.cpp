// word2vec_train: the corpus and both tables checked with the GIL held, then every epoch
// in one call without it.  Ids, offsets and counts are private copies checked after they
// are taken (bind::Copies); syn0 and syn1 are trained in place (a race on them gives wrong
// numbers, never a bad address).
#include "common.hpp"
#include "ragged.hpp"

#include <cmath>
#include <cstring>

#include "../msopt/models/word2vec.hpp"

namespace msopt {
namespace {

using bind::ArrayView;

w2v::Result run(const bind::RaggedIds& corpus, py::handle counts_a, py::handle syn0_a,
               py::handle syn1_a, int window, int negative, double sample, double alpha,
               double min_alpha, int epochs, std::uint64_t seed, int threads,
               py::handle resume_a, std::size_t chunk, bool sg, bool cbow_mean,
               bool table_sigmoid, bool compute_loss, bool deterministic,
               std::size_t round_words, bool freeze_input, bool freeze_output) {
    bind::Copies copies;
    std::unique_ptr<w2v::Sampler> own;
    const w2v::Sampler* sampler = nullptr;
    if (py::isinstance<w2v::Sampler>(counts_a)) {
        sampler = &counts_a.cast<const w2v::Sampler&>();
        if (sampler->sample() != sample)
            throw std::invalid_argument("sample: the Word2VecSampler was built with sample=" +
                                        bind::repr_float(sampler->sample()) + ", the call has " +
                                        bind::repr_float(sample));
    }
    std::size_t V = 0;
    const std::int64_t* counts = nullptr;  // without a sampler
    if (sampler)
        V = sampler->size();
    else
        counts = bind::word_counts(counts_a, copies, V);
    const bind::Want table{bind::kF32, 2, true};
    const ArrayView s0 = bind::array(syn0_a, "syn0", table);
    const ArrayView s1 = bind::array(syn1_a, "syn1", table);
    bind::shape(s0, "syn0", {Py_ssize_t(V), -1}, " (one row per word in counts)");
    bind::shape(s1, "syn1", {Py_ssize_t(V), s0.shape[1]}, " (syn0's shape)");
    if (window < 1 || negative < 0 || negative > 1000 || epochs < 0 || threads < 1 ||
        !(alpha > 0) || !std::isfinite(alpha) || !(min_alpha >= 0) ||
        !std::isfinite(min_alpha) || !(sample >= 0) || !std::isfinite(sample))
        throw std::invalid_argument(
            "window >= 1, 0 <= negative <= 1000, epochs >= 0, workers >= 1, finite alpha > 0, "
            "finite min_alpha >= 0 and finite sample >= 0 are required");
    if (s0.shape[1] < 1) throw std::invalid_argument("syn0, syn1: vector_size must be >= 1");
    corpus.check_rows(std::int64_t(V), "counts");
    const bind::Ragged g = corpus.view();
    const w2v::Corpus c{g.ids, g.n_ids, g.offsets, g.n};
    w2v::Params p;
    p.resume = bind::resume_rows(resume_a, threads, epochs, chunk);
    if (p.resume) p.chunk = chunk;
    p.dim = std::size_t(s0.shape[1]);
    p.window = window;
    p.negative = negative;
    p.sample = sample;
    p.alpha = alpha;
    p.min_alpha = min_alpha;
    p.epochs = epochs;
    p.seed = seed;
    p.threads = threads;
    p.sg = sg;
    p.cbow_mean = cbow_mean;
    p.table_sigmoid = table_sigmoid;
    p.compute_loss = compute_loss;
    p.deterministic = deterministic;
    p.round_words = round_words;
    p.freeze_input = freeze_input;
    p.freeze_output = freeze_output;
    py::gil_scoped_release nogil;
    if (!sampler) {  // the counts: a private copy, checked
        own = std::make_unique<w2v::Sampler>(
            counts, V, sample);
        sampler = own.get();
    }
    return w2v::train(c, *sampler, reinterpret_cast<float*>(s0.data),
                      reinterpret_cast<float*>(s1.data), p);
}

py::array_t<double> losses(const w2v::Result& r) {
    py::array_t<double> a(py::ssize_t(r.epoch_loss.size()));
    if (!r.epoch_loss.empty())
        std::memcpy(a.mutable_data(), r.epoch_loss.data(), r.epoch_loss.size() * 8);
    return a;
}

py::tuple train(py::handle ids, py::handle offsets, py::handle counts, py::handle syn0,
                py::handle syn1, int window, int negative, double sample, double alpha,
                double min_alpha, int epochs, std::uint64_t seed, int threads, bool sg,
                bool cbow_mean, bool table_sigmoid, bool compute_loss, bool deterministic,
                std::size_t round_words, bool freeze_input, bool freeze_output) {
    // (counts first: its length is the ids' bound)
    const auto V = bind::int64_vector(counts, "counts").shape[0];
    const bind::RaggedIds corpus(ids, offsets, V, "a vocabulary of " + std::to_string(V));
    const w2v::Result r = run(corpus, counts, syn0, syn1, window, negative, sample, alpha,
                              min_alpha, epochs, seed, threads, py::none(), 1, sg,
                              cbow_mean, table_sigmoid, compute_loss, deterministic,
                              round_words, freeze_input, freeze_output);
    return py::make_tuple(losses(r), r.words, r.pairs);
}

py::tuple train_chunk(const bind::RaggedIds& corpus, py::handle counts, py::handle syn0,
                      py::handle syn1, int window, int negative, double sample, double alpha,
                      double min_alpha, int epochs, std::uint64_t seed, int threads,
                      py::handle resume, std::size_t chunk, bool sg, bool cbow_mean,
                      bool table_sigmoid, bool compute_loss, bool deterministic,
                      std::size_t round_words) {
    const w2v::Result r = run(corpus, counts, syn0, syn1, window, negative, sample,
                              alpha, min_alpha, epochs, seed, threads, resume, chunk, sg,
                              cbow_mean, table_sigmoid, compute_loss, deterministic,
                              round_words, false, false);
    return py::make_tuple(losses(r), r.words, r.pairs, r.done, r.epochs_done);
}

}  // namespace

void register_word2vec(py::module_& m) {
    bind::register_sampler<w2v::Sampler>(
        m, "Word2VecSampler",
        "What Word2Vec's walks draw from (subsampling's keep chances, the "
        "negatives' alias table), built once from a vocabulary's word "
        "counts and sample; word2vec_train_chunk takes it in place of the "
        "counts, so the chunks of a fit skip building it.");
    m.def(
        "frozen_scores",
        [](py::handle h_a, py::handle rows_a) {
            // Read with the GIL held throughout: no copy needed.
            const ArrayView h = bind::array(h_a, "h", bind::Want{bind::kF32, 1});
            const ArrayView r = bind::array(rows_a, "rows", bind::Want{bind::kF32, 2});
            bind::shape(r, "rows", {-1, h.shape[0]}, " (h's length)");
            const int n = int(r.shape[0]);
            if (n < 1 || n > w2v::kFrozenTargets)
                throw std::invalid_argument("rows: 1 to " +
                                            std::to_string(w2v::kFrozenTargets) +
                                            " rows are scored at once, got " +
                                            std::to_string(n));
            const std::size_t dim = std::size_t(h.shape[0]);
            float* rows[w2v::kFrozenTargets];
            for (int d = 0; d < n; ++d)
                rows[d] = const_cast<float*>(reinterpret_cast<const float*>(r.data)) +
                          std::size_t(d) * dim;
            alignas(32) float f[w2v::kFrozenTargets];
            w2v::kernels().scores(reinterpret_cast<const float*>(h.data), rows, n, dim, f);
            py::array_t<float> out(n);
            std::memcpy(out.mutable_data(), f, std::size_t(n) * sizeof(float));
            return out;
        },
        py::arg("h"), py::arg("rows"),
        "The dot products h . rows[d] (1 to 8 rows, float32) as the frozen-target kernels "
        "of word2vec and Doc2Vec's inference take them: dot16's order, every ISA.");
    m.def("word2vec_train", &train, py::arg("ids"), py::arg("offsets"), py::arg("counts"),
          py::arg("syn0"), py::arg("syn1"), py::arg("window"), py::arg("negative"),
          py::arg("sample"), py::arg("alpha"), py::arg("min_alpha"), py::arg("epochs"),
          py::arg("seed"), py::arg("threads"), py::arg("sg") = true, py::arg("cbow_mean") = true,
          py::arg("table_sigmoid") = false, py::arg("compute_loss") = true,
          py::arg("deterministic") = false, py::arg("round_words") = 8192,
          py::arg("freeze_input") = false, py::arg("freeze_output") = false,
          "Skip-gram (sg) or CBOW with negative sampling over every epoch in one call.  "
          "Returns (mean loss per example for each epoch, words trained, examples trained); "
          "an example is a (word, context) pair for skip-gram, a window for CBOW.  "
          "freeze_input / freeze_output: syn0 / syn1 is read and never written.");
    py::class_<bind::RaggedIds>(m, "RaggedIds",
                                "A private, checked copy of ids back to back (each below rows) "
                                "and their starts: a corpus for the chunked training calls.")
        .def(py::init([](py::handle ids, py::handle offsets, std::int64_t rows) {
                 return bind::RaggedIds(ids, offsets, rows);
             }),
             py::arg("ids"), py::arg("offsets"), py::arg("rows"))
        .def_readonly("rows", &bind::RaggedIds::rows)
        .def("__len__", [](const bind::RaggedIds& r) { return r.offsets.size(); });
    m.def("word2vec_train_chunk", &train_chunk, py::arg("corpus"), py::arg("counts"),
          py::arg("syn0"), py::arg("syn1"), py::arg("window"),
          py::arg("negative"), py::arg("sample"), py::arg("alpha"), py::arg("min_alpha"),
          py::arg("epochs"), py::arg("seed"), py::arg("threads"), py::arg("resume"),
          py::arg("chunk"), py::arg("sg") = true, py::arg("cbow_mean") = true,
          py::arg("table_sigmoid") = false, py::arg("compute_loss") = true,
          py::arg("deterministic") = false, py::arg("round_words") = 8192,
          "word2vec_train's run in chunks: about `chunk` words per thread per call, from and "
          "back to `resume` (int64, threads x (4 + 2 epochs), zeros at the start); the "
          "chunks repeat one whole call bit for bit with one thread.  Returns (mean loss per "
          "example of each epoch so far, words trained, examples, words walked, epochs "
          "finished), all counted from the start of the run.");
}

MSOPT_REGISTER_BINDINGS("50 word2vec", register_word2vec)

}  // namespace msopt
