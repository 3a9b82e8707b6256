"""The grid of `dfx sweep`: lists, ranges and grid files, typed by the config's own parser,
and every mistake named before anything runs."""

from __future__ import annotations

import math

import pytest

from dfx.errors import ConfigError
from dfx.sweep.grid import expand_grid, load_grid_file, parse_grid, parse_grid_item


def test_log_range_has_both_ends_and_integer_values_for_an_integer_key():
    axis = parse_grid_item("target_fps=1e3..1e6:log:10")
    assert axis.key == "target_fps"
    assert axis.values[0] == 1000 and axis.values[-1] == 1_000_000
    assert len(axis.values) == 10
    assert all(isinstance(v, int) for v in axis.values)
    # evenly spaced on a log scale: each value about 10^(1/3) times the one before
    ratios = [b / a for a, b in zip(axis.values, axis.values[1:])]
    assert all(abs(r - 10 ** (1 / 3)) < 0.01 for r in ratios)


def test_lin_and_step_ranges_of_a_float_key():
    assert parse_grid_item("synth_clk_period_ns=4..10:lin:4").values == (4.0, 6.0, 8.0, 10.0)
    assert parse_grid_item("synth_clk_period_ns=5..10:step:2.5").values == (5.0, 7.5, 10.0)


def test_integer_range_without_a_kind_steps_by_one_and_rounding_drops_repeats():
    assert parse_grid_item("mvau_wwidth_max=3..6").values == (3, 4, 5, 6)
    # 1..3 on a log scale in 5 values: 1, 1.32, 1.73, 2.28, 3 -> 1, 1, 2, 2, 3
    assert parse_grid_item("mvau_wwidth_max=1..3:log:5").values == (1, 2, 3)


def test_lists_are_typed_by_the_config_parser():
    assert parse_grid_item("board=Pynq-Z2,ZCU104,U250").values == ("Pynq-Z2", "ZCU104", "U250")
    assert parse_grid_item("mvau_wwidth_max=36,72").values == (36, 72)
    assert parse_grid_item("target_fps=1e4").values == (10000,)
    outputs = parse_grid_item(
        "generate_outputs=[estimate_reports],[estimate_reports,stitched_ip]").values
    assert [[str(o) for o in v] for v in outputs] == [["estimate_reports"],
                                                       ["estimate_reports", "stitched_ip"]]


def test_unknown_key_gets_the_configs_did_you_mean():
    with pytest.raises(ConfigError) as err:
        parse_grid_item("target_fsp=1e3..1e6:log:10")
    assert "unknown key 'target_fsp'" in str(err.value)
    assert "did you mean 'target_fps'?" in str(err.value)
    assert "--grid 'target_fsp=1e3..1e6:log:10'" in str(err.value)


@pytest.mark.parametrize("item, words", [
    ("target_fps=a,b", "expects an integer, got 'a'"),
    ("target_fps=0..1e3:log:3", "a log range needs positive ends"),
    ("target_fps=1..3:geometric:2", "unknown range kind 'geometric'"),
    ("target_fps=1..3:log:x", "is not an integer"),
    ("target_fps=5..1:step:1", "is below"),
    ("synth_clk_period_ns=1..5", "say how to step"),
    ("target_fps", "expected KEY=VALUES"),
    ("target_fps=", "no values given"),
])
def test_bad_items_are_named(item, words):
    with pytest.raises(ConfigError) as err:
        parse_grid([item])
    assert words in str(err.value)
    assert item in str(err.value)


def test_a_key_swept_twice_is_refused():
    with pytest.raises(ConfigError, match="swept twice"):
        parse_grid(["target_fps=1,2", "target_fps=3"])


def test_grid_file_in_yaml(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("target_fps: 1e3..1e5:log:3\nboard: [Pynq-Z2, ZCU104]\n"
                    "mvau_wwidth_max: 36\ngenerate_outputs: [estimate_reports]\n")
    axes = {a.key: a.values for a in load_grid_file(path)}
    assert axes["target_fps"] == (1000, 10000, 100000)
    assert axes["board"] == ("Pynq-Z2", "ZCU104")
    assert axes["mvau_wwidth_max"] == (36,)
    # a flat list for a list-typed key is one value of that key
    assert [[str(o) for o in v] for v in axes["generate_outputs"]] == [["estimate_reports"]]
    # --grid takes the file too
    assert [a.key for a in parse_grid([str(path)])] == list(axes)


def test_grid_file_with_an_unknown_key_names_the_file(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("bord: [Pynq-Z2]\n")
    with pytest.raises(ConfigError) as err:
        load_grid_file(path)
    assert f"unknown key 'bord' in grid file {path}" in str(err.value)
    assert "did you mean 'board'?" in str(err.value)


def test_expand_grid_is_the_cartesian_product_first_axis_slowest():
    axes = parse_grid(["target_fps=1,2", "board=A,B,C"])
    points = expand_grid(axes)
    assert len(points) == 6
    assert points[:3] == [{"target_fps": 1, "board": b} for b in "ABC"]
    assert expand_grid([]) == [{}]


def test_a_huge_grid_is_refused_before_anything_runs():
    axes = parse_grid(["target_fps=1..1000", "mvau_wwidth_max=1..1000"])
    with pytest.raises(ConfigError, match="more than a sweep takes"):
        expand_grid(axes)
    assert math.prod(len(a.values) for a in axes) == 1_000_000
