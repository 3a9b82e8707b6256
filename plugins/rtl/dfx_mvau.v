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
//   RAM_STYLE (weights): "distributed" | "block" | "ultra" (see dfx_mvau_rom: a
//   file-initialised ROM cannot use UltraRAM, "ultra" becomes block RAM). The
//   threshold memory has no attribute: the tool places it.
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
    parameter         RAM_STYLE   = "distributed"
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
    wire [WW-1:0] w1_q;                  // registered memory output
    reg  [IW-1:0] in1_q;
    reg           v1_q, first1_q, last1_q;
    wire [IW-1:0] act1;

    dfx_mvau_rom #(.W(WW), .D(WDEPTH), .AW(WAB), .STYLE(RAM_STYLE), .FILE(WEIGHT_FILE)) u_wmem
        (.clk(ap_clk), .en(fire0), .addr(wa_q), .q(w1_q));

    // stage-1 data only loads with an issued word (it is only used with v1_q)
    always @(posedge ap_clk) begin
        if (fire0) begin
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
            if (fire0) begin
                rd1_q  <= ibuf[sf_q];
                sel1_q <= nf0;
            end
        end
        assign act1 = sel1_q ? in1_q : rd1_q;
    end else begin : g_noibuf
        assign act1 = in1_q;
    end endgenerate

    // ------------------------------- stages 2..4: per-PE datapath (functions)
    // Each PE is one generate block with three registers: the exact dot product of
    // the word (stage 2), the accumulator (stage 3) and the activation (stage 4).
    // The arithmetic is behavioural (functions with loops: one multi-operand sum
    // per PE), and each register only loads while its stage holds valid data, so
    // a simulator evaluates a stage only when it is needed.
    localparam integer XNOR = (W_BIPOLAR != 0 && A_BIPOLAR != 0) ? 1 : 0;
    localparam integer AX   = ABITS + ((A_SIGNED != 0) ? 0 : 1);  // signed widths
    localparam integer WX   = WBITS + ((W_SIGNED != 0) ? 0 : 1);
    localparam integer PW   = AX + WX;                            // exact product
    localparam integer LS   = $clog2(SIMD);
    localparam integer CT   = 1 + LS;
    localparam integer TB   = (W_BIPOLAR != 0) ? AX : (A_BIPOLAR != 0) ? WX : AX + WX;
    localparam integer DNAT = (XNOR != 0) ? CT + 1 :
                              (W_BIPOLAR != 0 || A_BIPOLAR != 0) ?
                                  (((TB + LS > CT + 1) ? TB + LS : CT + 1) + 1) :
                              TB + LS;                            // exact dot width
    localparam integer DW   = (DNAT < ACCBITS) ? DNAT : ACCBITS; // stored dot width
    // Working width of the sums. The stored dot is the exact sum modulo 2^DW, so
    // any width >= DW gives the same bits; 32 keeps a simulator's arithmetic free
    // of masking, and synthesis drops the unused upper bits.
    localparam integer SW   = (DW > 32) ? DW : 32;
    localparam integer PWB  = SIMD * WBITS;                       // weights of a PE
    localparam integer TPE  = ((THRESHOLDS > 0) ? THRESHOLDS : 1) * ACCBITS; // per PE
    localparam integer TW   = PE * TPE;                           // threshold word
    localparam [31:0]  BIAS32 = OUT_BIAS;
    localparam [31:0]  SIMD32 = SIMD;

    // The functions rely on the language's extension rules: in an expression, a
    // signed operand is sign-extended and an unsigned one zero-extended to the
    // width of the result.
    /* verilator lint_off WIDTHEXPAND */
    /* verilator lint_off WIDTHTRUNC */

    // Bipolar activations x with integer weights (A_BIPOLAR, not XNOR):
    //   x * w = x ? w : ~w + 1    (x = code 1 is +1, code 0 is -1)
    // The ~ is a bit-wise XOR of every weight field with the inverted activation
    // bit, done for a whole PE at once with the word's mask f_xmask(x). For signed
    // weights, ~w of the field is the exact value of ~w (an inverted sign-extended
    // value is the sign extension of the inverted value); for unsigned weights the
    // zero-extended field is 2^WBITS too large, which f_xcorr takes back. The "+1"s
    // of a word are added once: f_xcorr = (number of -1 activations) * (1 or
    // 1 - 2^WBITS).
    function automatic [PWB-1:0] f_xmask(input [IW-1:0] x);
        integer s;
        begin
            for (s = 0; s < SIMD; s = s + 1)
                f_xmask[s*WBITS +: WBITS] = {WBITS{~x[s*ABITS]}};
        end
    endfunction

    function automatic [SW-1:0] f_xcorr(input [IW-1:0] x);
        integer s;
        reg [SW-1:0] n;
        begin
            n = {SW{1'b0}};
            for (s = 0; s < SIMD; s = s + 1)
                n = n + !x[s*ABITS];
            if (W_SIGNED != 0) f_xcorr = n;
            else               f_xcorr = n - (n << WBITS);
        end
    endfunction

    // Dot product of one PE's SIMD weights w with the activations x, modulo 2^DW.
    // xm, xc: f_xmask(x), f_xcorr(x) (bipolar activations with integer weights).
    function automatic [DW-1:0] f_dot(input [PWB-1:0] w, input [IW-1:0] x,
                                      input [PWB-1:0] xm, input [SW-1:0] xc);
        integer s;
        reg [PWB-1:0]       wm;              // weights, inverted where x = -1
        reg [SW-1:0]        cnt;
        reg                 agree;           // XNOR mode: weight and input agree
        reg signed [SW-1:0] sum, xa, wa;     // operands as exact signed values
        reg signed [PW-1:0] pr;              // exact integer product
        begin
            sum = {SW{1'b0}};
            cnt = {SW{1'b0}};
            wm  = w ^ xm;
            for (s = 0; s < SIMD; s = s + 1) begin
                if (A_SIGNED != 0) xa = $signed(x[s*ABITS +: ABITS]);
                else               xa = $signed({1'b0, x[s*ABITS +: ABITS]});
                if (XNOR != 0) begin
                    // +1 where the bits agree: dot = 2 * agreements - SIMD.
                    // The XNOR goes through a 1-bit variable: inside the sum its
                    // operands would be widened to SW bits first, and the XNOR of
                    // the zero upper bits is all ones.
                    agree = w[s*WBITS] ~^ x[s*ABITS];
                    cnt = cnt + agree;
                end else if (W_BIPOLAR != 0) begin
                    // w * x = w ? x : ~x + 1
                    sum = sum + (w[s*WBITS] ? xa : ~xa);
                    cnt = cnt + !w[s*WBITS];
                end else if (A_BIPOLAR != 0) begin
                    if (W_SIGNED != 0) sum = sum + $signed(wm[s*WBITS +: WBITS]);
                    else               sum = sum + wm[s*WBITS +: WBITS];
                end else begin
                    if (W_SIGNED != 0) wa = $signed(w[s*WBITS +: WBITS]);
                    else               wa = $signed({1'b0, w[s*WBITS +: WBITS]});
                    pr  = xa * wa;               // only the low PW bits: exact
                    sum = sum + pr;
                end
            end
            if (XNOR != 0)           f_dot = (cnt << 1) - SIMD32;
            else if (A_BIPOLAR != 0) f_dot = sum + xc;
            else                     f_dot = sum + cnt;
        end
    endfunction

    // Activation: #{k : acc >= t[k]} + OUT_BIAS, low OBITS bits.
    function automatic [OBITS-1:0] f_act(input [ACCBITS-1:0] acc, input [TPE-1:0] t);
        integer k;
        reg [31:0] c;
        begin
            c = BIAS32;
            for (k = 0; k < THRESHOLDS; k = k + 1)
                c = c + ($signed(acc) >= $signed(t[k*ACCBITS +: ACCBITS]));
            f_act = c;
        end
    endfunction

    // Stage-4 output: the activation, or the accumulator itself (OBITS == ACCBITS).
    function automatic [OBITS-1:0] f_out(input [ACCBITS-1:0] acc, input [TPE-1:0] t);
        if (THRESHOLDS > 0) f_out = f_act(acc, t);
        else                f_out = acc;
    endfunction
    /* verilator lint_on WIDTHTRUNC */
    /* verilator lint_on WIDTHEXPAND */

    reg             v2_q, first2_q, last2_q;
    reg             v3_q;
    reg  [OW-1:0]   o4_q;
    reg             v4_q;

    always @(posedge ap_clk) begin
        if (en) begin
            first2_q <= first1_q;
            last2_q  <= last1_q;
        end
    end

    // per-word terms shared by all PEs (bipolar activations, integer weights)
    /* verilator lint_off UNUSEDSIGNAL */
    wire [PWB-1:0] xm;
    wire [SW-1:0]  xc;
    /* verilator lint_on UNUSEDSIGNAL */
    generate if (XNOR == 0 && A_BIPOLAR != 0) begin : g_xm
        assign xm = f_xmask(act1);
        assign xc = f_xcorr(act1);
    end else begin : g_noxm
        assign xm = {PWB{1'b0}};
        assign xc = {SW{1'b0}};
    end endgenerate

    // thresholds: the fold index travels with the data; the thresholds of a
    // fold are read so that they arrive together with its final accumulator
    /* verilator lint_off UNUSEDSIGNAL */
    wire [TW-1:0] t3_q;          // (unused without thresholds)
    /* verilator lint_on UNUSEDSIGNAL */
    generate if (THRESHOLDS > 0) begin : g_tmem
        reg [NFB-1:0] nf1_q, nf2_q;
        always @(posedge ap_clk) begin
            if (en) begin
                nf1_q <= nf_q;
                nf2_q <= nf1_q;
            end
        end
        // no ram_style of its own: the tool places the thresholds (see the estimate)
        dfx_mvau_rom #(.W(TW), .D(NF), .AW(NFB), .STYLE("auto"), .FILE(THRESH_FILE))
            u_tmem (.clk(ap_clk), .en(en && v2_q && last2_q), .addr(nf2_q), .q(t3_q));
    end else begin : g_notmem
        assign t3_q = {TW{1'b0}};
    end endgenerate

    genvar p;
    generate for (p = 0; p < PE; p = p + 1) begin : g_pe
        reg signed [DW-1:0]      dot_q;   // stage 2
        reg signed [ACCBITS-1:0] acc_q;   // stage 3
        // Stages in reverse order (each reads its input register before that one
        // is written, as non-blocking assignments do anyway).
        always @(posedge ap_clk) begin
            if (en && v3_q)
                o4_q[p*OBITS +: OBITS] <= f_out(acc_q, t3_q[p*TPE +: TPE]);
            // dot_q is sign-extended to ACCBITS (all operands signed)
            /* verilator lint_off WIDTHEXPAND */
            if (en && v2_q)
                acc_q <= first2_q ? dot_q : acc_q + dot_q;
            /* verilator lint_on WIDTHEXPAND */
            if (en && v1_q)
                dot_q <= f_dot(w1_q[p*PWB +: PWB], act1, xm, xc);
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

// Read-only memory with registered read (enable en), initialised by $readmemh(FILE)
// (one word per line, hex, address 0 first). STYLE selects the memory attributes:
//   "block", "ultra": ram_style/rom_style = "block". UltraRAM has no initial
//                     contents on UltraScale+, so a file-initialised ROM cannot live
//                     there; "ultra" therefore falls back to block RAM.
//   "distributed":    ram_style/rom_style = "distributed" (LUTs) for Vivado; for
//                     Yosys (`YOSYS is defined by its Verilog reader) "logic": Yosys
//                     cannot put a ROM in LUTRAM (it errors when forced), and without
//                     an attribute its cost model moves a deep ROM to block RAM.
//   anything else:    no attribute (tool default).
module dfx_mvau_rom #(
    parameter integer W     = 8,
    parameter integer D     = 16,
    parameter integer AW    = 4,
    parameter         STYLE = "distributed",
    parameter         FILE  = ""
) (
    input  wire          clk,
    input  wire          en,
    input  wire [AW-1:0] addr,
    output reg  [W-1:0]  q
);
    // string parameter compares: the literal and the value differ in width by nature
    /* verilator lint_off WIDTHEXPAND */
    localparam integer S_BLOCK = (STYLE == "block" || STYLE == "ultra") ? 1 : 0;
    localparam integer S_DIST  = (STYLE == "distributed") ? 1 : 0;
    /* verilator lint_on WIDTHEXPAND */
    // contents come from $readmemh only
    /* verilator lint_off UNDRIVEN */
    generate if (S_BLOCK != 0) begin : g_block
        (* ram_style = "block", rom_style = "block" *) reg [W-1:0] mem [0:D-1];
        if (FILE != "") begin : g_init
            initial $readmemh(FILE, mem);
        end
        always @(posedge clk) if (en) q <= mem[addr];
    end else if (S_DIST != 0) begin : g_dist
`ifdef YOSYS
        (* ram_style = "logic", rom_style = "logic" *) reg [W-1:0] mem [0:D-1];
`else
        (* ram_style = "distributed", rom_style = "distributed" *) reg [W-1:0] mem [0:D-1];
`endif
        if (FILE != "") begin : g_init
            initial $readmemh(FILE, mem);
        end
        always @(posedge clk) if (en) q <= mem[addr];
    end else begin : g_auto
        reg [W-1:0] mem [0:D-1];
        if (FILE != "") begin : g_init
            initial $readmemh(FILE, mem);
        end
        always @(posedge clk) if (en) q <= mem[addr];
    end endgenerate
    /* verilator lint_on UNDRIVEN */
endmodule

/* verilator lint_on DECLFILENAME */
