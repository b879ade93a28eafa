// What the calls of a chunked training run share (word2vec, the text classifier):
// RaggedIds, a private, checked copy of ids stored back to back with their starts (the
// sentences, the documents), taken once so that no chunk copies or checks the corpus
// again; and the check of the run's resume array (resume.hpp).
#pragma once

#include "common.hpp"
#include "../msopt/models/resume.hpp"

#include <string>
#include <vector>

namespace msopt::bind {

struct RaggedIds {
    std::vector<std::int64_t> ids, offsets;  // ids < rows; offsets checked against ids
    std::int64_t rows = 0;

    // what: the rows, as an error names them ("a vocabulary of 10")
    RaggedIds(py::handle ids_a, py::handle offsets_a, std::int64_t rows_,
              const std::string& what = "")
        : rows(rows_) {
        if (rows < 0) throw std::invalid_argument("rows: must be >= 0");
        Copies copies;
        const Ragged r = ragged_ids(ids_a, offsets_a, rows,
                                    what.empty() ? std::to_string(rows) + " rows" : what, copies);
        ids.assign(r.ids, r.ids + r.n_ids);
        offsets.assign(r.offsets, r.offsets + r.n);
    }
    Ragged view() const { return {ids.data(), ids.size(), offsets.data(), offsets.size()}; }
    // The run's ids must address this many rows.
    void check_rows(std::int64_t want, const char* of) const {
        if (rows != want)
            throw std::invalid_argument("corpus: checked for " + std::to_string(rows) +
                                        " rows, but " + of + " has " + std::to_string(want));
    }
};

// The resume rows of a chunked run: int64, writeable, C-contiguous, threads x (4 + 2
// epochs); null when `resume` is None (one whole call).  chunk >= 1.
inline std::int64_t* resume_rows(py::handle resume, int threads, int epochs,
                                 std::size_t chunk) {
    if (resume.is_none()) return nullptr;
    const ArrayView rv = array(resume, "resume", Want{kI64, 2, true});
    shape(rv, "resume", {Py_ssize_t(threads), Py_ssize_t(resume_width(std::size_t(epochs)))},
          " (threads x (4 + 2 epochs))");
    if (chunk < 1) throw std::invalid_argument("chunk: must be >= 1");
    return reinterpret_cast<std::int64_t*>(rv.data);
}

}  // namespace msopt::bind
