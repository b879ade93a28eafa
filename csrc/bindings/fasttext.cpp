// fasttext_train / fasttext_predict_proba: documents, labels, tables and the loss checked
// with the GIL held; the native loop runs without it.  Ids, offsets, labels and class
// weights are private copies checked after they are taken (bind::Copies); the tables are
// trained in place (a race on them gives wrong numbers, never a bad address).
#include "common.hpp"
#include "ragged.hpp"

#include <cmath>
#include <cstring>
#include <string>

#include "../msopt/models/fasttext.hpp"

namespace msopt {
namespace {

using bind::ArrayView;

ftx::Docs parse_docs(py::handle ids, py::handle offsets, std::size_t rows,
                     bind::Copies& copies) {
    const auto r = bind::ragged_ids(ids, offsets, std::int64_t(rows),
                                    std::to_string(rows) + " input rows", copies);
    ftx::Docs d;
    d.ids = r.ids, d.n_ids = r.n_ids, d.offsets = r.offsets, d.n_docs = r.n;
    return d;
}

ArrayView table(py::handle o, const char* name, bool writeable = true) {
    return bind::array(o, name, bind::Want{bind::kF32, 2, writeable});
}

ftx::Loss parse_loss(const std::string& loss) {
    if (loss == "softmax") return ftx::Loss::softmax;
    if (loss == "ova") return ftx::Loss::ova;
    if (loss == "ns") return ftx::Loss::ns;
    throw std::invalid_argument("loss: expected 'softmax', 'ova' or 'ns', got '" + loss + "'");
}

py::tuple run(const bind::RaggedIds& corpus, py::handle labels, py::handle input,
              py::handle output, const std::string& loss, py::handle class_weights, int neg,
              double lr, int epochs, std::uint64_t seed, int threads, bool deterministic,
              py::handle resume, std::size_t chunk, py::handle label_offsets) {
    const ArrayView in = table(input, "input"), out = table(output, "output");
    if (in.shape[1] != out.shape[1])
        throw std::invalid_argument("input, output: rows of the same width expected, got " +
                                    bind::shape_str(in) + " and " + bind::shape_str(out));
    if (in.shape[1] < 1) throw std::invalid_argument("input, output: dim must be >= 1");
    if (in.shape[0] >= INT32_MAX || out.shape[0] >= INT32_MAX)
        throw std::invalid_argument("input, output: at most 2^31 - 2 rows are supported");
    bind::Copies copies;
    corpus.check_rows(in.shape[0], "input");
    const bind::Ragged r = corpus.view();
    ftx::Docs d;
    d.ids = r.ids, d.n_ids = r.n_ids, d.offsets = r.offsets, d.n_docs = r.n;
    const ArrayView lv =
        bind::private_array(labels, "labels", bind::Want{bind::kI32, 1}, copies);
    d.labels = reinterpret_cast<const std::int32_t*>(lv.data);
    d.n_labels = std::size_t(lv.shape[0]);
    if (label_offsets.is_none()) {
        bind::shape(lv, "labels", {Py_ssize_t(d.n_docs)}, " (one label per document)");
    } else {  // several labels per document: each document's start, strictly increasing
        const ArrayView ov = bind::private_int64_vector(label_offsets, "label_offsets", copies);
        bind::shape(ov, "label_offsets", {Py_ssize_t(d.n_docs)}, " (one per document)");
        d.label_offsets = reinterpret_cast<const std::int64_t*>(ov.data);
        for (std::size_t i = 0; i < d.n_docs; ++i) {
            const std::int64_t o = d.label_offsets[i];
            if ((i ? o <= d.label_offsets[i - 1] : o != 0) || o >= std::int64_t(d.n_labels))
                throw std::invalid_argument(
                    "label_offsets[" + std::to_string(i) + "]: expected 0 first, then "
                    "increasing starts below len(labels) (each document one label or more)");
        }
    }
    for (std::size_t i = 0; i < d.n_labels; ++i)
        if (d.labels[i] < 0 || d.labels[i] >= out.shape[0])
            throw py::index_error("labels[" + std::to_string(i) + "] is not a class id");
    ftx::Params p;
    p.loss = parse_loss(loss);
    const double* weights = nullptr;
    if (p.loss == ftx::Loss::ns) {
        const ArrayView wv = bind::private_array(class_weights, "class_weights",
                                                 bind::Want{bind::kF64, 1}, copies);
        bind::shape(wv, "class_weights", {out.shape[0]}, " (loss 'ns': one per output row)");
        weights = reinterpret_cast<const double*>(wv.data);
        for (py::ssize_t k = 0; k < wv.shape[0]; ++k)
            if (!(weights[k] >= 0.0) || !std::isfinite(weights[k]))
                throw std::invalid_argument("class_weights[" + std::to_string(k) +
                                            "]: must be finite and >= 0");
    }
    if (!(lr > 0) || !std::isfinite(lr) || epochs < 0 || threads < 1 || neg < 0 ||
        neg > 100000)
        throw std::invalid_argument(
            "finite lr > 0, epochs >= 0, threads >= 1 and 0 <= neg <= 100000 are required");
    p.neg = neg;
    p.lr = lr;
    p.epochs = epochs;
    p.seed = seed;
    p.threads = threads;
    p.deterministic = deterministic;
    p.resume = bind::resume_rows(resume, threads, epochs, chunk);
    if (p.resume) p.chunk = chunk;
    std::vector<double> losses;
    ftx::Progress progress;
    {
        py::gil_scoped_release nogil;
        losses = ftx::train(d, reinterpret_cast<float*>(in.data), std::size_t(in.shape[0]),
                            std::size_t(in.shape[1]),
                            reinterpret_cast<float*>(out.data), std::size_t(out.shape[0]),
                            weights, p, &progress);
    }
    py::array_t<double> a(py::ssize_t(losses.size()));
    if (!losses.empty()) std::memcpy(a.mutable_data(), losses.data(), losses.size() * 8);
    return py::make_tuple(a, progress.docs, progress.epochs_done);
}

py::array_t<double> train(py::handle ids, py::handle offsets, py::handle labels,
                          py::handle input, py::handle output, const std::string& loss,
                          py::handle class_weights, int neg, double lr, int epochs,
                          std::uint64_t seed, int threads, bool deterministic,
                          py::handle label_offsets) {
    const auto rows = table(input, "input").shape[0];
    const bind::RaggedIds corpus(ids, offsets, rows, std::to_string(rows) + " input rows");
    return run(corpus, labels, input, output, loss, class_weights, neg, lr, epochs, seed,
               threads, deterministic, py::none(), 1, label_offsets)[0]
        .cast<py::array_t<double>>();
}

py::array_t<float> proba(py::handle ids, py::handle offsets, py::handle input,
                         py::handle output, const std::string& loss) {
    const ArrayView in = table(input, "input", false), out = table(output, "output", false);
    if (in.shape[1] != out.shape[1])
        throw std::invalid_argument("input, output: rows of the same width expected, got " +
                                    bind::shape_str(in) + " and " + bind::shape_str(out));
    bind::Copies copies;
    const ftx::Docs d = parse_docs(ids, offsets, std::size_t(in.shape[0]), copies);
    const ftx::Loss l = parse_loss(loss);
    py::array_t<float> pr({py::ssize_t(d.n_docs), py::ssize_t(out.shape[0])});
    float* p = pr.mutable_data();
    {
        py::gil_scoped_release nogil;
        ftx::predict_proba(d, reinterpret_cast<const float*>(in.data), std::size_t(in.shape[1]),
                           reinterpret_cast<const float*>(out.data), std::size_t(out.shape[0]),
                           l, p);
    }
    return pr;
}

}  // namespace

void register_fasttext(py::module_& m) {
    m.def("fasttext_train", &train, py::arg("ids"), py::arg("offsets"), py::arg("labels"),
          py::arg("input"), py::arg("output"), py::arg("loss"), py::arg("class_weights"),
          py::arg("neg"), py::arg("lr"), py::arg("epochs"), py::arg("seed"),
          py::arg("threads"), py::arg("deterministic") = false,
          py::arg("label_offsets") = py::none(),
          "Train the mean-of-rows classifier ('softmax', 'ova' or 'ns' loss; ns draws neg "
          "classes per document from class_weights) for every epoch in one call; returns "
          "the mean loss of each epoch.  labels: one class id per document, or with "
          "label_offsets (each document's start) one or more per document.");
    m.def("fasttext_train_chunk", &run, py::arg("corpus"), py::arg("labels"),
          py::arg("input"), py::arg("output"), py::arg("loss"), py::arg("class_weights"),
          py::arg("neg"), py::arg("lr"), py::arg("epochs"), py::arg("seed"),
          py::arg("threads"), py::arg("deterministic"), py::arg("resume"), py::arg("chunk"),
          py::arg("label_offsets") = py::none(),
          "fasttext_train's run in chunks: about `chunk` input rows read per thread per call, "
          "from and back to `resume` (int64, threads x (4 + 2 epochs), zeros at the start); "
          "the chunks repeat one whole call bit for bit with one thread.  Returns (mean loss "
          "of each epoch so far, documents walked, epochs finished), counted from the start "
          "of the run.");
    m.def("fasttext_predict_proba", &proba, py::arg("ids"), py::arg("offsets"),
          py::arg("input"), py::arg("output"), py::arg("loss"),
          "Class scores of each document: softmax probabilities, or each class's sigmoid "
          "for 'ova' and 'ns'.");
}

MSOPT_REGISTER_BINDINGS("60 fasttext", register_fasttext)

}  // namespace msopt
