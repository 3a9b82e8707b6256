// dfx_fifo: StreamingFIFO, first-word-fall-through, capacity exactly DEPTH words.
//
// Parameters
//   WIDTH      word width in bits
//   DEPTH      capacity in words, any integer >= 1 (not only powers of two)
//   RAM_STYLE  "auto" | "distributed" | "block" | "ultra" | "registers"
//
// occupancy: number of words currently held (0..DEPTH), zero-extended to 32 bits,
// for simulation harnesses that record the peak.
//
// One control logic for every memory: a word count, a write and a read pointer.
//   in0_V_TREADY = (count != capacity), a register function; for a capacity of one
//                  word also when the word leaves in the same cycle (|| out_V_TREADY,
//                  the only combinational ready path of this module: a one-word FIFO
//                  could not otherwise take a word while full).
//   out_V_TVALID = (count != 0), a register function.
// One word per cycle in and out at the same time, except while the FIFO is completely
// full (then a word leaves before the next one is accepted; capacity one excepted).
//
// The memory never changes that behaviour, only where the words are kept:
//   LUT memory      asynchronous read, out_V_TDATA = mem[read pointer]: DEPTH <= 2, or
//                   RAM_STYLE "distributed" / "registers", or "auto" with DEPTH <= 64.
//   block memory    RAM_STYLE "block" / "ultra", or "auto" with DEPTH > 64: a
//                   synchronous read that reads ahead (at the read pointer of the next
//                   cycle), so out_V_TDATA is mem[read pointer] in every cycle as
//                   well; a word written where the next cycle reads is forwarded
//                   from a register instead.
// So the cycle behaviour of a FIFO is a function of its capacity alone. Simulation
// relies on that (DFX_SIM, see dfx_top.v): the rtlsim harness sets each FIFO's
// capacity at run time through sim_capacity (1..DEPTH; 0 means DEPTH) on a memory
// of DEPTH words, so one compiled simulator serves every set of FIFO depths. Without
// DFX_SIM (synthesis) the port does not exist and the capacity is DEPTH.
module dfx_fifo #(
    parameter integer WIDTH     = 8,
    parameter integer DEPTH     = 16,
    parameter         RAM_STYLE = "auto"
) (
    input  wire             ap_clk,
    input  wire             ap_rst_n,
    input  wire [WIDTH-1:0] in0_V_TDATA,
    input  wire             in0_V_TVALID,
    output wire             in0_V_TREADY,
    output wire [WIDTH-1:0] out_V_TDATA,
    output wire             out_V_TVALID,
    input  wire             out_V_TREADY,
    output wire [31:0]      occupancy
`ifdef DFX_SIM
    ,
    input  wire [31:0]      sim_capacity
`endif
);
    localparam integer CW = $clog2(DEPTH + 1);
    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    // string parameter compares: the literal and the value differ in width by nature
    /* verilator lint_off WIDTHEXPAND */
    localparam integer STYLE_AUTO  = (RAM_STYLE == "auto") ? 1 : 0;
    localparam integer STYLE_BLOCK = (RAM_STYLE == "block" || RAM_STYLE == "ultra") ? 1 : 0;
    localparam integer STYLE_LUT   = (RAM_STYLE == "distributed" || RAM_STYLE == "registers")
                                     ? 1 : 0;
    /* verilator lint_on WIDTHEXPAND */
    localparam integer SYNC_READ   = ((DEPTH >= 3) &&
                                      ((STYLE_BLOCK != 0) || (STYLE_AUTO != 0 && DEPTH > 64)))
                                     ? 1 : 0;
    localparam [31:0]   DEPTH32 = DEPTH;
    localparam [31:0]   LAST32  = DEPTH - 1;
    localparam [AW-1:0] LAST    = LAST32[AW-1:0];

    // -- the capacity ----------------------------------------------------------------
`ifdef DFX_SIM
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] capacity32 = (sim_capacity == 32'd0 || sim_capacity > DEPTH32)
                             ? DEPTH32 : sim_capacity;
`else
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] capacity32 = DEPTH32;
`endif
    /* verilator lint_on UNUSEDSIGNAL */
    wire [CW-1:0] capacity = capacity32[CW-1:0];
    wire          one_word = (capacity32 == 32'd1);

    // -- control: the same for every memory --------------------------------------------
    reg  [CW-1:0] cnt_q;
    reg  [AW-1:0] wp_q, rp_q;
    assign occupancy    = {{(32-CW){1'b0}}, cnt_q};
    assign in0_V_TREADY = (cnt_q != capacity) || (one_word && out_V_TREADY);
    assign out_V_TVALID = (cnt_q != {CW{1'b0}});
    wire push = in0_V_TVALID && in0_V_TREADY;
    wire pop  = out_V_TVALID && out_V_TREADY;
    wire [AW-1:0] rp_next = pop ? ((rp_q == LAST) ? {AW{1'b0}} : rp_q + 1'b1) : rp_q;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wp_q  <= {AW{1'b0}};
            rp_q  <= {AW{1'b0}};
            cnt_q <= {CW{1'b0}};
        end else begin
            if (push) wp_q <= (wp_q == LAST) ? {AW{1'b0}} : wp_q + 1'b1;
            rp_q <= rp_next;
            if (push && !pop) cnt_q <= cnt_q + 1'b1;
            else if (pop && !push) cnt_q <= cnt_q - 1'b1;
        end
    end

    // -- the memory: out_V_TDATA = mem[rp_q] -------------------------------------------
    generate if (SYNC_READ == 0) begin : g_lut
        // asynchronous read: only LUT styles make sense here (a "block" FIFO of
        // DEPTH <= 2 lands here too and gets no attribute)
        if (STYLE_LUT == 0) begin : g_mem
            reg [WIDTH-1:0] mem [0:DEPTH-1];
            always @(posedge ap_clk) if (push) mem[wp_q] <= in0_V_TDATA;
            assign out_V_TDATA = mem[rp_q];
        end else begin : g_mem_attr
            (* ram_style = RAM_STYLE *) reg [WIDTH-1:0] mem [0:DEPTH-1];
            always @(posedge ap_clk) if (push) mem[wp_q] <= in0_V_TDATA;
            assign out_V_TDATA = mem[rp_q];
        end
    end else begin : g_block
        // synchronous read ahead: q holds mem[rp_next] after the clock edge, i.e.
        // mem[rp_q] from then on; the word written at rp_next in that same edge is not
        // in q (the read sees the old content), so it comes from the forward register.
        reg [WIDTH-1:0] q;
        reg [WIDTH-1:0] forward_q;
        reg             forwarded_q;
        if (STYLE_AUTO != 0) begin : g_mem
            reg [WIDTH-1:0] mem [0:DEPTH-1];
            always @(posedge ap_clk) begin
                if (push) mem[wp_q] <= in0_V_TDATA;
                q <= mem[rp_next];
            end
        end else begin : g_mem_attr
            (* ram_style = RAM_STYLE *) reg [WIDTH-1:0] mem [0:DEPTH-1];
            always @(posedge ap_clk) begin
                if (push) mem[wp_q] <= in0_V_TDATA;
                q <= mem[rp_next];
            end
        end
        always @(posedge ap_clk) begin
            forwarded_q <= push && (wp_q == rp_next);
            if (push) forward_q <= in0_V_TDATA;
        end
        assign out_V_TDATA = forwarded_q ? forward_q : q;
    end endgenerate
endmodule
