# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# distutils: language = c++
"""Cython twin of msopt._core.Vocab (csrc/msopt/text.cpp), for bench/text_cython/compare.py.

Same API and semantics: tokens are runs of bytes other than ASCII whitespace in each line's
UTF-8; the vocabulary orders words by descending count, ties by first appearance; encode
gives each line's word ids (unknown words dropped), then fastText's hashed n-gram ids.
Written for speed: the lines' cached UTF-8 buffers are scanned in C, and the counts and the
index live in C++ containers (libcpp), so no Python object is made per token.
"""

from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from cython.operator cimport dereference as deref
from libc.stdint cimport int8_t, int32_t, int64_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libcpp.algorithm cimport sort
from libcpp.string cimport string
from libcpp.unordered_map cimport unordered_map
from libcpp.utility cimport move, pair
from libcpp.vector cimport vector

import numpy as np


cdef inline bint is_space(char c) noexcept nogil:
    # ' ', \t \n \v \f \r
    return c == 32 or (c >= 9 and c <= 13)


cdef inline Py_ssize_t next_token(const char* p, Py_ssize_t n, Py_ssize_t* i) noexcept nogil:
    # The next token of p[*i:n]: returns its start and leaves *i at its end (start == *i:
    # no token left).
    while i[0] < n and is_space(p[i[0]]):
        i[0] += 1
    cdef Py_ssize_t start = i[0]
    while i[0] < n and not is_space(p[i[0]]):
        i[0] += 1
    return start


cdef inline uint32_t fnv1a(const char* p, Py_ssize_t n) noexcept nogil:
    # fastText's hash: each byte sign-extended (int8) before the xor.
    cdef uint32_t h = 2166136261U
    cdef Py_ssize_t k
    for k in range(n):
        h = (h ^ <uint32_t><int8_t>p[k]) * 16777619U
    return h


cdef object as_array(vector[int64_t]& v):
    out = np.empty(v.size(), dtype=np.int64)
    cdef int64_t[::1] view = out
    if v.size():
        memcpy(&view[0], v.data(), v.size() * sizeof(int64_t))
    return out


cdef class Vocab:
    # While counting: word -> its first-appearance index into order / cnt.
    cdef unordered_map[string, Py_ssize_t] seen
    cdef vector[string] order
    cdef vector[int64_t] cnt
    # Once built: word -> id, and words / counts in id order.
    cdef unordered_map[string, int64_t] index
    cdef vector[string] words_
    cdef vector[int64_t] counts_
    cdef int64_t total
    cdef bint _built
    cdef string key  # reused buffer for the token being looked up

    def count(self, list lines):
        cdef str line
        cdef const char* p
        cdef Py_ssize_t n, i, start
        cdef unordered_map[string, Py_ssize_t].iterator it
        if self._built:
            raise ValueError("count: the vocabulary is already built")
        for line in lines:
            p = PyUnicode_AsUTF8AndSize(line, &n)
            i = 0
            while True:
                start = next_token(p, n, &i)
                if i == start:
                    break
                self.key.assign(p + start, i - start)
                it = self.seen.find(self.key)
                if it == self.seen.end():
                    self.seen[self.key] = self.order.size()
                    self.order.push_back(self.key)
                    self.cnt.push_back(1)
                else:
                    self.cnt[deref(it).second] += 1
                self.total += 1

    def finalize(self, int64_t min_count, size_t max_vocab):
        cdef vector[pair[int64_t, Py_ssize_t]] keep  # (-count, first appearance)
        cdef pair[int64_t, Py_ssize_t] k
        cdef Py_ssize_t i
        if self._built:
            raise ValueError("finalize: the vocabulary is already built")
        for i in range(<Py_ssize_t>self.cnt.size()):
            if self.cnt[i] >= min_count:
                keep.push_back(pair[int64_t, Py_ssize_t](-self.cnt[i], i))
        sort(keep.begin(), keep.end())
        if max_vocab and keep.size() > max_vocab:
            keep.resize(max_vocab)
        self.index.reserve(keep.size())
        for k in keep:
            self.index[self.order[k.second]] = self.words_.size()
            self.words_.push_back(move(self.order[k.second]))
            self.counts_.push_back(-k.first)
        self.seen.clear()
        self.order.clear()
        self.cnt.clear()
        self._built = True
        return self.words_.size()

    def encode(self, list lines, int ngrams=1, uint64_t buckets=0):
        cdef vector[int64_t] ids, offsets
        cdef vector[int32_t] hashes
        cdef str line
        cdef const char* p
        cdef Py_ssize_t n, i, start, a, b, m
        cdef uint64_t h
        cdef unordered_map[string, int64_t].iterator it
        cdef bint grams = ngrams > 1 and buckets > 0
        cdef int64_t base = self.words_.size()
        if not self._built:
            raise ValueError("encode: build the vocabulary first")
        if ngrams < 1:
            raise ValueError("ngrams: must be >= 1")
        offsets.reserve(len(lines))
        for line in lines:
            p = PyUnicode_AsUTF8AndSize(line, &n)
            offsets.push_back(ids.size())
            hashes.clear()
            i = 0
            while True:
                start = next_token(p, n, &i)
                if i == start:
                    break
                self.key.assign(p + start, i - start)
                it = self.index.find(self.key)
                if it != self.index.end():
                    ids.push_back(deref(it).second)
                if grams:
                    hashes.push_back(<int32_t>fnv1a(p + start, i - start))
            if grams:
                # int32 hashes widened to uint64 with sign extension, as fastText does.
                m = hashes.size()
                for a in range(m):
                    h = <uint64_t><int64_t>hashes[a]
                    b = a + 1
                    while b < m and b < a + ngrams:
                        h = h * 116049371ULL + <uint64_t><int64_t>hashes[b]
                        ids.push_back(base + <int64_t>(h % buckets))
                        b += 1
        return as_array(ids), as_array(offsets)

    def id(self, str word):
        cdef unordered_map[string, int64_t].iterator it = self.index.find(word.encode("utf-8"))
        return -1 if it == self.index.end() else deref(it).second

    def __len__(self):
        return self.words_.size()

    @property
    def words(self):
        return [w.decode("utf-8") for w in self.words_]

    @property
    def counts(self):
        return as_array(self.counts_)

    @property
    def total_tokens(self):
        return self.total

    @property
    def built(self):
        return self._built
