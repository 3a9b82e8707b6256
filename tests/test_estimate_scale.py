"""The folding search's per-layer statistics give what the per-folding ROM layout gives."""

from __future__ import annotations

import numpy as np
import pytest

from dfx.plugins.layers.memory import (
    FoldedBitStates,
    _pieces,
    divisors,
    int_bits,
    nonconst_columns,
    rom_profile,
    word_pieces,
)


def _rom_bits(codes: np.ndarray, bits: int, simd: int, pe: int) -> np.ndarray:
    """The weight ROM of dfx_mvau laid out word by word (the old, direct computation)."""
    mw, mh = codes.shape
    sf, nf = mw // simd, mh // pe
    words = codes.reshape(sf, simd, nf, pe).transpose(2, 0, 3, 1).reshape(nf * sf, pe * simd)
    shifts = np.arange(bits, dtype=np.uint64)
    out = (words.astype(np.uint64)[..., None] >> shifts) & np.uint64(1)
    return out.reshape(nf * sf, pe * simd * bits).astype(np.uint8)


@pytest.mark.parametrize("mw,mh,bits,seed", [(12, 10, 2, 0), (24, 18, 4, 1), (16, 8, 1, 2),
                                              (30, 12, 3, 3)])
def test_nonconst_equals_direct_layout(mw, mh, bits, seed):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 1 << bits, (mw, mh))
    # constant stripes, so some classes are constant and the count is not just the width
    codes[::3, :] = 0
    codes[:, ::4] |= 1
    states = FoldedBitStates(codes, bits)
    for simd in divisors(mw):
        for pe in divisors(mh):
            direct = rom_profile(_rom_bits(codes, bits, simd, pe))
            assert states.nonconst(simd, pe) == direct.nonconst, (simd, pe)


def test_int_bits_matches_uint64_layout():
    rng = np.random.default_rng(5)
    for bits in (1, 3, 8, 11):
        codes = rng.integers(0, 1 << bits, (7, 5))
        shifts = np.arange(bits, dtype=np.uint64)
        want = ((codes.astype(np.uint64)[..., None] >> shifts) & np.uint64(1)).reshape(7, -1)
        assert np.array_equal(int_bits(codes, bits), want.astype(np.uint8))


@pytest.mark.parametrize("depth,slots,bits,seed", [(40, 6, 2, 0), (16, 3, 4, 1), (100, 9, 1, 2),
                                                   (7, 4, 3, 3), (257, 5, 9, 4), (64, 2, 4, 5)])
def test_word_pieces_equal_the_bit_layout(depth, slots, bits, seed):
    """The piece counts taken from the words are those of the ROM laid out bit by bit,
    for depths that do and do not fill the last range, with constant and repeated parts."""
    rng = np.random.default_rng(seed)
    # few distinct values, so pieces repeat within and across ranges
    codes = rng.integers(0, 1 << bits, (depth, slots)) & rng.choice([0, 1, (1 << bits) - 1],
                                                                    (depth, slots))
    codes[:, 0] = (1 << bits) - 1  # a constant slot: only constant columns
    codes[depth // 2:, -1] = codes[: depth - depth // 2, -1]  # a repeated half
    laid_out = int_bits(codes, bits)
    for size in (16, 64):
        want = _pieces(laid_out[:, nonconst_columns(laid_out)], size)
        assert word_pieces(codes, bits, size) == want, size


def test_distinct_columns_of_shallow_rom():
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2, (40, 6)).astype(np.uint8)
    bits = np.concatenate([base, base[:, :3], np.zeros((40, 2), np.uint8)], axis=1)
    profile = rom_profile(bits)
    assert profile.nonconst == int(nonconst_columns(bits).sum()) == 9
    assert profile.distinct == len({tuple(c) for c in base.T})


def _run(tmp_path, *flags):
    from conftest import MODELS_DIR, read_json, run_dfx

    out = tmp_path / "out"
    result = run_dfx("run", "--plugins", "default", MODELS_DIR / "tfc-w1a1" / "model.onnx",
                     "-o", out, "--synth-clk-period-ns", "10", *flags)
    assert result.returncode == 0, result.stderr
    return read_json(out / "report" / "folding_summary.json"), result, out


def test_search_stays_inside_calibration(tmp_path):
    from dfx.plugins.layers.memory import CALIBRATION

    summary, _, _ = _run(tmp_path, "--target-fps", "1000000", "--mvau-wwidth-max", "1024")
    assert summary["target_met"] and "outside_calibration" not in summary
    region = CALIBRATION["MVAU"]
    for name, fold in summary["layers"].items():
        assert fold["PE"] <= region["max_pe"], name
        # tfc-w1a1 has 1-bit weights: the stream is SIMD bits wide
        assert fold["SIMD"] == 1 or fold["SIMD"] <= region["max_weight_stream_bits"], name


def test_outside_calibration_only_when_needed_and_said(tmp_path):
    # 10 cycles per frame: no calibrated folding of the 784 x 64 first layer gets there
    summary, result, out = _run(tmp_path, "--target-fps", "10000000", "--mvau-wwidth-max",
                                "1024")
    outside = summary["outside_calibration"]
    assert set(outside) == {"MVAU_0"} and "> 36" in outside["MVAU_0"]
    fold = summary["layers"]["MVAU_0"]
    assert fold["cycles"] <= 10 and fold["PE"] * fold["SIMD"] * 10 >= 784 * 64
    log = (out / "build_dataflow.log").read_text()
    assert "outside the calibration" in log
    # the other layers still come from calibrated estimates
    assert all(fold["PE"] <= 32 for name, fold in summary["layers"].items() if name != "MVAU_0")


def test_option_evaluation_on_a_bigger_layer_equals_the_direct_layout(tmp_path):
    """512 x 512 at 4 bits: every calibrated option's estimate equals the one computed
    from the ROM laid out bit by bit, and ROMs in block RAM are never laid out."""
    from types import SimpleNamespace

    from dfx.cli import main
    from dfx.graph import load_model
    from dfx.plugin_manager import load_plugins
    from dfx.plugins.folding import evaluate_options
    from dfx.plugins.layers.memory import LUT_EQUIVALENT
    from modelgen import Layer, make_mlp

    onnx = tmp_path / "mlp.onnx"
    make_mlp(512, [Layer(512, weight_bits=4, act_bits=4)], input_dt="UINT4",
             seed=2).save(str(onnx))
    assert main(["run", "--plugins", "default", str(onnx), "-o", str(tmp_path / "b"), "-q",
                 "--no-cache", "--stop-step", "step_convert_to_hw"]) == 0
    model = load_model(tmp_path / "b" / "final_model.onnx")
    (layer,) = load_plugins("default").layer_kinds.hw_layers(model)
    options = evaluate_options(layer, SimpleNamespace(mvau_wwidth_max=1024), LUT_EQUIVALENT)
    inside = [o for o in options if o.uncalibrated is None]
    assert inside and all(o.resources is None for o in options if o.uncalibrated)
    laid_out = 0
    for o in inside:
        profile = layer.memo[("weight_profile", o.folding["PE"], o.folding["SIMD"])]
        # the piece counts come from the words: the ROM is laid out bit by bit only for
        # `distinct` of a shallow ROM in logic, never for one in block RAM
        if o.resources["BRAM_18K"] and o.folding["ram_style"] == "block":
            assert "_cols" not in profile.__dict__
        laid_out += "_cols" in profile.__dict__
    codes = layer._weight_codes()
    for o in inside:  # now the old way: the whole ROM, word by word, for every folding
        pe, simd = o.folding["PE"], o.folding["SIMD"]
        layer.memo[("weight_profile", pe, simd)] = rom_profile(_rom_bits(codes, 4, simd, pe))
        assert layer.with_folding(o.folding).resources() == o.resources, o.folding
    assert laid_out < len(inside)
