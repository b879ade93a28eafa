// Learning-rate schedules: the one definition every part of msopt evaluates (the linear
// runner, word2vec's and the text classifier's decays, and msopt.optim.lr_scheduler through
// _core.Schedule).  Header-only and no Python: a value is a few flops, inlined where used.
//
// A schedule is a rate at step k (a count: optimizer steps, epochs, words or documents
// done), starting from `base` (1 for a factor that multiplies a learning rate):
//
//   Constant      rate(k) = base
//   Linear        rate(k) = max(base - (base - end) * (k / total), floor)
//   Step          rate(k) = base * gamma ^ floor(k / step_size)
//   Exponential   rate(k) = base * gamma ^ k
//   WarmupCosine  rate(k) = base * k / warmup                                  k < warmup
//                         = floor                                              k >= total
//                         = floor + (base - floor)
//                                   * (1 + cos(pi * (k - warmup) / (total - warmup))) / 2
//
// The operations are written in exactly this order, so every caller gets the same bits:
// `1 - k / total` is `Linear` with base 1, end 0 (1 * x and 1 - 0 are exact), and
// word2vec's `alpha - (alpha - min_alpha) * progress` is `Linear` with base alpha and end
// min_alpha.  Powers and the cosine are the C library's pow and cos (the same ones
// Python's float ** and math.cos call).
#pragma once

#include <cmath>
#include <cstdint>

namespace msopt {

enum class ScheduleKind : int { Constant = 0, Linear = 1, Step = 2, Exponential = 3,
                                WarmupCosine = 4 };

struct Schedule {
    ScheduleKind kind = ScheduleKind::Constant;
    double base = 1.0;       // the rate at k = 0 (after warmup, for WarmupCosine)
    double end = 0.0;        // Linear: the rate reached at k = total
    double floor = 0.0;      // Linear, WarmupCosine: the rate never goes below it
    double total = 1.0;      // Linear, WarmupCosine: the steps the decay spans (> 0)
    double warmup = 0.0;     // WarmupCosine: steps of linear warmup from 0 (< total)
    double gamma = 1.0;      // Step, Exponential: the factor per step_size steps / per step
    std::int64_t step_size = 1;  // Step: steps between two multiplications by gamma (>= 1)

    // The rate at step k.  k may be fractional for Linear (a share of words done).
    double at(double k) const {
        switch (kind) {
            case ScheduleKind::Linear: {
                const double r = base - (base - end) * (k / total);
                return r > floor ? r : floor;
            }
            case ScheduleKind::Step: {
                const double q = std::floor(k / double(step_size));
                return base * std::pow(gamma, q);
            }
            case ScheduleKind::Exponential: return base * std::pow(gamma, k);
            case ScheduleKind::WarmupCosine: {
                if (k < warmup) return base * k / warmup;
                if (k >= total) return floor;
                const double pi = 3.14159265358979323846;
                return floor + (base - floor) *
                                   (1.0 + std::cos(pi * (k - warmup) / (total - warmup))) / 2.0;
            }
            case ScheduleKind::Constant: break;
        }
        return base;
    }

    // The factor-style schedules of a runner: base 1, decaying to 0 over `total` steps and
    // held at `min_factor`.
    static Schedule linear_factor(double total, double min_factor) {
        Schedule s;
        s.kind = ScheduleKind::Linear;
        s.total = total;
        s.floor = min_factor;
        return s;
    }
};

}  // namespace msopt
