// dfx_accpool: the per-channel sum over all pixels of a channels-last stream (FINN's
// GlobalAccPool, the integer part of a global average pool).
//
// Input: PIXELS pixels of C channels, PE channels a word, word order (pixel, cf);
// elements IBITS bits, signed when I_SIGNED, -1/+1 when I_BIPOLAR (1 bit, 1 = +1).
// Output: C/PE words of PE sums (OBITS-bit two's complement), after the frame's last
// pixel. The running sums of the C/PE channel groups live in a memory with an
// asynchronous read (read, add, write in the cycle a word arrives). One input word a
// cycle: PIXELS*C/PE cycles a frame.
module dfx_accpool #(
    parameter integer C         = 4,
    parameter integer PE        = 1,
    parameter integer PIXELS    = 4,
    parameter integer IBITS     = 4,
    parameter integer I_SIGNED  = 0,
    parameter integer I_BIPOLAR = 0,
    parameter integer OBITS     = 8
) (
    input  wire                ap_clk,
    input  wire                ap_rst_n,
    input  wire [PE*IBITS-1:0] in0_V_TDATA,
    input  wire                in0_V_TVALID,
    output wire                in0_V_TREADY,
    output wire [PE*OBITS-1:0] out_V_TDATA,
    output wire                out_V_TVALID,
    input  wire                out_V_TREADY
);
    localparam integer CF  = C / PE;
    localparam integer OW  = PE * OBITS;
    localparam integer CFB = (CF > 1) ? $clog2(CF) : 1;
    localparam integer PB  = (PIXELS > 1) ? $clog2(PIXELS) : 1;
    localparam [31:0] CF_LAST  = CF - 1;
    localparam [31:0] PIX_LAST = PIXELS - 1;

    reg  ov_q, sv_q;
    wire en = !sv_q;
    assign in0_V_TREADY = en;
    wire fire = en && in0_V_TVALID;

    reg [CFB-1:0] cf_q;
    reg [PB-1:0]  px_q;
    wire first = (px_q == {PB{1'b0}});
    wire last  = (px_q == PIX_LAST[PB-1:0]);
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            cf_q <= {CFB{1'b0}};
            px_q <= {PB{1'b0}};
        end else if (fire) begin
            if (cf_q != CF_LAST[CFB-1:0]) begin
                cf_q <= cf_q + 1'b1;
            end else begin
                cf_q <= {CFB{1'b0}};
                px_q <= last ? {PB{1'b0}} : px_q + 1'b1;
            end
        end
    end

    // the word's elements as OBITS-bit values, added to the running sums
    /* verilator lint_off WIDTHEXPAND */
    /* verilator lint_off WIDTHTRUNC */
    function automatic [OW-1:0] f_add(input [OW-1:0] acc, input [PE*IBITS-1:0] x,
                                      input start);
        integer p;
        reg signed [OBITS-1:0] v;
        reg [OBITS-1:0] a;
        begin
            for (p = 0; p < PE; p = p + 1) begin
                if (I_BIPOLAR != 0)     v = x[p*IBITS] ? 1 : -1;
                else if (I_SIGNED != 0) v = $signed(x[p*IBITS +: IBITS]);
                else                    v = $signed({1'b0, x[p*IBITS +: IBITS]});
                a = start ? {OBITS{1'b0}} : acc[p*OBITS +: OBITS];
                f_add[p*OBITS +: OBITS] = a + v;
            end
        end
    endfunction
    /* verilator lint_on WIDTHTRUNC */
    /* verilator lint_on WIDTHEXPAND */

    reg  [OW-1:0] sums [0:CF-1];
    wire [OW-1:0] s = f_add(sums[cf_q], in0_V_TDATA, first);
    always @(posedge ap_clk) begin
        if (fire && !last) sums[cf_q] <= s;
    end

    reg [OW-1:0] o1_q;
    reg          v1_q;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) v1_q <= 1'b0;
        else if (en) v1_q <= fire && last;
        if (fire) o1_q <= s;
    end

    reg [OW-1:0] od_q, sd_q;
    wire push = en && v1_q;
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
                    od_q <= o1_q;
                    ov_q <= push;
                end
            end else if (push) begin
                sd_q <= o1_q;
                sv_q <= 1'b1;
            end
        end
    end
    assign out_V_TDATA  = od_q;
    assign out_V_TVALID = ov_q;
endmodule
