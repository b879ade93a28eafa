// The sentence encoder's native calls (models/encoder.hpp): arrays are checked, and the ids
// and offsets of training pairs are copied, with the GIL held; the loops run without it.
// encode copies and checks its ids and offsets a chunk at a time on its workers;
// encode_texts makes them a chunk at a time on its workers from the texts, through the
// vocabulary (text_vocab.hpp).
#include "common.hpp"
#include "optim_state.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../msopt/core/threads.hpp"
#include "../msopt/models/encoder.hpp"
#include "text_vocab.hpp"

namespace msopt {
namespace {

using bind::ArrayView;
using bind::Want;

const char* const kNames[3] = {"E", "W", "b"};

void check_threads(int threads) {
    if (threads < 1 || threads > kMaxThreads)
        throw std::invalid_argument("threads: must be in [1, " + std::to_string(kMaxThreads) +
                                    "], got " + std::to_string(threads));
}

// The parameters: [E] or [E, W, b], float32, C-contiguous (writeable when trained), with
// E (rows x dim), W (dim x out), b (out,).  Fills P and the shape.
enc::Shape parse_params(py::handle list, bool writeable, enc::Params& P,
                        std::vector<py::object>& keep) {
    if (!PyList_Check(list.ptr()) && !PyTuple_Check(list.ptr()))
        throw py::type_error("params: expected a list of arrays");
    py::sequence seq = py::reinterpret_borrow<py::sequence>(list);
    if (seq.size() != 1 && seq.size() != 3)
        throw std::invalid_argument("params: expected [E] or [E, W, b], got " +
                                    std::to_string(seq.size()) + " arrays");
    enc::Shape sh;
    const int n = int(seq.size());
    ArrayView v[3];
    for (int i = 0; i < n; ++i) {
        py::object o = seq[std::size_t(i)];
        v[i] = bind::array(o, kNames[i], Want{bind::kF32, i == 2 ? 1 : 2, writeable});
        P.p[i] = reinterpret_cast<float*>(v[i].data);
        keep.push_back(o);
    }
    sh.rows = std::size_t(v[0].shape[0]), sh.dim = std::size_t(v[0].shape[1]);
    if (sh.rows < 1 || sh.dim < 1)
        throw std::invalid_argument("E: expected at least one row and one column, got " +
                                    bind::shape_str(v[0]));
    sh.project = n == 3;
    sh.out = sh.dim;
    if (sh.project) {
        bind::shape(v[1], "W", {Py_ssize_t(sh.dim), -1}, " (dim x out)");
        sh.out = std::size_t(v[1].shape[1]);
        if (sh.out < 1) throw std::invalid_argument("W: expected at least one column");
        bind::shape(v[2], "b", {Py_ssize_t(sh.out)}, " (one per output column)");
    }
    return sh;
}

std::size_t size_of(const enc::Shape& sh, int i) {
    return std::size_t(i == 0 ? sh.rows * sh.dim : i == 1 ? sh.dim * sh.out : sh.out);
}

// Optimizer.native_state(): the parameters (as above) and the optimizer's part.
enc::Shape parse_optim(py::handle state, enc::Optim& opt, enc::Params& P,
                       std::vector<py::object>& keep) {
    const enc::Shape sh = parse_params(state.attr("params"), true, P, keep);
    bind::parse_optim_state(
        state, sh.n_params(), bind::kF32, [&](int p) { return size_of(sh, p); },
        [](int p) { return kNames[p]; }, opt, keep);
    return sh;
}

// Texts from (ids, offsets): offsets holds each text's start (n values, non-decreasing,
// from 0), ids every text's ids back to back, each in [0, rows).  Copied once (the copy is
// the private one), then checked.
enc::Texts copy_texts(py::handle ids, py::handle offsets, std::size_t rows, const char* what) {
    const ArrayView iv = bind::int64_vector(ids, "ids");
    const ArrayView ov = bind::int64_vector(offsets, "offsets");
    enc::Texts t;
    const auto* ip = reinterpret_cast<const std::int64_t*>(iv.data);
    const auto* op = reinterpret_cast<const std::int64_t*>(ov.data);
    t.ids.assign(ip, ip + iv.shape[0]);
    t.off.assign(op, op + ov.shape[0]);
    bind::check_ids(t.ids.data(), t.ids.size(), std::int64_t(rows),
                    std::string(what) + " (a table of " + std::to_string(rows) + " rows)");
    bind::check_offsets(t.off.data(), t.off.size(), t.ids.size());
    t.off.push_back(std::int64_t(t.ids.size()));
    return t;
}

enc::Loss loss_of(int loss) {
    if (loss < 0 || loss > 3)
        throw std::invalid_argument("loss: expected 0 (in-batch), 1 (cosine), 2 (logistic) or "
                                    "3 (contrastive), got " + std::to_string(loss));
    return enc::Loss(loss);
}

void check_pairs_for(const enc::Pairs& d, const enc::Shape& sh, enc::Loss loss) {
    if (d.max_id >= 0 && std::size_t(d.max_id) >= sh.rows)
        throw py::index_error("pairs: an id (" + std::to_string(d.max_id) +
                              ") is out of range for a table of " + std::to_string(sh.rows) +
                              " rows");
    if (loss != enc::Loss::InBatch && d.target.size() != d.size())
        throw std::invalid_argument("pairs: this loss needs a target per pair");
}

enc::TrainSpec make_spec(int loss, double temperature, double margin) {
    enc::TrainSpec spec;
    spec.loss = loss_of(loss);
    if (!(temperature > 0.0) || !std::isfinite(temperature))
        throw std::invalid_argument("temperature: must be finite and > 0");
    if (!std::isfinite(margin)) throw std::invalid_argument("margin: must be finite");
    spec.temperature = temperature, spec.margin = margin;
    return spec;
}

py::tuple train(enc::Pairs& d, py::handle optimizer, int loss, double temperature,
                double margin, std::size_t batch_size, std::uint64_t seed, std::int64_t epoch,
                std::size_t batch_begin, std::size_t batch_end, const Schedule& schedule,
                std::int64_t schedule_origin, int threads) {
    if (batch_size < 1) throw std::invalid_argument("batch_size: must be >= 1");
    if (epoch < 0) throw std::invalid_argument("epoch: must be >= 0");
    check_threads(threads);
    enc::TrainSpec spec = make_spec(loss, temperature, margin);
    std::vector<py::object> keep;
    enc::Optim opt;
    enc::Params P;
    const enc::Shape sh = parse_optim(optimizer, opt, P, keep);
    check_pairs_for(d, sh, spec.loss);
    spec.batch_size = batch_size, spec.seed = seed, spec.epoch = epoch;
    spec.batch_begin = batch_begin, spec.batch_end = batch_end;
    spec.schedule = schedule, spec.schedule_origin = schedule_origin, spec.threads = threads;
    enc::Result r;
    {
        py::gil_scoped_release nogil;
        r = enc::train(d, sh, P, opt, spec);
    }
    return py::make_tuple(r.loss, r.count, r.batches, r.status);
}

py::tuple loss_grad(const enc::Pairs& d, py::handle params, py::handle positions, int loss,
                    double temperature, double margin, int threads) {
    check_threads(threads);
    enc::TrainSpec spec = make_spec(loss, temperature, margin);
    spec.threads = threads;
    std::vector<py::object> keep;
    enc::Params P;
    const enc::Shape sh = parse_params(params, false, P, keep);
    check_pairs_for(d, sh, spec.loss);
    bind::Copies copies;
    const ArrayView pv = bind::private_int64_vector(positions, "positions", copies);
    const auto* pos = reinterpret_cast<const std::int64_t*>(pv.data);
    const std::size_t B = std::size_t(pv.shape[0]);
    bind::check_ids(pos, B, std::int64_t(d.size()), "the pairs");
    std::vector<std::int64_t> uniq;
    std::vector<float> gE, gW, gb;
    double l;
    {
        py::gil_scoped_release nogil;
        l = enc::loss_grad(d, sh, P, spec, pos, B, uniq, gE, gW, gb);
    }
    py::array_t<std::int64_t> u(py::ssize_t(uniq.size()));
    if (!uniq.empty()) std::memcpy(u.mutable_data(), uniq.data(), uniq.size() * 8);
    py::array_t<float> e({py::ssize_t(uniq.size()), py::ssize_t(sh.dim)});
    if (!gE.empty()) std::memcpy(e.mutable_data(), gE.data(), gE.size() * 4);
    py::object w = py::none(), b = py::none();
    if (sh.project) {
        py::array_t<float> aw({py::ssize_t(sh.dim), py::ssize_t(sh.out)});
        py::array_t<float> ab(py::ssize_t(sh.out));
        if (B) {
            std::memcpy(aw.mutable_data(), gW.data(), gW.size() * 4);
            std::memcpy(ab.mutable_data(), gb.data(), gb.size() * 4);
        } else {
            std::memset(aw.mutable_data(), 0, sh.dim * sh.out * 4);
            std::memset(ab.mutable_data(), 0, sh.out * 4);
        }
        w = aw, b = ab;
    }
    return py::make_tuple(l, u, e, w, b);
}

// The caller's ids and offsets as arrays of int64, borrowed (not copied or checked).
enc::Borrowed borrowed_texts(py::handle ids, py::handle offsets) {
    const ArrayView iv = bind::int64_vector(ids, "ids");
    const ArrayView ov = bind::int64_vector(offsets, "offsets");
    return {reinterpret_cast<const std::int64_t*>(iv.data), std::size_t(iv.shape[0]),
            reinterpret_cast<const std::int64_t*>(ov.data), std::size_t(ov.shape[0])};
}

// IndexError / ValueError unless every id is a row of the table and the offsets split
// the ids.
void check_texts(const enc::Borrowed& t, const enc::Shape& sh) {
    bind::check_ids(t.ids, t.n_ids, std::int64_t(sh.rows),
                    "the encoder's table (a table of " + std::to_string(sh.rows) + " rows)");
    bind::check_offsets(t.off, t.n, t.n_ids);
}

py::array_t<float> encode(py::handle params, py::handle ids, py::handle offsets, int threads) {
    check_threads(threads);
    std::vector<py::object> keep;
    enc::Params P;
    const enc::Shape sh = parse_params(params, false, P, keep);
    // The ids and offsets are read in place: each worker copies a chunk and checks the copy
    // (enc::encode), so no pass over them is made here with the GIL held.
    const enc::Borrowed t = borrowed_texts(ids, offsets);
    py::array_t<float> out({py::ssize_t(t.n), py::ssize_t(sh.width())});
    float* o = out.mutable_data();
    bool ok;
    {
        py::gil_scoped_release nogil;
        ok = enc::encode(t, sh, P, threads, o);
    }
    if (!ok) {
        // The same messages as the checks of a copy, found on the arrays as they are now.
        check_texts(t, sh);
        throw std::invalid_argument("ids, offsets: changed while encode read them");
    }
    return out;
}

// Benchmark floor of encode's bag (enc::read_floor).  The GIL stays held: the arrays are
// checked and read with no Python code between.
double read_floor(py::handle params, py::handle ids, py::handle offsets, int threads) {
    check_threads(threads);
    std::vector<py::object> keep;
    enc::Params P;
    const enc::Shape sh = parse_params(params, false, P, keep);
    const enc::Borrowed t = borrowed_texts(ids, offsets);
    check_texts(t, sh);
    return enc::read_floor(t.ids, t.off, t.n, t.n_ids, P.p[0], sh.dim, threads);
}

// The unit vectors of a list of ASCII str, tokenized and looked up by `vocab` as its
// encode_texts does and encoded as encode does (the same bits as the two in turn), one
// chunk of texts at a time on each worker: no array of every text's ids is made, and each
// chunk's ids are read from cache right after they are made.  None for anything else.
py::object encode_texts(py::handle params, const SharedVocab& sv, py::handle texts,
                        bool lower, int ngrams, std::uint64_t buckets, int threads) {
    check_threads(threads);
    if (ngrams < 1) throw std::invalid_argument("ngrams: must be >= 1");
    std::vector<py::object> keep;
    enc::Params P;
    const enc::Shape sh = parse_params(params, false, P, keep);
    std::vector<py::object> hold;
    std::vector<std::string_view> views;
    if (!ascii_views(texts, hold, views)) return py::none();
    const std::size_t n = views.size();
    py::array_t<float> out({py::ssize_t(n), py::ssize_t(sh.width())});
    float* o = out.mutable_data();
    const bool grams = ngrams > 1 && buckets;
    enum { kOk, kNotBuilt, kTooFewRows } status = kOk;
    std::size_t words = 0;
    {
        py::gil_scoped_release nogil;
        std::shared_lock<std::shared_mutex> lk(sv.m);  // the vocabulary stays as it is
        words = sv.v.size();
        if (!sv.v.finalized()) {
            status = kNotBuilt;
        } else if (words > sh.rows || (grams && buckets > sh.rows - words)) {
            // every id made is below words + buckets (compared without the sum, which may
            // wrap around)
            status = kTooFewRows;
        } else if (n) {
            std::size_t bytes = 0;
            for (const auto& t : views) bytes += t.size();
            // about a token in 6 bytes of English, and ngrams ids a token
            const std::size_t per_text = (bytes / n / 6 + 1) * std::size_t(grams ? ngrams : 1);
            enc::encode_chunks(n, per_text, sh, P, threads, o, [&]() -> enc::FillChunk {
                // one worker's scratch, for this call only
                auto line = std::make_shared<std::string>();
                auto scratch = std::make_shared<text::LineScratch>();
                return [&, line, scratch](std::size_t r0, std::size_t m,
                                          std::vector<std::int64_t>& ids,
                                          std::vector<std::int64_t>& off) {
                    ids.clear();
                    off.resize(m + 1);
                    for (std::size_t i = 0; i < m; ++i) {
                        off[i] = std::int64_t(ids.size());
                        sv.v.encode_line(ascii_line(views[r0 + i], lower, *line), ngrams,
                                         buckets, ids, *scratch, true);
                    }
                    off[m] = std::int64_t(ids.size());
                    return true;
                };
            });
        }
    }
    if (status == kNotBuilt) throw std::invalid_argument("vocab: build the vocabulary first");
    if (status == kTooFewRows) {
        // words + buckets, which may not fit in 64 bits
        const unsigned __int128 need =
            (unsigned __int128)words + (grams ? (unsigned __int128)buckets : 0);
        std::string digits;
        for (unsigned __int128 x = need; digits.empty() || x; x /= 10)
            digits.insert(digits.begin(), char('0' + int(x % 10)));
        throw std::invalid_argument(
            "params: E has " + std::to_string(sh.rows) + " rows, but the vocabulary's ids (" +
            std::to_string(words) + " words" +
            (grams ? " and " + std::to_string(buckets) + " buckets" : std::string()) +
            ") reach " + digits);
    }
    return out;
}

}  // namespace

void register_encoder(py::module_& m) {
    py::class_<enc::Pairs>(m, "EncoderPairs",
                           "Training pairs of texts as ids (private copies), their targets, "
                           "and the cached epoch order.")
        .def(py::init([](py::handle a_ids, py::handle a_offsets, py::handle b_ids,
                         py::handle b_offsets, std::size_t rows, py::handle targets) {
                 auto d = std::make_unique<enc::Pairs>();
                 d->a = copy_texts(a_ids, a_offsets, rows, "the encoder's table");
                 d->b = copy_texts(b_ids, b_offsets, rows, "the encoder's table");
                 if (d->a.size() != d->b.size())
                     throw std::invalid_argument("b_offsets: expected " +
                                                 std::to_string(d->a.size()) +
                                                 " texts (one per a text), got " +
                                                 std::to_string(d->b.size()));
                 for (const enc::Texts* t : {&d->a, &d->b})
                     for (std::int64_t id : t->ids) d->max_id = std::max(d->max_id, id);
                 if (!targets.is_none()) {
                     const ArrayView tv = bind::array(targets, "targets", Want{bind::kF64, 1});
                     bind::shape(tv, "targets", {Py_ssize_t(d->a.size())}, " (one per pair)");
                     const auto* p = reinterpret_cast<const double*>(tv.data);
                     d->target.assign(p, p + d->a.size());
                     for (std::size_t i = 0; i < d->target.size(); ++i)
                         if (!std::isfinite(d->target[i]))
                             throw std::invalid_argument("targets[" + std::to_string(i) +
                                                         "]: must be finite");
                 }
                 return d;
             }),
             py::arg("a_ids"), py::arg("a_offsets"), py::arg("b_ids"), py::arg("b_offsets"),
             py::arg("rows"), py::arg("targets") = py::none())
        .def("__len__", [](const enc::Pairs& d) { return d.size(); });
    m.def("encoder_train", &train, py::arg("pairs"), py::arg("optimizer"), py::kw_only(),
          py::arg("loss"), py::arg("temperature") = 0.05, py::arg("margin") = 0.5,
          py::arg("batch_size"), py::arg("seed"), py::arg("epoch"), py::arg("batch_begin"),
          py::arg("batch_end"), py::arg("schedule") = Schedule{},
          py::arg("schedule_origin") = 0, py::arg("threads") = 1,
          "Train batches [batch_begin, batch_end) of one epoch (pairs in the order "
          "epoch_permutation(seed, epoch)); the optimizer's parameters are [E] or [E, W, b].  "
          "Returns (summed loss, pairs, batches, status: 0 ok, 1 a non-finite loss, 2 a "
          "non-finite gradient; the failing batch wrote nothing).");
    m.def("encoder_loss_grad", &loss_grad, py::arg("pairs"), py::arg("params"),
          py::arg("positions"), py::kw_only(), py::arg("loss"), py::arg("temperature") = 0.05,
          py::arg("margin") = 0.5, py::arg("threads") = 1,
          "The summed loss of the pairs at `positions` (one batch) and the gradients of the "
          "mean loss: (loss, E's rows, their gradients, W's or None, b's or None).");
    m.def("encoder_encode", &encode, py::arg("params"), py::arg("ids"), py::arg("offsets"),
          py::kw_only(), py::arg("threads") = 1,
          "Unit vectors (float32, one row per text) of the texts given as (ids, offsets).");
    m.def("encoder_read_floor", &read_floor, py::arg("params"), py::arg("ids"),
          py::arg("offsets"), py::kw_only(), py::arg("threads") = 1,
          "Benchmark floor of encoder_encode: loads one float from each cache line of every "
          "row the texts name, over encode's blocks and threads, and computes nothing else; "
          "returns the loads' sum.");
    m.def("encoder_encode_texts", &encode_texts, py::arg("params"), py::arg("vocab"),
          py::arg("texts"), py::arg("lower"), py::arg("ngrams") = 1, py::arg("buckets") = 0,
          py::kw_only(), py::arg("threads") = 1,
          "encoder_encode of vocab.encode_texts(texts, lower, ngrams, buckets) in one pass, "
          "a chunk of texts at a time (the same bits); E must have a row for every id the "
          "vocabulary can make (its words, and the buckets when ngrams > 1).  None, once the "
          "other arguments are checked, when texts is not a list of ASCII str.");
}

MSOPT_REGISTER_BINDINGS("75 encoder", register_encoder)

}  // namespace msopt
