// dfx_dwc: StreamingDataWidthConverter for any ratio IN_ELEMS : OUT_ELEMS.
//
// Parameters
//   IN_ELEMS     elements per input word  (in0_V_TDATA is IN_ELEMS*EBITS bits)
//   OUT_ELEMS    elements per output word (out_V_TDATA is OUT_ELEMS*EBITS bits)
//   EBITS        bits per element
//   TOTAL_ELEMS  elements per frame; must be a multiple of both IN_ELEMS and
//                OUT_ELEMS, so frame boundaries coincide with word boundaries on both
//                sides and the converter runs as one continuous element stream (the
//                value is not needed by the logic).
//
// Element order is preserved: element 0 of input word 0 is element 0 of output
// word 0 (element i of a word sits in bits [i*EBITS +: EBITS]).
//
// The slower side runs at one word per cycle. in0_V_TREADY and out_V_TVALID are
// functions of registers only (no combinational path between the two sides).
// Implementations, chosen at elaboration:
//   IN = K*OUT (K > 1)  downsizer: the input word is held, its K slices go out one
//                       per cycle through an output register; the next input word
//                       is taken while its first slice goes straight out.
//   OUT = K*IN (K > 1)  upsizer: K-1 input words are collected in slot registers
//                       (clock-enabled, no muxes); the K-th one completes the
//                       output register.
//   otherwise           gearbox: a shift buffer of C units of G = gcd(IN, OUT)
//                       elements, IU = IN/G units in and OU = OUT/G units out per
//                       word, C = IU + OU + min(IU, OU) - 1 (the smallest size for
//                       full throughput with registered ready/valid). Also used for
//                       IN == OUT (then a 2-word buffer).
module dfx_dwc #(
    parameter integer IN_ELEMS    = 6,
    parameter integer OUT_ELEMS   = 16,
    parameter integer EBITS       = 4,
    // accepted for the generator's convenience, see above
    /* verilator lint_off UNUSEDPARAM */
    parameter integer TOTAL_ELEMS = 48
    /* verilator lint_on UNUSEDPARAM */
) (
    input  wire                       ap_clk,
    input  wire                       ap_rst_n,
    input  wire [IN_ELEMS*EBITS-1:0]  in0_V_TDATA,
    input  wire                       in0_V_TVALID,
    output wire                       in0_V_TREADY,
    output wire [OUT_ELEMS*EBITS-1:0] out_V_TDATA,
    output wire                       out_V_TVALID,
    input  wire                       out_V_TREADY
);
    function integer f_gcd(input integer a, input integer b);
        integer x, y, t, i;
        begin
            x = a;
            y = b;
            for (i = 0; i < 64; i = i + 1) begin
                if (y != 0) begin
                    t = x % y;
                    x = y;
                    y = t;
                end
            end
            f_gcd = x;
        end
    endfunction

    localparam integer IB = IN_ELEMS * EBITS;
    localparam integer OB = OUT_ELEMS * EBITS;

    generate if (IN_ELEMS > OUT_ELEMS && IN_ELEMS % OUT_ELEMS == 0) begin : g_down
        // ------------------------------------------------------------ downsizer
        localparam integer K  = IN_ELEMS / OUT_ELEMS;
        localparam integer RW = $clog2(K + 1);
        localparam [31:0]   K32  = K;
        localparam [31:0]   K1_32 = K - 1;
        localparam [RW-1:0] KR   = K32[RW-1:0];
        localparam [RW-1:0] K1R  = K1_32[RW-1:0];
        reg  [IB-1:0] h_q;                 // held input word
        reg  [RW-1:0] rem_q;               // slices of h_q still to send
        reg  [OB-1:0] od_q;
        reg           ov_q;
        wire [RW-1:0] idx  = KR - rem_q;   // next slice of h_q
        wire          adv  = !ov_q || out_V_TREADY;
        wire          take = in0_V_TVALID && (rem_q == {RW{1'b0}});
        assign in0_V_TREADY = (rem_q == {RW{1'b0}});
        assign out_V_TVALID = ov_q;
        assign out_V_TDATA  = od_q;
        always @(posedge ap_clk) begin
            if (!ap_rst_n) begin
                rem_q <= {RW{1'b0}};
                ov_q  <= 1'b0;
            end else if (adv) begin
                if (rem_q != {RW{1'b0}}) begin
                    od_q  <= h_q[idx*OB +: OB];
                    ov_q  <= 1'b1;
                    rem_q <= rem_q - 1'b1;
                end else if (take) begin
                    od_q  <= in0_V_TDATA[OB-1:0];
                    ov_q  <= 1'b1;
                    h_q   <= in0_V_TDATA;
                    rem_q <= K1R;
                end else begin
                    ov_q  <= 1'b0;
                end
            end else if (take) begin
                h_q   <= in0_V_TDATA;
                rem_q <= KR;
            end
        end
    end else if (OUT_ELEMS > IN_ELEMS && OUT_ELEMS % IN_ELEMS == 0) begin : g_up
        // -------------------------------------------------------------- upsizer
        localparam integer K  = OUT_ELEMS / IN_ELEMS;
        localparam integer SW = (K > 1) ? $clog2(K) : 1;
        localparam [31:0]   K1_32 = K - 1;
        localparam [SW-1:0] LAST  = K1_32[SW-1:0];
        reg  [(K-1)*IB-1:0] acc_q;         // slots 0 .. K-2
        reg  [SW-1:0]       slot_q;
        reg  [OB-1:0]       od_q;
        reg                 ov_q;
        wire last = (slot_q == LAST);
        assign in0_V_TREADY = !(last && ov_q);
        assign out_V_TVALID = ov_q;
        assign out_V_TDATA  = od_q;
        wire push = in0_V_TVALID && in0_V_TREADY;
        wire pop  = ov_q && out_V_TREADY;
        genvar s;
        for (s = 0; s < K - 1; s = s + 1) begin : g_slot
            localparam [31:0] S32 = s;
            always @(posedge ap_clk) begin
                if (push && slot_q == S32[SW-1:0]) acc_q[s*IB +: IB] <= in0_V_TDATA;
            end
        end
        always @(posedge ap_clk) begin
            if (push && last) od_q <= {in0_V_TDATA, acc_q};
        end
        always @(posedge ap_clk) begin
            if (!ap_rst_n) begin
                slot_q <= {SW{1'b0}};
                ov_q   <= 1'b0;
            end else begin
                if (push) slot_q <= last ? {SW{1'b0}} : slot_q + 1'b1;
                if (push && last) ov_q <= 1'b1;
                else if (pop)     ov_q <= 1'b0;
            end
        end
    end else begin : g_gear
        // -------------------------------------------------------------- gearbox
        localparam integer G    = f_gcd(IN_ELEMS, OUT_ELEMS);
        localparam integer UB   = G * EBITS;                 // bits per unit
        localparam integer IU   = IN_ELEMS / G;
        localparam integer OU   = OUT_ELEMS / G;
        localparam integer C    = IU + OU + ((IU < OU) ? IU : OU) - 1;
        localparam integer CNTW = $clog2(C + 1);
        localparam [31:0]     IU32   = IU;
        localparam [31:0]     OU32   = OU;
        localparam [31:0]     ROOM32 = C - IU;
        localparam [CNTW-1:0] IU_C   = IU32[CNTW-1:0];
        localparam [CNTW-1:0] OU_C   = OU32[CNTW-1:0];
        localparam [CNTW-1:0] ROOM   = ROOM32[CNTW-1:0];

        reg  [C*UB-1:0] buf_q;
        reg  [CNTW-1:0] cnt_q;                               // units held

        assign in0_V_TREADY = (cnt_q <= ROOM);
        assign out_V_TVALID = (cnt_q >= OU_C);
        assign out_V_TDATA  = buf_q[OU*UB-1:0];

        wire push = in0_V_TVALID && in0_V_TREADY;
        wire pop  = out_V_TVALID && out_V_TREADY;

        // units that remain after this cycle's pop; the new word is written behind
        wire [CNTW-1:0] base    = pop ? (cnt_q - OU_C) : cnt_q;
        wire [31:0]     base32  = {{(32-CNTW){1'b0}}, base};
        wire [C*UB-1:0] kept    = pop ? (buf_q >> (OU*UB)) : buf_q;
        wire [C*UB-1:0] in_ext  = {{((C-IU)*UB){1'b0}}, in0_V_TDATA};
        wire [C*UB-1:0] in_sh   = in_ext << (base32 * UB);
        wire [C-1:0]    in_mask = {{(C-IU){1'b0}}, {IU{1'b1}}} << base;

        reg [C*UB-1:0] buf_d;
        integer u;
        always @* begin
            for (u = 0; u < C; u = u + 1) begin
                buf_d[u*UB +: UB] = (push && in_mask[u]) ? in_sh[u*UB +: UB]
                                                         : kept[u*UB +: UB];
            end
        end

        always @(posedge ap_clk) begin
            buf_q <= buf_d;
        end

        always @(posedge ap_clk) begin
            if (!ap_rst_n) cnt_q <= {CNTW{1'b0}};
            else           cnt_q <= push ? (base + IU_C) : base;
        end
    end endgenerate
endmodule
