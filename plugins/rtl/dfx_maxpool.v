// dfx_maxpool: max-pooling over non-overlapping KH x KW windows (stride = kernel) of a
// channels-last image stream (FINN's StreamingMaxPool).
//
// Input: IH x IW pixels of C channels, PE channels a word, word order (y, x, cf).
// Output: OH = IH/KH rows of OW = IW/KW pixels, the per-channel maximum of each
// window, word order (oy, ox, cf). Rows and columns past the last whole window are
// taken and dropped. Elements are EBITS-bit, signed when SIGNED.
//
// The running maxima of one output row (OW * C/PE words) live in a memory with an
// asynchronous read: each input word is combined with its window's running maximum
// in the cycle it arrives (read, max, write); the window's last input word sends the
// maximum to the output instead. One input word a cycle: IH*IW*C/PE cycles a frame.
//
// The enable of the whole datapath is a register (the 2-entry output buffer's spare
// slot is empty): no combinational path from out_V_TREADY to in0_V_TREADY.
module dfx_maxpool #(
    parameter integer C      = 4,
    parameter integer PE     = 1,
    parameter integer IH     = 4,
    parameter integer IW     = 4,
    parameter integer KH     = 2,
    parameter integer KW     = 2,
    parameter integer EBITS  = 4,
    parameter integer SIGNED = 0
) (
    input  wire                ap_clk,
    input  wire                ap_rst_n,
    input  wire [PE*EBITS-1:0] in0_V_TDATA,
    input  wire                in0_V_TVALID,
    output wire                in0_V_TREADY,
    output wire [PE*EBITS-1:0] out_V_TDATA,
    output wire                out_V_TVALID,
    input  wire                out_V_TREADY
);
    localparam integer CF  = C / PE;
    localparam integer OW  = IW / KW;
    localparam integer OH  = IH / KH;
    localparam integer WW  = PE * EBITS;
    localparam integer BD  = OW * CF;                 // running maxima of one output row
    localparam integer BAB = (BD > 1) ? $clog2(BD) : 1;
    localparam integer CFB = (CF > 1) ? $clog2(CF) : 1;
    localparam integer XB  = $clog2(IW + 1);
    localparam integer YB  = $clog2(IH + 1);
    localparam integer KXB = $clog2(KW + 1);
    localparam integer KYB = $clog2(KH + 1);
    localparam [31:0] CF_LAST = CF - 1;
    localparam [31:0] IW_LAST = IW - 1;
    localparam [31:0] IH_LAST = IH - 1;
    localparam [31:0] KW_LAST = KW - 1;
    localparam [31:0] KH_LAST = KH - 1;
    localparam [31:0] USED_W  = OW * KW;
    localparam [31:0] USED_H  = OH * KH;
    localparam [31:0] CF32    = CF;

    reg  ov_q, sv_q;
    wire en = !sv_q;
    assign in0_V_TREADY = en;
    wire fire = en && in0_V_TVALID;

    reg [CFB-1:0] cf_q;
    reg [XB-1:0]  x_q;
    reg [YB-1:0]  y_q;
    reg [KXB-1:0] kx_q;
    reg [KYB-1:0] ky_q;
    reg [BAB-1:0] base_q;                    // ox * CF
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] addr32 = {{(32 - BAB){1'b0}}, base_q} + {{(32 - CFB){1'b0}}, cf_q};
    /* verilator lint_on UNUSEDSIGNAL */
    wire [BAB-1:0] addr = addr32[BAB-1:0];
    /* verilator lint_off WIDTHEXPAND */
    wire used  = (x_q < USED_W) && (y_q < USED_H);
    /* verilator lint_on WIDTHEXPAND */
    wire first = (kx_q == {KXB{1'b0}}) && (ky_q == {KYB{1'b0}});
    wire last  = (kx_q == KW_LAST[KXB-1:0]) && (ky_q == KH_LAST[KYB-1:0]);

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            cf_q <= {CFB{1'b0}};
            x_q <= {XB{1'b0}};
            y_q <= {YB{1'b0}};
            kx_q <= {KXB{1'b0}};
            ky_q <= {KYB{1'b0}};
            base_q <= {BAB{1'b0}};
        end else if (fire) begin
            if (cf_q != CF_LAST[CFB-1:0]) begin
                cf_q <= cf_q + 1'b1;
            end else begin
                cf_q <= {CFB{1'b0}};
                if (x_q != IW_LAST[XB-1:0]) begin
                    x_q <= x_q + 1'b1;
                    if (kx_q == KW_LAST[KXB-1:0]) begin
                        kx_q <= {KXB{1'b0}};
                        /* verilator lint_off WIDTHTRUNC */
                        base_q <= base_q + CF32[BAB-1:0];
                        /* verilator lint_on WIDTHTRUNC */
                    end else begin
                        kx_q <= kx_q + 1'b1;
                    end
                end else begin                      // next row
                    x_q <= {XB{1'b0}};
                    kx_q <= {KXB{1'b0}};
                    base_q <= {BAB{1'b0}};
                    if (y_q != IH_LAST[YB-1:0]) begin
                        y_q <= y_q + 1'b1;
                        ky_q <= (ky_q == KH_LAST[KYB-1:0]) ? {KYB{1'b0}} : ky_q + 1'b1;
                    end else begin                  // next frame
                        y_q <= {YB{1'b0}};
                        ky_q <= {KYB{1'b0}};
                    end
                end
            end
        end
    end

    // element-wise maximum of two words
    function automatic [WW-1:0] f_max(input [WW-1:0] a, input [WW-1:0] b);
        integer p;
        reg [EBITS-1:0] ea, eb;
        reg bigger;
        begin
            for (p = 0; p < PE; p = p + 1) begin
                ea = a[p*EBITS +: EBITS];
                eb = b[p*EBITS +: EBITS];
                if (SIGNED != 0) bigger = $signed(ea) > $signed(eb);
                else             bigger = ea > eb;
                f_max[p*EBITS +: EBITS] = bigger ? ea : eb;
            end
        end
    endfunction

    reg  [WW-1:0] buf_mem [0:BD-1];
    wire [WW-1:0] running = buf_mem[addr];
    wire [WW-1:0] m = first ? in0_V_TDATA : f_max(running, in0_V_TDATA);
    always @(posedge ap_clk) begin
        if (fire && used && !last) buf_mem[addr] <= m;
    end

    // stage 1: a finished window
    reg [WW-1:0] o1_q;
    reg          v1_q;
    always @(posedge ap_clk) begin
        if (!ap_rst_n) v1_q <= 1'b0;
        else if (en) v1_q <= fire && used && last;
        if (fire) o1_q <= m;
    end

    // ------------------------------------------ 2-entry output buffer
    reg [WW-1:0] od_q, sd_q;
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
