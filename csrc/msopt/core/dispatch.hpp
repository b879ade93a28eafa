// One run-time choice of instruction set for the whole library, and the generic helper
// each area uses to pick its own per-ISA kernel table.  No Python here.
//
// An area (optim, linear, losses, word2vec, the classifier, ...) keeps its loops in a
// header of templates and inline functions in an unnamed namespace, and one
// `<area>_isa.cpp` that includes them and exports a table of function pointers:
//
//     #include "../core/isa_unit.hpp"
//     MSOPT_ISA_TABLE(W2vOps, kernels) = {...};       // kernels_baseline, kernels_avx2, ...
//
// CMake compiles every `*_isa.cpp` once per ISA (baseline, AVX2, AVX-512) with
// MSOPT_ISA set.  The area's plain .cpp then defines its accessor with
//
//     MSOPT_ISA_DISPATCH(W2vOps, kernels)            // const W2vOps& kernels() noexcept
//
// which returns the table of the ISA in use.  Adding an area touches no shared file.
// The loops must stay in unnamed namespaces: an inline function with external linkage
// compiled under three sets of flags would be merged by the linker into one copy (maybe
// the AVX-512 one, run on a CPU without it).
#pragma once

namespace msopt {

namespace isa {
// Table index of each instruction set (x86-64 builds hold all three, others baseline only).
enum : int { kBaseline = 0, kAvx2 = 1, kAvx512 = 2, kCount = 3 };
// The index in use: chosen once (the best ISA the CPU runs); tests may force another.
int current() noexcept;
const char* name(int index) noexcept;
}  // namespace isa

// Names of the instruction sets this build holds that this CPU can run, best first.
const char* const* available_isas(int* count) noexcept;
// Select by name for every area at once; returns false if unknown or not runnable here.
bool set_isa(const char* name) noexcept;
// The name of the instruction set in use.
inline const char* isa_name() noexcept { return isa::name(isa::current()); }

}  // namespace msopt

#if defined(MSOPT_HAVE_X86_ISAS)
#define MSOPT_ISA_DISPATCH(Type, fn)                                                    \
    extern const Type fn##_baseline;                                                    \
    extern const Type fn##_avx2;                                                        \
    extern const Type fn##_avx512;                                                      \
    const Type& fn() noexcept {                                                         \
        static const Type* const tables[::msopt::isa::kCount] = {&fn##_baseline,        \
                                                                 &fn##_avx2,            \
                                                                 &fn##_avx512};         \
        return *tables[::msopt::isa::current()];                                        \
    }
#else
#define MSOPT_ISA_DISPATCH(Type, fn)                                                    \
    extern const Type fn##_baseline;                                                    \
    const Type& fn() noexcept { return fn##_baseline; }
#endif
