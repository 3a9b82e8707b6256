"""The content-addressed artifact cache of build steps.

A build step's result (its output model and the files it wrote) is stored
under a key that hashes everything the result depends on (see
:func:`make_key`). The layout of a cache root is::

    <root>/VERSION                   cache format version
    <root>/entries/<key[:2]>/<key>/  final entries
        model.onnx                   the step's output model (optional), its large
                                     initializers left out (they are blobs)
        files/...                    any files the step produced
        manifest.json                written last: key, step, created, content_hash, files,
                                     blobs, meta
    <root>/blobs/<sha[:2]>/<sha>     large initializers (raw bytes), stored once, shared by
                                     every entry whose model holds them
    <root>/staging/<pid>-<random>/   entries being written (same filesystem as entries/)
    <root>/locks/<key>.lock          per-key lock files (filelock)
    <root>/locks/GLOBAL.lock         serializes clear() and cleanup_stale_staging()
    <root>/trash/                    folders being deleted

Readers never see half-written entries: an entry is written in a staging folder
and appears in ``entries/`` only by an atomic rename of the complete folder. A
folder in ``entries/`` without a valid ``manifest.json`` (or whose manifest lists
files or blobs that are missing or have another size) is not an entry: lookups
treat it as absent and move it aside. Content is checked when it is served:
:meth:`CacheEntry.copy_file`, :meth:`CacheEntry.write_model` and
:meth:`CacheEntry.read_model` hash what they read and raise
:class:`DamagedEntryError` when the bytes differ from the manifest (a blob is
written and renamed into place before the manifest naming it). Files are not
fsynced unless ``DFX_CACHE_FSYNC=1`` (see :data:`FSYNC_ENV_VAR`).

Typical use::

    cache = ArtifactCache()
    key = make_key(step.name, step.version, model_hash, config_subset)
    with cache.claim(key) as claim:
        if claim.entry is None:          # nobody built it yet: build it now
            claim.save_model(model)      # or model.save(claim.model_path)
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
    "DamagedEntryError",
    "default_cache_root",
    "make_key",
]

#: Bump when the layout or the manifest changes incompatibly.
CACHE_FORMAT_VERSION = 2  # 2: large initializers in blobs/

ENV_VAR = "DFX_CACHE_DIR"
MODEL_NAME = "model.onnx"
FILES_NAME = "files"
MANIFEST_NAME = "manifest.json"
VERSION_NAME = "VERSION"
GLOBAL_LOCK_NAME = "GLOBAL.lock"
BLOBS_NAME = "blobs"
#: Initializers at least this large (bytes) are stored once, as blobs.
BLOB_MIN_BYTES = 64 * 1024

_KEY_RE = re.compile(r"[0-9a-f]{2,128}")
_SHA_RE = re.compile(r"[0-9a-f]{64}")
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


class DamagedEntryError(CacheError):
    """Bytes of a cache entry (a file or a blob it names) differ from its manifest."""

    def __init__(self, entry: CacheEntry, what: str, why: str, blob: str | None = None):
        self.key = entry.key
        self.blob = blob  # the sha256 of the damaged blob, if a blob is at fault
        self.step = entry.step
        self.what = what
        self.why = why
        super().__init__(f"cache entry of step {entry.step!r} ({entry.key[:12]}) is damaged: "
                         f"{what} {why}")


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
        """Total bytes of the entry's files (manifest and shared blobs excluded)."""
        return sum(f["size"] for f in self.manifest["files"])

    @property
    def blobs(self) -> list[dict]:
        """The payloads cut out of model.onnx into blobs: index (of the initializer),
        tensor, field (of TensorProto), offset (where it goes back in model.onnx),
        sha256, size."""
        return self.manifest.get("blobs", [])

    def blob_path(self, sha: str) -> Path:
        """Where the blob ``sha`` lives (entries sit at ``<root>/entries/xx/<key>``)."""
        return self.path.parent.parent.parent / BLOBS_NAME / sha[:2] / sha

    def _record(self, rel: str) -> dict:
        for f in self.manifest["files"]:
            if f["path"] == rel:
                return f
        raise KeyError(f"{rel!r} is not a file of cache entry {self.key}")

    def copy_file(self, rel: str, dst: Path) -> None:
        """Copy the entry's file ``rel`` to ``dst``, hashing while copying.

        Raises DamagedEntryError (and removes ``dst``) if the bytes differ from the
        manifest's sha256.
        """
        record = self._record(rel)
        digest = hashlib.sha256()
        try:
            with open(self.path / rel, "rb") as src, open(dst, "wb") as out:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except FileNotFoundError:
            _unlink(dst)
            raise DamagedEntryError(self, rel, "is missing") from None
        if digest.hexdigest() != record.get("sha256"):
            _unlink(dst)
            raise DamagedEntryError(self, rel, "does not match its sha256 (bytes changed)")

    def _splice_to(self, out: Any) -> None:
        """Write the self-contained serialized model to ``out`` (a binary file), verified."""
        record = self._record(MODEL_NAME)
        try:
            head = (self.path / MODEL_NAME).read_bytes()
        except FileNotFoundError:
            raise DamagedEntryError(self, MODEL_NAME, "is missing") from None
        if hashlib.sha256(head).hexdigest() != record.get("sha256"):
            raise DamagedEntryError(self, MODEL_NAME, "does not match its sha256 (bytes changed)")
        done = 0
        for ref in sorted(self.blobs, key=lambda r: r["offset"]):
            out.write(memoryview(head)[done:ref["offset"]])
            done = ref["offset"]
            what = f"blob {ref['sha256'][:12]} (initializer {ref['tensor']!r})"
            path = self.blob_path(ref["sha256"])
            digest = hashlib.sha256()
            try:
                with open(path, "rb") as blob:
                    stamp = _stamp(os.fstat(blob.fileno()))
                    if _VERIFIED_BLOBS.get(str(path)) == stamp:
                        shutil.copyfileobj(blob, out, _CHUNK)  # hashed earlier, unchanged
                        continue
                    while chunk := blob.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            except FileNotFoundError:
                raise DamagedEntryError(self, what, "is missing") from None
            if digest.hexdigest() == ref["sha256"]:
                _VERIFIED_BLOBS[str(path)] = stamp
            else:
                raise DamagedEntryError(self, what, "does not match its sha256 (bytes changed)",
                                        blob=ref["sha256"])
        out.write(memoryview(head)[done:])

    def model_bytes(self) -> bytes:
        """The entry's model, serialized and self-contained, every byte verified."""
        if self.model_path is None:
            raise CacheError(f"cache entry {self.key} of step {self.step!r} holds no model")
        import io

        out = io.BytesIO()
        self._splice_to(out)
        return out.getvalue()

    def read_model(self):
        """The entry's model as an ``onnx.ModelProto``, every byte verified.

        Raises DamagedEntryError if model.onnx or a blob does not match its sha256.
        """
        import onnx  # lazy: keeps `import dfx.cache` light

        data = self.model_bytes()  # raises DamagedEntryError
        proto = onnx.ModelProto()
        try:
            proto.ParseFromString(data)
        except Exception as exc:  # protobuf's DecodeError: the hashes matched, so a bug
            raise CacheError(f"cache entry {self.key}: its model does not parse: {exc}") \
                from None
        return proto

    def write_model(self, dst: Path) -> None:
        """Write the entry's model to ``dst`` as a self-contained .onnx, verified as it is
        copied (DamagedEntryError, and no ``dst``, if a byte differs)."""
        if self.model_path is None:
            raise CacheError(f"cache entry {self.key} of step {self.step!r} holds no model")
        try:
            with open(dst, "wb") as out:
                self._splice_to(out)
        except BaseException:
            _unlink(dst)
            raise

    def problem(self) -> str | None:
        """Re-hash every file and blob; what is wrong with the entry (None: it is sound)."""
        try:
            files = [(f["path"], self.path / f["path"]) for f in self.manifest["files"]]
            listing, content_hash = _hash_files(files, fsync=False, blobs=self.blobs)
        except OSError as e:
            return f"cannot read a file: {e}"
        recorded = {f["path"]: f for f in self.manifest["files"]}
        for f in listing:
            if recorded.get(f["path"]) != f:
                return f"{f['path']} does not match its sha256 (bytes changed)"
        for ref in self.blobs:
            try:
                sha = _file_sha256(self.blob_path(ref["sha256"]))
            except OSError:
                return f"blob {ref['sha256'][:12]} is missing"
            if sha != ref["sha256"]:
                return f"blob {ref['sha256'][:12]} does not match its sha256 (bytes changed)"
        if content_hash != self.content_hash:
            return "the content hash does not match the manifest"
        return None

    def verify(self) -> bool:
        """Re-hash the files and blobs and compare with the manifest (slow)."""
        return self.problem() is None


#: Blobs hashed by this process: path -> (size, mtime_ns, inode) then. A blob shared by
#: several entries of a build is hashed once; a changed file is hashed again.
_VERIFIED_BLOBS: dict[str, tuple[int, int, int]] = {}


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


#: TensorProto fields whose payload may be large: float, int32, int64, raw, double,
#: uint64 data (the repeated numbers are packed: one length-delimited record).
_TENSOR_DATA_FIELDS = (4, 5, 7, 9, 10, 11)


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("bad varint")


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of the protobuf fields in ``buf[start:end]``;
    start/end delimit the payload of length-delimited fields (wire type 2)."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos)
        field_no, wire = tag >> 3, tag & 7
        if wire == 0:
            _, nxt = _varint(buf, pos)
        elif wire == 1:
            nxt = pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            nxt = pos + length
        elif wire == 5:
            nxt = pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if nxt > end:
            raise ValueError("truncated protobuf")
        yield field_no, wire, pos, nxt
        pos = nxt


def _large_payloads(buf: memoryview, min_bytes: int) -> list[tuple[int, str, int, int, int]]:
    """(initializer index, name, field, start, end) of every data payload of at least
    ``min_bytes`` in the initializers of a serialized ModelProto (graph = field 7,
    initializer = field 5 of GraphProto, name = field 8 of TensorProto)."""
    found = []
    for field_no, wire, start, end in _fields(buf, 0, len(buf)):
        if field_no != 7 or wire != 2:
            continue
        index = 0
        for g_no, g_wire, t_start, t_end in _fields(buf, start, end):
            if g_no != 5 or g_wire != 2:
                continue
            if t_end - t_start >= min_bytes:
                name, big = "", []
                for t_no, t_wire, p_start, p_end in _fields(buf, t_start, t_end):
                    if t_wire != 2:
                        continue
                    if t_no == 8:
                        name = bytes(buf[p_start:p_end]).decode("utf-8", "replace")
                    elif t_no in _TENSOR_DATA_FIELDS and p_end - p_start >= min_bytes:
                        big.append((t_no, p_start, p_end))
                found += [(index, name, f, a, b) for f, a, b in big]
            index += 1
    return found


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _hash_files(files: list[tuple[str, Path]], fsync: bool,
                blobs: list[dict] | None = None) -> tuple[list[dict], str]:
    """Per-file listing (path, size, sha256) and the content hash of ``files``.

    The content hash is sha256 over ``path NUL size NUL sha256(bytes) LF`` of each
    file, sorted by path, then ``blob NUL index NUL tensor NUL sha256 LF`` of each
    blob of the model, so it depends on nothing but the relative paths and bytes.
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
    for ref in blobs or []:
        total.update(b"blob\0%d\0%d\0%d\0" % (ref["index"], ref["field"], ref["offset"]))
        total.update(ref["tensor"].encode("utf-8", "surrogateescape"))
        total.update(b"\0" + ref["sha256"].encode("ascii") + b"\n")
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
    blobs = manifest.get("blobs", [])
    if not isinstance(blobs, list):
        return "manifest field 'blobs' is not a list"
    for ref in blobs:
        if not (isinstance(ref, dict) and isinstance(ref.get("index"), int)
                and isinstance(ref.get("field"), int) and isinstance(ref.get("offset"), int)
                and isinstance(ref.get("tensor"), str) and isinstance(ref.get("size"), int)
                and isinstance(ref.get("sha256"), str) and _SHA_RE.fullmatch(ref["sha256"])):
            return f"bad blob record {ref!r}"
        blob = path.parent.parent.parent / BLOBS_NAME / ref["sha256"][:2] / ref["sha256"]
        try:
            size = os.stat(blob).st_size
        except OSError:
            return f"blob {ref['sha256'][:12]} (initializer {ref['tensor']!r}) is missing"
        if size != ref["size"]:
            return f"blob {ref['sha256'][:12]} has size {size}, manifest says {ref['size']}"
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
        self._blobs: list[dict] = []

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

    def save_model(self, model: Any) -> None:
        """Save ``model`` (a ModelWrapper, an ``onnx.ModelProto`` or its serialized bytes).

        The payloads of large initializers (at least :data:`BLOB_MIN_BYTES` of raw
        or packed data) go to the shared blob store, written atomically now, before
        the manifest that names them; ``model.onnx`` keeps the serialized model with
        those payloads cut out (the manifest records where they go back), so the
        self-contained model is put back together by splicing bytes, without a parse.
        """
        proto = getattr(model, "model", model)
        data = proto if isinstance(proto, bytes) else proto.SerializeToString()
        staging = self.staging_dir
        refs: list[dict] = []
        pieces: list[bytes | memoryview] = []
        view = memoryview(data)
        done = cut = 0
        for index, name, field_no, start, end in _large_payloads(view, BLOB_MIN_BYTES):
            payload = view[start:end]
            sha = hashlib.sha256(payload).hexdigest()
            self.cache._store_blob(sha, payload, staging)
            pieces.append(view[done:start])
            refs.append({"index": index, "tensor": name, "field": field_no,
                         "offset": start - cut, "sha256": sha, "size": end - start})
            cut += end - start
            done = end
        pieces.append(view[done:])
        try:
            with open(staging / MODEL_NAME, "wb") as f:
                for piece in pieces:
                    f.write(piece)
        except OSError as e:
            raise CacheError(f"cannot write {staging / MODEL_NAME}: {e}") from e
        self._blobs = refs

    def drop(self, why: str | DamagedEntryError) -> None:
        """Move the claimed key's entry (found damaged) to the trash; ``entry`` becomes None.

        Given the DamagedEntryError, a damaged blob it names goes too.
        """
        if isinstance(why, DamagedEntryError) and why.blob is not None:
            log.warning("dropping damaged blob %s", why.blob)
            self.cache._move_to_trash(self.cache.blob_path(why.blob))
        log.warning("dropping cache entry %s: %s", self.key, why)
        self.cache._move_to_trash(self.cache.entry_path(self.key))
        self.entry = None

    def commit(self, step: str, meta: dict | None = None) -> CacheEntry:
        """Turn the staging dir into the entry of the key and return it.

        Computes the content hash, writes ``manifest.json`` last, fsyncs (only with
        ``DFX_CACHE_FSYNC=1``), and renames the staging dir into place. If a complete
        entry for the key appeared meanwhile (a process that did not see our lock), the staging dir
        is discarded and that entry is returned.
        """
        if not isinstance(step, str) or not step:
            raise TypeError(f"commit: step must be a non-empty str, not {step!r}")
        meta = {} if meta is None else meta
        if not isinstance(meta, dict):
            raise TypeError(f"commit: meta must be a dict, not {type(meta).__name__}")
        json.dumps(meta, allow_nan=False)  # TypeError/ValueError now rather than half-way
        staging = self.staging_dir  # checks active/committed, creates if never touched
        if not (staging / MODEL_NAME).is_file():
            self._blobs = []  # blobs of a model that was replaced by hand: not ours
        entry = self.cache._commit(self.key, staging, step, meta, self._blobs)
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


_SIM_KEY_RE = re.compile(r"[0-9a-f]{24}")
#: ``<key>.<pid>-<random>``: a simulator being put in place (``<key>.<random>``: older dfx)
_SIM_WORK_RE = re.compile(r"[0-9a-f]{24}\.(?:(\d+)-)?[A-Za-z0-9_]+")
#: Prefix of the folders (in the system temp dir) where simulators are compiled.
SIM_BUILD_PREFIX = "dfx-simbuild-"
#: Work folders of older dfx carry no pid: they count as left over after this long.
_NO_PID_AGE_S = 2 * 3600


def compiled_simulators(root: Path) -> list[Path]:
    """The finished simulators in ``root`` (``<key>/`` folders holding a ``Vdfx_top``)."""
    if not root.is_dir():
        return []
    return [p for p in root.iterdir()
            if _SIM_KEY_RE.fullmatch(p.name) and (p / "Vdfx_top").is_file()]


def simulator_leftovers(root: Path) -> list[Path]:
    """What dead processes left while compiling simulators (never a live one's folders).

    The ``<key>.<pid>-<random>`` folders in ``root`` and the ``dfx-simbuild-<pid>-*``
    folders in the system temp dir whose process is gone.
    """
    found = []
    places = [(root, _SIM_WORK_RE)]
    tmp = Path(tempfile.gettempdir())
    places.append((tmp, re.compile(re.escape(SIM_BUILD_PREFIX) + r"(\d+)-[A-Za-z0-9_]+")))
    now = time.time()
    for place, pattern in places:
        try:
            children = list(place.iterdir())
        except OSError:
            continue
        for p in children:
            m = pattern.fullmatch(p.name)
            if not m:
                continue
            if m.group(1) is not None:
                if _pid_alive(int(m.group(1))):
                    continue
            elif now - _newest_mtime(p) < _NO_PID_AGE_S:
                continue
            found.append(p)
    return found


def sweep_simulator_leftovers(root: Path) -> int:
    """Remove :func:`simulator_leftovers`; returns how many were removed."""
    count = 0
    for p in simulator_leftovers(root):
        _rmtree(p)
        if not os.path.lexists(p):
            count += 1
            log.info("removed the simulator work folder %s of a dead process", p)
    return count


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
        if self._version_problem and self._older_format and check_version:
            # an earlier dfx's entries: stale by definition, never readable by this one
            log.warning("the cache at %s holds format %s from an earlier dfx; resetting it",
                        self.root, self._found_version)
            self.clear()
        if self._version_problem and check_version:
            raise CacheError(self._version_problem)

    @property
    def _older_format(self) -> bool:
        """Whether the root has the format of an earlier dfx (a later one's is kept)."""
        found = getattr(self, "_found_version", "")
        return found.isdigit() and int(found) < CACHE_FORMAT_VERSION

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
            self._found_version = found
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

    @property
    def blobs_dir(self) -> Path:
        return self.root / BLOBS_NAME

    def blob_path(self, sha: str) -> Path:
        if not _SHA_RE.fullmatch(sha):
            raise ValueError(f"invalid blob name {sha!r}: expected a sha256 (hex)")
        return self.blobs_dir / sha[:2] / sha

    def _store_blob(self, sha: str, data: bytes | memoryview, staging: Path) -> None:
        """Put ``data`` (whose sha256 is ``sha``) in the blob store, atomically.

        Written (and fsynced, with ``DFX_CACHE_FSYNC=1``) in ``staging`` first, then
        renamed into place, so a blob is either absent or complete. An existing blob of
        the right size is kept (a damaged one is found by whoever reads it, and by
        ``dfx cache verify``).
        """
        dest = self.blob_path(sha)
        try:
            if os.stat(dest).st_size == len(data):
                os.utime(dest)  # recently used: orphan sweeps look at the age
                return
        except OSError:
            pass
        tmp = staging / f".blob-{sha}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                _fsync_fd(f.fileno())
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
            _fsync_dir(dest.parent)
            _VERIFIED_BLOBS[str(dest)] = _stamp(os.stat(dest))  # we just wrote these bytes
        except OSError as e:
            _unlink(tmp)
            raise CacheError(f"cannot write the blob {dest}: {e}") from e

    def _new_staging_dir(self) -> Path:
        try:
            self.staging_root.mkdir(parents=True, exist_ok=True)
            path = self.staging_root / f"{os.getpid()}-{secrets.token_hex(8)}"
            path.mkdir()
            (path / FILES_NAME).mkdir()
        except OSError as e:
            raise CacheError(f"cannot create a staging dir in {self.staging_root}: {e}") from e
        return path

    def _commit(self, key: str, staging: Path, step: str, meta: dict,
                blobs: list[dict] | None = None) -> CacheEntry:
        files = _collect_staging_files(staging)
        blobs = list(blobs or [])
        try:
            listing, content_hash = _hash_files(files, fsync=True, blobs=blobs)
            manifest = {
                "format": CACHE_FORMAT_VERSION,
                "key": key,
                "step": step,
                "created": time.time(),
                "content_hash": content_hash,
                "files": listing,
                "blobs": blobs,
                "meta": meta,
            }
            data = json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False).encode("utf-8")
            with open(staging / MANIFEST_NAME, "xb") as f:
                f.write(data)
                f.flush()
                _fsync_fd(f.fileno())
            if _durable():
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
            # The blobs go too: an entry committed meanwhile that names one finds it
            # missing on lookup and is rebuilt (never served half).
            try:
                os.rename(self.blobs_dir, self.trash_dir / f"{os.getpid()}-{secrets.token_hex(8)}")
            except FileNotFoundError:
                pass
            # Everything in trash/ is garbage: we hold the global lock, so no other clear runs.
            for p in list(self.trash_dir.iterdir()):
                _rmtree(p)
            self._cleanup_stale_staging(0)
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

    def drop_damaged(self, exc: DamagedEntryError) -> bool:
        """Drop the entry ``exc`` names, and the blob at fault if there is one (else a
        rebuilt entry would find the damaged blob in place and keep it)."""
        if exc.blob is not None:
            log.warning("dropping damaged blob %s", exc.blob)
            self._move_to_trash(self.blob_path(exc.blob))
        return self.drop(exc.key, str(exc))

    def drop(self, key: str, why: str, timeout: float = 60) -> bool:
        """Move the entry of ``key`` (found damaged) to the trash, under its lock.

        Returns False if the key's lock could not be taken (someone builds it now).
        """
        lock = filelock.FileLock(str(self.lock_path(key)))
        try:
            lock.acquire(timeout=timeout)
        except (filelock.Timeout, OSError):
            return False
        try:
            log.warning("dropping cache entry %s: %s", key, why)
            self._move_to_trash(self.entry_path(key))
            return True
        finally:
            lock.release()

    def sweep_leftovers(self) -> int:
        """Remove what dead processes left: staging dirs and half-deleted trash folders.

        Folders are named after their process (``<pid>-<random>``); those of live
        processes are kept. Returns how many were removed.
        """
        self._check_usable()
        try:
            lock = self._global_lock(timeout=5)
        except CacheError:
            return 0  # a `dfx cache` command runs: it sweeps itself
        try:
            count = self._cleanup_stale_staging(0)
            for p in self._dead_trash():
                _rmtree(p)
                count += not os.path.lexists(p)
            return count
        finally:
            lock.release()

    def _dead_trash(self) -> list[Path]:
        try:
            children = list(self.trash_dir.iterdir())
        except FileNotFoundError:
            return []
        return [p for p in children
                if (pid := _staging_pid(p.name)) is not None and not _pid_alive(pid)]

    def verify_all(self, orphan_age_s: float = 3600) -> dict:
        """Re-hash every entry and blob; drop what is damaged (see ``dfx cache verify``).

        Returns ``{"entries": sound entries, "blobs": sound blobs, "dropped": [(path,
        why)], "busy": [keys being built, not checked], "orphans": unreferenced blobs
        removed}``. Blobs no entry names and untouched for ``orphan_age_s`` seconds
        are removed (younger ones may belong to a build about to commit).
        """
        self._check_usable()
        lock = self._global_lock()
        dropped: list[tuple[str, str]] = []
        busy: list[str] = []
        try:
            bad_blobs = set()
            sound_blobs = {}
            for path in self._iter_blobs():
                try:
                    sha = _file_sha256(path)
                except OSError:
                    continue
                if sha != path.name:
                    bad_blobs.add(path.name)
                    dropped.append((str(path), "blob does not match its sha256 (bytes changed)"))
                    self._move_to_trash(path)
                else:
                    sound_blobs[path.name] = path
            referenced = set()
            sound = 0
            for key, path in self._iter_entry_dirs():
                key_lock = filelock.FileLock(str(self.lock_path(key)))
                try:
                    key_lock.acquire(timeout=0)
                except (filelock.Timeout, OSError):
                    busy.append(key)
                    continue
                try:
                    try:
                        entry = _load_entry(key, path)
                        why = entry.problem() if entry is not None else None
                    except _Corrupt as e:
                        entry, why = None, str(e)
                    if why is None and entry is None:
                        continue
                    if why is not None:
                        step = f" (step {entry.step})" if entry is not None else ""
                        dropped.append((str(path), f"entry{step}: {why}"))
                        self._move_to_trash(path)
                        continue
                    sound += 1
                    referenced.update(ref["sha256"] for ref in entry.blobs)
                finally:
                    key_lock.release()
            now = time.time()
            orphans = 0
            for sha, path in sound_blobs.items():
                if sha in referenced or busy:
                    continue
                try:
                    if now - os.stat(path).st_mtime < orphan_age_s:
                        continue
                except OSError:
                    continue
                self._move_to_trash(path)
                orphans += 1
            return {"entries": sound, "blobs": len(sound_blobs) - orphans, "dropped": dropped,
                    "busy": busy, "orphans": orphans}
        finally:
            lock.release()

    def _iter_blobs(self) -> Iterator[Path]:
        try:
            shards = sorted(self.blobs_dir.iterdir())
        except FileNotFoundError:
            return
        for shard in shards:
            try:
                children = sorted(shard.iterdir())
            except (FileNotFoundError, NotADirectoryError):
                continue
            for child in children:
                if _SHA_RE.fullmatch(child.name) and child.name[:2] == shard.name:
                    yield child

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
        of dead processes), blobs / blob_bytes (the shared large initializers),
        dead_trash (half-deleted folders of dead processes).
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
        blobs = blob_bytes = 0
        for path in self._iter_blobs():
            try:
                blob_bytes += os.stat(path).st_size
                blobs += 1
            except OSError:
                pass
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
            "blobs": blobs,
            "blob_bytes": blob_bytes,
            "dead_trash": len(self._dead_trash()),
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


#: ``DFX_CACHE_FSYNC=1``: fsync every file and folder of an entry before it is renamed
#: into place, so an entry survives a power cut too. Off by default: it cost a cold
#: estimate flow 0.4-0.6 s (67 fsyncs of 7 ms here, a third of the flow), and it is not
#: needed for soundness: after a crash, a file that did not reach the disk has the wrong
#: size or bytes, and every read checks both against the manifest (the entry is then
#: dropped and rebuilt). A killed dfx process loses nothing either way (the kernel
#: writes its files).
FSYNC_ENV_VAR = "DFX_CACHE_FSYNC"


def _durable() -> bool:
    return os.environ.get(FSYNC_ENV_VAR, "") not in ("", "0")


def _fsync_fd(fd: int) -> None:
    if not _durable():
        return
    try:
        os.fsync(fd)
    except OSError as e:  # pragma: no cover - filesystems without fsync
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise


def _fsync_dir(path: str | Path) -> None:
    # (on Windows, directories cannot be opened)
    if sys.platform == "win32" or not _durable():
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
