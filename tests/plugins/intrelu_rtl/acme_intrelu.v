// acme_intrelu: max(x, 0) on PE signed IBITS-bit lanes a word, one register stage.
// Output lanes are unsigned, IBITS-1 bits (the sign bit is always 0 after the max).
`default_nettype none
module acme_intrelu #(
    parameter integer PE = 1,
    parameter integer IBITS = 4
) (
    input  wire ap_clk,
    input  wire ap_rst_n,
    input  wire [PE*IBITS-1:0] in0_V_TDATA,
    input  wire in0_V_TVALID,
    output wire in0_V_TREADY,
    output wire [PE*(IBITS-1)-1:0] out_V_TDATA,
    output wire out_V_TVALID,
    input  wire out_V_TREADY
);
    localparam integer OBITS = IBITS - 1;
    wire [PE*OBITS-1:0] d;
    reg  [PE*OBITS-1:0] q;
    reg  q_valid;
    genvar p;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lane
            wire [IBITS-1:0] x = in0_V_TDATA[p*IBITS +: IBITS];
            assign d[p*OBITS +: OBITS] = x[IBITS-1] ? {OBITS{1'b0}} : x[OBITS-1:0];
        end
    endgenerate
    assign in0_V_TREADY = !q_valid || out_V_TREADY;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            q_valid <= 1'b0;
        end else if (in0_V_TREADY) begin
            q_valid <= in0_V_TVALID;
        end
        if (in0_V_TREADY && in0_V_TVALID) q <= d;
    end
    assign out_V_TDATA = q;
    assign out_V_TVALID = q_valid;
endmodule
`default_nettype wire
