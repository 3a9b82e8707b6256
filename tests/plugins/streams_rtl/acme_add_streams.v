// acme_add_streams: two streams in, their elementwise integer sum out (FINN's
// AddStreams), PE lanes a word, one register stage.
//
// Lane p of in0 (ABITS bits, signed if A_SIGNED) plus lane p of in1 (BBITS bits,
// signed if B_SIGNED) is lane p of out (OBITS bits, wide enough for every sum:
// the generator widens the datatype). A word is taken from both inputs at once.
`default_nettype none
module acme_add_streams #(
    parameter integer PE = 1,
    parameter integer ABITS = 2,
    parameter integer A_SIGNED = 0,
    parameter integer BBITS = 2,
    parameter integer B_SIGNED = 0,
    parameter integer OBITS = 3
) (
    input  wire ap_clk,
    input  wire ap_rst_n,
    input  wire [PE*ABITS-1:0] in0_V_TDATA,
    input  wire in0_V_TVALID,
    output wire in0_V_TREADY,
    input  wire [PE*BBITS-1:0] in1_V_TDATA,
    input  wire in1_V_TVALID,
    output wire in1_V_TREADY,
    output wire [PE*OBITS-1:0] out_V_TDATA,
    output wire out_V_TVALID,
    input  wire out_V_TREADY
);
    reg  [PE*OBITS-1:0] sum_q;
    reg  valid_q;
    wire advance = !valid_q || out_V_TREADY;
    wire take = in0_V_TVALID && in1_V_TVALID && advance;
    assign in0_V_TREADY = in1_V_TVALID && advance;
    assign in1_V_TREADY = in0_V_TVALID && advance;
    wire [PE*OBITS-1:0] sum;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lane
            wire [ABITS-1:0] a = in0_V_TDATA[p*ABITS +: ABITS];
            wire [BBITS-1:0] b = in1_V_TDATA[p*BBITS +: BBITS];
            // extend both to OBITS (> ABITS, BBITS): sign bits for signed lanes
            wire a_fill = (A_SIGNED != 0) && a[ABITS-1];
            wire b_fill = (B_SIGNED != 0) && b[BBITS-1];
            wire [OBITS-1:0] a_ext = {{(OBITS-ABITS){a_fill}}, a};
            wire [OBITS-1:0] b_ext = {{(OBITS-BBITS){b_fill}}, b};
            assign sum[p*OBITS +: OBITS] = a_ext + b_ext;
        end
    endgenerate
    always @(posedge ap_clk) begin
        if (!ap_rst_n) valid_q <= 1'b0;
        else if (advance) valid_q <= in0_V_TVALID && in1_V_TVALID;
        if (take) sum_q <= sum;
    end
    assign out_V_TDATA = sum_q;
    assign out_V_TVALID = valid_q;
endmodule
`default_nettype wire
