// Included by each `<area>_isa.cpp` (compiled once per instruction set, CMake passing
// MSOPT_ISA and the -m flags): MSOPT_ISA_TABLE(Type, fn) defines the table `fn_<isa>`
// that the area's MSOPT_ISA_DISPATCH(Type, fn) picks from (core/dispatch.hpp).
#pragma once

#ifndef MSOPT_ISA
#error "MSOPT_ISA must name the instruction set this unit is compiled for"
#endif

#define MSOPT_CAT2(a, b) a##b
#define MSOPT_CAT(a, b) MSOPT_CAT2(a, b)

#define MSOPT_ISA_TABLE(Type, fn)                              \
    extern const Type MSOPT_CAT(fn##_, MSOPT_ISA);             \
    const Type MSOPT_CAT(fn##_, MSOPT_ISA)
