// acme_duplicate_streams: one stream in, N_OUT identical streams out (FINN's
// DuplicateStreams), each output with its own backpressure.
//
// The input word is held in one register until every output has taken it; an
// output that is ready takes its copy while the others wait, and the next word
// is accepted in the cycle the last pending copy leaves (full throughput when all
// outputs are ready). Outputs are packed: copy i in out_TDATA[i*WIDTH +: WIDTH].
`default_nettype none
module acme_duplicate_streams #(
    parameter integer WIDTH = 8,
    parameter integer N_OUT = 2
) (
    input  wire ap_clk,
    input  wire ap_rst_n,
    input  wire [WIDTH-1:0] in0_V_TDATA,
    input  wire in0_V_TVALID,
    output wire in0_V_TREADY,
    output wire [N_OUT*WIDTH-1:0] out_TDATA,
    output wire [N_OUT-1:0] out_TVALID,
    input  wire [N_OUT-1:0] out_TREADY
);
    reg  [WIDTH-1:0] data_q;
    reg  [N_OUT-1:0] pending_q;                   // outputs that have not taken data_q
    wire [N_OUT-1:0] left = pending_q & ~out_TREADY;  // still pending after this cycle
    assign in0_V_TREADY = (left == {N_OUT{1'b0}});
    wire take = in0_V_TVALID && in0_V_TREADY;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) pending_q <= {N_OUT{1'b0}};
        else pending_q <= take ? {N_OUT{1'b1}} : left;
        if (take) data_q <= in0_V_TDATA;
    end
    assign out_TVALID = pending_q;
    assign out_TDATA = {N_OUT{data_q}};
endmodule
`default_nettype wire
