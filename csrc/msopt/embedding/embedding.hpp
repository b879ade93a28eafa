// Embedding bags: out[b] = sum (or mean) over the ids of bag b of table[id] (times a
// per-id weight in sum mode), and the backward that turns dL/dout into one gradient row
// per id occurrence, for the row-sparse optimizer update (which merges repeated ids).
// Bags are given by offsets: bag b holds ids[offsets[b] : offsets[b+1]] (the last bag runs
// to the end).  An empty bag gives zeros and takes no gradient.  No Python here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace msopt::embedding {

enum class Mode : int { Sum = 0, Mean = 1 };

struct Bags {
    const std::int64_t* ids = nullptr;
    std::size_t n_ids = 0;
    const std::int64_t* offsets = nullptr;
    std::size_t n_bags = 0;
};

// out (n_bags x dim) = pooled rows of table (rows x dim).
template <class T>
void bag_forward(const T* table, std::size_t dim, const Bags& bags, const T* weights, Mode mode,
                 T* out);

// values (n_ids x dim): row j = scale_j * grad_out[bag of j], scale_j = weights[j] (sum),
// 1 (sum, no weights) or 1 / bag size (mean).
template <class T>
void bag_backward(const T* grad_out, std::size_t dim, const Bags& bags, const T* weights,
                  Mode mode, T* values);

// The backward merged per id: uniq gets the distinct ids in order of first appearance and
// merged (uniq.size() x dim) the sum of their gradient rows, added in position order, so
// the result is what merging bag_backward's rows gives, bit for bit, without writing them.
template <class T>
void bag_backward_merged(const T* grad_out, std::size_t dim, const Bags& bags,
                         const T* weights, Mode mode, std::vector<std::int64_t>& uniq,
                         std::vector<T>& merged);

}  // namespace msopt::embedding
