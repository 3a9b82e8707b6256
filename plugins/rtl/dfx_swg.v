// dfx_swg: sliding-window generator (FINN's ConvolutionInputGenerator) with the
// convolution's zero padding folded in.
//
// Input: an IH x IW image of C channels, channels-last, SIMD channels a word:
// word (y, x, cf) holds channels cf*SIMD .. cf*SIMD+SIMD-1 of pixel (y, x).
// Output: for every output pixel (oy, ox), its KH x KW window in (ky, kx, cf) order,
// M input words per output word: output word (ky, j) of a window holds the words
// (oy*SH - PT + ky, ox*SW - PL + kx, cf) with kx*CF + cf = j*M .. j*M+M-1 (a window
// row is KW*CF consecutive words of an image row; M divides KW*CF). Every element
// of a word that lies in the padding is PAD_VALUE.
//
// Memory: a ring of ROWS image rows in M banks (word w of the ring in bank w mod M),
// so the M consecutive words of an output word are read in one cycle, one from each
// bank. A row takes PITCH = ceil(IW*CF/M)*M words of the ring. The writer stores each
// incoming word at the next address and counts complete rows (globally, across
// frames); the reader emits an output row once every input row its windows need has
// been written. The writer may overwrite a row once the reader no longer needs it,
// so it runs ahead into the next rows and the next frame. ROWS = max(KH + SH, KH + IH
// - (OH-1)*SH) rows let the writer stay far enough ahead that the output never waits
// in steady state: a frame takes max(IH*IW*CF, OH*OW*KH*KW*CF/M) cycles.
//
// Pipeline: issue (addresses, padding) -> registered memory read -> 2-entry output
// buffer. The pipeline enable is a register (the output buffer's spare slot is
// empty), so there is no combinational path from out_V_TREADY to in0_V_TREADY.
module dfx_swg #(
    parameter integer C         = 1,
    parameter integer SIMD      = 1,
    parameter integer M         = 1,
    parameter integer IH        = 8,
    parameter integer IW        = 8,
    parameter integer OH        = 6,
    parameter integer OW        = 6,
    parameter integer KH        = 3,
    parameter integer KW        = 3,
    parameter integer SH        = 1,
    parameter integer SW        = 1,
    parameter integer PT        = 0,
    parameter integer PL        = 0,
    parameter integer EBITS     = 4,
    parameter integer PAD_VALUE = 0,
    parameter integer ROWS      = 6,
    parameter         RAM_STYLE = "auto"
) (
    input  wire                    ap_clk,
    input  wire                    ap_rst_n,
    input  wire [SIMD*EBITS-1:0]   in0_V_TDATA,
    input  wire                    in0_V_TVALID,
    output wire                    in0_V_TREADY,
    output wire [M*SIMD*EBITS-1:0] out_V_TDATA,
    output wire                    out_V_TVALID,
    input  wire                    out_V_TREADY
);
    localparam integer CF     = C / SIMD;
    localparam integer ROWW   = IW * CF;                // words of an image row
    localparam integer BPITCH = (ROWW + M - 1) / M;     // bank words per ring row
    localparam integer BDEPTH = ROWS * BPITCH;          // words per bank
    localparam integer WW     = SIMD * EBITS;
    localparam integer OWW    = M * WW;
    localparam integer JW     = KW * CF / M;            // output words per window row
    localparam integer AB     = (BDEPTH > 1) ? $clog2(BDEPTH) : 1;
    localparam integer AB1    = AB + 1;
    localparam integer MB     = (M > 1) ? $clog2(M) : 1;
    // global row counters: wide enough that every difference compared below fits
    localparam integer GB     = $clog2(IH + ROWS + 2) + 2;
    // signed frame-relative coordinates (rows; columns in words and in bank words)
    localparam integer YB     = $clog2(IH + KH + SH + PT + 2) + 2;
    localparam integer XB     = $clog2((IW + KW + SW + PL + 2) * CF + M) + 2;
    localparam integer OYB    = (OH > 1) ? $clog2(OH) : 1;
    localparam integer OXB    = (OW > 1) ? $clog2(OW) : 1;
    localparam integer KYB    = (KH > 1) ? $clog2(KH) : 1;
    localparam integer JB     = (JW > 1) ? $clog2(JW) : 1;
    localparam integer CB     = (ROWW > 1) ? $clog2(ROWW) : 1;

    // constants, sized
    localparam [31:0] BDEPTH32   = BDEPTH;
    localparam [31:0] BPITCH32   = BPITCH;
    localparam [31:0] ROWW32     = ROWW;
    localparam [31:0] ROWW_LAST  = ROWW - 1;
    localparam [31:0] M_LAST     = M - 1;
    localparam [31:0] M32        = M;
    localparam [31:0] STEP_ROW   = SH * BPITCH;             // next output row's top
    localparam [31:0] STEP_FRAME = (IH % ROWS) * BPITCH;    // next frame's row 0
    localparam [31:0] PAD_ROWS   = PT * BPITCH;             // row -PT below row 0
    localparam [31:0] ROWS32     = ROWS;
    localparam [31:0] IH32       = IH;
    localparam [31:0] IH_LAST    = IH - 1;
    localparam [31:0] KH_LAST    = KH - 1;
    localparam [31:0] OH_LAST    = OH - 1;
    localparam [31:0] OW_LAST    = OW - 1;
    localparam [31:0] JW_LAST    = JW - 1;
    localparam [31:0] SH32       = SH;
    localparam [31:0] PT32       = PT;
    localparam [31:0] PADV32     = PAD_VALUE;
    // the first window column -PL*CF as (word, bank word, bank): col = q*M + r
    localparam integer COL0  = PL * CF;
    localparam integer Q0N   = (COL0 + M - 1) / M;          // -floor(-COL0 / M)
    localparam [31:0]  Q0N32 = Q0N;
    localparam [31:0]  R0    = Q0N * M - COL0;              // in [0, M)
    localparam [31:0]  COL0_32 = COL0;
    localparam [31:0]  CSTEP   = SW * CF;                    // next window's first column
    localparam [31:0]  CSTEP_Q = (SW * CF) / M;
    localparam [31:0]  CSTEP_R = (SW * CF) % M;

    // a + b modulo BDEPTH, for a < BDEPTH and b < BDEPTH (b as a 32-bit constant)
    /* verilator lint_off WIDTHTRUNC */
    /* verilator lint_off UNUSEDSIGNAL */
    function automatic [AB-1:0] f_addmod(input [AB-1:0] a, input [31:0] b);
        reg [AB1:0] s;
        begin
            s = {2'b0, a} + b[AB1:0];
            f_addmod = (s >= BDEPTH32[AB1:0]) ? s - BDEPTH32[AB1:0] : s;
        end
    endfunction
    // a - b modulo BDEPTH
    function automatic [AB-1:0] f_submod(input [AB-1:0] a, input [31:0] b);
        reg [AB1:0] s;
        begin
            s = {2'b0, a} + BDEPTH32[AB1:0] - b[AB1:0];
            f_submod = (s >= BDEPTH32[AB1:0]) ? s - BDEPTH32[AB1:0] : s;
        end
    endfunction
    /* verilator lint_on UNUSEDSIGNAL */
    /* verilator lint_on WIDTHTRUNC */

    // -------------------------------------------------------------- writer
    reg  [CB-1:0] wc_q;     // word within the row being written
    reg  [MB-1:0] wb_q;     // its bank
    reg  [AB-1:0] wi_q;     // its address in the bank
    reg  [AB-1:0] wrow_q;   // the bank address where the row being written starts
    reg  [GB-1:0] wr_q;     // complete rows written (the row being written is wr_q)
    wire [GB-1:0] low;      // the lowest row the reader still needs
    wire [GB-1:0] ahead = wr_q - low;
    wire          room  = $signed(ahead) < $signed(ROWS32[GB-1:0]);
    assign in0_V_TREADY = room;
    wire          wr_en = in0_V_TVALID && room;
    wire [AB-1:0] wrow_next = f_addmod(wrow_q, BPITCH32);
    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            wc_q <= {CB{1'b0}};
            wb_q <= {MB{1'b0}};
            wi_q <= {AB{1'b0}};
            wrow_q <= {AB{1'b0}};
            wr_q <= {GB{1'b0}};
        end else if (wr_en) begin
            if (wc_q == ROWW_LAST[CB-1:0]) begin    // the row is complete
                wc_q <= {CB{1'b0}};
                wb_q <= {MB{1'b0}};
                wi_q <= wrow_next;
                wrow_q <= wrow_next;
                wr_q <= wr_q + 1'b1;
            end else begin
                wc_q <= wc_q + 1'b1;
                if (wb_q == M_LAST[MB-1:0]) begin
                    wb_q <= {MB{1'b0}};
                    wi_q <= wi_q + 1'b1;
                end else begin
                    wb_q <= wb_q + 1'b1;
                end
            end
        end
    end

    // -------------------------------------------------------------- reader
    reg            ov_q, sv_q;         // output buffer: register, spare
    wire           en = !sv_q;
    reg  [GB-1:0]  frame_q;            // global row of the current frame's row 0
    reg  [OYB-1:0] oy_q;
    reg  [OXB-1:0] ox_q;
    reg  [KYB-1:0] ky_q;
    reg  [JB-1:0]  j_q;                // output word within the window row
    reg  signed [YB-1:0] top_q;        // oy*SH - PT: the window's first row
    reg  signed [YB-1:0] ry_q;         // top + ky: the row being read
    reg  signed [XB-1:0] cb_q;         // ox*SW*CF - PL*CF: the window's first column
    reg  signed [XB-1:0] col_q;        // cb + j*M: the first column (word) being read
    reg  signed [XB-1:0] qb_q, q_q;    // the same as bank words: col = q*M + r
    reg  [MB-1:0]  rb_q, r_q;
    reg  [AB-1:0]  frow_q;             // bank address of the frame's row 0
    reg  [AB-1:0]  trow_q;             // bank address of row top (modulo the ring)
    reg  [AB-1:0]  rrow_q;             // bank address of row ry

    // rows this output row needs, clamped to the image
    wire signed [YB-1:0] last_row = top_q + $signed(KH_LAST[YB-1:0]);
    wire [YB-1:0] need_rel = ($signed(last_row) > $signed(IH_LAST[YB-1:0])) ?
                             IH_LAST[YB-1:0] : last_row;
    wire [YB-1:0] low_rel  = (top_q < 0) ? {YB{1'b0}} : top_q;
    /* verilator lint_off WIDTHEXPAND */
    /* verilator lint_off WIDTHTRUNC */
    wire [GB-1:0] need = frame_q + need_rel;
    assign low = frame_q + low_rel;
    /* verilator lint_on WIDTHTRUNC */
    /* verilator lint_on WIDTHEXPAND */
    wire          avail = $signed(wr_q - need) > 0;   // rows up to `need` are complete
    wire          fire0 = en && avail;

    wire row_in = (ry_q >= 0) && (ry_q < $signed(IH32[YB-1:0]));
    wire j_last  = (j_q == JW_LAST[JB-1:0]);
    wire ky_last = (ky_q == KH_LAST[KYB-1:0]);
    wire ox_last = (ox_q == OW_LAST[OXB-1:0]);
    wire oy_last = (oy_q == OH_LAST[OYB-1:0]);
    wire signed [YB-1:0] top_next = top_q + $signed(SH32[YB-1:0]);
    wire [AB-1:0] trow_next = f_addmod(trow_q, STEP_ROW);
    wire [AB-1:0] frow_next = f_addmod(frow_q, STEP_FRAME);
    // the next window's first column, as bank word and bank
    /* verilator lint_off WIDTHEXPAND */
    wire [MB:0]   rb_sum  = rb_q + CSTEP_R[MB:0];
    wire          rb_carry = rb_sum >= M32[MB:0];
    /* verilator lint_on WIDTHEXPAND */
    /* verilator lint_off UNUSEDSIGNAL */
    wire [MB:0]   rb_wrap = rb_carry ? rb_sum - M32[MB:0] : rb_sum;   // < M: top bit 0
    /* verilator lint_on UNUSEDSIGNAL */
    wire [MB-1:0] rb_next = rb_wrap[MB-1:0];
    wire signed [XB-1:0] qb_next = qb_q + $signed(CSTEP_Q[XB-1:0])
                                   + $signed({{(XB - 1){1'b0}}, rb_carry});
    wire signed [XB-1:0] cb_next = cb_q + $signed(CSTEP[XB-1:0]);

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            frame_q <= {GB{1'b0}};
            oy_q <= {OYB{1'b0}};
            ox_q <= {OXB{1'b0}};
            ky_q <= {KYB{1'b0}};
            j_q  <= {JB{1'b0}};
            top_q <= -$signed(PT32[YB-1:0]);
            ry_q  <= -$signed(PT32[YB-1:0]);
            cb_q  <= -$signed(COL0_32[XB-1:0]);
            col_q <= -$signed(COL0_32[XB-1:0]);
            qb_q  <= -$signed(Q0N32[XB-1:0]);
            q_q   <= -$signed(Q0N32[XB-1:0]);
            rb_q  <= R0[MB-1:0];
            r_q   <= R0[MB-1:0];
            frow_q <= {AB{1'b0}};
            trow_q <= f_submod({AB{1'b0}}, PAD_ROWS);
            rrow_q <= f_submod({AB{1'b0}}, PAD_ROWS);
        end else if (fire0) begin
            if (!j_last) begin
                j_q   <= j_q + 1'b1;
                col_q <= col_q + $signed(M32[XB-1:0]);
                q_q   <= q_q + 1'b1;
            end else begin
                j_q <= {JB{1'b0}};
                if (!ky_last) begin                    // next row of the window
                    ky_q   <= ky_q + 1'b1;
                    ry_q   <= ry_q + 1'b1;
                    rrow_q <= f_addmod(rrow_q, BPITCH32);
                    col_q  <= cb_q;
                    q_q    <= qb_q;
                    r_q    <= rb_q;
                end else begin
                    ky_q <= {KYB{1'b0}};
                    if (!ox_last) begin                // next window of the row
                        ox_q   <= ox_q + 1'b1;
                        cb_q   <= cb_next;
                        col_q  <= cb_next;
                        qb_q   <= qb_next;
                        q_q    <= qb_next;
                        rb_q   <= rb_next;
                        r_q    <= rb_next;
                        ry_q   <= top_q;
                        rrow_q <= trow_q;
                    end else begin
                        ox_q  <= {OXB{1'b0}};
                        cb_q  <= -$signed(COL0_32[XB-1:0]);
                        col_q <= -$signed(COL0_32[XB-1:0]);
                        qb_q  <= -$signed(Q0N32[XB-1:0]);
                        q_q   <= -$signed(Q0N32[XB-1:0]);
                        rb_q  <= R0[MB-1:0];
                        r_q   <= R0[MB-1:0];
                        if (!oy_last) begin            // next output row
                            oy_q   <= oy_q + 1'b1;
                            top_q  <= top_next;
                            ry_q   <= top_next;
                            trow_q <= trow_next;
                            rrow_q <= trow_next;
                        end else begin                 // next frame
                            oy_q    <= {OYB{1'b0}};
                            /* verilator lint_off WIDTHTRUNC */
                            frame_q <= frame_q + IH32[GB-1:0];
                            /* verilator lint_on WIDTHTRUNC */
                            frow_q  <= frow_next;
                            top_q   <= -$signed(PT32[YB-1:0]);
                            ry_q    <= -$signed(PT32[YB-1:0]);
                            trow_q  <= f_submod(frow_next, PAD_ROWS);
                            rrow_q  <= f_submod(frow_next, PAD_ROWS);
                        end
                    end
                end
            end
        end
    end

    // -------------------------------------------------------------- ring banks
    // Word i of the output word is column col + i, in bank (r + i) mod M; bank b holds
    // the word at bank address row + q (+1 where b < r).
    wire [WW-1:0] bq [0:M-1];
    genvar b;
    generate for (b = 0; b < M; b = b + 1) begin : g_bank
        // (only used for words inside the image, where it lies in [0, BDEPTH))
        /* verilator lint_off UNUSEDSIGNAL */
        wire [31:0] ra32 = {{(32 - AB){1'b0}}, rrow_q} + {{(32 - XB){q_q[XB-1]}}, q_q}
                           + ((b < r_q) ? 32'd1 : 32'd0);
        /* verilator lint_on UNUSEDSIGNAL */
        wire [AB-1:0] ra = ra32[AB-1:0];
        dfx_swg_ram #(.W(WW), .D(BDEPTH), .AW(AB), .STYLE(RAM_STYLE)) u_ram (
            .clk(ap_clk), .we(wr_en && (wb_q == b)), .wa(wi_q), .wd(in0_V_TDATA),
            .re(fire0), .ra(ra), .q(bq[b]));
    end endgenerate

    // -------------------------------------------- stage 1: memory read, padding
    reg          v1_q;
    reg [M-1:0]  pad1_q;
    reg [MB-1:0] r1_q;
    genvar i;
    generate for (i = 0; i < M; i = i + 1) begin : g_pad
        localparam [31:0] I32 = i;
        wire signed [XB-1:0] col_i = col_q + $signed(I32[XB-1:0]);
        wire in_image = row_in && (col_i >= 0) && (col_i < $signed(ROWW32[XB-1:0]));
        always @(posedge ap_clk) if (fire0) pad1_q[i] <= !in_image;
    end endgenerate
    always @(posedge ap_clk) begin
        if (!ap_rst_n) v1_q <= 1'b0;
        else if (en) v1_q <= fire0;
        if (fire0) r1_q <= r_q;
    end
    // the pad word: PAD_VALUE in every element
    function automatic [WW-1:0] f_pad_word(input integer unused);
        integer s;
        begin
            f_pad_word = {WW{1'b0}};
            for (s = 0; s < SIMD; s = s + 1)
                f_pad_word[s*EBITS +: EBITS] = PADV32[EBITS-1:0];
        end
    endfunction
    /* verilator lint_off UNUSEDSIGNAL */
    localparam [WW-1:0] PAD_WORD = f_pad_word(0);
    /* verilator lint_on UNUSEDSIGNAL */
    // rotate the banks' words into column order
    reg [OWW-1:0] d1;
    integer k;
    reg [MB:0] src;
    always @(*) begin
        for (k = 0; k < M; k = k + 1) begin
            /* verilator lint_off WIDTHEXPAND */
            /* verilator lint_off WIDTHTRUNC */
            src = r1_q + k;
            if (src >= M32[MB:0]) src = src - M32[MB:0];
            /* verilator lint_on WIDTHTRUNC */
            /* verilator lint_on WIDTHEXPAND */
            d1[k*WW +: WW] = pad1_q[k] ? PAD_WORD : bq[src[MB-1:0]];
        end
    end

    // ------------------------------------------ 2-entry output buffer
    reg [OWW-1:0] od_q, sd_q;
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
                    od_q <= d1;
                    ov_q <= push;
                end
            end else if (push) begin
                sd_q <= d1;
                sv_q <= 1'b1;
            end
        end
    end
    assign out_V_TDATA  = od_q;
    assign out_V_TVALID = ov_q;
endmodule

/* verilator lint_off DECLFILENAME */
// Simple dual-port memory: one write port, one registered read port (enable re).
// STYLE: "block" -> ram_style "block"; "distributed" -> "distributed" (LUT RAM);
// anything else: no attribute (the tool decides).
module dfx_swg_ram #(
    parameter integer W     = 8,
    parameter integer D     = 16,
    parameter integer AW    = 4,
    parameter         STYLE = "auto"
) (
    input  wire          clk,
    input  wire          we,
    input  wire [AW-1:0] wa,
    input  wire [W-1:0]  wd,
    input  wire          re,
    input  wire [AW-1:0] ra,
    output reg  [W-1:0]  q
);
    /* verilator lint_off WIDTHEXPAND */
    localparam integer S_BLOCK = (STYLE == "block") ? 1 : 0;
    localparam integer S_DIST  = (STYLE == "distributed") ? 1 : 0;
    /* verilator lint_on WIDTHEXPAND */
    generate if (S_BLOCK != 0) begin : g_block
        (* ram_style = "block" *) reg [W-1:0] mem [0:D-1];
        always @(posedge clk) begin
            if (we) mem[wa] <= wd;
            if (re) q <= mem[ra];
        end
    end else if (S_DIST != 0) begin : g_dist
        (* ram_style = "distributed" *) reg [W-1:0] mem [0:D-1];
        always @(posedge clk) begin
            if (we) mem[wa] <= wd;
            if (re) q <= mem[ra];
        end
    end else begin : g_auto
        reg [W-1:0] mem [0:D-1];
        always @(posedge clk) begin
            if (we) mem[wa] <= wd;
            if (re) q <= mem[ra];
        end
    end endgenerate
endmodule
/* verilator lint_on DECLFILENAME */
