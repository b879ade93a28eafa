// msopt._core.Vocab: the string-heavy part of msopt.text.  Lines arrive as lists of str;
// their UTF-8 bytes are taken (with owned references) while the GIL is held, and the
// counting and encoding run without it.  str objects are immutable, so the bytes need no
// copy.  One Vocab may be used by several Python threads: a readers-writer lock per Vocab
// lets encodes and lookups run together and makes count, finalize and assign exclusive
// (without it a count racing an encode or another count corrupts the hash maps).
#include "common.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "../msopt/core/threads.hpp"
#include "../msopt/text/text.hpp"
#include "text_vocab.hpp"

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
        const std::string_view v = bind::utf8_arg(o, bind::Name("lines", std::size_t(i)));
        out.keep.push_back(py::reinterpret_borrow<py::object>(o));
        out.views.push_back(v);
    }
    return out;
}

// Whether str `s` holds a character that is not whitespace by str.isspace's rule (a
// document of such tokens only is empty, as its joined line would be).
bool has_text(PyObject* s) {
    const Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    const int kind = PyUnicode_KIND(s);
    const void* data = PyUnicode_DATA(s);
    for (Py_ssize_t j = 0; j < n; ++j)
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, j))) return true;
    return false;
}

void check_threads(int threads) {
    if (threads < 1 || threads > kMaxThreads)
        throw std::invalid_argument("threads: must be in [1, " + std::to_string(kMaxThreads) +
                                    "], got " + std::to_string(threads));
}

// A 1-d array of v's elements: v itself, owned by the array from now on (no copy, no fresh
// pages), unless more than half of v's capacity would lie unused for the array's lifetime,
// in which case a copy of the right size.
py::array_t<std::int64_t> vector_array(std::vector<std::int64_t>&& v) {
    if (v.capacity() > 2 * v.size() + 4096) {
        py::array_t<std::int64_t> a(static_cast<py::ssize_t>(v.size()));
        if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(std::int64_t));
        return a;
    }
    auto owned = std::make_unique<std::vector<std::int64_t>>(std::move(v));
    py::capsule free_it(owned.get(),
                        [](void* p) { delete static_cast<std::vector<std::int64_t>*>(p); });
    const std::vector<std::int64_t>* mine = owned.release();  // the capsule's from here on
    return py::array_t<std::int64_t>({static_cast<py::ssize_t>(mine->size())}, mine->data(),
                                     free_it);
}

// (ids, offsets) of n texts: line_of(text, scratch) gives each one's line of tokens, which
// Vocab::encode_line encodes.  Slices of at least kLinesPerThread texts run on threads of
// their own, each into its own vectors, joined afterwards: the same ids as one pass.  The
// GIL is released except while the arrays are made.  `padded`: line_of's lines are followed
// by Vocab::kPad readable bytes.
template <class LineOf>
py::tuple encode_views(const SharedVocab& sv, const std::vector<std::string_view>& texts,
                       int ngrams, std::uint64_t buckets, int threads, LineOf line_of,
                       bool padded) {
    constexpr std::size_t kLinesPerThread = 4096;
    const std::size_t n = texts.size();
    const int nt = int(std::max<std::size_t>(
        1, std::min<std::size_t>(std::size_t(threads), n / kLinesPerThread)));
    std::vector<std::vector<std::int64_t>> ids(static_cast<std::size_t>(nt));
    std::vector<std::vector<std::int64_t>> offsets(static_cast<std::size_t>(nt));
    {
        py::gil_scoped_release nogil;
        std::shared_lock<std::shared_mutex> lk(sv.m);
        if (!sv.v.finalized()) throw std::invalid_argument("encode: build the vocabulary first");
        // (out of memory on a worker: parallel_for throws it here)
        parallel_for(nt, [&](int t) {
            const Share sh = share(n, t, nt);
            // the worker's own vectors, moved into place at the end: the vector objects
            // in ids and offsets share cache lines, and every push_back would bounce
            // them between the threads
            std::vector<std::int64_t> id, off;
            off.reserve(sh.second - sh.first);
            // a token and its separator take 4 bytes or more in most text (English
            // averages about 6), and a token gives ngrams ids: reserved once from that,
            // so the vector is rarely grown and copied, and what it returns is mostly
            // used (text of longer tokens is copied out at the right size at the end)
            std::size_t most = 0;
            for (std::size_t i = sh.first; i < sh.second; ++i)
                most += texts[i].size() / 4 + 1;
            id.reserve(most * std::size_t(ngrams > 1 && buckets ? ngrams : 1));
            std::string scratch;
            text::LineScratch line_scratch;
            for (std::size_t i = sh.first; i < sh.second; ++i) {
                // the texts lie apart in memory, where no hardware prefetcher looks:
                // ask for the start of the one after next
                if (i + 2 < sh.second) {
                    const std::string_view next = texts[i + 2];
                    __builtin_prefetch(next.data());
                    if (next.size() > 64) __builtin_prefetch(next.data() + 64);
                }
                off.push_back(std::int64_t(id.size()));
                sv.v.encode_line(line_of(texts[i], scratch), ngrams, buckets, id,
                                 line_scratch, padded);
            }
            ids[std::size_t(t)] = std::move(id);
            offsets[std::size_t(t)] = std::move(off);
        });
    }
    if (nt == 1)  // one worker: its vectors become the arrays, with no copy
        return py::make_tuple(vector_array(std::move(ids[0])),
                              vector_array(std::move(offsets[0])));
    // more than one: each worker copies its part into place, on its own thread
    std::vector<std::size_t> start(static_cast<std::size_t>(nt) + 1, 0);
    for (int t = 0; t < nt; ++t)
        start[std::size_t(t) + 1] = start[std::size_t(t)] + ids[std::size_t(t)].size();
    py::array_t<std::int64_t> a(static_cast<py::ssize_t>(start.back()));
    py::array_t<std::int64_t> o(static_cast<py::ssize_t>(n));
    std::int64_t* pa = a.mutable_data();
    std::int64_t* po = o.mutable_data();
    {
        py::gil_scoped_release nogil;
        parallel_for(nt, [&](int t) {
            const auto& id = ids[std::size_t(t)];
            const std::size_t at = start[std::size_t(t)];
            if (!id.empty()) std::memcpy(pa + at, id.data(), id.size() * 8);
            std::int64_t* to = po + share(n, t, nt).first;
            for (const std::int64_t x : offsets[std::size_t(t)]) *to++ = x + std::int64_t(at);
        });
    }
    return py::make_tuple(a, o);
}

}  // namespace

void register_text(py::module_& m) {
    py::class_<SharedVocab>(m, "Vocab", "Word counts and the vocabulary built from them.")
        .def(py::init<>())
        .def(
            "count",
            [](SharedVocab& sv, py::handle lines) {
                Lines ls = utf8_lines(lines);
                py::gil_scoped_release nogil;
                std::unique_lock<std::shared_mutex> lk(sv.m);
                if (sv.v.finalized())
                    throw std::invalid_argument("count: the vocabulary is already built");
                for (auto s : ls.views) sv.v.count_line(s);
            },
            py::arg("lines"), "Add the whitespace-separated tokens of these lines.")
        .def(
            "finalize",
            [](SharedVocab& sv, std::int64_t min_count, std::size_t max_vocab) {
                py::gil_scoped_release nogil;
                std::unique_lock<std::shared_mutex> lk(sv.m);
                if (sv.v.finalized())
                    throw std::invalid_argument("finalize: the vocabulary is already built");
                return sv.v.finalize(min_count, max_vocab);
            },
            py::arg("min_count"), py::arg("max_vocab"),
            "Build the vocabulary: words seen >= min_count times, the max_vocab most "
            "frequent (0: all), by count then first appearance.  Returns its size.")
        .def(
            "encode",
            [](const SharedVocab& sv, py::handle lines, int ngrams, std::uint64_t buckets,
               int threads) {
                if (ngrams < 1) throw std::invalid_argument("ngrams: must be >= 1");
                check_threads(threads);
                Lines ls = utf8_lines(lines);
                return encode_views(sv, ls.views, ngrams, buckets, threads,
                                    [](std::string_view line, std::string&) { return line; },
                                    false);
            },
            py::arg("lines"), py::arg("ngrams") = 1, py::arg("buckets") = 0,
            py::arg("threads") = 1,
            "(ids, offsets): each line's word ids, then its hashed n-gram ids (n = 2.."
            "ngrams) in [len(vocab), len(vocab) + buckets); with threads > 1, slices of "
            "4,096 lines or more on threads of their own (the same ids).")
        .def(
            "encode_texts",
            [](const SharedVocab& sv, py::handle texts, bool lower, int ngrams,
               std::uint64_t buckets, int threads) -> py::object {
                // Texts of ASCII characters only: tokens are the runs of [A-Za-z0-9]
                // (what [^\W_]+ matches in ASCII), lower-cased when `lower`: each text is
                // mapped into a scratch line, 16 bytes at a time (other bytes become spaces) and
                // encoded as encode does, the same ids as tokenizing in Python first.
                // Anything else: None.
                if (ngrams < 1) throw std::invalid_argument("ngrams: must be >= 1");
                check_threads(threads);
                std::vector<py::object> keep;  // the list may change while the GIL is free
                std::vector<std::string_view> views;
                if (!ascii_views(texts, keep, views)) return py::none();
                // letters and digits stay (lower-cased when `lower`), every other byte
                // becomes a space, which encode_line splits on
                return encode_views(sv, views, ngrams, buckets, threads,
                                    [lower](std::string_view text, std::string& line) {
                                        return ascii_line(text, lower, line);
                                    },
                                    true);  // ascii_line pads the line
            },
            py::arg("texts"), py::arg("lower"), py::arg("ngrams") = 1, py::arg("buckets") = 0,
            py::arg("threads") = 1,
            "encode's (ids, offsets) straight from a list of ASCII str (their [A-Za-z0-9] "
            "runs, lower-cased when lower), without joining and splitting lines in Python; "
            "None for anything else.")
        .def(
            "encode_tokens",
            [](const SharedVocab& sv, py::handle docs) -> py::object {
                // One pass with the GIL held (no reference to keep, no view to gather):
                // each token's UTF-8 bytes are looked up where they lie.
                if (!PyList_Check(docs.ptr())) return py::none();
                auto lk = sv.reading();
                if (!sv.v.finalized())
                    throw std::invalid_argument("encode: build the vocabulary first");
                const Py_ssize_t n = PyList_GET_SIZE(docs.ptr());
                std::vector<std::int64_t> ids, offsets;
                offsets.reserve(std::size_t(n));
                Py_ssize_t empty = -1;
                for (Py_ssize_t i = 0; i < n && empty < 0; ++i) {
                    PyObject* d = PyList_GET_ITEM(docs.ptr(), i);
                    offsets.push_back(std::int64_t(ids.size()));
                    bool text = false;
                    auto add = [&](PyObject* t) {
                        if (!PyUnicode_Check(t)) return false;
                        Py_ssize_t len = 0;
                        const char* p = PyUnicode_AsUTF8AndSize(t, &len);
                        if (!p) {
                            PyErr_Clear();
                            return false;
                        }
                        text = text || has_text(t);
                        sv.v.encode_line({p, std::size_t(len)}, 1, 0, ids);
                        return true;
                    };
                    if (PyUnicode_Check(d)) {
                        if (!add(d)) return py::none();
                    } else if (PyList_Check(d) || PyTuple_Check(d)) {
                        // No Python code runs in this loop, so the items stay put.
                        const Py_ssize_t m = PySequence_Fast_GET_SIZE(d);
                        PyObject** items = PySequence_Fast_ITEMS(d);
                        for (Py_ssize_t j = 0; j < m; ++j)
                            if (!add(items[j])) return py::none();
                    } else {
                        return py::none();
                    }
                    if (!text) empty = i;
                }
                if (empty >= 0) ids.clear(), offsets.clear();
                py::array_t<std::int64_t> a(py::ssize_t(ids.size())), o(py::ssize_t(offsets.size()));
                if (!ids.empty()) std::memcpy(a.mutable_data(), ids.data(), ids.size() * 8);
                if (!offsets.empty())
                    std::memcpy(o.mutable_data(), offsets.data(), offsets.size() * 8);
                return py::make_tuple(a, o, empty);
            },
            py::arg("docs"),
            "(ids, offsets, empty) of a list of documents, each a str or a list or tuple of "
            "str tokens: the word ids of each, as encode gives for its tokens joined by "
            "spaces; empty is the first document with no text (nothing encoded then), else "
            "-1.  None when a document or token is of another type or not valid Unicode.")
        .def(
            "id",
            [](const SharedVocab& sv, py::handle word) {
                const std::string_view w = bind::utf8_arg(word, "word");
                auto lk = sv.reading();
                return sv.v.id(w);
            },
            py::arg("word"), "The word's id, or -1.")
        .def("__len__",
             [](const SharedVocab& sv) {
                 auto lk = sv.reading();
                 return sv.v.size();
             })
        .def_property_readonly("words",
                               [](const SharedVocab& sv) {
                                   std::vector<std::string> w;
                                   {
                                       auto lk = sv.reading();
                                       w = sv.v.words();
                                   }
                                   return w;
                               })
        .def_property_readonly("counts",
                               [](const SharedVocab& sv) {
                                   std::vector<std::int64_t> c;
                                   {
                                       auto lk = sv.reading();
                                       c = sv.v.counts();
                                   }
                                   py::array_t<std::int64_t> a(py::ssize_t(c.size()));
                                   if (!c.empty())
                                       std::memcpy(a.mutable_data(), c.data(), c.size() * 8);
                                   return a;
                               })
        .def_property_readonly("total_tokens",
                               [](const SharedVocab& sv) {
                                   auto lk = sv.reading();
                                   return sv.v.total_tokens();
                               })
        .def_property_readonly("built",
                               [](const SharedVocab& sv) {
                                   auto lk = sv.reading();
                                   return sv.v.finalized();
                               })
        .def(
            "assign",
            [](SharedVocab& sv, std::vector<std::string> words, std::vector<std::int64_t> counts,
               std::int64_t total) {
                if (words.size() != counts.size())
                    throw std::invalid_argument("counts: one per word expected");
                auto lk = sv.writing();
                sv.v.assign(std::move(words), std::move(counts), total);
            },
            py::arg("words"), py::arg("counts"), py::arg("total_tokens"),
            "Set a built vocabulary (words in id order).");
    m.def("fnv1a", [](py::handle s) { return text::fnv1a(std::string(bind::utf8_arg(s, "s"))); }, py::arg("s"),
          "fastText's 32-bit FNV-1a hash of a token's UTF-8 bytes.");
}

MSOPT_REGISTER_BINDINGS("40 text", register_text)

}  // namespace msopt
