// Stand-in for the Vitis HLS header of the same name, written for dfx's tests:
// the AXI4-Stream word with data, keep, strb and last (no user/id/dest side
// channels: the kernels use widths 0 for them). For `g++ -fsyntax-only` only.
#ifndef DFX_TEST_STUB_AP_AXI_SDATA_H
#define DFX_TEST_STUB_AP_AXI_SDATA_H

#include "ap_int.h"

template <int W, int U, int I, int D>
struct ap_axiu {
    static_assert(U == 0 && I == 0 && D == 0, "the stand-in has no side channels");
    ap_uint<W> data;
    ap_uint<(W + 7) / 8> keep;
    ap_uint<(W + 7) / 8> strb;
    ap_uint<1> last;
};

#endif
