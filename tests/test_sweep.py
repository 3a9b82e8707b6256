"""`dfx sweep`: real builds of every point, on a real Dask LocalCluster of worker processes,
on a scheduler and workers started with Dask's own command-line tools, with a worker
killed by SIGKILL mid-sweep and a sweep stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import model_dir, read_json, run_dfx
from dfx.cache import ArtifactCache
from dfx.errors import ConfigError
from dfx.sweep import plan_sweep, run_sweep
from dfx.sweep.point import RESOURCES

pytest.importorskip("distributed", reason="the sweep tests need the sweep extra (dask)")

TFC = model_dir("tfc-w1a1") / "model.onnx"
CYBSEC = model_dir("cybsec-mlp-w2a2") / "model.onnx"
DASK = Path(sys.executable).parent / "dask"


def _streamline_entries() -> int:
    return ArtifactCache().info().get("steps", {}).get("step_streamline", {}).get("entries", 0)


def _check_rows_against_the_builds(df: pd.DataFrame) -> None:
    """Every built row holds exactly the figures of its point's build folder."""
    for _, row in df[df["status"] == "ok"].iterrows():
        report = Path(row["build_dir"]) / "report"
        perf = read_json(report / "estimate_network_performance.json")
        total = read_json(report / "estimate_layer_resources.json")["total"]
        assert row["estimated_fps"] == perf["estimated_throughput_fps"]
        assert row["estimated_latency_ns"] == perf["estimated_latency_ns"]
        assert row["max_cycles"] == perf["max_cycles"]
        for kind in RESOURCES:
            assert row[kind] == total[kind], (row["point"], kind)


def _brute_force_pareto(df: pd.DataFrame, kind: str) -> list[bool]:
    front = []
    built = df[df["status"] == "ok"]
    for _, p in df.iterrows():
        if p["status"] != "ok":
            front.append(False)
            continue
        same = built[built["model"] == p["model"]]
        dominated = any(q["estimated_fps"] >= p["estimated_fps"] and q[kind] <= p[kind]
                        and (q["estimated_fps"] > p["estimated_fps"] or q[kind] < p[kind])
                        for _, q in same.iterrows())
        front.append(not dominated)
    return front


def test_serial_sweep_rows_fronts_and_board_fits(tmp_path):
    folder = tmp_path / "sweep"
    df = run_sweep(TFC, ["target_fps=1e3..1e5:log:3", "board=Pynq-Z2,U250"],
                   output_dir=folder, workers=0)
    assert len(df) == 6 and (df["status"] == "ok").all(), df[["point", "error"]]
    assert list(df["point"]) == list(range(6))
    assert list(df["target_fps"]) == [1000, 1000, 10000, 10000, 100000, 100000]
    assert list(df["board"]) == ["Pynq-Z2", "U250"] * 3
    _check_rows_against_the_builds(df)
    # the import and the streamlining ran once for the six points
    assert _streamline_entries() == 1
    assert int((df["steps_run"] == 10).sum()) == 1

    for kind in RESOURCES:
        assert list(df[f"pareto_{kind}"]) == _brute_force_pareto(df, kind), kind
    # fits: every resource within the point's own board
    boards = {"Pynq-Z2": {"LUT": 53200, "FF": 106400, "BRAM_18K": 280, "URAM": 0, "DSP": 220},
              "U250": {"LUT": 1728000, "FF": 3456000, "BRAM_18K": 5376, "URAM": 1280,
                       "DSP": 12288}}
    for _, row in df.iterrows():
        capacity = boards[row["board"]]
        assert row["fits_board"] == all(row[k] <= capacity[k] for k in RESOURCES)
        assert row["max_board_share"] == pytest.approx(
            max(row[k] / capacity[k] if capacity[k] else 0.0 for k in RESOURCES))
    # the fastest point that fits each board is its 100k point, marked in the table
    for board in boards:
        mine = df[df["board"] == board]
        fastest = mine.sort_values("estimated_fps", ascending=False).iloc[0]["point"]
        assert df.loc[df["point"] == fastest, "fastest_fit_for"].item() == board

    # the table's files: CSV and Parquet with the same rows, the board table, the plan
    csv = pd.read_csv(folder / "sweep.csv")
    parquet = pd.read_parquet(folder / "sweep.parquet")
    assert list(csv["estimated_fps"]) == list(df["estimated_fps"])
    assert list(parquet["LUT"]) == list(df["LUT"])
    boards_csv = pd.read_csv(folder / "boards.csv")
    assert set(boards_csv["board"]) == {"Pynq-Z2", "U250"}
    plan = read_json(folder / "sweep.json")
    assert plan["grid"]["board"] == ["Pynq-Z2", "U250"] and len(plan["points"]) == 6
    assert len((folder / "rows.jsonl").read_text().splitlines()) == 6


def test_a_point_agrees_with_dfx_run_of_the_same_config(tmp_path):
    df = run_sweep(CYBSEC, ["target_fps=1e4,1e6"], overrides={"mvau_wwidth_max": "36"},
                   output_dir=tmp_path / "sweep", workers=0)
    out = tmp_path / "single"
    result = run_dfx("run", "--plugins", "default", CYBSEC, "--target-fps", "1000000",
                     "--mvau-wwidth-max", "36", "-o", out, "-q")
    assert result.returncode == 0, result.stderr
    perf = read_json(out / "report" / "estimate_network_performance.json")
    total = read_json(out / "report" / "estimate_layer_resources.json")["total"]
    row = df[df["target_fps"] == 1_000_000].iloc[0]
    assert row["estimated_fps"] == perf["estimated_throughput_fps"]
    assert [row[k] for k in RESOURCES] == [total[k] for k in RESOURCES]


def test_a_failing_point_says_why_and_the_sweep_goes_on(tmp_path):
    # MVAU_0 of the TFC has MH=64: PE=3 passes the file check before step 1 and is
    # refused where the layers exist (step_apply_folding_config)
    bad = tmp_path / "bad_fold.json"
    bad.write_text(json.dumps({"MVAU_0": {"PE": 3, "SIMD": 1}}))
    good = tmp_path / "good_fold.json"
    good.write_text(json.dumps({"MVAU_0": {"PE": 4, "SIMD": 16}}))
    df = run_sweep(TFC, [f"folding_config_file={good},{bad}"], output_dir=tmp_path / "s",
                   workers=0)
    ok, failed = df.iloc[0], df.iloc[1]
    assert ok["status"] == "ok"
    assert failed["status"] == "failed"
    assert failed["failed_step"] == "step_apply_folding_config"
    assert "MVAU_0.PE" in failed["error"] and "MH=64" in failed["error"]
    assert pd.isna(failed["estimated_fps"])


def test_bad_grid_key_is_refused_before_anything_runs(tmp_path):
    folder = tmp_path / "sweep"
    result = run_dfx("sweep", TFC, "--grid", "target_fsp=1e3..1e6:log:10", "-o", folder)
    assert result.returncode == 2
    assert "unknown key 'target_fsp'" in result.stderr
    assert "did you mean 'target_fps'?" in result.stderr
    assert "Traceback" not in result.stderr
    assert not folder.exists()


def test_a_bad_value_of_one_point_names_the_point_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError) as err:
        plan_sweep(TFC, ["board=Pynq-Z2,ZCU14"], output_dir=tmp_path / "s")
    assert "point 1 (board=ZCU14)" in str(err.value)
    assert "did you mean 'ZCU104'?" in str(err.value)
    assert not (tmp_path / "s").exists()


def test_a_swept_key_cannot_also_be_fixed(tmp_path):
    with pytest.raises(ConfigError, match="also fixed"):
        plan_sweep(TFC, ["target_fps=1,2"], overrides={"target_fps": "5"},
                   output_dir=tmp_path / "s")


def test_a_folder_of_someone_elses_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds files dfx did not write"):
        plan_sweep(TFC, ["target_fps=1000"], output_dir=tmp_path)


def test_local_cluster_of_two_worker_processes(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    events = []
    df = run_sweep([TFC, broken], ["target_fps=1e3..1e6:log:4"], output_dir=tmp_path / "s",
                   workers=2, on_event=lambda kind, data: events.append((kind, data)))
    assert len(df) == 8
    tfc, bad = df[df["model"] == "tfc-w1a1"], df[df["model"] == "broken"]
    assert (tfc["status"] == "ok").all(), tfc["error"].tolist()
    # the builds ran in the two worker processes, not here
    assert df["worker"].str.startswith("tcp://127.0.0.1:").all()
    assert df["worker"].nunique() == 2
    assert {data["pid"] for kind, data in events if kind == "start"} - {os.getpid()} \
        == {data["pid"] for kind, data in events if kind == "start"}
    # a model that cannot be read fails its points, with the file named, and nothing else
    assert (bad["status"] == "failed").all()
    assert all("broken.onnx" in e for e in bad["error"])
    _check_rows_against_the_builds(tfc)
    # one import and streamlining for the four TFC points, shared through the cache
    assert _streamline_entries() == 1
    # the same points in one process give the same figures
    serial = run_sweep(TFC, ["target_fps=1e3..1e6:log:4"], output_dir=tmp_path / "serial",
                       workers=0)
    assert list(serial["estimated_fps"]) == list(tfc["estimated_fps"])
    assert list(serial["LUT"]) == list(tfc["LUT"])
    assert (serial["steps_run"] == 0).all()  # all from the cache the workers filled


def test_a_killed_worker_s_point_is_retried_elsewhere(tmp_path):
    killed = {}

    def kill_first_start(kind, data):
        if kind == "start" and not killed and data.get("pid"):
            os.kill(data["pid"], signal.SIGKILL)  # mid-build: the first point imports
            killed.update(point=data["point"], worker=data["worker"])

    df = run_sweep(CYBSEC, ["target_fps=1e4..1e6:log:4"], output_dir=tmp_path / "s",
                   workers=2, on_event=kill_first_start)
    assert killed, "no point started"
    assert len(df) == 4 and (df["status"] == "ok").all(), df[["point", "error"]]
    row = df[df["point"] == killed["point"]].iloc[0]
    assert row["starts"] >= 2  # it started on the killed worker, then again elsewhere
    assert row["worker"] != killed["worker"]
    _check_rows_against_the_builds(df)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _tiny_model(tmp_path: Path) -> Path:
    from modelgen import Layer, make_mlp

    path = tmp_path / "tiny.onnx"
    make_mlp(8, [Layer(4), Layer(4, act="int")], seed=1).save(str(path))
    return path


@pytest.mark.skipif(not DASK.exists(), reason="Dask's command-line tool is not installed")
def test_scheduler_and_workers_from_dasks_own_command_line_tools(tmp_path):
    """`dask scheduler` and two `dask worker`s on 127.0.0.1, one with the resource vivado:
    the point that asks for a bitfile runs only there (Vivado is not installed here, so its
    build only prepares the scripts: the row says so)."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    common = {"start_new_session": True, "stdin": subprocess.DEVNULL}
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port",
                               str(port), "--no-dashboard"],
                              stdout=open(logs / "scheduler.log", "w"),
                              stderr=subprocess.STDOUT, **common)]
    try:
        for name, extra in (("plain", []), ("vivado", ["--resources", "vivado=1"])):
            procs.append(subprocess.Popen(
                [str(DASK), "worker", address, "--nthreads", "1", "--nworkers", "1",
                 "--no-dashboard", "--name", name, *extra],
                stdout=open(logs / f"{name}.log", "w"), stderr=subprocess.STDOUT, **common))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            names = {info["name"]: addr for addr, info in
                     client.scheduler_info(n_workers=-1)["workers"].items()}
        model = _tiny_model(tmp_path)
        out = tmp_path / "sweep"
        result = run_dfx("sweep", model, "--grid",
                         "generate_outputs=[estimate_reports],[bitfile]", "--board", "Pynq-Z2",
                         "--auto-fifo-depths", "false", "--scheduler", address, "-o", out,
                         timeout=600)
        assert result.returncode == 0, result.stderr + result.stdout
        assert f"on the Dask scheduler at {address}" in result.stdout
        df = pd.read_csv(out / "sweep.csv")
        estimate, bitfile = df.iloc[0], df.iloc[1]
        assert estimate["status"] == "ok"
        assert estimate["worker"] in names.values()
        assert bitfile["worker"] == names["vivado"]
        assert bitfile["status"] == "incomplete"
        assert "bitfile prepared" in bitfile["error"] and "Vivado" in bitfile["error"]
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_a_point_that_needs_vivado_without_a_vivado_worker_fails_at_once(tmp_path):
    model = _tiny_model(tmp_path)
    df = run_sweep(model, ["generate_outputs=[estimate_reports],[bitfile]"],
                   overrides={"board": "Pynq-Z2", "auto_fifo_depths": "false"},
                   output_dir=tmp_path / "s", workers=1)
    assert df.iloc[0]["status"] == "ok"
    assert df.iloc[1]["status"] == "failed"
    assert "no worker of a LocalCluster" in df.iloc[1]["error"]
    assert "--resources vivado=1" in df.iloc[1]["error"]


def test_unreachable_scheduler_is_named_within_the_time_limit(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    folder = tmp_path / "sweep"
    result = run_dfx("sweep", TFC, "--grid", "target_fps=1000", "--scheduler", address,
                     "--scheduler-timeout", "3", "-o", folder, timeout=120)
    assert result.returncode == 1
    assert f"cannot reach the Dask scheduler at {address}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not folder.exists()


def test_a_malformed_scheduler_address_is_a_config_error(tmp_path):
    result = run_dfx("sweep", TFC, "--grid", "target_fps=1000", "--scheduler", "nohost",
                     "-o", tmp_path / "s")
    assert result.returncode == 2
    assert "expected tcp://HOST:PORT" in result.stderr


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_stops_the_sweep_and_keeps_the_finished_rows(tmp_path):
    out = tmp_path / "sweep"
    # Ctrl-C at a terminal signals the whole foreground process group: so does this test
    proc = subprocess.Popen(
        [sys.executable, "-m", "dfx", "sweep", str(CYBSEC), "--grid",
         "target_fps=1e3..1e6:log:40", "-o", str(out), "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("[2/"):
                break
        assert any(line.startswith("[2/") for line in lines), "".join(lines)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "sweep terminated by SIGINT" in stderr
    assert "Traceback" not in stderr
    df = pd.read_csv(out / "sweep.csv")
    assert 2 <= len(df) < 40
    assert (df["status"] == "ok").all()
    # nothing of the sweep outlives it: no worker process is left in its group
    deadline = time.monotonic() + 30
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group_alive(proc.pid)
