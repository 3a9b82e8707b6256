"""Tests for the board data files and dfx.board_registry."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from dfx import board_registry as br
from dfx.board_registry import (
    Board,
    board_dirs,
    board_for_part,
    boards_for_part,
    format_boards_table,
    get_board,
    load_boards,
    part_matches_board,
)
from dfx.errors import ConfigError

ZYNQ_BOARDS = {
    "Pynq-Z1": "xc7z020clg400-1",
    "Pynq-Z2": "xc7z020clg400-1",
    "Ultra96": "xczu3eg-sbva484-1-e",
    "Ultra96-V2": "xczu3eg-sbva484-1-i",
    "ZCU102": "xczu9eg-ffvb1156-2-e",
    "ZCU104": "xczu7ev-ffvc1156-2-e",
    "ZCU111": "xczu28dr-ffvg1517-2-e",
    "KV260_SOM": "xck26-sfvc784-2LV-c",
    "RFSoC2x2": "xczu28dr-ffvg1517-2-e",
}
ALVEO_BOARDS = {
    "U50": "xcu50-fsvh2104-2L-e",
    "U200": "xcu200-fsgd2104-2-e",
    "U250": "xcu250-figd2104-2L-e",
    "U280": "xcu280-fsvh2892-2L-e",
    "U55C": "xcu55c-fsvh2892-2L-e",
}
REQUIRED = {**ZYNQ_BOARDS, **ALVEO_BOARDS}


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch, tmp_path):
    """No $DFX_BOARD_PATH and no user config folder unless a test sets them."""
    monkeypatch.delenv(br.BOARD_PATH_ENV, raising=False)
    monkeypatch.setattr(br, "_user_config_boards_dir", lambda: tmp_path / "no-user-config")
    br.clear_cache()
    yield
    br.clear_cache()


def board_yaml(name="MyBoard", **over) -> str:
    fields = {
        "name": name,
        "aliases": "[]",
        "part": "xc7z010clg400-1",
        "board_part": "null",
        "family": "zynq7000",
        "yosys_family": "xc7",
        "shell_flow_type": "vivado_zynq",
        "default_clk_ns": "10.0",
        "resources": "{LUT: 17600, FF: 35200, BRAM_18K: 120, URAM: 0, DSP: 80}",
        "ps": "{type: ps7, name: processing_system7}",
        "description": '"test board"',
    }
    fields.update(over)
    return "".join(f"{k}: {v}\n" for k, v in fields.items() if v is not None)


# --------------------------------------------------------------------------- data


def test_every_required_board_loads():
    boards = load_boards()
    assert set(REQUIRED) <= set(boards)
    for name, part in REQUIRED.items():
        b = boards[name]
        assert b.name == name
        assert b.part == part
        assert b.source.is_file() and b.source.suffix == ".yaml"
        for key in br.RESOURCE_KEYS:
            assert isinstance(b.resources[key], int)
        assert b.resources["LUT"] > 0
        assert b.resources["FF"] >= b.resources["LUT"]  # 2 FFs per LUT on all of these
        assert b.resources["BRAM_18K"] > 0 and b.resources["BRAM_18K"] % 2 == 0
        assert b.resources["DSP"] > 0
        assert b.resources["URAM"] >= 0
        assert b.default_clk_ns > 0
        assert b.description


@pytest.mark.parametrize("name", sorted(ZYNQ_BOARDS))
def test_zynq_boards(name):
    b = get_board(name)
    assert b.shell_flow_type == "vivado_zynq" and b.is_zynq and not b.is_alveo
    assert b.default_clk_ns == 10.0
    assert b.ps is not None
    if b.part.startswith("xc7z"):
        assert b.ps == {"type": "ps7", "name": "processing_system7"}
        assert b.yosys_family == "xc7" and b.family == "zynq7000"
    else:
        assert b.ps == {"type": "ps8", "name": "zynq_ultra_ps_e"}
        assert b.yosys_family == "xcup"
        assert b.family in ("zynquplus", "zynquplusRFSoC")
    assert b.board_part


@pytest.mark.parametrize("name", sorted(ALVEO_BOARDS))
def test_alveo_boards(name):
    b = get_board(name)
    assert b.shell_flow_type == "vitis_alveo" and b.is_alveo
    assert b.default_clk_ns == 5.0
    assert b.ps is None
    assert b.platform and b.platform.startswith(f"xilinx_{name.lower()}_")
    assert b.yosys_family == "xcup"
    assert b.family in ("virtexuplus", "virtexuplusHBM")
    assert b.resources["URAM"] > 0


def test_pynq_z1_exact():
    b = get_board("Pynq-Z1")
    assert b.part == "xc7z020clg400-1"
    assert b.board_part == "www.digilentinc.com:pynq-z1:part0:1.0"
    assert b.resources == {"LUT": 53200, "FF": 106400, "BRAM_18K": 280, "URAM": 0, "DSP": 220}


def test_zcu104_exact():
    b = get_board("ZCU104")
    assert b.part == "xczu7ev-ffvc1156-2-e"
    assert b.resources == {"LUT": 230400, "FF": 460800, "BRAM_18K": 624, "URAM": 96,
                           "DSP": 1728}


def test_boards_sharing_a_device_share_resources():
    pairs = [("Pynq-Z1", "Pynq-Z2"), ("Ultra96", "Ultra96-V2"), ("ZCU111", "RFSoC2x2"),
             ("U280", "U55C")]
    for a, b in pairs:
        assert get_board(a).resources == get_board(b).resources


def test_board_is_frozen_and_hashable():
    b = get_board("ZCU104")
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.part = "x"  # type: ignore[misc]
    assert hash(b) == hash(get_board("zcu104"))
    assert isinstance(b.aliases, tuple)
    assert isinstance(b.source, Path)


def test_loading_is_cached(monkeypatch):
    """Board files are parsed once per process (no timing assertion: a second load reads
    no file at all)."""
    load_boards()  # yaml imported once
    br.clear_cache()
    boards = load_boards()
    assert len(boards) >= 14

    def no_read(*args, **kwargs):
        raise AssertionError("a cached load read a board file again")

    monkeypatch.setattr(Path, "read_text", no_read)
    again = load_boards()
    assert again == boards
    again.clear()  # callers get a copy
    assert load_boards() == boards


# --------------------------------------------------------------------------- lookup


@pytest.mark.parametrize(
    "spelling, canonical",
    [
        ("Pynq-Z1", "Pynq-Z1"),
        ("pynq-z1", "Pynq-Z1"),
        ("PYNQ_Z1", "Pynq-Z1"),
        ("pynq z1", "Pynq-Z1"),
        ("  Pynq-Z2 ", "Pynq-Z2"),
        ("ultra96_v2", "Ultra96-V2"),
        ("ULTRA96-V2", "Ultra96-V2"),
        ("kv260-som", "KV260_SOM"),
        ("kv260 som", "KV260_SOM"),
        ("u55c", "U55C"),
        ("zcu104", "ZCU104"),
        ("rfsoc2x2", "RFSoC2x2"),
    ],
)
def test_name_normalisation(spelling, canonical):
    assert get_board(spelling).name == canonical


@pytest.mark.parametrize(
    "alias, canonical",
    [("KV260", "KV260_SOM"), ("k26", "KV260_SOM"), ("Alveo-U250", "U250"),
     ("alveo u50", "U50"), ("AU280", "U280"), ("Ultra96-V1", "Ultra96"),
     ("RFSoC-2x2", "RFSoC2x2")],
)
def test_aliases(alias, canonical):
    assert get_board(alias).name == canonical


def test_unknown_board_suggests_closest():
    with pytest.raises(ConfigError) as exc:
        get_board("Pynq-Z3")
    assert str(exc.value) == (
        "unknown board 'Pynq-Z3'; did you mean 'Pynq-Z2'? (dfx boards lists them)"
    )
    assert exc.value.exit_code == 2


def test_unknown_board_suggestion_through_alias_names_the_board():
    with pytest.raises(ConfigError, match=r"did you mean 'KV260_SOM'\?"):
        get_board("KV26O")


def test_unknown_board_without_close_match():
    with pytest.raises(ConfigError) as exc:
        get_board("Arty-A7")
    assert "did you mean" not in str(exc.value)
    assert "unknown board 'Arty-A7'" in str(exc.value)
    assert "dfx boards" in str(exc.value)


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_bad_board_name_type(bad):
    with pytest.raises(ConfigError):
        get_board(bad)


def test_part_matches_board():
    z1 = get_board("Pynq-Z1")
    assert part_matches_board("xc7z020clg400-1", z1)
    assert part_matches_board("XC7Z020CLG400-1", z1)
    assert part_matches_board(" xc7z020clg400-1 ", z1)
    assert not part_matches_board("xc7z020clg484-1", z1)
    assert not part_matches_board("xc7z020", z1)
    kv = get_board("KV260_SOM")
    assert part_matches_board("xck26-sfvc784-2lv-c", kv)
    assert part_matches_board("XCK26-SFVC784-2LV-C", "kv260")  # a name works too
    assert not part_matches_board("xczu3eg-sbva484-1-e", "Ultra96-V2")  # -1-i vs -1-e


def test_board_for_part():
    assert board_for_part("xczu7ev-ffvc1156-2-e").name == "ZCU104"
    assert board_for_part("XCU250-FIGD2104-2L-E").name == "U250"
    assert board_for_part("xczu3eg-sbva484-1-i").name == "Ultra96-V2"
    assert board_for_part("xc7a35ticsg324-1L") is None
    # shared parts: first by name, and all of them via boards_for_part
    assert board_for_part("xc7z020clg400-1").name == "Pynq-Z1"
    assert [b.name for b in boards_for_part("xczu28dr-ffvg1517-2-e")] == ["RFSoC2x2", "ZCU111"]


# --------------------------------------------------------------------------- folders


def test_board_dirs_order(monkeypatch, tmp_path):
    a, b, user = tmp_path / "a", tmp_path / "b", tmp_path / "user"
    for d in (a, b, user):
        d.mkdir()
    monkeypatch.setenv(br.BOARD_PATH_ENV, f"{a}{os.pathsep}{b}")
    monkeypatch.setattr(br, "_user_config_boards_dir", lambda: user)
    dirs = board_dirs()
    assert (dirs[0] / "zcu104.yaml").is_file()  # the built-in dfx.boards folder
    assert dirs[1:] == [a, b, user]


def test_user_config_dir_via_platformdirs(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.undo()  # drop the autouse stub of _user_config_boards_dir
    monkeypatch.delenv(br.BOARD_PATH_ENV, raising=False)
    monkeypatch.setattr(platformdirs, "user_config_dir", lambda appname: str(tmp_path / appname))
    assert board_dirs()[1:] == []  # folder absent: not listed
    (tmp_path / "dfx" / "boards").mkdir(parents=True)
    (tmp_path / "dfx" / "boards" / "mine.yaml").write_text(board_yaml("ConfigBoard"))
    assert board_dirs()[1:] == [tmp_path / "dfx" / "boards"]
    assert get_board("configboard").source == tmp_path / "dfx" / "boards" / "mine.yaml"


def test_user_board_added_via_env(monkeypatch, tmp_path):
    (tmp_path / "arty.yaml").write_text(board_yaml("Arty-Z7-10", aliases="[ArtyZ7]"))
    monkeypatch.setenv(br.BOARD_PATH_ENV, str(tmp_path))
    boards = load_boards()
    assert "Arty-Z7-10" in boards
    assert set(REQUIRED) <= set(boards)  # built-ins still there
    b = get_board("arty_z7_10")
    assert b.source == tmp_path / "arty.yaml"
    assert get_board("artyz7") is b
    assert b.resources["LUT"] == 17600


def test_user_board_overrides_builtin(monkeypatch, tmp_path):
    (tmp_path / "z1.yaml").write_text(
        board_yaml("pynq_z1", part="xc7z020clg400-1", default_clk_ns="8.0",
                   resources="{LUT: 1, FF: 2, BRAM_18K: 3, URAM: 0, DSP: 4}")
    )
    monkeypatch.setenv(br.BOARD_PATH_ENV, str(tmp_path))
    boards = load_boards()
    assert "Pynq-Z1" not in boards  # replaced, not duplicated
    b = get_board("Pynq-Z1")
    assert b.name == "pynq_z1"
    assert b.default_clk_ns == 8.0
    assert b.resources == {"LUT": 1, "FF": 2, "BRAM_18K": 3, "URAM": 0, "DSP": 4}
    assert b.source == tmp_path / "z1.yaml"
    assert get_board("Pynq-Z2").source.parent != tmp_path
    # the env var changing is picked up (cache is per set of folders)
    monkeypatch.delenv(br.BOARD_PATH_ENV)
    assert get_board("Pynq-Z1").resources["LUT"] == 53200


def test_later_env_folder_wins(monkeypatch, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x.yaml").write_text(board_yaml("Xboard", default_clk_ns="4.0"))
    (b / "x.yaml").write_text(board_yaml("XBOARD", default_clk_ns="6.0"))
    monkeypatch.setenv(br.BOARD_PATH_ENV, f"{a}{os.pathsep}{b}")
    assert get_board("xboard").default_clk_ns == 6.0


def test_extra_dirs_argument(tmp_path):
    (tmp_path / "x.yaml").write_text(board_yaml("Extra"))
    assert get_board("extra", extra_dirs=[tmp_path]).name == "Extra"
    with pytest.raises(ConfigError):
        get_board("extra")
    with pytest.raises(ConfigError, match="does not exist"):
        load_boards(extra_dirs=[tmp_path / "nope"])


def test_missing_env_folder_is_skipped(monkeypatch, tmp_path):
    monkeypatch.setenv(br.BOARD_PATH_ENV, str(tmp_path / "nope"))
    assert set(REQUIRED) <= set(load_boards())


def test_edited_file_is_reread(monkeypatch, tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text(board_yaml("Edited", default_clk_ns="4.0"))
    monkeypatch.setenv(br.BOARD_PATH_ENV, str(tmp_path))
    assert get_board("edited").default_clk_ns == 4.0
    f.write_text(board_yaml("Edited", default_clk_ns="12.5"))
    assert get_board("edited").default_clk_ns == 12.5


# --------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    "content, key",
    [
        ("name: [unclosed\n", "invalid YAML"),
        ("- just\n- a list\n", "mapping"),
        ("", "mapping"),
        (board_yaml(part=None), "'part'"),
        (board_yaml(resources=None), "'resources'"),
        (board_yaml(name='""'), "'name'"),
        (board_yaml(part="42"), "'part'"),
        (board_yaml(default_clk_ns="fast"), "'default_clk_ns'"),
        (board_yaml(default_clk_ns="-1"), "'default_clk_ns'"),
        (board_yaml(default_clk_ns="true"), "'default_clk_ns'"),
        (board_yaml(shell_flow_type="quartus"), "'shell_flow_type'"),
        (board_yaml(yosys_family="xcvu"), "'yosys_family'"),
        (board_yaml(aliases="Pynq"), "'aliases'"),
        (board_yaml(resources="{LUT: -5, FF: 2, BRAM_18K: 3, URAM: 0, DSP: 4}"),
         "'resources.LUT'"),
        (board_yaml(resources="{LUT: 1.5, FF: 2, BRAM_18K: 3, URAM: 0, DSP: 4}"),
         "'resources.LUT'"),
        (board_yaml(resources="{LUT: 1, FF: 2, BRAM_18K: 3, DSP: 4}"), "'resources.URAM'"),
        (board_yaml(resources="{LUT: 1, FF: 2, BRAM_18K: 3, URAM: 0, DSP: 4, CARRY: 1}"),
         "'resources.CARRY'"),
        (board_yaml(resources="[1, 2]"), "'resources'"),
        (board_yaml(ps=None), "'ps'"),
        (board_yaml(ps="{type: ps9, name: x}"), "'ps.type'"),
        (board_yaml(shell_flow_type="vitis_alveo", ps=None), "'platform'"),
        (board_yaml(clock_mhz="100"), "'clock_mhz'"),
    ],
)
def test_malformed_board_file(monkeypatch, tmp_path, content, key):
    f = tmp_path / "broken_board.yaml"
    f.write_text(content)
    monkeypatch.setenv(br.BOARD_PATH_ENV, str(tmp_path))
    with pytest.raises(ConfigError) as exc:
        load_boards()
    msg = str(exc.value)
    assert str(f) in msg
    assert key in msg


def test_duplicate_board_in_one_folder(monkeypatch, tmp_path):
    (tmp_path / "a.yaml").write_text(board_yaml("Dup"))
    (tmp_path / "b.yaml").write_text(board_yaml("DUP"))
    monkeypatch.setenv(br.BOARD_PATH_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match="both define"):
        load_boards()


def test_alias_clash_between_boards(monkeypatch, tmp_path):
    (tmp_path / "a.yaml").write_text(board_yaml("BoardA", aliases="[shared]"))
    (tmp_path / "b.yaml").write_text(board_yaml("BoardB", aliases="[Shared]"))
    monkeypatch.setenv(br.BOARD_PATH_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match="alias 'Shared'"):
        load_boards()


def test_alias_equal_to_another_name_is_shadowed(monkeypatch, tmp_path):
    (tmp_path / "a.yaml").write_text(board_yaml("BoardA", aliases="[ZCU104]"))
    monkeypatch.setenv(br.BOARD_PATH_ENV, str(tmp_path))
    assert get_board("zcu104").name == "ZCU104"


# --------------------------------------------------------------------------- table


def test_format_boards_table():
    boards = load_boards()
    text = format_boards_table(boards)
    lines = text.splitlines()
    assert lines[0].split() == ["name", "part", "flow", "clock", "ns", "LUT", "FF",
                                "BRAM_18K", "URAM", "DSP"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + len(boards)
    row = next(line for line in lines if line.startswith("ZCU104 "))
    assert row.split() == ["ZCU104", "xczu7ev-ffvc1156-2-e", "vivado_zynq", "10.0",
                           "230400", "460800", "624", "96", "1728"]
    row = next(line for line in lines if line.startswith("U250 "))
    assert row.split()[2:4] == ["vitis_alveo", "5.0"]
    # numbers are right-aligned: every row has the same length up to the DSP column
    assert len({len(line) for line in lines[2:]}) == 1
    # an iterable of boards works too
    assert format_boards_table([get_board("U50")]).count("\n") == 3


def test_every_builtin_file_is_a_board():
    builtin = board_dirs()[0]
    files = sorted(builtin.glob("*.yaml"))
    assert len(files) >= 14
    sources = {b.source for b in load_boards().values()}
    assert set(files) == sources
    assert all(isinstance(b, Board) for b in load_boards().values())
