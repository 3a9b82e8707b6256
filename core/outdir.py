"""The build output folder: dfx writes only into a folder it made, and removes only its files.

A build is written into a staging folder *inside* the output folder
(``<out>/.dfx-staging-<pid>-<rand>/``) and, when it succeeds, moved into place file by
file. ``<out>/.dfx-build`` marks a folder as dfx's and lists every file a build wrote
there, so that the next build into it removes only those of its files it no longer
writes, and never a file of the user's.

* A new or empty folder is used as it is. A folder that holds anything else and has no
  marker is refused, unless ``force_output_dir`` (``--force``) is set; dfx then writes
  beside those files, refuses to overwrite any of them, and never removes them.
* A failed build never destroys a good one: when the folder holds a complete build, the
  failed build's log and ``build_status.json`` go to ``<out>/.dfx-failed/`` and the
  complete build stays. Without a complete build there, the failed build is published
  in its place, for inspection.
* The folder itself is never renamed or replaced: a symlink stays a symlink, its mode
  and owner stay, and ``-o .`` works.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from dfx.errors import ConfigError, StorageError

#: the marker of a folder that dfx made, with the list of the files it wrote there
MARKER = ".dfx-build"
#: where a failed build goes when the folder holds a complete one
FAILED_DIR = ".dfx-failed"
STAGING_PREFIX = ".dfx-staging-"
#: errno values that mean "the disk (or the quota) is full"
NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
#: how many foreign names a refusal lists
_SHOWN = 5


def storage_error(exc: OSError, doing: str = "writing") -> StorageError:
    """A :class:`StorageError` that names the file and the cause of ``exc``."""
    where = exc.filename or "a build file"
    if exc.errno in NO_SPACE:
        why = "no space left on the device (free some space, or choose another folder)"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = "permission denied"
    elif exc.errno == errno.EROFS:
        why = "the file system is read-only"
    else:
        why = exc.strerror or str(exc)
    return StorageError(f"{doing} {where}: {why}")


def is_storage_problem(exc: BaseException) -> bool:
    """Whether ``exc`` is a disk or permission failure rather than a bug."""
    return isinstance(exc, OSError) and exc.errno in (
        NO_SPACE | {errno.EACCES, errno.EPERM, errno.EROFS})


def _is_dfx_name(name: str) -> bool:
    return name in (MARKER, FAILED_DIR) or name.startswith(STAGING_PREFIX)


def read_marker(folder: Path) -> dict | None:
    """The marker of the dfx build in ``folder``, or None when it holds none."""
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        return None
    return data


def _write_marker(folder: Path, status: str, files: list[str], version: str) -> None:
    path = folder / MARKER
    tmp = folder / f"{MARKER}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps({"dfx_version": version, "status": status,
                               "files": sorted(files)}, indent=1) + "\n")
    os.replace(tmp, path)


def _foreign_entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not _is_dfx_name(p.name))


def _nearest_existing(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists() or parent.is_symlink():
            return parent
    return Path(path.anchor or ".")


@dataclass
class OutputFolder:
    """The output folder of one build, checked before any step runs.

    path:     the folder as the user named it (a symlink is followed, never replaced).
    previous: the marker of the build already there, or None.
    force:    write beside files dfx did not write (``force_output_dir``).
    keep:     paths that must never be removed or overwritten (the model file).
    """

    path: Path
    previous: dict | None
    force: bool
    keep: frozenset[Path]
    created: bool = False  # whether this build made the folder (an abandoned one removes it)

    @property
    def holds_good_build(self) -> bool:
        """Whether a complete earlier build is there (a failed run must keep it)."""
        return bool(self.previous) and self.previous.get("status") == "complete"

    @property
    def previous_files(self) -> set[str]:
        return set(self.previous["files"]) if self.previous else set()


def check_output_dir(path: str | Path, *, force: bool = False,
                     keep: tuple[Path, ...] = ()) -> OutputFolder:
    """Check that a build may write into ``path``; raises :class:`ConfigError` if not.

    Nothing is created or changed: this runs before the first step.
    """
    folder = Path(path)
    keep_set = frozenset(Path(os.path.realpath(p)) for p in keep)
    if folder.is_symlink() and not folder.exists():
        raise ConfigError(f"output_dir {str(folder)!r} is a symlink to "
                          f"{os.readlink(folder)!r}, which does not exist")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"output_dir {str(folder)!r} is a file, not a folder; choose "
                          f"another output folder (dfx does not replace files)")
    if not folder.exists():
        base = _nearest_existing(folder.absolute())
        if not base.is_dir():
            raise ConfigError(f"output_dir {str(folder)!r}: {str(base)!r} is a file, not a "
                              f"folder, so the output folder cannot be made there")
        if not os.access(base, os.W_OK | os.X_OK):
            raise ConfigError(f"output_dir {str(folder)!r} cannot be created: the folder "
                              f"{str(base)!r} is not writable")
        return OutputFolder(folder, None, force, keep_set)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"output_dir {str(folder)!r} is not writable (mode "
                          f"{folder.stat().st_mode & 0o777:o}); choose another folder")
    previous = read_marker(folder)
    if previous is None and not force:
        foreign = _foreign_entries(folder)
        if foreign:
            shown = ", ".join(foreign[:_SHOWN]) + (
                f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else "")
            raise ConfigError(
                f"output_dir {str(folder)!r} is not empty and is not a dfx build folder "
                f"(it holds {shown}); choose a new or empty folder, or pass --force "
                f"(force_output_dir: true) to write the build beside those files (dfx "
                f"removes or overwrites none of them)")
    return OutputFolder(folder, previous, force, keep_set)


def make_staging(out: OutputFolder) -> Path:
    """Create the output folder if needed and a fresh staging folder inside it."""
    try:
        out.created = not out.path.exists()
        out.path.mkdir(parents=True, exist_ok=True)
        _sweep_dead_staging(out.path)
        staging = out.path / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
    except OSError as exc:
        raise storage_error(exc, "creating the output folder at") from None
    return staging


def _sweep_dead_staging(folder: Path) -> None:
    """Remove staging folders that builds killed before they finished left behind."""
    for stale in folder.glob(f"{STAGING_PREFIX}*"):
        pid = stale.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _files_of(staging: Path) -> list[str]:
    return sorted(str(p.relative_to(staging)) for p in staging.rglob("*")
                  if p.is_file() or p.is_symlink())


def _clashes(out: OutputFolder, files: list[str]) -> list[str]:
    """The new files that would overwrite something dfx did not write."""
    mine = out.previous_files
    clashes = []
    for rel in files:
        dest = out.path / rel
        if rel in mine and Path(os.path.realpath(dest)) not in out.keep:
            continue
        if dest.exists() or dest.is_symlink():
            clashes.append(rel)
            continue
        parent = dest.parent
        while parent != out.path and not parent.exists():
            parent = parent.parent
        if parent != out.path and not parent.is_dir():
            clashes.append(str(parent.relative_to(out.path)))
    return clashes


def publish(out: OutputFolder, staging: Path, *, status: str, version: str,
            keep_previous_files: bool = False) -> list[str]:
    """Move the build in ``staging`` into the output folder; return the files it holds.

    Files of the earlier dfx build that this one no longer writes are removed (unless
    ``keep_previous_files``, for a build that starts at ``start_step``); nothing else is.
    Raises :class:`ConfigError` (and changes nothing) when a new file would overwrite one
    that dfx did not write.
    """
    files = _files_of(staging)
    clashes = _clashes(out, files)
    if clashes:
        model = [c for c in clashes if Path(os.path.realpath(out.path / c)) in out.keep]
        what = ("the model being built" if model == clashes else
                "which dfx did not write" if not model else
                "which dfx did not write or are the model being built")
        raise ConfigError(
            f"output_dir {str(out.path)!r}: the build would overwrite "
            f"{', '.join(clashes[:_SHOWN])}, {what}; move them away or choose another "
            f"output folder")
    old = out.previous_files
    # The marker lists old and new files while files move, so an interrupted move still
    # leaves every file of dfx's known as dfx's.
    _write_marker(out.path, "publishing", sorted(old | set(files)), version)
    for rel in files:
        dest = out.path / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, dest)
    kept = set(files)
    if keep_previous_files:
        kept |= {rel for rel in old if (out.path / rel).exists()}
    else:
        _remove_stale(out, old - kept)
    shutil.rmtree(staging, ignore_errors=True)
    if status == "complete":
        shutil.rmtree(out.path / FAILED_DIR, ignore_errors=True)
    _write_marker(out.path, status, sorted(kept), version)
    out.previous = read_marker(out.path)
    return sorted(kept)


def _remove_stale(out: OutputFolder, stale: set[str]) -> None:
    """Remove the earlier build's files in ``stale`` and the folders they leave empty."""
    for rel in sorted(stale):
        path = out.path / rel
        if Path(os.path.realpath(path)) in out.keep or not (path.is_file() or
                                                             path.is_symlink()):
            continue
        path.unlink()
        parent = path.parent
        while parent != out.path and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def keep_failure(out: OutputFolder, staging: Path) -> Path:
    """Move a failed build to ``<out>/.dfx-failed/`` (the build already there stays)."""
    failed = out.path / FAILED_DIR
    shutil.rmtree(failed, ignore_errors=True)
    os.replace(staging, failed)
    return failed


def discard(staging: Path) -> None:
    """Remove an unfinished build's staging folder."""
    shutil.rmtree(staging, ignore_errors=True)


def abandon(out: OutputFolder, staging: Path) -> None:
    """Leave the output folder as it was before the build: remove the staging folder, and
    the output folder too when this build made it and nothing else is in it."""
    discard(staging)
    if out.created:
        try:
            out.path.rmdir()
        except OSError:  # something else is in it now: leave it
            pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
