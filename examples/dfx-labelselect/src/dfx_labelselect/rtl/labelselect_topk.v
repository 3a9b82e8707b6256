// labelselect_topk: the indices of the K largest of LABELS values, one vector at a time.
//
// Input: a vector of LABELS values arrives as NF = LABELS/PE words of PE values (word j
// holds values j*PE .. j*PE+PE-1, value p in bits [p*IBITS +: IBITS], two's complement
// if I_SIGNED, else unsigned; a BIPOLAR value is its 1-bit code, 1 = +1, so it compares
// as unsigned). Output: one word per vector with the K indices, the largest value's
// index in bits [0 +: OBITS], the next one's in [OBITS +: OBITS], and so on.
//
// Ties: equal values keep their index order, so the lower index comes first, as ONNX's
// ArgMax (select_last_index = 0) and TopK resolve them. TIES_TO_LAST = 1 (K = 1 only)
// picks the last of equal maxima instead, as ArgMax with select_last_index = 1.
//
// The running top-K list (sorted, best first) is updated by inserting the PE values of
// a word one after the other, in index order, in one cycle (PE x K comparators). The
// last word of a vector writes the final list's indices to the output register; only
// that word waits for the output register to be free, so one word is taken per cycle
// and a vector takes NF cycles.
`default_nettype none
module labelselect_topk #(
    parameter integer LABELS       = 10,
    parameter integer PE           = 1,
    parameter integer K            = 1,
    parameter integer IBITS        = 8,
    parameter integer I_SIGNED     = 1,
    parameter integer OBITS        = 4,
    parameter integer TIES_TO_LAST = 0
) (
    input  wire                ap_clk,
    input  wire                ap_rst_n,
    input  wire [PE*IBITS-1:0] in0_V_TDATA,
    input  wire                in0_V_TVALID,
    output wire                in0_V_TREADY,
    output wire [K*OBITS-1:0]  out_V_TDATA,
    output wire                out_V_TVALID,
    input  wire                out_V_TREADY
);
    localparam integer NF  = LABELS / PE;
    localparam integer NFB = (NF > 1) ? $clog2(NF) : 1;
    localparam [31:0]    NF_LAST32 = NF - 1;
    localparam [NFB-1:0] NF_LAST   = NF_LAST32[NFB-1:0];
    localparam [31:0]    PE32      = PE;
    // Signed values compare as unsigned once their sign bit is flipped (offset binary).
    localparam [IBITS-1:0] ONE  = 1;
    localparam [IBITS-1:0] FLIP = (I_SIGNED != 0) ? (ONE << (IBITS - 1)) : {IBITS{1'b0}};

    // The list after inserting lanes 0 .. p-1 of this word: stage p.
    wire [K*IBITS-1:0] key_s [0:PE];
    wire [K*OBITS-1:0] idx_s [0:PE];
    wire [K-1:0]       vld_s [0:PE];

    reg  [NFB-1:0]     nf_q;
    reg  [OBITS-1:0]   base_q;   // index of lane 0 of the current word
    reg  [K*OBITS-1:0] out_q;
    reg                out_v_q;

    wire last = (nf_q == NF_LAST);
    assign in0_V_TREADY = !last || !out_v_q || out_V_TREADY;
    wire fire = in0_V_TVALID && in0_V_TREADY;

    genvar p, s;
    generate
        for (p = 0; p < PE; p = p + 1) begin : lane
            wire [IBITS-1:0] key = in0_V_TDATA[p*IBITS +: IBITS] ^ FLIP;
            localparam [31:0] P32 = p;
            wire [OBITS-1:0] idx = base_q + P32[OBITS-1:0];
            // beats[s]: the new value goes before slot s. Valid slots form a prefix
            // sorted best first, so beats is 0 .. 0 1 .. 1 and the first 1 is where
            // the value is inserted; the slots from there on move down by one.
            wire [K-1:0] beats;
            for (s = 0; s < K; s = s + 1) begin : slot
                wire [IBITS-1:0] old_key = key_s[p][s*IBITS +: IBITS];
                if (TIES_TO_LAST != 0) begin : last_wins
                    assign beats[s] = !vld_s[p][s] || key >= old_key;
                end else begin : first_wins
                    assign beats[s] = !vld_s[p][s] || key > old_key;
                end
                if (s == 0) begin : head
                    assign key_s[p+1][0 +: IBITS] = beats[0] ? key : old_key;
                    assign idx_s[p+1][0 +: OBITS] = beats[0] ? idx : idx_s[p][0 +: OBITS];
                    assign vld_s[p+1][0] = 1'b1;
                end else begin : rest
                    wire take_new  = beats[s] && !beats[s-1];
                    wire take_prev = beats[s-1];
                    assign key_s[p+1][s*IBITS +: IBITS] =
                        take_prev ? key_s[p][(s-1)*IBITS +: IBITS] :
                        take_new  ? key : old_key;
                    assign idx_s[p+1][s*OBITS +: OBITS] =
                        take_prev ? idx_s[p][(s-1)*OBITS +: OBITS] :
                        take_new  ? idx : idx_s[p][s*OBITS +: OBITS];
                    assign vld_s[p+1][s] = take_prev ? vld_s[p][s-1] : 1'b1;
                end
            end
        end

        if (NF > 1) begin : folded
            // The list so far, over the earlier words of this vector.
            reg [K*IBITS-1:0] key_q;
            reg [K*OBITS-1:0] idx_q;
            reg [K-1:0]       vld_q;
            assign key_s[0] = key_q;
            assign idx_s[0] = idx_q;
            assign vld_s[0] = vld_q;
            always @(posedge ap_clk) begin
                if (!ap_rst_n) begin
                    vld_q <= {K{1'b0}};
                end else if (fire) begin
                    vld_q <= last ? {K{1'b0}} : vld_s[PE];
                end
                if (fire) begin
                    key_q <= key_s[PE];
                    idx_q <= idx_s[PE];
                end
            end
        end else begin : whole
            // One word per vector: every list starts empty.
            assign key_s[0] = {K*IBITS{1'b0}};
            assign idx_s[0] = {K*OBITS{1'b0}};
            assign vld_s[0] = {K{1'b0}};
        end
    endgenerate

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            nf_q    <= {NFB{1'b0}};
            base_q  <= {OBITS{1'b0}};
            out_v_q <= 1'b0;
        end else begin
            if (out_v_q && out_V_TREADY) out_v_q <= 1'b0;
            if (fire) begin
                if (last) begin
                    nf_q    <= {NFB{1'b0}};
                    base_q  <= {OBITS{1'b0}};
                    out_v_q <= 1'b1;
                end else begin
                    nf_q   <= nf_q + 1'b1;
                    base_q <= base_q + PE32[OBITS-1:0];
                end
            end
        end
        if (fire && last) out_q <= idx_s[PE];
    end

    assign out_V_TDATA  = out_q;
    assign out_V_TVALID = out_v_q;
endmodule
`default_nettype wire
