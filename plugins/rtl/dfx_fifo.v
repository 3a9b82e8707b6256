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
// Implementations (chosen at elaboration):
//   DEPTH == 1      one register. Full throughput needs in0_V_TREADY = !full ||
//                   out_V_TREADY here, the only combinational ready path of this
//                   module (a one-word FIFO cannot otherwise take a word while full).
//   LUT variant     DEPTH >= 2 and RAM_STYLE "distributed" / "registers", or "auto"
//                   with DEPTH <= 64, or any style with DEPTH <= 2: memory with
//                   asynchronous read; out_V_TDATA = mem[read pointer].
//   BRAM variant    DEPTH >= 3 and RAM_STYLE "block" / "ultra", or "auto" with
//                   DEPTH > 64: memory with synchronous (registered) read, prefetched
//                   into the output register; the output register counts towards
//                   DEPTH.
// In both multi-word variants in0_V_TREADY = (occupancy != DEPTH) and
// out_V_TVALID are pure register functions. One word per cycle in and out at the
// same time, except while the FIFO is completely full (then a word leaves before
// the next one is accepted).
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
    localparam [CW-1:0] FULL    = DEPTH32[CW-1:0];
    localparam [AW-1:0] LAST    = LAST32[AW-1:0];

    reg  [CW-1:0] cnt_q;
    assign occupancy = {{(32-CW){1'b0}}, cnt_q};

    generate if (DEPTH == 1) begin : g_reg
        // ---------------------------------------------------- single register
        reg [WIDTH-1:0] d_q;
        wire pop  = cnt_q[0] && out_V_TREADY;
        wire push = in0_V_TVALID && in0_V_TREADY;
        assign in0_V_TREADY = !cnt_q[0] || out_V_TREADY;
        assign out_V_TVALID = cnt_q[0];
        assign out_V_TDATA  = d_q;
        always @(posedge ap_clk) begin
            if (!ap_rst_n) cnt_q <= 1'b0;
            else if (push) cnt_q <= 1'b1;
            else if (pop) cnt_q <= 1'b0;
        end
        always @(posedge ap_clk) begin
            if (push) d_q <= in0_V_TDATA;
        end
    end else if (SYNC_READ == 0) begin : g_lut
        // ------------------------------------------- asynchronous-read memory
        reg  [AW-1:0] wp_q, rp_q;
        wire [WIDTH-1:0] rdata;
        assign in0_V_TREADY = (cnt_q != FULL);
        assign out_V_TVALID = (cnt_q != {CW{1'b0}});
        assign out_V_TDATA  = rdata;
        wire push = in0_V_TVALID && in0_V_TREADY;
        wire pop  = out_V_TVALID && out_V_TREADY;
        // asynchronous read: only LUT styles make sense here (a "block" FIFO of
        // DEPTH <= 2 lands here too and gets no attribute)
        if (STYLE_LUT == 0) begin : g_mem
            reg [WIDTH-1:0] mem [0:DEPTH-1];
            always @(posedge ap_clk) if (push) mem[wp_q] <= in0_V_TDATA;
            assign rdata = mem[rp_q];
        end else begin : g_mem_attr
            (* ram_style = RAM_STYLE *) reg [WIDTH-1:0] mem [0:DEPTH-1];
            always @(posedge ap_clk) if (push) mem[wp_q] <= in0_V_TDATA;
            assign rdata = mem[rp_q];
        end
        always @(posedge ap_clk) begin
            if (!ap_rst_n) begin
                wp_q  <= {AW{1'b0}};
                rp_q  <= {AW{1'b0}};
                cnt_q <= {CW{1'b0}};
            end else begin
                if (push) wp_q <= (wp_q == LAST) ? {AW{1'b0}} : wp_q + 1'b1;
                if (pop)  rp_q <= (rp_q == LAST) ? {AW{1'b0}} : rp_q + 1'b1;
                if (push && !pop) cnt_q <= cnt_q + 1'b1;
                else if (pop && !push) cnt_q <= cnt_q - 1'b1;
            end
        end
    end else begin : g_bram
        // -------------------- synchronous-read memory + output register
        reg  [AW-1:0] wp_q, rp_q;
        reg  [CW-1:0] mc_q;           // words in the memory (not yet read out)
        reg           ov_q;           // output register holds a word
        wire [WIDTH-1:0] rdata;
        assign in0_V_TREADY = (cnt_q != FULL);
        assign out_V_TVALID = ov_q;
        assign out_V_TDATA  = rdata;
        wire push = in0_V_TVALID && in0_V_TREADY;
        wire pop  = ov_q && out_V_TREADY;
        wire rd   = (mc_q != {CW{1'b0}}) && (!ov_q || out_V_TREADY);
        // A read never hits the word being written: that needs an empty memory
        // (no read) or a full one (no write, occupancy == DEPTH).
        if (STYLE_AUTO != 0) begin : g_mem
            reg [WIDTH-1:0] mem [0:DEPTH-1];
            reg [WIDTH-1:0] q;
            always @(posedge ap_clk) begin
                if (push) mem[wp_q] <= in0_V_TDATA;
                if (rd) q <= mem[rp_q];
            end
            assign rdata = q;
        end else begin : g_mem_attr
            (* ram_style = RAM_STYLE *) reg [WIDTH-1:0] mem [0:DEPTH-1];
            reg [WIDTH-1:0] q;
            always @(posedge ap_clk) begin
                if (push) mem[wp_q] <= in0_V_TDATA;
                if (rd) q <= mem[rp_q];
            end
            assign rdata = q;
        end
        always @(posedge ap_clk) begin
            if (!ap_rst_n) begin
                wp_q  <= {AW{1'b0}};
                rp_q  <= {AW{1'b0}};
                cnt_q <= {CW{1'b0}};
                mc_q  <= {CW{1'b0}};
                ov_q  <= 1'b0;
            end else begin
                if (push) wp_q <= (wp_q == LAST) ? {AW{1'b0}} : wp_q + 1'b1;
                if (rd)   rp_q <= (rp_q == LAST) ? {AW{1'b0}} : rp_q + 1'b1;
                if (push && !rd) mc_q <= mc_q + 1'b1;
                else if (rd && !push) mc_q <= mc_q - 1'b1;
                if (push && !pop) cnt_q <= cnt_q + 1'b1;
                else if (pop && !push) cnt_q <= cnt_q - 1'b1;
                if (rd) ov_q <= 1'b1;
                else if (pop) ov_q <= 1'b0;
            end
        end
    end endgenerate
endmodule
