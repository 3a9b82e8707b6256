// dfx_thresholding: streaming multi-threshold activation.
//
// Each input word carries PE channels (word j of a vector: channels j*PE ..
// j*PE+PE-1, element i in bits [i*IBITS +: IBITS], two's complement if I_SIGNED).
// For every element x of channel c the output element is
//     out = #{k : x >= T[c][k]} + OUT_BIAS      (low OBITS bits)
// with thresholds T signed TBITS-bit values (TBITS >= IBITS+1, so that an unsigned
// input still compares as a non-negative signed number). I_BIPOLAR = 1: the input
// is BIPOLAR (IBITS = 1, code 1 = +1, code 0 = -1) and is compared as -1/+1
// (TBITS >= 2). A bipolar output is the count itself (THRESHOLDS = 1, OBITS = 1,
// OUT_BIAS = 0).
//
// THRESH_FILE ($readmemh, one word per line, hex, address 0 first): depth
// CHANNELS/PE, word nf holds T[nf*PE+p][k] at bits [(p*THRESHOLDS+k)*TBITS +: TBITS].
// RAM_STYLE of the threshold ROM: "distributed" (LUTs: Vivado's "distributed", Yosys'
// "logic"), "block" (block RAM), anything else: no attribute (the tool decides).
//
// One word per cycle; the pipeline advances on a registered enable (2-entry output
// buffer not full), so there is no combinational path from out_V_TREADY to
// in0_V_TREADY.
module dfx_thresholding #(
    parameter integer CHANNELS   = 4,
    parameter integer PE         = 2,
    parameter integer IBITS      = 4,
    parameter integer I_SIGNED   = 1,
    parameter integer I_BIPOLAR  = 0,
    parameter integer THRESHOLDS = 3,
    parameter integer TBITS      = 5,
    parameter integer OBITS      = 2,
    parameter integer OUT_BIAS   = 0,
    parameter         THRESH_FILE = "",
    parameter         RAM_STYLE  = "distributed"
) (
    input  wire                  ap_clk,
    input  wire                  ap_rst_n,
    input  wire [PE*IBITS-1:0]   in0_V_TDATA,
    input  wire                  in0_V_TVALID,
    output wire                  in0_V_TREADY,
    output wire [PE*OBITS-1:0]   out_V_TDATA,
    output wire                  out_V_TVALID,
    input  wire                  out_V_TREADY
);
    localparam integer NF  = CHANNELS / PE;
    localparam integer NFB = (NF > 1) ? $clog2(NF) : 1;
    localparam integer TW  = PE * THRESHOLDS * TBITS;
    localparam integer IW  = PE * IBITS;
    localparam integer OW  = PE * OBITS;
    localparam integer CB  = $clog2(THRESHOLDS + 1);
    localparam [31:0]    NF_LAST32 = NF - 1;
    localparam [NFB-1:0] NF_LAST   = NF_LAST32[NFB-1:0];
    localparam [31:0]    BIAS32    = OUT_BIAS;

    reg  ov_q, sv_q;
    wire en = !sv_q;
    wire fire0 = en && in0_V_TVALID;
    assign in0_V_TREADY = en;

    // stage 0: channel-fold counter
    reg [NFB-1:0] nf_q;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) nf_q <= {NFB{1'b0}};
        else if (fire0) nf_q <= (nf_q == NF_LAST) ? {NFB{1'b0}} : nf_q + 1'b1;
    end

    // stage 1: data and thresholds (registered ROM read, see dfx_thresholding_rom)
    wire [TW-1:0] t1_q;
    dfx_thresholding_rom #(.W(TW), .D(NF), .AW(NFB), .STYLE(RAM_STYLE), .FILE(THRESH_FILE))
        u_tmem (.clk(ap_clk), .en(en), .addr(nf_q), .q(t1_q));

    reg [IW-1:0] x1_q;
    reg          v1_q;
    always @(posedge ap_clk) begin
        if (en) begin
            x1_q <= in0_V_TDATA;
        end
    end

    // stage 2: compare and count
    wire [OW-1:0] o1;
    wire [OBITS-1:0] bias;
    dfx_thresholding_ext #(.IB(32), .OB(OBITS), .SGN(1)) u_bias (.i(BIAS32), .o(bias));
    genvar p, k;
    generate for (p = 0; p < PE; p = p + 1) begin : g_pe
        wire [TBITS-1:0] xe;
        if (I_BIPOLAR != 0) begin : g_bip
            // code 1 -> +1, code 0 -> -1
            wire [IBITS-1:0] xc = x1_q[p*IBITS +: IBITS];
            assign xe = xc[0] ? {{(TBITS-1){1'b0}}, 1'b1} : {TBITS{1'b1}};
        end else begin : g_int
            dfx_thresholding_ext #(.IB(IBITS), .OB(TBITS), .SGN(I_SIGNED)) u_x
                (.i(x1_q[p*IBITS +: IBITS]), .o(xe));
        end
        wire signed [TBITS-1:0] xs = xe;
        wire [THRESHOLDS*CB-1:0] ge;
        wire [CB-1:0] cnt;
        for (k = 0; k < THRESHOLDS; k = k + 1) begin : g_t
            wire signed [TBITS-1:0] tv = t1_q[(p*THRESHOLDS + k)*TBITS +: TBITS];
            wire hit = (xs >= tv);
            if (CB > 1) begin : g_ext
                assign ge[k*CB +: CB] = {{(CB-1){1'b0}}, hit};
            end else begin : g_noext
                assign ge[k*CB +: CB] = hit;
            end
        end
        dfx_thresholding_addtree #(.N(THRESHOLDS), .W(CB)) u_cnt (.in(ge), .sum(cnt));
        wire [OBITS-1:0] cnt_o;
        dfx_thresholding_ext #(.IB(CB), .OB(OBITS), .SGN(0)) u_co (.i(cnt), .o(cnt_o));
        assign o1[p*OBITS +: OBITS] = cnt_o + bias;
    end endgenerate

    reg [OW-1:0] o2_q;
    reg          v2_q;
    always @(posedge ap_clk) begin
        if (en) o2_q <= o1;
    end
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            v1_q <= 1'b0;
            v2_q <= 1'b0;
        end else if (en) begin
            v1_q <= fire0;
            v2_q <= v1_q;
        end
    end

    // 2-entry output buffer (output register + spare)
    reg [OW-1:0] od_q, sd_q;
    wire push = en && v2_q;
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
                    od_q <= o2_q;
                    ov_q <= push;
                end
            end else if (push) begin
                sd_q <= o2_q;
                sv_q <= 1'b1;
            end
        end
    end
    assign out_V_TDATA  = od_q;
    assign out_V_TVALID = ov_q;
endmodule

// Helper modules live in this file so that it is self-contained.
/* verilator lint_off DECLFILENAME */

// Sign- (SGN != 0) or zero-extend IB bits to OB bits, or keep the low OB bits.
module dfx_thresholding_ext #(
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
module dfx_thresholding_addtree #(
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
        dfx_thresholding_addtree #(.N(NL),     .W(W)) u_l (.in(in[NL*W-1:0]),   .sum(sl));
        dfx_thresholding_addtree #(.N(N - NL), .W(W)) u_r (.in(in[N*W-1:NL*W]), .sum(sr));
        assign sum = sl + sr;
    end endgenerate
endmodule
// The threshold ROM, registered read (enable en), initialised by $readmemh(FILE).
// STYLE "distributed": LUTs (ram_style/rom_style "distributed" for Vivado, "logic" for
// Yosys, which cannot put a ROM in LUTRAM and, left alone, may move it to block RAM);
// "block": block RAM; anything else: no attribute.
module dfx_thresholding_rom #(
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
    /* verilator lint_off WIDTHEXPAND */
    localparam integer S_BLOCK = (STYLE == "block") ? 1 : 0;
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
