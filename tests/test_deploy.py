"""``dfx deploy`` against a real OpenSSH server on 127.0.0.1 (throw-away keys, free port).

The remote side is this machine: the package is copied, unpacked and run there with
``--platform sim``, so copy, unpack, run and fetch are all exercised without a board.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import model_dir, run_dfx

SSHD = Path("/usr/sbin/sshd")
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not SSHD.is_file():
        pytest.skip("no OpenSSH server (/usr/sbin/sshd): .ci/run installs openssh-server "
                    "when it runs as root")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("no ssh client")
    d = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)],
                       check=True)
    (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    Path("/run/sshd").mkdir(exist_ok=True)  # the privilege separation folder sshd wants
    port = free_port()
    config = d / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d / 'host_key'}
AuthorizedKeysFile {d / 'authorized_keys'}
PidFile {d / 'sshd.pid'}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem sftp /usr/lib/openssh/sftp-server
""")
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)],
                            stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None:
            pytest.skip(f"sshd did not start: {proc.stderr.read()[-300:]}")
        time.sleep(0.05)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    yield {"port": port, "key": d / "user_key", "user": user, "dir": d}
    proc.terminate()
    proc.wait(timeout=10)


def ssh_flags(sshd) -> list[str]:
    return ["--port", sshd["port"], "--identity", sshd["key"],
            "--ssh-option", "StrictHostKeyChecking=no",
            "--ssh-option", f"UserKnownHostsFile={sshd['dir'] / 'known_hosts'}",
            "--remote-python", sys.executable]


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy-build")
    sims = tmp_path_factory.getbasetemp().parent / "dfx-simulators"
    out = root / "b"
    digits = model_dir("digits-w4a4")
    result = run_dfx("run", "--plugins", "default", digits / "model.onnx",
                     "--target-fps", "1000000", "--mvau-wwidth-max", "36",
                     "--generate-outputs", "stitched_ip,pynq_driver,deployment_package",
                     "--set", f"deployment_dataset={digits / 'input.npy'}",
                     "-o", out, "-q", timeout=1200,
                     env_extra={"DFX_CACHE_DIR": str(root / "cache"),
                                "DFX_SIM_CACHE_DIR": str(sims)})
    assert result.returncode == 0, result.stderr
    return out


def test_deploy_copies_unpacks_runs_and_fetches(sshd, build, tmp_path):
    remote = tmp_path / "board" / "dfx"
    result = run_dfx("deploy", build, "--to", f"{sshd['user']}@127.0.0.1:{remote}",
                     "--run", "throughput_test", "--batchsize", 100, *ssh_flags(sshd))
    assert result.returncode == 0, result.stderr
    assert (remote / "driver" / "driver.py").is_file()  # unpacked there
    assert "(scp)" in result.stdout or "(rsync)" in result.stdout
    fetched = build / "deploy_results" / "127.0.0.1" / "nw_metrics.json"
    metrics = json.loads(fetched.read_text())
    assert metrics["batch_size"] == 100 and metrics["platform"] == "sim"
    assert metrics["throughput[images/s]"] > 0


def test_deploy_validate_on_the_copied_dataset(sshd, build, tmp_path):
    remote = tmp_path / "board2"
    result = run_dfx("deploy", build, "--to", f"{sshd['user']}@127.0.0.1:{remote}",
                     "--run", "validate", "--dataset", "input.npy", "--labels",
                     model_dir("digits-w4a4") / "labels.npy", *ssh_flags(sshd))
    assert result.returncode == 0, result.stderr
    report = json.loads((build / "deploy_results" / "127.0.0.1" / "validate.json").read_text())
    assert report["samples"] == 450 and report["accuracy"] > 0.9


def test_refused_connection_names_the_host(build, tmp_path):
    port = free_port()  # nothing listens there
    result = run_dfx("deploy", build, "--to", f"nobody@127.0.0.1:{tmp_path}", "--port", port)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"cannot reach nobody@127.0.0.1 port {port} by ssh" in result.stderr


def test_refused_key_names_the_host(sshd, build, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    flags = ssh_flags(sshd)
    flags[flags.index("--identity") + 1] = other
    flags += ["--ssh-option", "IdentitiesOnly=yes"]
    result = run_dfx("deploy", build, "--to", f"{sshd['user']}@127.0.0.1:{tmp_path}", *flags)
    assert result.returncode != 0
    assert f"cannot reach {sshd['user']}@127.0.0.1 port {sshd['port']} by ssh" in result.stderr
    assert "Permission denied" in result.stderr


def test_remote_run_over_its_time_limit_is_stopped_on_both_sides(sshd, build, tmp_path):
    remote = tmp_path / "slow"
    result = run_dfx("deploy", build, "--to", f"{sshd['user']}@127.0.0.1:{remote}",
                     "--run", "throughput_test", "--batchsize", 1_000_000, "--timeout", 3,
                     *ssh_flags(sshd))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "127.0.0.1" in result.stderr and "time limit of 3 s" in result.stderr
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", str(remote)], capture_output=True, text=True)
    assert left.stdout.strip() == "", "a remote process was left behind"


def test_build_without_package_is_refused(tmp_path):
    result = run_dfx("deploy", tmp_path, "--to", "u@h:/x")
    assert result.returncode != 0 and "has no deploy/deploy.zip" in result.stderr
    result = run_dfx("deploy", tmp_path, "--to", "no-colon")
    assert "expected user@host:path" in result.stderr
