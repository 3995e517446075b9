"""Picture → music without importing torch: the exported pipeline graph run by ONNX Runtime.

    pictures uint8 [B,H,W,3] ─ pipeline.onnx (to [0,1] → TCNN → Algorithm 1 → I3D → argmax → G → nearest code
                                              → decoder) ─► wave float32 [B,T], label int64 [B]
                                                            (and st [B,C_st,T'], probs [B,C] for the tests)

A *bundle* is a folder `<cache>/<key>/` holding pipeline.onnx (the graph `conchshell.inference.export.export_bundle` wrote,
batch size free), meta.json (level, categories, image_size and the audio spec, `BundleMeta`) and, once a session has
been built on this kind of CPU, opt-<cpu>/: the graph after ONNX Runtime's optimisations, whose layouts are
CPU-specific (hence the CPU fingerprint in the name), its weights in an external file (pipeline.data) that
ONNX Runtime maps into memory instead of parsing, loaded with no further optimisation. The key names the
models' identity: the sha256 of models/tcnn.pt, vqvae.pt and the generator file, the I3D settings (arch, the
checkpoint file's sha256 or the seed), the source of the model code and the torch / onnxruntime versions. So
`conchshell generate` with a bundle present imports numpy, Pillow, soundfile and onnxruntime but not torch
(2.6 s here); the first run with new models pays torch, loading and the export, once. The cache keeps the
`KEEP_BUNDLES` bundles used last (a paper-size bundle is about 0.9 GB) and deletes older ones when it adds one.

File hashes are cached in `<cache>/file-hashes.json` keyed by (path, size, mtime_ns, ctime_ns, inode), as DVC's
state database does, so a 30 MB checkpoint is hashed once, not on every run. The ctime is what makes this safe:
`cp -p` or `rsync --inplace -t` restore a file's mtime, but no user tool can set its ctime back, so any write
to a model (or to a bundle) makes it hashed again.

A bundle is verified before it is used: files.json (pipeline.onnx, meta.json; opt-<cpu>/ has its own) records
the size and sha256 of every file, and `bundle_problem` compares them. The hash comes from the same cache, so
on the common path the check is one stat per file (microseconds); after any write to a file its sha256 is
streamed over the whole file (about 0.3 s for a 427 MB paper-size graph, once). Hashing sampled blocks would
be cheaper on that first run, but misses a 64 KB block zeroed anywhere else; the full hash misses nothing and
is paid only when a file changed. A bundle that fails the check is rebuilt (`engine.load`), with one note.
Exports and rebuilds of one key take `bundle_lock` (an flock beside the bundle), so two processes never
export or replace one bundle at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conchshell.audio.spec import AudioSpec
from conchshell.errors import ConchError
from conchshell.io import atomic_path, file_sha256
from conchshell.paths import gan_path

#: Bumped when the exported graph changes meaning (invalidates every bundle).
EXPORT_VERSION = 3
GRAPH, META, WEIGHTS, FILES = "pipeline.onnx", "meta.json", "pipeline.data", "files.json"
#: Bundles the cache keeps (the ones used last); older ones are deleted when a new one is exported.
KEEP_BUNDLES = 3
#: Pictures from which weight pre-packing pays for its set-up: at the paper sizes it costs 0.43 s once (of a
#: one-picture command's 1.35 s) and saves 0.018 s a picture (`OrtPipeline`).
PREPACK_FROM = 24
#: A file changed less than this before its hash was taken is hashed again next time (timestamp granularity).
RACY_NS = 2_000_000_000
#: Sources whose code is traced into the graph: a change to any of them makes a new bundle.
GRAPH_SOURCES = ("models", "config.py", "audio", "artifacts", "inference/pipeline.py", "inference/export.py")
PACKAGE = Path(__file__).resolve().parents[1]  # conchshell/


def default_cache_dir() -> Path:
    """$CONCHSHELL_CACHE, else $XDG_CACHE_HOME/conchshell/onnx, else ~/.cache/conchshell/onnx."""
    if os.environ.get("CONCHSHELL_CACHE"):
        return Path(os.environ["CONCHSHELL_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "conchshell" / "onnx"


def onnxruntime_available() -> bool:
    """True when onnx (needed to export) and onnxruntime are installed (found without importing them)."""
    for name in ("onnx", "onnxruntime"):
        try:
            if sys.modules.get(name, False) is None or importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def package_version(name: str) -> str:
    """Installed version of distribution `name` (read from its metadata, without importing it), or '-'."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


# -- file hashes ---------------------------------------------------------------------------------------
class HashCache:
    """sha256 of files, remembered in a JSON file per (resolved path, size, mtime_ns, ctime_ns, inode)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        if not isinstance(self.entries, dict):
            self.entries = {}
        self.changed = False

    def sha256(self, file: str | os.PathLike) -> str:
        """The file's sha256; hashed only when its size, mtime, ctime or inode differ from the remembered ones.

        An entry hashed within `RACY_NS` of the file's last change is not trusted (it may have changed again
        within one tick of the file system's clock: git's "racy" entries) and is hashed once more."""
        file = Path(file).resolve()
        st = file.stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        entry = self.entries.get(str(file))
        if (
            isinstance(entry, dict)
            and entry.get("stamp") == stamp
            and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("hashed_at"), int)
            and st.st_ctime_ns + RACY_NS < entry["hashed_at"]
        ):
            return entry["sha256"]
        hashed_at = time.time_ns()
        digest = file_sha256(file)
        self.entries[str(file)] = {"stamp": stamp, "sha256": digest, "hashed_at": hashed_at}
        self.changed = True
        return digest

    def save(self) -> None:
        """Write the entries back (atomically) when they changed; a cache that cannot be written is skipped."""
        if not self.changed:
            return
        self.entries = {k: v for k, v in self.entries.items() if os.path.exists(k)}  # pruned bundles' files go
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps(self.entries, sort_keys=True))
            self.changed = False
        except OSError:
            pass


def graph_sources_sha256(sources: tuple[str, ...] = GRAPH_SOURCES) -> str:
    """sha256 over the .py files (names and bytes) of `sources` inside the package."""
    digest = hashlib.sha256()
    for source in sources:
        root = PACKAGE / source
        for file in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            digest.update(str(file.relative_to(PACKAGE)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def bundle_key(identity: dict) -> str:
    """32 hex digits naming a bundle: the identity, the export version, code and library versions."""
    blob = json.dumps(
        {
            **identity,
            "export": EXPORT_VERSION,
            "code": graph_sources_sha256(),
            "torch": package_version("torch"),
            "onnxruntime": package_version("onnxruntime"),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def models_key(
    models_dir: str | os.PathLike,
    level: str | None,
    i3d_checkpoint: str | os.PathLike | None,
    i3d_seed: int,
    i3d_arch: str,
    cache_dir: str | os.PathLike,
) -> str | None:
    """The bundle key of the models in `models_dir` (None when a model file is missing: torch will say which)."""
    models_dir = Path(models_dir)
    files = {"tcnn": models_dir / "tcnn.pt", "vqvae": models_dir / "vqvae.pt", "gan": gan_path(models_dir, level)}
    if i3d_checkpoint is not None:
        files["i3d"] = Path(i3d_checkpoint)
    if not all(f.is_file() for f in files.values()):
        return None
    hashes = hash_cache(cache_dir)
    identity = {name: hashes.sha256(f) for name, f in files.items()}
    hashes.save()
    identity["i3d_arch"] = i3d_arch
    identity["i3d_seed"] = None if i3d_checkpoint is not None else int(i3d_seed)
    return bundle_key(identity)


def hash_cache(cache_dir: str | os.PathLike) -> HashCache:
    """The cache's file-hash database."""
    return HashCache(Path(cache_dir) / "file-hashes.json")


def find_bundle(cache_dir: str | os.PathLike, key: str | None) -> Path | None:
    """The bundle folder for `key` when it is there and verified (`bundle_problem`), else None."""
    if key is None:
        return None
    folder = Path(cache_dir) / key
    return folder if folder.is_dir() and bundle_problem(folder, cache_dir) is None else None


def record_files(folder: Path) -> None:
    """files.json of a bundle (or of its opt-<cpu>/) being written: {name: {size, sha256}} of each file in it."""
    files = {
        f.name: {"size": f.stat().st_size, "sha256": file_sha256(f)}
        for f in sorted(folder.iterdir())
        if f.is_file() and f.name != FILES
    }
    (folder / FILES).write_text(json.dumps(files, indent=1, sort_keys=True) + "\n")


def bundle_problem(folder: Path, cache_dir: str | os.PathLike) -> str | None:
    """What is wrong with the bundle (or opt-<cpu>/) `folder`: a file missing, of another size or sha256 than
    its files.json records (`pipeline.data: sha256 differs`); None when every file checks out.

    Sizes first (a stat), then sha256 through the hash cache: re-read only for a file written since."""
    try:
        files = json.loads((folder / FILES).read_text())
        assert isinstance(files, dict) and files and all(isinstance(v, dict) for v in files.values())
    except (OSError, ValueError, AssertionError):
        return f"{FILES} missing or unreadable"
    if not folder.name.startswith("opt-") and not {GRAPH, META} <= set(files):
        return f"{FILES} does not list {GRAPH} and {META}"
    for name, want in files.items():
        try:
            size = (folder / name).stat().st_size
        except OSError:
            return f"{name} missing"
        if size != want.get("size"):
            return f"{name} has {size} bytes, not {want.get('size')}"
    hashes = hash_cache(cache_dir)
    try:
        bad = next((name for name, want in files.items() if hashes.sha256(folder / name) != want.get("sha256")), None)
    except OSError as err:
        return f"unreadable ({err.strerror or err})"
    finally:
        hashes.save()
    return None if bad is None else f"{bad}: sha256 differs from the one recorded at export"


@contextlib.contextmanager
def bundle_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on bundle `folder` (an flock on `.<key>.lock` beside it): one exporter at a time.

    Where locks are unavailable (no fcntl, a read-only cache) it holds nothing."""
    try:
        import fcntl

        folder.parent.mkdir(parents=True, exist_ok=True)
        handle = open(folder.parent / f".{folder.name}.lock", "a+b")  # noqa: SIM115 - held for the block
    except (ImportError, OSError):
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- running -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BundleMeta:
    """What the graph was exported from: level name, category names, picture side and the audio spec.

    meta.json holds level, categories, image_size and `AudioSpec.to_dict()`'s keys (older bundles: sample_rate,
    num_samples, still read)."""

    level: str
    categories: list[str]
    image_size: int
    spec: AudioSpec

    def to_dict(self) -> dict:
        return {
            "level": self.level,
            "categories": self.categories,
            "image_size": self.image_size,
            **self.spec.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict, source: str) -> BundleMeta:
        spec = AudioSpec.from_dict(d, source)
        return cls(str(d["level"]), [str(c) for c in d["categories"]], int(d["image_size"]), spec)


def default_threads() -> int:
    """ONNX Runtime intra-op threads: $OMP_NUM_THREADS when set (as torch reads it), else 0 (one per core)."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


class OrtPipeline:
    """`run(pictures uint8 [B,H,W,3]) -> (wave float32 [B,T], label int64 [B])` by one ONNX Runtime session.

    Attributes as `conchshell.inference.pipeline.Pipeline`'s: level, categories, image_size, sample_rate, num_samples.
    `prepack=False` skips ONNX Runtime's weight pre-packing: set-up is then a memory map of the weights, each
    picture a little slower (`PREPACK_FROM`). Session set-up at the Deep level with the paper-size G (a 427 MB
    graph; fresh processes, interleaved, 2 threads): 1.09 s from the optimised graph in one file, 0.46 s with its
    weights in a mapped file (kept), 0.03 s without pre-packing; compute 0.68 s a picture, 2.7 % more without
    pre-packing. Loading pipeline.onnx with every optimisation instead of the saved graph costs more again.
    """

    backend = "onnxruntime"

    def __init__(self, folder: str | os.PathLike, threads: int | None = None, prepack: bool = True):
        import onnxruntime as ort

        self.folder = Path(folder)
        self.meta = BundleMeta.from_dict(json.loads((self.folder / META).read_text()), str(self.folder / META))
        self.level, self.categories = self.meta.level, list(self.meta.categories)
        self.image_size, self.sample_rate, self.num_samples = (
            self.meta.image_size,
            self.meta.spec.rate,
            self.meta.spec.samples,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = default_threads() if threads is None else threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its note that saved layouts are CPU-specific is handled here
        if not prepack:
            options.add_session_config_entry("session.disable_prepacking", "1")
        self.session = _session(ort, self.folder, options)

    def outputs(self, pictures: np.ndarray) -> dict[str, np.ndarray]:
        """Every graph output for uint8 pictures [B,H,W,3]: wave [B,T], label [B], st [B,C_st,T'], probs [B,C]."""
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(None, {"pictures": np.ascontiguousarray(pictures, np.uint8)})))

    def run(self, pictures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 pictures [B,H,W,3] → (wave float32 [B,T], label int64 [B])."""
        out = self.outputs(pictures)
        return out["wave"], out["label"]


def cpu_fingerprint() -> str:
    """12 hex digits naming this kind of CPU for ONNX Runtime's layout choices: machine, onnxruntime version and
    the CPU's feature flags (Linux /proc/cpuinfo; elsewhere the processor name)."""
    import platform

    flags = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith(("flags", "Features"))), flags)
    except OSError:
        pass
    blob = f"{platform.machine()}|{package_version('onnxruntime')}|{flags}"
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _session(ort, folder: Path, options):
    """A session on the CPU-specific optimised graph when this CPU has one; else on pipeline.onnx with every
    optimisation, saving the optimised graph and its weights (through a temporary folder) for the next process."""
    optimised = folder / f"opt-{cpu_fingerprint()}"
    providers = ["CPUExecutionProvider"]
    if optimised.is_dir():
        problem = bundle_problem(optimised, folder.parent)
        if problem is None:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            return ort.InferenceSession(str(optimised / GRAPH), options, providers=providers)
        print(f"note: {optimised} failed its check ({problem}); rebuilt it from {GRAPH}", file=sys.stderr)
        shutil.rmtree(optimised, ignore_errors=True)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", WEIGHTS)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    try:
        with atomic_path(optimised) as tmp:
            tmp.mkdir()
            options.optimized_model_filepath = str(tmp / GRAPH)
            session = ort.InferenceSession(str(folder / GRAPH), options, providers=providers)
            record_files(tmp)
            return session
    except (OSError, ConchError):  # a read-only cache, or another process saved it first: it is not needed now
        options.optimized_model_filepath = ""
        return ort.InferenceSession(str(folder / GRAPH), options, providers=providers)


def write_meta(folder: Path, meta: BundleMeta) -> None:
    """meta.json of a bundle being written."""
    (folder / META).write_text(json.dumps(meta.to_dict(), indent=1, sort_keys=True) + "\n")


def use_onnxruntime(backend: str, off_cpu: str | None) -> bool:
    """Whether `backend` (auto | onnxruntime | eager) runs ONNX Runtime: not for eager, nor off the CPU (`off_cpu`
    says why the model is not on it; None when it is), nor without onnx / onnxruntime. Asked for by name
    (onnxruntime) but unusable: one stderr note, and PyTorch runs."""
    usable = off_cpu is None and onnxruntime_available()
    if backend == "onnxruntime" and not usable:
        why = off_cpu or "onnx / onnxruntime are not installed"
        print(f"note: ONNX Runtime not used ({why}); running in PyTorch", file=sys.stderr)
    return backend != "eager" and usable


def mark_used(folder: Path) -> None:
    """Mark a bundle used now (meta.json's mtime), so that `prune` keeps it; a read-only cache is left as it is."""
    try:
        os.utime(folder / META)
    except OSError:
        pass


def prune(cache_dir: Path, keep: int = KEEP_BUNDLES) -> list[Path]:
    """Delete all but the `keep` bundles of `cache_dir` used last (by meta.json's mtime); returns the deleted."""
    bundles = [meta.parent for meta in cache_dir.glob(f"*/{META}") if not meta.parent.name.startswith(".")]
    bundles.sort(key=_last_used, reverse=True)
    for folder in bundles[keep:]:
        shutil.rmtree(folder, ignore_errors=True)
    return bundles[keep:]


def _last_used(folder: Path) -> int:
    """meta.json's mtime in ns (-1 when another process deleted the bundle meanwhile)."""
    try:
        return (folder / META).stat().st_mtime_ns
    except OSError:
        return -1


def fallback_note(what: str, err: Exception, folder: Path | None = None) -> None:
    """One stderr line: `what` runs in PyTorch, why ONNX Runtime could not take it, and what a person can do."""
    why = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
    where = f" from {folder}" if folder is not None else ""
    act = f"; delete {folder} to rebuild it" if folder is not None else ""
    print(
        f"note: {what} runs in PyTorch (ONNX Runtime could not take it{where}: {why}){act}; "
        "--backend eager skips ONNX Runtime",
        file=sys.stderr,
    )
