// The vocabulary object behind msopt._core.Vocab (bindings/text.cpp), shared with the
// bindings that read texts through it (the sentence encoder's encode from texts).
#pragma once

#include "common.hpp"

#include <mutex>
#include <shared_mutex>
#include <string_view>
#include <vector>

#include "../msopt/text/text.hpp"

namespace msopt {

// A Vocab and its lock.  The lock is taken without the GIL (a thread waiting for it holds
// no GIL, so the holder, which never needs the GIL, always gets to finish).  Encodes and
// lookups read together; count, finalize and assign are exclusive (without the lock a count
// racing an encode or another count corrupts the hash maps).
struct SharedVocab {
    text::Vocab v;
    mutable std::shared_mutex m;

    template <class Lock>
    Lock lock() const {
        Lock l(m, std::try_to_lock);
        if (!l.owns_lock()) {
            py::gil_scoped_release nogil;
            l.lock();
        }
        return l;
    }
    std::shared_lock<std::shared_mutex> reading() const {
        return lock<std::shared_lock<std::shared_mutex>>();
    }
    std::unique_lock<std::shared_mutex> writing() const {
        return lock<std::unique_lock<std::shared_mutex>>();
    }
};

// The bytes of a list of ASCII str, in place (an ASCII str's characters are its bytes),
// with an owned reference to each (the list may change while the GIL is free; the str
// objects cannot).  False, with nothing kept, for any other input: not a list, or an item
// that is not a str of ASCII characters only.
inline bool ascii_views(py::handle texts, std::vector<py::object>& keep,
                        std::vector<std::string_view>& views) {
    keep.clear();
    views.clear();
    if (!PyList_Check(texts.ptr())) return false;
    const Py_ssize_t n = PyList_GET_SIZE(texts.ptr());
    keep.reserve(std::size_t(n));
    views.reserve(std::size_t(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* o = PyList_GET_ITEM(texts.ptr(), i);
        if (!PyUnicode_Check(o) || !PyUnicode_IS_ASCII(o)) {
            keep.clear();
            views.clear();
            return false;
        }
        keep.push_back(py::reinterpret_borrow<py::object>(o));
        views.emplace_back(static_cast<const char*>(PyUnicode_DATA(o)),
                           std::size_t(PyUnicode_GET_LENGTH(o)));
    }
    return true;
}

// Texts as encode_texts reads them: [A-Za-z0-9] runs (what [^\W_]+ matches in ASCII),
// lower-cased when `lower`, mapped into `line` (every other byte a space) for encode_line.
// The view returned is followed by Vocab::kPad bytes of `line` (encode_line's `padded`).
inline std::string_view ascii_line(std::string_view text, bool lower, std::string& line) {
    line.resize(text.size() + text::Vocab::kPad);
    text::map_word_bytes(text.data(), text.size(), line.data(), lower);
    return {line.data(), text.size()};
}

}  // namespace msopt
