// Chooses the kernel table once, at first use, from what the CPU supports.
#include <atomic>
#include <cstring>

#include "../optim/optim.hpp"

namespace msopt {

extern const KernelTable kernels_baseline;
#if defined(MSOPT_HAVE_X86_ISAS)
extern const KernelTable kernels_avx2;
extern const KernelTable kernels_avx512;
#endif

namespace {

struct Entry {
    const KernelTable* table;
    bool runnable;
};

// Best first.
int collect(Entry* out) {
    int k = 0;
#if defined(MSOPT_HAVE_X86_ISAS)
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                      __builtin_cpu_supports("bmi2");
    out[k++] = {&kernels_avx512, avx512};
    out[k++] = {&kernels_avx2, avx2};
#endif
    out[k++] = {&kernels_baseline, true};
    return k;
}

std::atomic<const KernelTable*>& current() {
    static std::atomic<const KernelTable*> table{[] {
        Entry e[3];
        const int k = collect(e);
        for (int i = 0; i < k; ++i)
            if (e[i].runnable) return e[i].table;
        return &kernels_baseline;
    }()};
    return table;
}

}  // namespace

const KernelTable& kernels() noexcept { return *current().load(std::memory_order_acquire); }

const char* const* available_isas(int* count) noexcept {
    static const char* names[3];
    static const int n = [] {
        Entry e[3];
        const int k = collect(e);
        int m = 0;
        for (int i = 0; i < k; ++i)
            if (e[i].runnable) names[m++] = e[i].table->name;
        return m;
    }();
    *count = n;
    return names;
}

bool set_isa(const char* name) noexcept {
    Entry e[3];
    const int k = collect(e);
    for (int i = 0; i < k; ++i)
        if (e[i].runnable && std::strcmp(e[i].table->name, name) == 0) {
            current().store(e[i].table, std::memory_order_release);
            return true;
        }
    return false;
}

}  // namespace msopt
