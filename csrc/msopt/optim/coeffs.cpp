// Per-step coefficients of each update rule, from the hyperparameter tuples (optim.hpp).
#include <cmath>

#include "optim.hpp"

namespace msopt {

int hyper_len(Algo a) noexcept {
    switch (a) {
        case Algo::SGD: return 6;
        case Algo::Adam:
        case Algo::AdamW: return 7;
        case Algo::Adagrad: return 5;
        case Algo::RMSprop: return 7;
        case Algo::Lion: return 5;
    }
    return 0;
}

Coeffs make_coeffs(Algo a, const double* h, std::int64_t t, bool need[kMaxSlots]) noexcept {
    Coeffs c;
    c.algo = a;
    need[0] = need[1] = need[2] = false;
    const double td = double(t);
    switch (a) {
        case Algo::SGD:
            c.lr = h[0];
            c.momentum = h[1];
            c.dampening = h[2];
            c.weight_decay = h[3];
            c.nesterov = h[4] != 0.0;
            c.gscale = h[5] != 0.0 ? -1.0 : 1.0;
            c.first_step = t == 1;
            need[0] = c.momentum != 0.0;
            break;
        case Algo::Adam:
        case Algo::AdamW: {
            c.beta1 = h[1];
            c.beta2 = h[2];
            c.eps = h[3];
            c.amsgrad = h[5] != 0.0;
            c.gscale = h[6] != 0.0 ? -1.0 : 1.0;
            if (a == Algo::AdamW) c.decay = 1.0 - h[0] * h[4];
            else c.weight_decay = h[4];
            c.step_size = h[0] / (1.0 - std::pow(h[1], td));
            c.inv_bc2_sqrt = 1.0 / std::sqrt(1.0 - std::pow(h[2], td));
            need[0] = need[1] = true;
            need[2] = c.amsgrad;
            break;
        }
        case Algo::Adagrad:
            c.lr = h[0] / (1.0 + (td - 1.0) * h[1]);
            c.weight_decay = h[2];
            c.eps = h[3];
            c.gscale = h[4] != 0.0 ? -1.0 : 1.0;
            need[0] = true;
            break;
        case Algo::RMSprop:
            c.lr = h[0];
            c.beta2 = h[1];
            c.eps = h[2];
            c.weight_decay = h[3];
            c.momentum = h[4];
            c.centered = h[5] != 0.0;
            c.gscale = h[6] != 0.0 ? -1.0 : 1.0;
            need[0] = true;
            need[1] = c.momentum != 0.0;
            need[2] = c.centered;
            break;
        case Algo::Lion:
            c.lr = h[0];
            c.beta1 = h[1];
            c.beta2 = h[2];
            c.decay = 1.0 - h[0] * h[3];
            c.gscale = h[4] != 0.0 ? -1.0 : 1.0;
            need[0] = true;
            break;
    }
    return c;
}

const char* slot_option(Algo a, int s) noexcept {
    switch (a) {
        case Algo::SGD: return "momentum != 0";
        case Algo::Adam:
        case Algo::AdamW: return s == 2 ? "amsgrad=True" : "Adam";
        case Algo::RMSprop: return s == 1 ? "momentum != 0" : s == 2 ? "centered=True" : "RMSprop";
        default: return "this optimizer";
    }
}

}  // namespace msopt
