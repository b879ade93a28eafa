#include "common.hpp"

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../msopt/optim/optim.hpp"
#include "../msopt/core/blas.hpp"
#include "../msopt/core/threads.hpp"

namespace msopt {

void register_runtime(py::module_& m) {
    m.def("get_num_threads", &num_threads, "Threads the native kernels may use.");
    m.def(
        "set_num_threads",
        [](int n) {
            if (n < 1 || n > kMaxThreads)
                throw std::invalid_argument("n: must be in [1, " + std::to_string(kMaxThreads) +
                                            "], got " + std::to_string(n));
            set_num_threads(n);
        },
        py::arg("n"), "Set the threads the native kernels may use (1 <= n <= 1024).");
    m.def("isa", [] { return std::string(isa_name()); },
          "Name of the instruction-set path the kernels run.");
    m.def("blas_kernels", [] { return std::string(blas::kernels()); },
          "The kernels msopt's OpenBLAS chose when it loaded (\"Haswell\", \"SkylakeX\", ...).");
    m.def("blas_config", [] { return std::string(blas::config()); },
          "msopt's OpenBLAS build, as it describes itself.");
    m.def(
        "available_isas",
        [] {
            int n = 0;
            const char* const* names = available_isas(&n);
            py::list out;
            for (int i = 0; i < n; ++i) out.append(names[i]);
            return out;
        },
        "Instruction-set paths this build holds that this CPU can run, best first.");
    m.def(
        "set_isa",
        [](const std::string& name) {
            if (!set_isa(name.c_str()))
                throw std::invalid_argument("name: no kernel path '" + name +
                                            "' runs on this CPU; see available_isas()");
        },
        py::arg("name"), "Force an instruction-set path (for tests and benchmarks).");
    m.def(
        "parallel_for_test",
        [](int nt, int raise_on) {
            if (nt < 1 || nt > kMaxThreads)
                throw std::invalid_argument("nt: must be in [1, " + std::to_string(kMaxThreads) +
                                            "], got " + std::to_string(nt));
            std::vector<std::size_t> ran(std::size_t(nt), 0);
            {
                py::gil_scoped_release nogil;
                parallel_for(nt, [&](int t) {
                    if (t == raise_on)
                        throw std::runtime_error("parallel_for_test: thread " +
                                                 std::to_string(t) + " raised");
                    ran[std::size_t(t)] = std::hash<std::thread::id>()(std::this_thread::get_id());
                });
            }
            return ran;
        },
        py::arg("nt"), py::arg("raise_on") = -1,
        "Run a job over nt threads, thread raise_on (-1: none) throwing; returns for each "
        "tid a number naming the OS thread that ran it (0: not run).  For tests: an "
        "exception on a worker reaches the caller, and the pool is free again after it.");
}

MSOPT_REGISTER_BINDINGS("00 runtime", register_runtime)

}  // namespace msopt
