// fasttext_train / fasttext_predict_proba: documents and tables checked with the GIL held.
#include "common.hpp"

#include <cstring>

#include "../msopt/fasttext.hpp"

namespace msopt {
namespace {

using bind::ArrayView;

ftx::Docs parse_docs(py::handle ids, py::handle offsets, std::size_t rows) {
    const ArrayView iv = bind::int64_vector(ids, "ids");
    const ArrayView ov = bind::int64_vector(offsets, "offsets");
    ftx::Docs d;
    d.ids = reinterpret_cast<const std::int64_t*>(iv.data);
    d.n_ids = std::size_t(iv.shape[0]);
    d.offsets = reinterpret_cast<const std::int64_t*>(ov.data);
    d.n_docs = std::size_t(ov.shape[0]);
    bind::check_ids(d.ids, d.n_ids, std::int64_t(rows), std::to_string(rows) + " input rows");
    bind::check_offsets(d.offsets, d.n_docs, d.n_ids);
    return d;
}

ArrayView table(py::handle o, const char* name) {
    ArrayView v;
    if (!bind::view(o.ptr(), v) || !v.is_f32() || v.ndim != 2 || !v.c_contiguous() ||
        !v.writeable())
        throw py::type_error(std::string(name) + ": expected a writeable C-contiguous float32 "
                                                 "2-D array");
    return v;
}

py::array_t<double> train(py::handle ids, py::handle offsets, py::handle labels,
                          py::handle input, py::handle output, double lr, int epochs,
                          std::uint64_t seed, int threads) {
    const ArrayView in = table(input, "input"), out = table(output, "output");
    if (in.shape[1] != out.shape[1])
        throw std::invalid_argument("input, output: rows of the same width expected");
    ftx::Docs d = parse_docs(ids, offsets, std::size_t(in.shape[0]));
    ArrayView lv;
    if (!bind::view(labels.ptr(), lv) || lv.type_num != py::detail::npy_api::NPY_INT_ ||
        lv.ndim != 1 || std::size_t(lv.shape[0]) != d.n_docs || !lv.c_contiguous())
        throw py::type_error("labels: expected an int32 array, one per document");
    d.labels = reinterpret_cast<const std::int32_t*>(lv.data);
    for (std::size_t i = 0; i < d.n_docs; ++i)
        if (d.labels[i] < 0 || d.labels[i] >= out.shape[0])
            throw py::index_error("labels[" + std::to_string(i) + "] is not a class id");
    if (!(lr > 0) || epochs < 0 || threads < 1)
        throw std::invalid_argument("lr > 0, epochs >= 0 and threads >= 1 are required");
    ftx::Params p;
    p.lr = lr;
    p.epochs = epochs;
    p.seed = seed;
    p.threads = threads;
    std::vector<double> losses;
    {
        py::gil_scoped_release nogil;
        losses = ftx::train(d, reinterpret_cast<float*>(in.data), std::size_t(in.shape[1]),
                            reinterpret_cast<float*>(out.data), std::size_t(out.shape[0]), p);
    }
    py::array_t<double> a(py::ssize_t(losses.size()));
    if (!losses.empty()) std::memcpy(a.mutable_data(), losses.data(), losses.size() * 8);
    return a;
}

py::array_t<float> proba(py::handle ids, py::handle offsets, py::handle input,
                         py::handle output) {
    const ArrayView in = table(input, "input"), out = table(output, "output");
    const ftx::Docs d = parse_docs(ids, offsets, std::size_t(in.shape[0]));
    py::array_t<float> pr({py::ssize_t(d.n_docs), py::ssize_t(out.shape[0])});
    float* p = pr.mutable_data();
    {
        py::gil_scoped_release nogil;
        ftx::predict_proba(d, reinterpret_cast<const float*>(in.data), std::size_t(in.shape[1]),
                           reinterpret_cast<const float*>(out.data), std::size_t(out.shape[0]),
                           p);
    }
    return pr;
}

}  // namespace

void register_fasttext(py::module_& m) {
    m.def("fasttext_train", &train, py::arg("ids"), py::arg("offsets"), py::arg("labels"),
          py::arg("input"), py::arg("output"), py::arg("lr"), py::arg("epochs"),
          py::arg("seed"), py::arg("threads"),
          "Train the mean-of-rows softmax classifier for every epoch in one call; returns "
          "the mean loss of each epoch.");
    m.def("fasttext_predict_proba", &proba, py::arg("ids"), py::arg("offsets"),
          py::arg("input"), py::arg("output"), "Class probabilities of each document.");
}

}  // namespace msopt
