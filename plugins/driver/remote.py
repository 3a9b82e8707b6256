"""``dfx deploy BUILD --to user@host:path``: the deployment package onto a board over ssh.

Copies ``deploy/deploy.zip`` (rsync when it is installed, else scp), unpacks it there
with the remote Python, and with ``--run validate|throughput_test`` runs the driver
there and brings its metrics and outputs back into ``BUILD/deploy_results/<host>/``.
Every remote command runs under the remote ``timeout`` (coreutils) and a local limit,
so a run that hangs is stopped on both sides.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from dfx.errors import DfxError

TARGET = re.compile(r"^(?:(?P<user>[^@\s:]+)@)?(?P<host>[^@\s:/]+):(?P<path>\S+)$")
RESULT_FILES = {"throughput_test": ("nw_metrics.json", "nw_metrics.txt"),
                "validate": ("validate.json",), "execute": ("output.npy",)}


class DeployError(DfxError):
    """The package could not be copied to, unpacked on or run on the target."""


@dataclass
class Target:
    user: str | None
    host: str
    path: str
    port: int | None = None
    identity: str | None = None
    options: list[str] = field(default_factory=list)

    @property
    def login(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    def describe(self) -> str:
        return f"{self.login}{f' port {self.port}' if self.port else ''}"

    def ssh_args(self, port_flag: str = "-p") -> list[str]:
        args = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        if self.port:
            args += [port_flag, str(self.port)]
        if self.identity:
            args += ["-i", self.identity]
        for option in self.options:
            args += ["-o", option]
        return args


def parse_target(text: str, **kw) -> Target:
    match = TARGET.match(text or "")
    if not match:
        raise DeployError(f"--to {text!r}: expected user@host:path (for example "
                          f"xilinx@pynq-z1:/home/xilinx/dfx)")
    return Target(match["user"], match["host"], match["path"], **kw)


def _ssh(target: Target, command: str, limit_s: float, what: str) -> subprocess.CompletedProcess:
    """``command`` on the target, stopped there by ``timeout`` after ``limit_s`` and here a
    few seconds later."""
    remote = f"timeout -k 2 {limit_s:g} sh -c {shlex.quote(command)}"
    cmd = ["ssh", *target.ssh_args(), target.login, remote]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s + 10,
                                start_new_session=True)
    except subprocess.TimeoutExpired:
        raise DeployError(f"{what} on {target.describe()} did not end within {limit_s:g} s; "
                          f"stopped") from None
    if result.returncode == 255:
        raise DeployError(f"cannot reach {target.describe()} by ssh: "
                          f"{_last_line(result.stderr)}")
    if result.returncode in (124, 137):
        raise DeployError(f"{what} on {target.describe()} exceeded its time limit of "
                          f"{limit_s:g} s and was stopped there")
    return result


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _copy_to(target: Target, local: Path, remote_path: str, limit_s: float) -> str:
    """Copy one file; returns the tool used (rsync or scp)."""
    dest = f"{target.login}:{remote_path}"
    if shutil.which("rsync"):
        ssh = " ".join(shlex.quote(a) for a in ["ssh", *target.ssh_args()])
        cmd, tool = ["rsync", "-a", "-e", ssh, str(local), dest], "rsync"
    else:
        cmd, tool = ["scp", "-q", *target.ssh_args("-P"), str(local), dest], "scp"
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s)
    except subprocess.TimeoutExpired:
        raise DeployError(f"copying {local.name} to {target.describe()} took longer than "
                          f"{limit_s:g} s; stopped") from None
    if result.returncode != 0:
        raise DeployError(f"cannot copy {local.name} to {target.describe()} with {tool}: "
                          f"{_last_line(result.stderr)}")
    return tool


def _copy_from(target: Target, remote_path: str, local: Path, limit_s: float) -> bool:
    cmd = ["scp", "-q", *target.ssh_args("-P"), f"{target.login}:{remote_path}", str(local)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def deploy(build_dir: Path, target: Target, run: str | None = None, platform: str = "sim",
           remote_python: str = "python3", batch_size: int = 1000,
           dataset: str | None = None, labels: str | None = None,
           timeout_s: float = 300.0, log=print) -> dict:
    """Copy and unpack the package of ``build_dir`` on ``target``; optionally run it.

    Returns what happened (tool, remote folder, fetched files)."""
    build_dir = Path(build_dir)
    package = build_dir / "deploy" / "deploy.zip"
    if not package.is_file():
        raise DeployError(f"{build_dir} has no deploy/deploy.zip: build it with "
                          f"--generate-outputs deployment_package")
    if run not in (None, "validate", "throughput_test"):
        raise DeployError(f"--run {run!r}: choose validate or throughput_test")
    if run == "validate" and not dataset:
        raise DeployError("--run validate needs --dataset (a file in the package, e.g. the "
                          "one deployment_dataset copied in)")
    folder = shlex.quote(target.path)
    _ssh(target, f"mkdir -p {folder}", 30, "creating the folder")
    # the copy has its own, roomier limit: --timeout is for the run
    tool = _copy_to(target, package, f"{target.path}/deploy.zip", max(timeout_s, 300.0))
    unzip = (f"cd {folder} && {shlex.quote(remote_python)} -c "
             f"\"import zipfile; zipfile.ZipFile('deploy.zip').extractall('.')\"")
    result = _ssh(target, unzip, 60, "unpacking the package")
    if result.returncode != 0:
        raise DeployError(f"cannot unpack the package on {target.describe()}: "
                          f"{_last_line(result.stderr)}")
    log(f"deployed {package.name} to {target.login}:{target.path} ({tool})")
    summary = {"target": f"{target.login}:{target.path}", "tool": tool, "run": run,
               "fetched": []}
    if run is None:
        return summary
    py = shlex.quote(remote_python)
    if run == "throughput_test":
        args = (f"driver/driver.py --exec_mode throughput_test --platform {platform} "
                f"--batchsize {int(batch_size)}")
    else:
        args = f"driver/validate.py --platform {platform} --dataset {shlex.quote(dataset)}"
        if labels:
            args += f" --labels {shlex.quote(labels)}"
    result = _ssh(target, f"cd {folder} && {py} {args}", timeout_s, f"the {run} run")
    if result.returncode != 0:
        raise DeployError(f"the {run} run on {target.describe()} failed (exit "
                          f"{result.returncode}): {_last_line(result.stderr)}")
    results = build_dir / "deploy_results" / target.host
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{run}.log").write_text(result.stdout + result.stderr)
    for name in RESULT_FILES[run]:
        if _copy_from(target, f"{target.path}/{name}", results / name, 60):
            summary["fetched"].append(str(results / name))
    log(result.stdout.rstrip())
    log(f"results in {results}")
    return summary
