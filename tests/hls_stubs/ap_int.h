// Stand-in for the Vitis HLS header of the same name, written for dfx's tests:
// just enough of ap_uint for `g++ -fsyntax-only` on the generated DMA kernels.
// Not bit-accurate; never use it to run anything.
#ifndef DFX_TEST_STUB_AP_INT_H
#define DFX_TEST_STUB_AP_INT_H

#include <type_traits>

template <int W>
struct ap_uint {
    static_assert(W > 0, "ap_uint needs a positive width");
    unsigned long long bits = 0;

    ap_uint() = default;
    template <typename T, typename = typename std::enable_if<std::is_integral<T>::value>::type>
    ap_uint(T value) : bits(static_cast<unsigned long long>(value)) {}
    // Widening and narrowing between widths, as ap_uint assignments do.
    template <int M>
    ap_uint(const ap_uint<M> &other) : bits(other.bits) {}
};

#endif
