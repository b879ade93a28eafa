#include "common.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace msopt {
namespace {

// Filled during static initialization by the binding files (MSOPT_REGISTER_BINDINGS).
std::vector<std::pair<std::string, RegisterFn>>& registry() {
    static std::vector<std::pair<std::string, RegisterFn>> r;
    return r;
}

}  // namespace

Registration::Registration(const char* key, RegisterFn fn) { registry().emplace_back(key, fn); }

}  // namespace msopt

PYBIND11_MODULE(_core, m) {
    m.doc() = "msopt's native core: fused optimizer kernels, linear layers, thread pool, ISA dispatch.";
    auto entries = msopt::registry();
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& e : entries) e.second(m);
}
