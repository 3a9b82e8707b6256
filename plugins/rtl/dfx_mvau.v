// dfx_mvau: streaming matrix-vector(-activation) unit.
//
// Computes, per input vector x[0..MW-1] (MW elements of ABITS bits, arriving as
// SF = MW/SIMD words of SIMD elements), the MH accumulators
//     acc[c] = sum_k x[k] * W[k][c]          (exact, ACCBITS-bit two's complement)
// and emits NF = MH/PE words of PE elements (word nf = channels nf*PE .. nf*PE+PE-1):
//     THRESHOLDS == 0 : out[c] = acc[c]                              (OBITS == ACCBITS)
//     THRESHOLDS  > 0 : out[c] = #{k : acc[c] >= T[c][k]} + OUT_BIAS (low OBITS bits)
//
// Stream packing (dfx.core.packing): element i of a word in bits [i*b, (i+1)*b),
// BIPOLAR = 1 bit (1 -> +1, 0 -> -1), signed = two's complement.
//
// Folding: the vector is buffered (SF words) while the first neuron fold (nf == 0)
// consumes it straight from the input stream; folds nf > 0 re-read the buffer. The
// next vector is accepted during its own nf == 0 fold, so with an always-valid input
// and an always-ready output one vector takes exactly NF*SF cycles.
//
// Memories ($readmemh, one word per line, hex, address 0 first):
//   WEIGHT_FILE: depth NF*SF, width PE*SIMD*WBITS, address nf*SF+sf;
//                W[sf*SIMD+s][nf*PE+p] at bits [(p*SIMD+s)*WBITS +: WBITS].
//   THRESH_FILE: depth NF, width PE*THRESHOLDS*ACCBITS, address nf;
//                T[nf*PE+p][k] at bits [(p*THRESHOLDS+k)*ACCBITS +: ACCBITS].
//
// Pipeline: issue -> memory read (registered) -> products + adder tree ->
// accumulate -> threshold -> 2-entry output buffer. All stages advance on one
// enable that is a register (the output buffer's "not full"), so there is no
// combinational path from out_V_TREADY to in0_V_TREADY, and no valid depends on a
// ready of the same port.
module dfx_mvau #(
    parameter integer MW         = 4,
    parameter integer MH         = 4,
    parameter integer PE         = 2,
    parameter integer SIMD       = 2,
    parameter integer WBITS      = 2,
    parameter integer ABITS      = 2,
    parameter integer ACCBITS    = 8,
    parameter integer W_SIGNED   = 1,
    parameter integer A_SIGNED   = 0,
    parameter integer W_BIPOLAR  = 0,
    parameter integer A_BIPOLAR  = 0,
    parameter integer THRESHOLDS = 0,
    parameter integer OBITS      = 8,
    parameter integer OUT_BIAS   = 0,
    parameter         WEIGHT_FILE = "",
    parameter         THRESH_FILE = "",
    // only used in the ram_style attribute of the weight memory
    /* verilator lint_off UNUSEDPARAM */
    parameter         RAM_STYLE   = "distributed"
    /* verilator lint_on UNUSEDPARAM */
) (
    input  wire                      ap_clk,
    input  wire                      ap_rst_n,
    input  wire [SIMD*ABITS-1:0]     in0_V_TDATA,
    input  wire                      in0_V_TVALID,
    output wire                      in0_V_TREADY,
    output wire [PE*OBITS-1:0]       out_V_TDATA,
    output wire                      out_V_TVALID,
    input  wire                      out_V_TREADY
);
    localparam integer SF     = MW / SIMD;
    localparam integer NF     = MH / PE;
    localparam integer WDEPTH = NF * SF;
    localparam integer IW     = SIMD * ABITS;
    localparam integer WW     = PE * SIMD * WBITS;
    localparam integer OW     = PE * OBITS;
    localparam integer SFB    = (SF > 1) ? $clog2(SF) : 1;
    localparam integer NFB    = (NF > 1) ? $clog2(NF) : 1;
    localparam integer WAB    = (WDEPTH > 1) ? $clog2(WDEPTH) : 1;
    localparam [31:0]    SF_LAST32 = SF - 1;
    localparam [31:0]    NF_LAST32 = NF - 1;
    localparam [31:0]    WA_LAST32 = WDEPTH - 1;
    localparam [SFB-1:0] SF_LAST   = SF_LAST32[SFB-1:0];
    localparam [NFB-1:0] NF_LAST   = NF_LAST32[NFB-1:0];
    localparam [WAB-1:0] WA_LAST   = WA_LAST32[WAB-1:0];

    // ------------------------------------------------------------------ control
    // Output buffer (2 entries: output register + spare). The pipeline enable is
    // "spare empty", a register.
    reg           ov_q, sv_q;
    wire          en = !sv_q;

    // Stage 0: issue counters.
    reg [SFB-1:0] sf_q;
    reg [NFB-1:0] nf_q;
    reg [WAB-1:0] wa_q;
    wire          nf0   = (nf_q == {NFB{1'b0}});
    wire          fire0 = en && (!nf0 || in0_V_TVALID);
    assign in0_V_TREADY = en && nf0;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            sf_q <= {SFB{1'b0}};
            nf_q <= {NFB{1'b0}};
            wa_q <= {WAB{1'b0}};
        end else if (fire0) begin
            wa_q <= (wa_q == WA_LAST) ? {WAB{1'b0}} : wa_q + 1'b1;
            if (sf_q == SF_LAST) begin
                sf_q <= {SFB{1'b0}};
                nf_q <= (nf_q == NF_LAST) ? {NFB{1'b0}} : nf_q + 1'b1;
            end else begin
                sf_q <= sf_q + 1'b1;
            end
        end
    end

    // ------------------------------------------------ stage 1: memory reads
    // contents come from $readmemh only (read-only memory)
    /* verilator lint_off UNDRIVEN */
    (* ram_style = RAM_STYLE *) reg [WW-1:0] wmem [0:WDEPTH-1];
    /* verilator lint_on UNDRIVEN */
    generate if (WEIGHT_FILE != "") begin : g_winit
        initial $readmemh(WEIGHT_FILE, wmem);
    end endgenerate

    reg [WW-1:0]  w1_q;
    reg [IW-1:0]  in1_q;
    reg           v1_q, first1_q, last1_q;
    wire [IW-1:0] act1;

    always @(posedge ap_clk) begin
        if (en) w1_q <= wmem[wa_q];
    end

    always @(posedge ap_clk) begin
        if (en) begin
            in1_q    <= in0_V_TDATA;
            first1_q <= (sf_q == {SFB{1'b0}});
            last1_q  <= (sf_q == SF_LAST);
        end
    end

    generate if (NF > 1) begin : g_ibuf
        // Input vector buffer: written during fold 0, read during folds 1..NF-1.
        reg [IW-1:0] ibuf [0:SF-1];
        reg [IW-1:0] rd1_q;
        reg          sel1_q;
        always @(posedge ap_clk) begin
            if (fire0 && nf0) ibuf[sf_q] <= in0_V_TDATA;
            if (en) begin
                rd1_q  <= ibuf[sf_q];
                sel1_q <= nf0;
            end
        end
        assign act1 = sel1_q ? in1_q : rd1_q;
    end else begin : g_noibuf
        assign act1 = in1_q;
    end endgenerate

    // --------------------------------------- stage 2: products and SIMD sums
    reg [PE*ACCBITS-1:0] dot2_q;
    reg                  v2_q, first2_q, last2_q;
    wire [PE*ACCBITS-1:0] dot1;

    genvar p, s;
    generate for (p = 0; p < PE; p = p + 1) begin : g_pe
        if (W_BIPOLAR != 0 && A_BIPOLAR != 0) begin : g_xnor
            // +/-1 x +/-1: product is +1 where the bits agree; dot = 2*popcount - SIMD.
            localparam integer PCB = $clog2(SIMD + 1);
            wire [SIMD*PCB-1:0] bits;
            wire [PCB-1:0]      pc;
            for (s = 0; s < SIMD; s = s + 1) begin : g_s
                wire agree = ~(w1_q[p*SIMD + s] ^ act1[s]);
                if (PCB > 1) begin : g_ext
                    assign bits[s*PCB +: PCB] = {{(PCB-1){1'b0}}, agree};
                end else begin : g_noext
                    assign bits[s*PCB +: PCB] = agree;
                end
            end
            dfx_mvau_addtree #(.N(SIMD), .W(PCB)) u_pc (.in(bits), .sum(pc));
            wire [ACCBITS-1:0] pc_ext;
            if (ACCBITS > PCB) begin : g_pcx
                assign pc_ext = {{(ACCBITS-PCB){1'b0}}, pc};
            end else begin : g_pct
                assign pc_ext = pc[ACCBITS-1:0];
            end
            localparam [31:0] SIMD32 = SIMD;
            wire [ACCBITS-1:0] simd_a;
            dfx_mvau_ext #(.IB(32), .OB(ACCBITS), .SGN(0)) u_sa (.i(SIMD32), .o(simd_a));
            assign dot1[p*ACCBITS +: ACCBITS] = (pc_ext << 1) - simd_a;
        end else begin : g_mul
            wire [SIMD*ACCBITS-1:0] prods;
            for (s = 0; s < SIMD; s = s + 1) begin : g_s
                wire [WBITS-1:0] wv = w1_q[(p*SIMD + s)*WBITS +: WBITS];
                wire [ABITS-1:0] av = act1[s*ABITS +: ABITS];
                wire [ACCBITS-1:0] prod;
                if (W_BIPOLAR != 0) begin : g_wbip
                    wire [ACCBITS-1:0] ax;
                    dfx_mvau_ext #(.IB(ABITS), .OB(ACCBITS), .SGN(A_SIGNED)) u_ax (.i(av), .o(ax));
                    assign prod = wv[0] ? ax : (~ax + 1'b1);
                end else if (A_BIPOLAR != 0) begin : g_abip
                    wire [ACCBITS-1:0] wx;
                    dfx_mvau_ext #(.IB(WBITS), .OB(ACCBITS), .SGN(W_SIGNED)) u_wx (.i(wv), .o(wx));
                    assign prod = av[0] ? wx : (~wx + 1'b1);
                end else begin : g_int
                    // Both operands as signed values one bit wider when unsigned.
                    localparam integer AX = ABITS + ((A_SIGNED != 0) ? 0 : 1);
                    localparam integer WX = WBITS + ((W_SIGNED != 0) ? 0 : 1);
                    localparam integer PB = AX + WX;
                    wire [PB-1:0] ap, wp;
                    dfx_mvau_ext #(.IB(ABITS), .OB(PB), .SGN(A_SIGNED)) u_ap (.i(av), .o(ap));
                    dfx_mvau_ext #(.IB(WBITS), .OB(PB), .SGN(W_SIGNED)) u_wp (.i(wv), .o(wp));
                    wire signed [PB-1:0] pr = $signed(ap) * $signed(wp);
                    dfx_mvau_ext #(.IB(PB), .OB(ACCBITS), .SGN(1)) u_pr (.i(pr), .o(prod));
                end
                assign prods[s*ACCBITS +: ACCBITS] = prod;
            end
            dfx_mvau_addtree #(.N(SIMD), .W(ACCBITS)) u_sum
                (.in(prods), .sum(dot1[p*ACCBITS +: ACCBITS]));
        end
    end endgenerate

    always @(posedge ap_clk) begin
        if (en) begin
            dot2_q   <= dot1;
            first2_q <= first1_q;
            last2_q  <= last1_q;
        end
    end

    // ------------------------------------------------- stage 3: accumulate
    reg [PE*ACCBITS-1:0] acc3_q;
    reg                  v3_q;
    genvar a;
    generate for (a = 0; a < PE; a = a + 1) begin : g_acc
        always @(posedge ap_clk) begin
            if (en && v2_q) begin
                acc3_q[a*ACCBITS +: ACCBITS] <=
                    (first2_q ? {ACCBITS{1'b0}} : acc3_q[a*ACCBITS +: ACCBITS]) +
                    dot2_q[a*ACCBITS +: ACCBITS];
            end
        end
    end endgenerate

    // --------------------------------------------- stage 4: activation
    reg [OW-1:0] o4_q;
    reg          v4_q;

    generate if (THRESHOLDS > 0) begin : g_thr
        localparam integer TW = PE * THRESHOLDS * ACCBITS;
        localparam integer CB = $clog2(THRESHOLDS + 1);
        localparam [31:0] BIAS32 = OUT_BIAS;
        wire [OBITS-1:0] bias;
        dfx_mvau_ext #(.IB(32), .OB(OBITS), .SGN(1)) u_bias (.i(BIAS32), .o(bias));
        /* verilator lint_off UNDRIVEN */
        (* ram_style = "distributed" *) reg [TW-1:0] tmem [0:NF-1]; // $readmemh only
        /* verilator lint_on UNDRIVEN */
        if (THRESH_FILE != "") begin : g_tinit
            initial $readmemh(THRESH_FILE, tmem);
        end
        // fold index travels with the data; thresholds are read so that they
        // arrive together with the final accumulator of that fold
        reg [NFB-1:0] nf1_q, nf2_q;
        reg [TW-1:0]  t3_q;
        always @(posedge ap_clk) begin
            if (en) begin
                nf1_q <= nf_q;
                nf2_q <= nf1_q;
                t3_q  <= tmem[nf2_q];
            end
        end
        wire [OW-1:0] o3;
        for (p = 0; p < PE; p = p + 1) begin : g_pe
            wire signed [ACCBITS-1:0] av = acc3_q[p*ACCBITS +: ACCBITS];
            wire [THRESHOLDS*CB-1:0] ge;
            wire [CB-1:0] cnt;
            for (s = 0; s < THRESHOLDS; s = s + 1) begin : g_t
                wire signed [ACCBITS-1:0] tv = t3_q[(p*THRESHOLDS + s)*ACCBITS +: ACCBITS];
                wire hit = (av >= tv);
                if (CB > 1) begin : g_ext
                    assign ge[s*CB +: CB] = {{(CB-1){1'b0}}, hit};
                end else begin : g_noext
                    assign ge[s*CB +: CB] = hit;
                end
            end
            dfx_mvau_addtree #(.N(THRESHOLDS), .W(CB)) u_cnt (.in(ge), .sum(cnt));
            wire [OBITS-1:0] cnt_o;
            dfx_mvau_ext #(.IB(CB), .OB(OBITS), .SGN(0)) u_co (.i(cnt), .o(cnt_o));
            assign o3[p*OBITS +: OBITS] = cnt_o + bias;
        end
        always @(posedge ap_clk) begin
            if (en) o4_q <= o3;
        end
    end else begin : g_nothr
        // No activation: the accumulator itself (OBITS must equal ACCBITS).
        always @(posedge ap_clk) begin
            if (en) o4_q <= acc3_q;
        end
    end endgenerate

    // ------------------------------------------------ valid chain
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            v1_q <= 1'b0;
            v2_q <= 1'b0;
            v3_q <= 1'b0;
            v4_q <= 1'b0;
        end else if (en) begin
            v1_q <= fire0;
            v2_q <= v1_q;
            v3_q <= v2_q && last2_q;
            v4_q <= v3_q;
        end
    end

    // ------------------------------------------ 2-entry output buffer
    reg [OW-1:0] od_q, sd_q;
    wire push = en && v4_q;
    wire pop  = ov_q && out_V_TREADY;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            ov_q <= 1'b0;
            sv_q <= 1'b0;
        end else begin
            if (!ov_q || pop) begin
                if (sv_q) begin
                    od_q <= sd_q;
                    sv_q <= 1'b0;
                end else begin
                    od_q <= o4_q;
                    ov_q <= push;
                end
            end else if (push) begin
                sd_q <= o4_q;
                sv_q <= 1'b1;
            end
        end
    end
    assign out_V_TDATA  = od_q;
    assign out_V_TVALID = ov_q;
endmodule

// Helper modules live in this file so that it is self-contained.
/* verilator lint_off DECLFILENAME */

// Width adaptation: sign- (SGN != 0) or zero-extend IB bits to OB bits, or keep
// the low OB bits when OB < IB (modular arithmetic).
module dfx_mvau_ext #(
    parameter integer IB  = 4,
    parameter integer OB  = 8,
    parameter integer SGN = 1
) (
    input  wire [IB-1:0] i,
    output wire [OB-1:0] o
);
    generate if (OB > IB) begin : g_x
        wire msb = (SGN != 0) ? i[IB-1] : 1'b0;
        assign o = {{(OB-IB){msb}}, i};
    end else if (OB == IB) begin : g_eq
        assign o = i;
    end else begin : g_t
        /* verilator lint_off UNUSEDSIGNAL */
        wire [IB-1:0] unused_hi = i; // high bits intentionally dropped (modular sum)
        /* verilator lint_on UNUSEDSIGNAL */
        assign o = i[OB-1:0];
    end endgenerate
endmodule

// Balanced combinational adder tree over N operands of W bits (sum modulo 2^W).
module dfx_mvau_addtree #(
    parameter integer N = 2,
    parameter integer W = 8
) (
    input  wire [N*W-1:0] in,
    output wire [W-1:0]   sum
);
    generate if (N == 1) begin : g_leaf
        assign sum = in;
    end else begin : g_node
        localparam integer NL = N / 2;
        wire [W-1:0] sl, sr;
        dfx_mvau_addtree #(.N(NL),     .W(W)) u_l (.in(in[NL*W-1:0]),   .sum(sl));
        dfx_mvau_addtree #(.N(N - NL), .W(W)) u_r (.in(in[N*W-1:NL*W]), .sum(sr));
        assign sum = sl + sr;
    end endgenerate
endmodule
/* verilator lint_on DECLFILENAME */
