// RaggedIds: a private, checked copy of ids stored back to back with their starts (the
// sentences of word2vec, the documents of the text classifier), taken once and handed to
// every call of a chunked training run, so that no chunk copies or checks the corpus again.
#pragma once

#include "common.hpp"

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

}  // namespace msopt::bind
