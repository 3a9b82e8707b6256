"""The content-addressed artifact cache of build steps.

A build step's result (its output model and the files it wrote) is stored
under a key that hashes everything the result depends on (see
:func:`make_key`). The layout of a cache root is::

    <root>/VERSION                   cache format version
    <root>/entries/<key[:2]>/<key>/  final entries
        model.onnx                   the step's output model (optional)
        files/...                    any files the step produced
        manifest.json                written last: key, step, created, content_hash, files, meta
    <root>/staging/<pid>-<random>/   entries being written (same filesystem as entries/)
    <root>/locks/<key>.lock          per-key lock files (filelock)
    <root>/locks/GLOBAL.lock         serializes clear() and cleanup_stale_staging()
    <root>/trash/                    folders being deleted

Readers never see half-written entries: an entry is written in a staging folder
and appears in ``entries/`` only by an atomic rename of the complete folder. A
folder in ``entries/`` without a valid ``manifest.json`` (or whose manifest lists
files that are missing or have another size) is not an entry: lookups treat it as
absent and move it aside.

Typical use::

    cache = ArtifactCache()
    key = make_key(step.name, step.version, model_hash, config_subset)
    with cache.claim(key) as claim:
        if claim.entry is None:          # nobody built it yet: build it now
            model.save(claim.model_path)
            (claim.files_dir / "report.json").write_text(...)
            claim.commit(step.name, {"seconds": 12.5})
        entry = claim.entry              # set in both cases
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import json
import logging
import math
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from dfx.errors import CacheError

__all__ = [
    "CACHE_FORMAT_VERSION",
    "ArtifactCache",
    "CacheEntry",
    "Claim",
    "default_cache_root",
    "make_key",
]

#: Bump when the layout or the manifest changes incompatibly.
CACHE_FORMAT_VERSION = 1

ENV_VAR = "DFX_CACHE_DIR"
MODEL_NAME = "model.onnx"
FILES_NAME = "files"
MANIFEST_NAME = "manifest.json"
VERSION_NAME = "VERSION"
GLOBAL_LOCK_NAME = "GLOBAL.lock"

_KEY_RE = re.compile(r"[0-9a-f]{2,128}")
_CHUNK = 1 << 20

log = logging.getLogger("dfx.cache")


# --------------------------------------------------------------------------- keys


def make_key(*parts: Any) -> str:
    """The cache key of ``parts``: sha256 (hex) of their canonical JSON encoding.

    Parts may be dicts (with str keys), lists, tuples, str, int, float (finite),
    bool, None and paths (encoded as their str). The encoding sorts dict keys and
    has no whitespace, so equal parts always give the same key.
    """
    text = json.dumps(
        [_canonical(p) for p in parts],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _canonical(obj: Any) -> Any:
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"make_key: non-finite float {obj!r} has no canonical encoding")
        return obj
    if isinstance(obj, os.PathLike):
        path = os.fspath(obj)
        if not isinstance(path, str):
            raise TypeError(f"make_key: bytes path {obj!r} is not supported")
        return path
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                # json would turn 1 and "1" into the same key: refuse instead of colliding.
                raise TypeError(f"make_key: dict keys must be str, not {type(k).__name__} ({k!r})")
            out[k] = _canonical(v)
        return out
    if isinstance(obj, (list, tuple)):
        return [_canonical(x) for x in obj]
    raise TypeError(
        f"make_key: cannot encode {type(obj).__name__} ({obj!r}); "
        "use dict, list, tuple, str, int, float, bool, None or a path"
    )


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError(
            f"invalid cache key {key!r}: expected lowercase hex (see dfx.cache.make_key)"
        )


# --------------------------------------------------------------------------- entries


@dataclass
class CacheEntry:
    """A complete entry of the cache (read-only: never modify its files)."""

    key: str
    path: Path
    manifest: dict

    @property
    def model_path(self) -> Path | None:
        """``model.onnx`` of the entry, or None if the step stored no model."""
        if any(f["path"] == MODEL_NAME for f in self.manifest["files"]):
            return self.path / MODEL_NAME
        return None

    @property
    def files_dir(self) -> Path:
        return self.path / FILES_NAME

    @property
    def content_hash(self) -> str:
        return self.manifest["content_hash"]

    @property
    def step(self) -> str:
        return self.manifest["step"]

    @property
    def meta(self) -> dict:
        return self.manifest["meta"]

    @property
    def created(self) -> float:
        return self.manifest["created"]

    @property
    def files(self) -> list[str]:
        """Paths (relative to :attr:`path`, with ``/``) of every file of the entry."""
        return [f["path"] for f in self.manifest["files"]]

    @property
    def size(self) -> int:
        """Total bytes of the entry's files (manifest excluded)."""
        return sum(f["size"] for f in self.manifest["files"])

    def verify(self) -> bool:
        """Re-hash the files and compare with the manifest (slow; lookups only check sizes)."""
        try:
            files = [(f["path"], self.path / f["path"]) for f in self.manifest["files"]]
            listing, content_hash = _hash_files(files, fsync=False)
        except (OSError, CacheError):
            return False
        return content_hash == self.content_hash and listing == self.manifest["files"]


def _hash_files(files: list[tuple[str, Path]], fsync: bool) -> tuple[list[dict], str]:
    """Per-file listing (path, size, sha256) and the content hash of ``files``.

    The content hash is sha256 over ``path NUL size NUL sha256(bytes) LF`` of each
    file, sorted by path, so it depends on nothing but the relative paths and bytes.
    """
    listing = []
    total = hashlib.sha256()
    for rel, path in sorted(files, key=lambda f: f[0]):
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
            if fsync:
                _fsync_fd(f.fileno())
        sha = digest.hexdigest()
        listing.append({"path": rel, "size": size, "sha256": sha})
        total.update(rel.encode("utf-8", "surrogateescape"))
        total.update(b"\0%d\0" % size)
        total.update(sha.encode("ascii") + b"\n")
    return listing, total.hexdigest()


def _manifest_problem(manifest: Any, key: str, path: Path) -> str | None:
    """Why ``manifest`` does not describe a complete entry at ``path`` (None if it does)."""
    if not isinstance(manifest, dict):
        return "manifest is not an object"
    if manifest.get("key") != key:
        return f"manifest is for key {manifest.get('key')!r}"
    for field, kind in (("step", str), ("content_hash", str), ("meta", dict), ("files", list)):
        if not isinstance(manifest.get(field), kind):
            return f"manifest field {field!r} missing or not a {kind.__name__}"
    if not isinstance(manifest.get("created"), (int, float)):
        return "manifest field 'created' missing or not a number"
    for f in manifest["files"]:
        if not (
            isinstance(f, dict)
            and isinstance(f.get("path"), str)
            and isinstance(f.get("size"), int)
        ):
            return f"bad file record {f!r}"
        rel = f["path"]
        parts = rel.split("/")
        if not (rel == MODEL_NAME or (parts[0] == FILES_NAME and len(parts) > 1)) or any(
            p in ("", ".", "..") for p in parts
        ):
            return f"bad file path {rel!r}"
        try:
            st = os.stat(path / rel)
        except OSError:
            return f"file {rel!r} is missing"
        if not stat.S_ISREG(st.st_mode) or st.st_size != f["size"]:
            return f"file {rel!r} has size {st.st_size}, manifest says {f['size']}"
    return None


class _Corrupt(Exception):
    pass


def _load_entry(key: str, path: Path) -> CacheEntry | None:
    """The entry at ``path``; None if there is nothing there; raises _Corrupt if broken."""
    try:
        with open(path / MANIFEST_NAME, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if os.path.lexists(path):
            raise _Corrupt("no manifest.json") from None
        return None
    except NotADirectoryError:
        raise _Corrupt("not a directory") from None
    except OSError as e:
        raise _Corrupt(f"cannot read manifest.json: {e}") from None
    try:
        manifest = json.loads(data)
    except ValueError as e:
        raise _Corrupt(f"manifest.json is not valid JSON: {e}") from None
    problem = _manifest_problem(manifest, key, path)
    if problem:
        raise _Corrupt(problem)
    return CacheEntry(key=key, path=path, manifest=manifest)


# --------------------------------------------------------------------------- claims


class Claim:
    """The right to build one key, held inside :meth:`ArtifactCache.claim`.

    ``entry`` is the complete entry found after taking the lock (None: build it).
    Write the result into ``model_path`` and ``files_dir`` (both inside
    ``staging_dir``), then call :meth:`commit`.
    """

    def __init__(self, cache: ArtifactCache, key: str, entry: CacheEntry | None):
        self.cache = cache
        self.key = key
        self.entry = entry
        self.committed = False
        self._staging: Path | None = None
        self._active = True

    @property
    def staging_dir(self) -> Path:
        """A fresh folder under ``<root>/staging`` (created on first access)."""
        if not self._active:
            raise RuntimeError(
                "the claim is over: use the staging dir inside the `with cache.claim()` block"
            )
        if self.committed:
            raise RuntimeError("the claim was already committed")
        if self._staging is None:
            self._staging = self.cache._new_staging_dir()
        return self._staging

    @property
    def files_dir(self) -> Path:
        """``staging_dir / "files"`` (exists): put the step's files here."""
        return self.staging_dir / FILES_NAME

    @property
    def model_path(self) -> Path:
        """``staging_dir / "model.onnx"``: save the step's output model here (optional)."""
        return self.staging_dir / MODEL_NAME

    def commit(self, step: str, meta: dict | None = None) -> CacheEntry:
        """Turn the staging dir into the entry of the key and return it.

        Computes the content hash, writes ``manifest.json`` last, fsyncs, and
        renames the staging dir into place. If a complete entry for the key
        appeared meanwhile (a process that did not see our lock), the staging dir
        is discarded and that entry is returned.
        """
        if not isinstance(step, str) or not step:
            raise TypeError(f"commit: step must be a non-empty str, not {step!r}")
        meta = {} if meta is None else meta
        if not isinstance(meta, dict):
            raise TypeError(f"commit: meta must be a dict, not {type(meta).__name__}")
        json.dumps(meta, allow_nan=False)  # TypeError/ValueError now rather than half-way
        staging = self.staging_dir  # checks active/committed, creates if never touched
        entry = self.cache._commit(self.key, staging, step, meta)
        self.committed = True
        self._staging = None
        self.entry = entry
        return entry

    def _discard(self) -> None:
        self._active = False
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None


# --------------------------------------------------------------------------- the cache


def default_cache_root() -> Path:
    """``$DFX_CACHE_DIR`` if set, else the user cache dir of dfx (platformdirs)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    import platformdirs  # lazy: keeps `import dfx.cache` light

    return Path(platformdirs.user_cache_dir("dfx"))


def simulators_dir() -> Path:
    """Where compiled simulators are kept (``dfx.plugins.rtlsim``): ``$DFX_SIM_CACHE_DIR``
    or the default cache root, in ``simulators/``. They are shared by every build on the
    machine, whatever ``--cache-dir`` a build uses."""
    return Path(os.environ.get("DFX_SIM_CACHE_DIR") or default_cache_root()) / "simulators"


def compiled_simulators(root: Path) -> list[Path]:
    """The finished simulators in ``root`` (folders holding a ``Vdfx_top`` binary)."""
    return [p for p in root.iterdir() if (p / "Vdfx_top").is_file()] if root.is_dir() else []


class ArtifactCache:
    """dfx's content-addressed artifact cache (see the module docstring).

    root:          the cache root; default :func:`default_cache_root`.
    enabled:       False uses a private temporary root, removed at process exit,
                   so callers need no special case for "no cache".
    check_version: False lets a root with another format version be opened so that
                   :meth:`clear` can reset it (every other method then raises CacheError).
    """

    def __init__(
        self, root: str | Path | None = None, enabled: bool = True, *, check_version: bool = True
    ):
        self.enabled = enabled
        if not enabled:
            root = tempfile.mkdtemp(prefix="dfx-cache-")
            atexit.register(_remove_private_root, root, os.getpid())
        elif root is None:
            root = default_cache_root()
        self.root = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
        self._version_problem = self._init_root()
        if self._version_problem and check_version:
            raise CacheError(self._version_problem)

    def __repr__(self) -> str:
        return f"ArtifactCache({str(self.root)!r}, enabled={self.enabled})"

    # ---- layout

    @property
    def entries_dir(self) -> Path:
        return self.root / "entries"

    @property
    def staging_root(self) -> Path:
        return self.root / "staging"

    @property
    def locks_dir(self) -> Path:
        return self.root / "locks"

    @property
    def trash_dir(self) -> Path:
        return self.root / "trash"

    def entry_path(self, key: str) -> Path:
        _check_key(key)
        return self.entries_dir / key[:2] / key

    def lock_path(self, key: str) -> Path:
        _check_key(key)
        return self.locks_dir / f"{key}.lock"

    def _init_root(self) -> str | None:
        """Create the layout; return a message if the root has another format version."""
        root = self.root
        version_file = root / VERSION_NAME
        try:
            root.mkdir(parents=True, exist_ok=True)
            for _ in range(3):
                try:
                    found = version_file.read_text(encoding="utf-8").strip()
                    break
                except FileNotFoundError:
                    pass
                others = [p.name for p in root.iterdir() if not p.name.startswith(".VERSION.")]
                if VERSION_NAME in others:
                    continue  # another process initialized it meanwhile: read it
                if others:
                    raise CacheError(
                        f"{root} is not empty and is not a dfx cache (no {VERSION_NAME} file); "
                        f"choose another cache directory ({ENV_VAR} or --cache-dir)"
                    )
                tmp = root / f".VERSION.{os.getpid()}.{secrets.token_hex(4)}"
                tmp.write_text(f"{CACHE_FORMAT_VERSION}\n", encoding="utf-8")
                os.replace(tmp, version_file)
            else:  # pragma: no cover - VERSION keeps vanishing
                raise CacheError(f"cannot initialize the cache at {root}")
            if found != str(CACHE_FORMAT_VERSION):
                return (
                    f"the cache at {root} has format version {found!r} but this dfx uses "
                    f"{CACHE_FORMAT_VERSION}; run `dfx cache clear` to reset it"
                )
            for d in (self.entries_dir, self.staging_root, self.locks_dir):
                d.mkdir(exist_ok=True)
        except OSError as e:
            raise CacheError(f"cannot use the cache directory {root}: {e}") from e
        return None

    def _check_usable(self) -> None:
        if self._version_problem:
            raise CacheError(self._version_problem)

    # ---- lookup

    def lookup(self, key: str) -> CacheEntry | None:
        """The complete entry of ``key``, or None. Takes no lock (waits for nobody)."""
        self._check_usable()
        path = self.entry_path(key)
        try:
            return _load_entry(key, path)
        except _Corrupt as e:
            log.warning("cache entry %s is corrupt (%s); ignoring it", path, e)
        # Remove it only if nobody is building this key right now (that process
        # re-checks under the lock and removes it itself).
        lock = filelock.FileLock(str(self.lock_path(key)))
        try:
            self.locks_dir.mkdir(parents=True, exist_ok=True)
            lock.acquire(timeout=0)
        except (filelock.Timeout, OSError):
            return None
        try:
            return self._lookup_locked(key)
        finally:
            lock.release()

    def _lookup_locked(self, key: str) -> CacheEntry | None:
        """Lookup while holding the key's lock: a corrupt entry is moved aside."""
        path = self.entry_path(key)
        try:
            return _load_entry(key, path)
        except _Corrupt as e:
            log.warning("removing corrupt cache entry %s (%s)", path, e)
            self._move_to_trash(path)
            return None

    # ---- claims

    @contextmanager
    def claim(self, key: str, timeout: float = 600) -> Iterator[Claim]:
        """Hold the lock of ``key`` for the ``with`` block (see :class:`Claim`).

        A second process claiming the same key waits (up to ``timeout`` seconds;
        negative waits forever), then sees ``claim.entry`` set by the first. The
        staging dir is removed if the block ends without :meth:`Claim.commit`.
        """
        self._check_usable()
        lock_path = self.lock_path(key)
        try:
            self.locks_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CacheError(f"cannot create {self.locks_dir}: {e}") from e
        lock = filelock.FileLock(str(lock_path))
        try:
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                log.info("waiting for another dfx process that builds cache entry %s", key)
                lock.acquire(timeout=timeout)
        except filelock.Timeout:
            raise CacheError(
                f"timed out after {timeout:g} s waiting for the cache lock {lock_path} "
                "(another dfx process is building the same step)"
            ) from None
        except OSError as e:
            raise CacheError(f"cannot lock {lock_path}: {e}") from e
        claim = None
        try:
            claim = Claim(self, key, self._lookup_locked(key))
            yield claim
        finally:
            try:
                if claim is not None:
                    claim._discard()
            finally:
                lock.release()

    def _new_staging_dir(self) -> Path:
        try:
            self.staging_root.mkdir(parents=True, exist_ok=True)
            path = self.staging_root / f"{os.getpid()}-{secrets.token_hex(8)}"
            path.mkdir()
            (path / FILES_NAME).mkdir()
        except OSError as e:
            raise CacheError(f"cannot create a staging dir in {self.staging_root}: {e}") from e
        return path

    def _commit(self, key: str, staging: Path, step: str, meta: dict) -> CacheEntry:
        files = _collect_staging_files(staging)
        try:
            listing, content_hash = _hash_files(files, fsync=True)
            manifest = {
                "format": CACHE_FORMAT_VERSION,
                "key": key,
                "step": step,
                "created": time.time(),
                "content_hash": content_hash,
                "files": listing,
                "meta": meta,
            }
            data = json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False).encode("utf-8")
            with open(staging / MANIFEST_NAME, "xb") as f:
                f.write(data)
                f.flush()
                _fsync_fd(f.fileno())
            for dirpath, _dirnames, _filenames in os.walk(staging):
                _fsync_dir(dirpath)
        except OSError as e:
            raise CacheError(f"cannot write the cache entry of step {step!r}: {e}") from e

        dest = self.entry_path(key)
        for _attempt in range(10):
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staging, dest)
            except OSError as e:
                if not staging.is_dir():
                    raise CacheError(
                        f"the staging dir {staging} vanished before commit "
                        "(removed by `dfx cache clear` or a stale-staging cleanup?)"
                    ) from e
                if isinstance(e, FileNotFoundError):
                    continue  # entries/ was renamed away by clear(): recreate and retry
                if not os.path.lexists(dest):
                    raise CacheError(f"cannot move {staging} to {dest}: {e}") from e
                try:
                    existing = _load_entry(key, dest)
                except _Corrupt as why:
                    log.warning("replacing corrupt cache entry %s (%s)", dest, why)
                    self._move_to_trash(dest)
                    continue
                if existing is None:
                    continue
                # Another process committed the same key without seeing our lock.
                log.info("cache entry %s appeared while building it; keeping the existing one", key)
                shutil.rmtree(staging, ignore_errors=True)
                return existing
            else:
                _fsync_dir(dest.parent)
                return CacheEntry(key=key, path=dest, manifest=manifest)
        raise CacheError(f"cannot move {staging} to {dest}: the cache keeps changing underneath")

    # ---- maintenance

    def _global_lock(self, timeout: float = 60) -> filelock.FileLock:
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.locks_dir / GLOBAL_LOCK_NAME))
        try:
            lock.acquire(timeout=timeout)
        except filelock.Timeout:
            raise CacheError(
                f"timed out waiting for {lock.lock_file} (another `dfx cache` command is running)"
            ) from None
        return lock

    def _move_to_trash(self, path: Path) -> None:
        """Atomically take ``path`` out of its place, then delete it."""
        try:
            self.trash_dir.mkdir(parents=True, exist_ok=True)
            aside = self.trash_dir / f"{os.getpid()}-{secrets.token_hex(8)}"
            os.rename(path, aside)
        except FileNotFoundError:
            return  # already gone
        except OSError as e:
            log.warning("cannot move %s aside: %s", path, e)
            return
        _rmtree(aside)

    def clear(self) -> int:
        """Remove every entry (and stale staging dirs); return how many entries were removed.

        Safe while other processes build: ``entries/`` is renamed away atomically
        (readers see all or nothing) and claims that commit later recreate it.
        """
        lock = self._global_lock()
        try:
            if self._version_problem:
                return self._reset_root()
            self.trash_dir.mkdir(parents=True, exist_ok=True)
            aside = self.trash_dir / f"{os.getpid()}-{secrets.token_hex(8)}"
            try:
                os.rename(self.entries_dir, aside)
            except FileNotFoundError:
                pass
            self.entries_dir.mkdir(exist_ok=True)
            count = _count_entry_dirs(aside)
            # Everything in trash/ is garbage: we hold the global lock, so no other clear runs.
            for p in list(self.trash_dir.iterdir()):
                _rmtree(p)
            self._cleanup_stale_staging(3600)
            self._remove_idle_lock_files()
            return count
        except OSError as e:
            raise CacheError(f"cannot clear the cache at {self.root}: {e}") from e
        finally:
            lock.release()

    def _reset_root(self) -> int:
        """clear() of a root with another format version: wipe it and re-initialize."""
        count = _count_entry_dirs(self.entries_dir)
        for p in list(self.root.iterdir()):
            if p.name in (self.locks_dir.name, VERSION_NAME):
                continue
            _rmtree(p)
        self._remove_idle_lock_files()
        tmp = self.root / f".VERSION.{os.getpid()}.{secrets.token_hex(4)}"
        tmp.write_text(f"{CACHE_FORMAT_VERSION}\n", encoding="utf-8")
        os.replace(tmp, self.root / VERSION_NAME)
        self._version_problem = self._init_root()
        log.warning("reset the cache at %s to format version %s", self.root, CACHE_FORMAT_VERSION)
        return count

    def _remove_idle_lock_files(self) -> None:
        # Delete only lock files nobody holds, while holding them ourselves.
        # filelock notices a lock taken on an unlinked file and retries, and
        # _commit() tolerates an entry that appeared anyway, so this is safe.
        try:
            names = [p for p in self.locks_dir.iterdir() if p.name != GLOBAL_LOCK_NAME]
        except FileNotFoundError:
            return
        for p in names:
            lock = filelock.FileLock(str(p))
            try:
                lock.acquire(timeout=0)
            except (filelock.Timeout, OSError):
                continue
            try:
                p.unlink()
            except OSError:
                pass
            finally:
                lock.release()

    def cleanup_stale_staging(self, older_than_s: float = 3600) -> int:
        """Remove staging dirs of dead processes untouched for ``older_than_s`` seconds.

        Staging dirs are named ``<pid>-<random>``; a dir whose process is alive is
        kept. The age (newest modification in the tree) guards against processes
        in other pid namespaces (containers sharing a cache dir). Returns how many
        were removed.
        """
        self._check_usable()
        lock = self._global_lock()
        try:
            return self._cleanup_stale_staging(older_than_s)
        finally:
            lock.release()

    def _stale_staging_dirs(self, older_than_s: float) -> list[Path]:
        try:
            children = list(self.staging_root.iterdir())
        except FileNotFoundError:
            return []
        now = time.time()
        stale = []
        for p in children:
            pid = _staging_pid(p.name)
            if pid is not None and _pid_alive(pid):
                continue
            if older_than_s > 0 and now - _newest_mtime(p) < older_than_s:
                continue
            stale.append(p)
        return stale

    def _cleanup_stale_staging(self, older_than_s: float) -> int:
        count = 0
        for p in self._stale_staging_dirs(older_than_s):
            _rmtree(p)
            if not os.path.lexists(p):
                count += 1
                log.info("removed stale staging dir %s", p)
        return count

    def info(self) -> dict:
        """Statistics of the cache (reads without locks; changes nothing).

        Keys: root, format_version, enabled, entries, bytes (sum of the entries'
        file sizes), steps ({step: {"entries", "bytes"}}), oldest / newest (created
        times, None if empty), corrupt (folders that are not valid entries),
        staging (staging dirs), stale_staging / stale_staging_paths (staging dirs
        of dead processes).
        """
        self._check_usable()
        entries = nbytes = corrupt = 0
        steps: dict[str, dict[str, int]] = {}
        oldest = newest = None
        for key, path in self._iter_entry_dirs():
            try:
                entry = _load_entry(key, path)
            except _Corrupt:
                corrupt += 1
                continue
            if entry is None:  # removed meanwhile
                continue
            size = entry.size
            entries += 1
            nbytes += size
            s = steps.setdefault(entry.step, {"entries": 0, "bytes": 0})
            s["entries"] += 1
            s["bytes"] += size
            created = entry.created
            oldest = created if oldest is None else min(oldest, created)
            newest = created if newest is None else max(newest, created)
        try:
            staging = sum(1 for _ in self.staging_root.iterdir())
        except FileNotFoundError:
            staging = 0
        stale = self._stale_staging_dirs(0)
        return {
            "root": str(self.root),
            "format_version": CACHE_FORMAT_VERSION,
            "enabled": self.enabled,
            "entries": entries,
            "bytes": nbytes,
            "steps": dict(sorted(steps.items())),
            "oldest": oldest,
            "newest": newest,
            "corrupt": corrupt,
            "staging": staging,
            "stale_staging": len(stale),
            "stale_staging_paths": [str(p) for p in stale],
        }

    def _iter_entry_dirs(self) -> Iterator[tuple[str, Path]]:
        try:
            shards = sorted(self.entries_dir.iterdir())
        except FileNotFoundError:
            return
        for shard in shards:
            try:
                children = sorted(shard.iterdir())
            except (FileNotFoundError, NotADirectoryError):
                continue
            for child in children:
                if _KEY_RE.fullmatch(child.name) and child.name[:2] == shard.name:
                    yield child.name, child


# --------------------------------------------------------------------------- helpers


def _collect_staging_files(staging: Path) -> list[tuple[str, Path]]:
    """(path relative to the entry, absolute path) of every file to commit."""
    files: list[tuple[str, Path]] = []
    for child in sorted(os.listdir(staging)):
        full = staging / child
        mode = os.lstat(full).st_mode
        if child == MODEL_NAME and stat.S_ISREG(mode):
            files.append((MODEL_NAME, full))
        elif child == FILES_NAME and stat.S_ISDIR(mode):
            continue
        else:
            raise CacheError(
                f"unexpected {child!r} in the staging dir {staging}: an entry holds only "
                f"{MODEL_NAME} and a {FILES_NAME}/ folder"
            )
    files_root = staging / FILES_NAME
    for dirpath, dirnames, filenames in os.walk(files_root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            mode = os.lstat(full).st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                kind = "symlink" if stat.S_ISLNK(mode) else "special file"
                raise CacheError(
                    f"cannot cache {full}: it is a {kind} (only regular files are cached)"
                )
            files.append((full.relative_to(staging).as_posix(), full))
    return files


def _count_entry_dirs(entries_dir: Path) -> int:
    count = 0
    try:
        shards = list(entries_dir.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for shard in shards:
        try:
            count += sum(1 for c in shard.iterdir() if c.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            pass
    return count


def _staging_pid(name: str) -> int | None:
    head, sep, _ = name.partition("-")
    if sep and head.isdigit():
        return int(head)
    return None


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (conservative: True when unsure)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # pragma: no cover - os.kill(pid, 0) would terminate it there
        import ctypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.get_last_error() != 87  # ERROR_INVALID_PARAMETER: no such process
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # EPERM: exists, belongs to someone else
    return True


def _newest_mtime(path: Path) -> float:
    try:
        newest = os.lstat(path).st_mtime
    except OSError:
        return 0.0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
            except OSError:
                pass
    return newest


def _rmtree(path: Path) -> None:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def _fsync_fd(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as e:  # pragma: no cover - filesystems without fsync
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise


def _fsync_dir(path: str | Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - directories cannot be opened there
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        _fsync_fd(fd)
    finally:
        os.close(fd)


def _remove_private_root(path: str, owner_pid: int) -> None:
    # A forked child that exits normally runs atexit too: only the creator removes it.
    if os.getpid() == owner_pid:
        shutil.rmtree(path, ignore_errors=True)
