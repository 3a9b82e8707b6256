// dfx_vvau: vector-vector(-activation) unit of a depthwise convolution.
//
// Per output pixel, for each of C channels: acc[c] = sum_k x[k][c] * W[c][k] over the
// K kernel positions, then either out[c] = acc[c] (THRESHOLDS == 0, OBITS == ACCBITS)
// or out[c] = #{t : acc[c] >= T[c][t]} + OUT_BIAS (low OBITS bits), as dfx_mvau.
//
// Input: the window in (k, c) order, SIMD*PE elements a word: element s*PE + p of
// word kf*CF + cf is x[kf*SIMD + s][cf*PE + p] (CF = C/PE; SIMD > 1 needs PE = C).
// Output: C/PE words of PE channels per pixel, in channel order, each sent with the
// pixel's last kernel position of its channel group.
//
// Memories ($readmemh, hex, one word a line):
//   WEIGHT_FILE: depth (K/SIMD)*CF, address kf*CF + cf, W[cf*PE+p][kf*SIMD+s] at bits
//                [(s*PE+p)*WBITS +: WBITS];
//   THRESH_FILE: depth CF, T[cf*PE+p][t] at bits [(p*THRESHOLDS+t)*ACCBITS +: ACCBITS].
// The accumulators of the CF channel groups live in a small memory with an
// asynchronous read (read, add, write in one stage), so every input word is taken
// once: one pixel takes (K/SIMD)*CF cycles.
//
// Pipeline: issue -> weight read -> products and sum -> accumulate (threshold read) ->
// activation -> 2-entry output buffer, all on one registered enable.
module dfx_vvau #(
    parameter integer C          = 4,
    parameter integer K          = 9,
    parameter integer PE         = 1,
    parameter integer SIMD       = 1,
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
    parameter         RAM_STYLE   = "auto"
) (
    input  wire                      ap_clk,
    input  wire                      ap_rst_n,
    input  wire [SIMD*PE*ABITS-1:0]  in0_V_TDATA,
    input  wire                      in0_V_TVALID,
    output wire                      in0_V_TREADY,
    output wire [PE*OBITS-1:0]       out_V_TDATA,
    output wire                      out_V_TVALID,
    input  wire                      out_V_TREADY
);
    localparam integer CF     = C / PE;
    localparam integer KF     = K / SIMD;
    localparam integer WDEPTH = KF * CF;
    localparam integer LANES  = SIMD * PE;
    localparam integer IW     = LANES * ABITS;
    localparam integer WW     = LANES * WBITS;
    localparam integer OW     = PE * OBITS;
    localparam integer CFB    = (CF > 1) ? $clog2(CF) : 1;
    localparam integer KFB    = (KF > 1) ? $clog2(KF) : 1;
    localparam integer WAB    = (WDEPTH > 1) ? $clog2(WDEPTH) : 1;
    localparam integer TPE    = ((THRESHOLDS > 0) ? THRESHOLDS : 1) * ACCBITS;
    localparam integer TW     = PE * TPE;
    localparam [31:0] CF_LAST = CF - 1;
    localparam [31:0] KF_LAST = KF - 1;
    localparam [31:0] WA_LAST = WDEPTH - 1;
    localparam [31:0] BIAS32  = OUT_BIAS;

    reg  ov_q, sv_q;
    wire en = !sv_q;
    assign in0_V_TREADY = en;
    wire fire0 = en && in0_V_TVALID;

    // ------------------------------------------------------ stage 0: counters
    reg [CFB-1:0] cf_q;
    reg [KFB-1:0] kf_q;
    reg [WAB-1:0] wa_q;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            cf_q <= {CFB{1'b0}};
            kf_q <= {KFB{1'b0}};
            wa_q <= {WAB{1'b0}};
        end else if (fire0) begin
            wa_q <= (wa_q == WA_LAST[WAB-1:0]) ? {WAB{1'b0}} : wa_q + 1'b1;
            if (cf_q != CF_LAST[CFB-1:0]) begin
                cf_q <= cf_q + 1'b1;
            end else begin
                cf_q <= {CFB{1'b0}};
                kf_q <= (kf_q == KF_LAST[KFB-1:0]) ? {KFB{1'b0}} : kf_q + 1'b1;
            end
        end
    end

    // ------------------------------------------------------ stage 1: weights
    wire [WW-1:0] w1;
    reg  [IW-1:0] x1_q;
    reg  [CFB-1:0] cf1_q;
    reg  v1_q, first1_q, last1_q;
    dfx_vvau_rom #(.W(WW), .D(WDEPTH), .AW(WAB), .STYLE(RAM_STYLE), .FILE(WEIGHT_FILE)) u_wmem
        (.clk(ap_clk), .en(fire0), .addr(wa_q), .q(w1));
    always @(posedge ap_clk) begin
        if (fire0) begin
            x1_q     <= in0_V_TDATA;
            cf1_q    <= cf_q;
            first1_q <= (kf_q == {KFB{1'b0}});
            last1_q  <= (kf_q == KF_LAST[KFB-1:0]);
        end
    end

    // one lane's product, exact, as a 32-bit (or wider) signed value
    localparam integer SW = (ACCBITS > 32) ? ACCBITS : 32;
    /* verilator lint_off WIDTHEXPAND */
    /* verilator lint_off WIDTHTRUNC */
    function automatic signed [SW-1:0] f_prod(input [WBITS-1:0] w, input [ABITS-1:0] a);
        reg signed [SW-1:0] wv, av;
        begin
            if (W_BIPOLAR != 0)     wv = w[0] ? 1 : -1;
            else if (W_SIGNED != 0) wv = $signed(w);
            else                    wv = $signed({1'b0, w});
            if (A_BIPOLAR != 0)     av = a[0] ? 1 : -1;
            else if (A_SIGNED != 0) av = $signed(a);
            else                    av = $signed({1'b0, a});
            f_prod = wv * av;
        end
    endfunction

    // the SIMD products of PE lane p, summed, modulo 2^ACCBITS
    function automatic [ACCBITS-1:0] f_dot(input [WW-1:0] w, input [IW-1:0] x, input integer p);
        integer s;
        reg signed [SW-1:0] sum;
        begin
            sum = {SW{1'b0}};
            for (s = 0; s < SIMD; s = s + 1)
                sum = sum + f_prod(w[(s*PE + p)*WBITS +: WBITS], x[(s*PE + p)*ABITS +: ABITS]);
            f_dot = sum;
        end
    endfunction

    function automatic [OBITS-1:0] f_out(input [ACCBITS-1:0] acc, input [TPE-1:0] t);
        integer k;
        reg [31:0] c;
        begin
            if (THRESHOLDS > 0) begin
                c = BIAS32;
                for (k = 0; k < THRESHOLDS; k = k + 1)
                    c = c + ($signed(acc) >= $signed(t[k*ACCBITS +: ACCBITS]));
                f_out = c;
            end else begin
                f_out = acc;
            end
        end
    endfunction
    /* verilator lint_on WIDTHTRUNC */
    /* verilator lint_on WIDTHEXPAND */

    // ------------------------------------------------------ stage 2: dot products
    reg [PE*ACCBITS-1:0] dot2_q;
    reg [CFB-1:0] cf2_q;
    reg v2_q, first2_q, last2_q;
    genvar p;
    generate for (p = 0; p < PE; p = p + 1) begin : g_dot
        always @(posedge ap_clk)
            if (en && v1_q) dot2_q[p*ACCBITS +: ACCBITS] <= f_dot(w1, x1_q, p);
    end endgenerate
    always @(posedge ap_clk) begin
        if (en) begin
            cf2_q    <= cf1_q;
            first2_q <= first1_q;
            last2_q  <= last1_q;
        end
    end

    // thresholds of the group, read so that they arrive with its final accumulator
    /* verilator lint_off UNUSEDSIGNAL */
    wire [TW-1:0] t3;
    /* verilator lint_on UNUSEDSIGNAL */
    generate if (THRESHOLDS > 0) begin : g_tmem
        dfx_vvau_rom #(.W(TW), .D(CF), .AW(CFB), .STYLE("auto"), .FILE(THRESH_FILE)) u_tmem
            (.clk(ap_clk), .en(en && v2_q && last2_q), .addr(cf2_q), .q(t3));
    end else begin : g_notmem
        assign t3 = {TW{1'b0}};
    end endgenerate

    // ------------------------------------------------------ stage 3: accumulate
    reg [PE*ACCBITS-1:0] accs [0:CF-1];
    reg [CFB-1:0] cf3_q;
    reg v3_q, first3_q, last3_q;
    reg [PE*ACCBITS-1:0] dot3_q;
    always @(posedge ap_clk) begin
        if (en) begin
            cf3_q    <= cf2_q;
            first3_q <= first2_q;
            last3_q  <= last2_q;
            if (v2_q) dot3_q <= dot2_q;
        end
    end
    wire [PE*ACCBITS-1:0] running = accs[cf3_q];
    reg  [PE*ACCBITS-1:0] acc3;
    integer q;
    always @(*) begin
        for (q = 0; q < PE; q = q + 1)
            acc3[q*ACCBITS +: ACCBITS] = first3_q ? dot3_q[q*ACCBITS +: ACCBITS]
                : running[q*ACCBITS +: ACCBITS] + dot3_q[q*ACCBITS +: ACCBITS];
    end
    always @(posedge ap_clk) begin
        if (en && v3_q && !last3_q) accs[cf3_q] <= acc3;
    end

    // ------------------------------------------------------ stage 4: activation
    reg [OW-1:0] o4_q;
    reg v4_q;
    generate for (p = 0; p < PE; p = p + 1) begin : g_act
        always @(posedge ap_clk)
            if (en && v3_q && last3_q)
                o4_q[p*OBITS +: OBITS] <= f_out(acc3[p*ACCBITS +: ACCBITS], t3[p*TPE +: TPE]);
    end endgenerate

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            v1_q <= 1'b0;
            v2_q <= 1'b0;
            v3_q <= 1'b0;
            v4_q <= 1'b0;
        end else if (en) begin
            v1_q <= fire0;
            v2_q <= v1_q;
            v3_q <= v2_q;
            v4_q <= v3_q && last3_q;
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

/* verilator lint_off DECLFILENAME */
// Read-only memory with a registered read (enable en), initialised by $readmemh(FILE).
// STYLE as dfx_mvau_rom: "block" -> block RAM; "distributed" -> LUTs ("logic" for
// Yosys, which cannot put a ROM in LUT RAM); anything else: no attribute.
module dfx_vvau_rom #(
    parameter integer W     = 8,
    parameter integer D     = 16,
    parameter integer AW    = 4,
    parameter         STYLE = "auto",
    parameter         FILE  = ""
) (
    input  wire          clk,
    input  wire          en,
    input  wire [AW-1:0] addr,
    output reg  [W-1:0]  q
);
    /* verilator lint_off WIDTHEXPAND */
    localparam integer S_BLOCK = (STYLE == "block" || STYLE == "ultra") ? 1 : 0;
    localparam integer S_DIST  = (STYLE == "distributed") ? 1 : 0;
    /* verilator lint_on WIDTHEXPAND */
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
