// Chooses the instruction set once, at first use, from what the CPU supports; every
// area's table follows the one choice (dispatch.hpp).
#include "dispatch.hpp"

#include <atomic>
#include <cstring>

namespace msopt {
namespace {

const char* const kNames[isa::kCount] = {"baseline", "avx2", "avx512"};

bool runnable(int i) {
    if (i == isa::kBaseline) return true;
#if defined(MSOPT_HAVE_X86_ISAS)
    __builtin_cpu_init();
    if (i == isa::kAvx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (i == isa::kAvx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi2");
#endif
    return false;
}

std::atomic<int>& chosen() {
    static std::atomic<int> index{[] {
        for (int i = isa::kCount - 1; i > 0; --i)
            if (runnable(i)) return i;
        return int(isa::kBaseline);
    }()};
    return index;
}

}  // namespace

namespace isa {
int current() noexcept { return chosen().load(std::memory_order_acquire); }
const char* name(int index) noexcept { return kNames[index]; }
}  // namespace isa

const char* const* available_isas(int* count) noexcept {
    static const char* names[isa::kCount];
    static const int n = [] {
        int m = 0;
        for (int i = isa::kCount - 1; i >= 0; --i)  // best first
            if (runnable(i)) names[m++] = kNames[i];
        return m;
    }();
    *count = n;
    return names;
}

bool set_isa(const char* name) noexcept {
    for (int i = 0; i < isa::kCount; ++i)
        if (runnable(i) && std::strcmp(kNames[i], name) == 0) {
            chosen().store(i, std::memory_order_release);
            return true;
        }
    return false;
}

}  // namespace msopt
