// dfx rtlsim test bench for the stitched accelerator `dfx_top` (Verilator).
//
// Streams frames from a binary file into s_axis_0 (packing: see dfx/packing.py),
// collects m_axis_0 into another file, optionally holds m_axis_0_tready low at
// random (backpressure), records per-frame cycle counts and the peak occupancy
// of every FIFO, and stops with a report when no stream moves for `watchdog`
// cycles. CAPACITIES (comma-separated, one per FIFO instance of dfx_top, in order)
// sets each FIFO's capacity at run time (dbg_fifo_capacity; 0 or none: the FIFO's
// DEPTH). The constants below are filled in by dfx for each design.
//
// usage: Vdfx_top IN.bin OUT.bin STATS.json FRAMES BACKPRESSURE SEED WATCHDOG MAX_CYCLES
//        [CAPACITIES]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "Vdfx_top.h"
#include "verilated.h"

static const int IN_BYTES = @IN_BYTES@;            // bytes per input word
static const int OUT_BYTES = @OUT_BYTES@;          // bytes per output word
static const long IN_WORDS_PER_FRAME = @IN_WORDS@;
static const long OUT_WORDS_PER_FRAME = @OUT_WORDS@;
static const int N_FIFOS = @N_FIFOS@;              // FIFOs (a split FIFO counts once)
static const int N_FIFO_STAGES = @N_FIFO_STAGES@;  // FIFO instances (its parts count);
                                                   // 0: the top takes no capacities
static const int N_STREAMS = @N_STREAMS@;

// -- port access for any Verilator port type (CData .. QData, VlWide) ----------
template <typename T>
static void put_bytes(T& port, const uint8_t* b, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n && i < 8; ++i) v |= static_cast<uint64_t>(b[i]) << (8 * i);
    port = static_cast<T>(v);
}
template <std::size_t W>
static void put_bytes(VlWide<W>& port, const uint8_t* b, int n) {
    for (std::size_t w = 0; w < W; ++w) {
        uint32_t v = 0;
        for (int k = 0; k < 4; ++k) {
            const int i = static_cast<int>(4 * w) + k;
            if (i < n) v |= static_cast<uint32_t>(b[i]) << (8 * k);
        }
        port[w] = v;
    }
}
template <typename T>
static void get_bytes(const T& port, uint8_t* b, int n) {
    const uint64_t v = static_cast<uint64_t>(port);
    for (int i = 0; i < n; ++i) b[i] = i < 8 ? static_cast<uint8_t>(v >> (8 * i)) : 0;
}
template <std::size_t W>
static void get_bytes(const VlWide<W>& port, uint8_t* b, int n) {
    for (int i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(port[i / 4] >> (8 * (i % 4)));
}
template <typename T>
static uint32_t word32(const T& port, int i) {
    return static_cast<uint32_t>(static_cast<uint64_t>(port) >> (32 * i));
}
template <std::size_t W>
static uint32_t word32(const VlWide<W>& port, int i) { return port[i]; }
template <typename T>
static void set_word32(T& port, int i, uint32_t value) {
    uint64_t v = static_cast<uint64_t>(port);
    v &= ~(static_cast<uint64_t>(0xffffffffu) << (32 * i));
    v |= static_cast<uint64_t>(value) << (32 * i);
    port = static_cast<T>(v);
}
template <std::size_t W>
static void set_word32(VlWide<W>& port, int i, uint32_t value) { port[i] = value; }
template <typename T>
static int bit(const T& port, int i) { return static_cast<int>((static_cast<uint64_t>(port) >> i) & 1); }
template <std::size_t W>
static int bit(const VlWide<W>& port, int i) { return static_cast<int>((port[i / 32] >> (i % 32)) & 1); }

static uint64_t rng_state = 1;
static double uniform() {  // xorshift64*: reproducible, fast
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return static_cast<double>((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

int main(int argc, char** argv) {
    if (argc < 9) {
        std::fprintf(stderr, "usage: %s IN OUT STATS FRAMES BACKPRESSURE SEED WATCHDOG MAX_CYCLES\n", argv[0]);
        return 2;
    }
    const long frames = std::atol(argv[4]);
    const double backpressure = std::atof(argv[5]);
    rng_state = static_cast<uint64_t>(std::atoll(argv[6])) * 0x9E3779B97F4A7C15ULL + 1;
    const long watchdog = std::atol(argv[7]);
    const long max_cycles = std::atol(argv[8]);
    std::vector<uint32_t> capacity(N_FIFO_STAGES > 0 ? N_FIFO_STAGES : 1, 0);
    if (argc > 9) {
        const char* p = argv[9];
        for (int i = 0; i < N_FIFO_STAGES && *p; ++i) {
            char* end = nullptr;
            capacity[i] = static_cast<uint32_t>(std::strtoul(p, &end, 10));
            p = (*end == ',') ? end + 1 : end;
        }
    }

    std::vector<uint8_t> input(static_cast<size_t>(frames * IN_WORDS_PER_FRAME * IN_BYTES));
    FILE* fin = std::fopen(argv[1], "rb");
    if (!fin || std::fread(input.data(), 1, input.size(), fin) != input.size()) {
        std::fprintf(stderr, "cannot read %zu bytes of input from %s\n", input.size(), argv[1]);
        return 2;
    }
    std::fclose(fin);
    std::vector<uint8_t> output(static_cast<size_t>(frames * OUT_WORDS_PER_FRAME * OUT_BYTES));

    auto context = std::make_unique<VerilatedContext>();
    auto top = std::make_unique<Vdfx_top>(context.get());
    top->ap_clk = 0;
    top->ap_rst_n = 0;
    top->s_axis_0_tvalid = 0;
    top->m_axis_0_tready = 0;
#if @N_FIFO_STAGES@ > 0
    for (int i = 0; i < N_FIFO_STAGES; ++i) set_word32(top->dbg_fifo_capacity, i, capacity[i]);
#endif
    for (int i = 0; i < 8; ++i) { top->ap_clk = !top->ap_clk; top->eval(); }
    top->ap_rst_n = 1;

    const long in_total = frames * IN_WORDS_PER_FRAME, out_total = frames * OUT_WORDS_PER_FRAME;
    long in_words = 0, out_words = 0, cycle = 0, idle = 0;
    std::vector<long> first_in(frames, -1), last_out(frames, -1);
    std::vector<uint32_t> peak(N_FIFOS > 0 ? N_FIFOS : 1, 0);
    const char* status = "ok";
    while (out_words < out_total) {
        top->ap_clk = 0;
        const bool offer = in_words < in_total;
        top->s_axis_0_tvalid = offer;
        if (offer) put_bytes(top->s_axis_0_tdata, &input[in_words * IN_BYTES], IN_BYTES);
        top->m_axis_0_tready = backpressure <= 0.0 || uniform() >= backpressure;
        top->eval();
        const bool in_fire = offer && top->s_axis_0_tready;
        const bool out_fire = top->m_axis_0_tvalid && top->m_axis_0_tready;
        if (in_fire) {
            const long f = in_words / IN_WORDS_PER_FRAME;
            if (first_in[f] < 0) first_in[f] = cycle;
            ++in_words;
        }
        if (out_fire) {
            get_bytes(top->m_axis_0_tdata, &output[out_words * OUT_BYTES], OUT_BYTES);
            ++out_words;
            if (out_words % OUT_WORDS_PER_FRAME == 0) last_out[out_words / OUT_WORDS_PER_FRAME - 1] = cycle;
        }
#if @N_FIFOS@ > 0
        for (int i = 0; i < N_FIFOS; ++i) {
            const uint32_t occ = word32(top->dbg_fifo_occupancy, i);
            if (occ > peak[i]) peak[i] = occ;
        }
#endif
        bool moved = in_fire || out_fire;
#if @N_FIFOS@ > 0
        for (int k = 0; k < N_STREAMS && !moved; ++k)
            moved = bit(top->dbg_valid, k) && bit(top->dbg_ready, k);
#endif
        idle = moved ? 0 : idle + 1;
        top->ap_clk = 1;
        top->eval();
        ++cycle;
        if (idle >= watchdog) { status = "deadlock"; break; }
        if (cycle >= max_cycles) { status = "timeout"; break; }
    }

    FILE* fout = std::fopen(argv[2], "wb");
    if (!fout) { std::fprintf(stderr, "cannot write %s\n", argv[2]); return 2; }
    std::fwrite(output.data(), 1, static_cast<size_t>(out_words * OUT_BYTES), fout);
    std::fclose(fout);

    FILE* fs = std::fopen(argv[3], "w");
    if (!fs) { std::fprintf(stderr, "cannot write %s\n", argv[3]); return 2; }
    std::fprintf(fs, "{\"status\": \"%s\", \"cycles\": %ld, \"frames\": %ld, ", status, cycle, frames);
    std::fprintf(fs, "\"input_words\": %ld, \"output_words\": %ld, ", in_words, out_words);
    std::fprintf(fs, "\"first_in\": [");
    for (long f = 0; f < frames; ++f) std::fprintf(fs, "%s%ld", f ? ", " : "", first_in[f]);
    std::fprintf(fs, "], \"last_out\": [");
    for (long f = 0; f < frames; ++f) std::fprintf(fs, "%s%ld", f ? ", " : "", last_out[f]);
    std::fprintf(fs, "], \"fifo_peak\": [");
    for (int i = 0; i < N_FIFOS; ++i) std::fprintf(fs, "%s%u", i ? ", " : "", peak[i]);
    std::fprintf(fs, "], \"stalled\": [");
    bool first = true;
#if @N_FIFOS@ > 0
    if (std::strcmp(status, "ok") != 0) {
        for (int k = 0; k < N_STREAMS; ++k) {
            const int v = bit(top->dbg_valid, k), r = bit(top->dbg_ready, k);
            if (v && !r) { std::fprintf(fs, "%s%d", first ? "" : ", ", k); first = false; }
        }
    }
#endif
    std::fprintf(fs, "]}\n");
    std::fclose(fs);
    top->final();
    return std::strcmp(status, "ok") == 0 ? 0 : 3;
}
