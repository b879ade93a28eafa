// msopt._core.Vocab: the string-heavy part of msopt.text.  Lines arrive as lists of str;
// their UTF-8 bytes are taken (with owned references) while the GIL is held, and the
// counting and encoding run without it.
#include "common.hpp"

#include <cstring>
#include <string_view>
#include <vector>

#include "../msopt/text/text.hpp"

namespace msopt {
namespace {

struct Lines {
    std::vector<py::object> keep;
    std::vector<std::string_view> views;
};

Lines utf8_lines(py::handle lines) {
    if (!PyList_Check(lines.ptr())) throw py::type_error("lines: expected a list of str");
    Lines out;
    const Py_ssize_t n = PyList_GET_SIZE(lines.ptr());
    out.keep.reserve(std::size_t(n));
    out.views.reserve(std::size_t(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* o = PyList_GET_ITEM(lines.ptr(), i);
        if (!PyUnicode_Check(o))
            throw py::type_error("lines[" + std::to_string(i) + "]: expected str, got " +
                                 bind::type_name(o));
        Py_ssize_t len = 0;
        const char* p = PyUnicode_AsUTF8AndSize(o, &len);
        if (!p) throw py::error_already_set();  // e.g. lone surrogates
        out.keep.push_back(py::reinterpret_borrow<py::object>(o));
        out.views.emplace_back(p, std::size_t(len));
    }
    return out;
}

}  // namespace

void register_text(py::module_& m) {
    py::class_<text::Vocab>(m, "Vocab", "Word counts and the vocabulary built from them.")
        .def(py::init<>())
        .def(
            "count",
            [](text::Vocab& v, py::handle lines) {
                if (v.finalized())
                    throw std::invalid_argument("count: the vocabulary is already built");
                Lines ls = utf8_lines(lines);
                py::gil_scoped_release nogil;
                for (auto s : ls.views) v.count_line(s);
            },
            py::arg("lines"), "Add the whitespace-separated tokens of these lines.")
        .def(
            "finalize",
            [](text::Vocab& v, std::int64_t min_count, std::size_t max_vocab) {
                if (v.finalized())
                    throw std::invalid_argument("finalize: the vocabulary is already built");
                py::gil_scoped_release nogil;
                return v.finalize(min_count, max_vocab);
            },
            py::arg("min_count"), py::arg("max_vocab"),
            "Build the vocabulary: words seen >= min_count times, the max_vocab most "
            "frequent (0: all), by count then first appearance.  Returns its size.")
        .def(
            "encode",
            [](const text::Vocab& v, py::handle lines, int ngrams, std::uint64_t buckets) {
                if (!v.finalized())
                    throw std::invalid_argument("encode: build the vocabulary first");
                if (ngrams < 1) throw std::invalid_argument("ngrams: must be >= 1");
                Lines ls = utf8_lines(lines);
                std::vector<std::int64_t> ids, offsets;
                offsets.reserve(ls.views.size());
                {
                    py::gil_scoped_release nogil;
                    for (auto s : ls.views) {
                        offsets.push_back(std::int64_t(ids.size()));
                        v.encode_line(s, ngrams, buckets, ids);
                    }
                }
                py::array_t<std::int64_t> a(py::ssize_t(ids.size())), o(py::ssize_t(offsets.size()));
                if (!ids.empty()) std::memcpy(a.mutable_data(), ids.data(), ids.size() * 8);
                if (!offsets.empty())
                    std::memcpy(o.mutable_data(), offsets.data(), offsets.size() * 8);
                return py::make_tuple(a, o);
            },
            py::arg("lines"), py::arg("ngrams") = 1, py::arg("buckets") = 0,
            "(ids, offsets): each line's word ids, then its hashed n-gram ids (n = 2.."
            "ngrams) in [len(vocab), len(vocab) + buckets).")
        .def("id", &text::Vocab::id, py::arg("word"), "The word's id, or -1.")
        .def("__len__", &text::Vocab::size)
        .def_property_readonly("words", [](const text::Vocab& v) { return v.words(); })
        .def_property_readonly("counts",
                               [](const text::Vocab& v) {
                                   const auto& c = v.counts();
                                   py::array_t<std::int64_t> a(py::ssize_t(c.size()));
                                   if (!c.empty())
                                       std::memcpy(a.mutable_data(), c.data(), c.size() * 8);
                                   return a;
                               })
        .def_property_readonly("total_tokens", &text::Vocab::total_tokens)
        .def_property_readonly("built", &text::Vocab::finalized)
        .def(
            "assign",
            [](text::Vocab& v, std::vector<std::string> words, std::vector<std::int64_t> counts,
               std::int64_t total) {
                if (words.size() != counts.size())
                    throw std::invalid_argument("counts: one per word expected");
                v.assign(std::move(words), std::move(counts), total);
            },
            py::arg("words"), py::arg("counts"), py::arg("total_tokens"),
            "Set a built vocabulary (words in id order).");
    m.def("fnv1a", [](py::str s) { return text::fnv1a(s.cast<std::string>()); }, py::arg("s"),
          "fastText's 32-bit FNV-1a hash of a token's UTF-8 bytes.");
}

MSOPT_REGISTER_BINDINGS("40 text", register_text)

}  // namespace msopt
