"""A real OpenSSH server on 127.0.0.1 for the tests, as tests/test_deploy.py starts one.

Throw-away host and user keys, free ports, no passwords; the login is the current user.
One server can listen on several ports: the HIL tests use two ports as two "boards".
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LoopbackSshd:
    proc: subprocess.Popen
    ports: list[int]
    key: Path
    user: str
    folder: Path

    @property
    def ssh_options(self) -> list[str]:
        return ["StrictHostKeyChecking=no",
                f"UserKnownHostsFile={self.folder / 'known_hosts'}"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def missing_reason() -> str | None:
    """Why no loopback sshd can be started here, or None."""
    if not SSHD.is_file():
        return ("no OpenSSH server (/usr/sbin/sshd): .ci/run installs openssh-server when "
                "it runs as root")
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return "no ssh client (ssh, ssh-keygen)"
    return None


def start_sshd(folder: Path, n_ports: int = 1) -> LoopbackSshd:
    """An sshd on ``n_ports`` free loopback ports; raises RuntimeError when it cannot
    start (the caller skips)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(folder / name)], check=True)
    (folder / "authorized_keys").write_text((folder / "user_key.pub").read_text())
    os.chmod(folder / "authorized_keys", 0o600)
    Path("/run/sshd").mkdir(exist_ok=True)  # the privilege separation folder sshd wants
    ports = [free_port() for _ in range(n_ports)]
    config = folder / "sshd_config"
    config.write_text("".join(f"Port {p}\n" for p in ports) + f"""ListenAddress 127.0.0.1
HostKey {folder / 'host_key'}
AuthorizedKeysFile {folder / 'authorized_keys'}
PidFile {folder / 'sshd.pid'}
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
MaxStartups 50
Subsystem sftp /usr/lib/openssh/sftp-server
""")
    log = folder / "sshd.log"  # a file, not a pipe: a full pipe would stall sshd
    with open(log, "w") as log_file:
        proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)],
                                stderr=log_file)
    for port in ports:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"sshd did not start: {log.read_text()[-300:]}")
            time.sleep(0.05)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    return LoopbackSshd(proc, ports, folder / "user_key", user, folder)
