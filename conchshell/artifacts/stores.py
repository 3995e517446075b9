"""HDF5 feature stores (data/features/audio.h5, images.h5) and the picture↔clip `PairDataset`.

audio.h5: `ids` [N] (clip ids), `audio` float32 [N, T], `codes/L` int16 [N, T_L], `latents/L` float16
[N, emb, T_L] for L = 0, 1, 2, attrs preset, sample_rate (the VQ-VAE's), audio_rate and seconds (the audio spec: `AudioSpec.to_dict`),
hop_lengths, vqvae_sha256, l_bins, emb_width. images.h5: `ids` [N] (picture ids), `st_features` float32 [N, C_st, T'] (C_st 1024 for
Inception-I3D, 2048 for r50), `pred_label` int64
[N], `probs` float32 [N, C], attrs image_encoder, tcnn_sha256, i3d_sha256, i3d_pretrained, categories.
Readers open the file lazily (per process, so DataLoader workers each get their own handle).
Features are finite: a writer refuses NaN or inf (nothing is written), a reader refuses a row holding them,
naming the clip or picture, and `ImageStore.non_finite` lists every such picture at once (evaluate's check).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from conchshell.audio.spec import AudioSpec
from conchshell.config import LEVELS
from conchshell.data.manifest import clip_id
from conchshell.errors import ConchError
from conchshell.io import atomic_path

#: Jukebox levels in the store, by index (codes/0 … codes/2): the codec's three.
NUM_LEVELS = len(LEVELS)
_STR = h5py.string_dtype("utf-8")


# -- writing ------------------------------------------------------------------------------------
class StoreWriter:
    """Create an HDF5 file at a temporary path with fixed-shape datasets and fill it in slices.

    `datasets` maps a dataset name (`codes/0`) to (shape, dtype); `ids` are written at once.
    Use as a context manager: the file appears at `path` only when the block succeeds.
    """

    def __init__(self, path: str | os.PathLike, ids: list[str], datasets: dict[str, tuple], attrs: dict):
        self.path = Path(path)
        self.ids = list(ids)
        self.datasets = datasets
        self.attrs = attrs

    def __enter__(self) -> StoreWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self.file = h5py.File(tmp, "w")
        self.file.create_dataset("ids", data=np.array(self.ids, dtype=object), dtype=_STR)
        for name, (shape, dtype) in self.datasets.items():
            chunks = (1, *shape[1:]) if len(shape) > 1 and shape[0] > 0 else None
            self.file.create_dataset(name, shape=shape, dtype=dtype, chunks=chunks)
        for key, value in self.attrs.items():
            self.file.attrs[key] = value
        return self

    def write(self, name: str, start: int, values: np.ndarray) -> None:
        """Write rows start .. start+len(values) of dataset `name`; ConchError naming the rows holding NaN or inf."""
        bad = _non_finite_rows(values)
        if bad:
            ids = ", ".join(self.ids[start + k] for k in bad[:5]) + (f" (+{len(bad) - 5} more)" if len(bad) > 5 else "")
            raise ConchError(f"{self.path}: {name} of {ids} is not finite (NaN or inf); nothing written")
        self.file[name][start : start + len(values)] = values

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.file.close()
        return bool(self._atomic.__exit__(exc_type, exc, tb))


def audio_store_layout(num_clips: int, num_samples: int, frames: list[int], emb_width: int) -> dict[str, tuple]:
    """Dataset shapes and dtypes of an audio store."""
    layout: dict[str, tuple] = {"audio": ((num_clips, num_samples), "float32")}
    for level, t in enumerate(frames):
        layout[f"codes/{level}"] = ((num_clips, t), "int16")
        layout[f"latents/{level}"] = ((num_clips, emb_width, t), "float16")
    return layout


def write_audio_store(
    path: str | os.PathLike,
    ids: list[str],
    audio: np.ndarray,
    codes: list[np.ndarray],
    latents: list[np.ndarray],
    attrs: dict,
) -> None:
    """Write a whole audio store at once: audio [N, T], codes[L] [N, T_L], latents[L] [N, emb, T_L]."""
    frames = [c.shape[1] for c in codes]
    layout = audio_store_layout(len(ids), audio.shape[1], frames, latents[0].shape[1])
    with StoreWriter(path, ids, layout, attrs) as out:
        out.write("audio", 0, audio.astype(np.float32))
        for level in range(len(codes)):
            out.write(f"codes/{level}", 0, codes[level].astype(np.int16))
            out.write(f"latents/{level}", 0, latents[level].astype(np.float16))


def encode_audio_store(
    path: str | os.PathLike,
    ids: list[str],
    read_clip: Callable[[int], np.ndarray],
    codec,
    num_samples: int,
    batch_size: int,
    attrs: dict,
    progress: bool = True,
) -> list[int]:
    """Encode clip k = `read_clip(k)` (float32 [num_samples]) for every id with `codec` (a JukeboxCodec), in
    batches, and write the audio store: audio, and per level the codes (nearest entries of the continuous
    latents) and the latents → latent frames per level (level 0 first)."""
    frames = [codec.frames(level, num_samples) for level in range(NUM_LEVELS)]
    layout = audio_store_layout(len(ids), num_samples, frames, codec.vqvae.emb_width)
    batches = range(0, len(ids), batch_size)
    with StoreWriter(path, ids, layout, attrs) as out, torch.inference_mode():
        for start in tqdm(batches, desc="encode_audio", unit="batch", dynamic_ncols=True, disable=not progress):
            audio = np.stack([read_clip(k) for k in range(start, min(start + batch_size, len(ids)))])
            latents = codec.latents(torch.from_numpy(audio))
            out.write("audio", start, audio)
            for level, z in enumerate(latents):
                _, codes = codec.quantise(z, level, straight_through=False)
                out.write(f"codes/{level}", start, codes.numpy().astype(np.int16))
                out.write(f"latents/{level}", start, z.numpy().astype(np.float16))
    return frames


def write_image_store(
    path: str | os.PathLike,
    ids: list[str],
    st_features: np.ndarray,
    pred_label: np.ndarray,
    probs: np.ndarray,
    attrs: dict,
) -> None:
    """Write an image store: st_features [N, C_st, T'], pred_label [N], probs [N, C]."""
    layout = {
        "st_features": (st_features.shape, "float32"),
        "pred_label": (pred_label.shape, "int64"),
        "probs": (probs.shape, "float32"),
    }
    with StoreWriter(path, ids, layout, attrs) as out:
        out.write("st_features", 0, st_features.astype(np.float32))
        out.write("pred_label", 0, pred_label.astype(np.int64))
        out.write("probs", 0, probs.astype(np.float32))


def _non_finite_rows(values: np.ndarray) -> list[int]:
    """Indexes of the rows [N, ...] of a float array holding NaN or inf (none for integer arrays)."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating) or values.ndim == 0:
        return []
    return np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1)).tolist()


# -- reading ------------------------------------------------------------------------------------
class _LazyH5:
    """An h5py file opened on first use in each process; `ids` and `attrs` are read once at construction."""

    def __init__(self, path: str | os.PathLike, what: str, required: tuple[str, ...]):
        self.path = Path(path)
        if not self.path.is_file():
            raise ConchError(f"{self.path}: {what} not found")
        try:
            with h5py.File(self.path, "r") as f:
                missing = [name for name in ("ids", *required) if name not in f]
                if missing:
                    raise ConchError(f"{self.path}: not a {what} (no `{missing[0]}` dataset)")
                self.ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["ids"][()]]
                self.attrs = {k: _plain(v) for k, v in f.attrs.items()}
                self.shapes = {name: f[name].shape for name in required}
        except OSError as err:
            raise ConchError(f"{self.path}: not a readable HDF5 {what} ({err})") from err
        self._index = {clip: i for i, clip in enumerate(self.ids)}
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def file(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def index_of(self, item_id: str) -> int:
        """Row of `item_id`; ConchError naming the file when it is absent."""
        try:
            return self._index[item_id]
        except KeyError:
            raise ConchError(f"{self.path}: no entry for {item_id!r} (re-run the stage that writes it)") from None

    def finite(self, values: np.ndarray, name: str, i: int) -> np.ndarray:
        """`values` (row i of dataset `name`); ConchError naming the item when it holds NaN or inf."""
        if not np.isfinite(values).all():
            raise ConchError(
                f"{self.path}: {name} of {self.ids[i]} is not finite (NaN or inf); re-run the stage that writes it"
            )
        return values

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict:  # h5py handles do not pickle: each worker reopens
        return {**self.__dict__, "_file": None, "_pid": None}


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


class AudioStore(_LazyH5):
    """Reader of data/features/audio.h5. `expect_vqvae_sha256`: the hash of the current VQ-VAE."""

    def __init__(self, path: str | os.PathLike, expect_vqvae_sha256: str | None = None):
        super().__init__(path, "audio feature store", ("audio", *(f"codes/{L}" for L in range(NUM_LEVELS))))
        if expect_vqvae_sha256 is not None and self.attrs.get("vqvae_sha256") != expect_vqvae_sha256:
            raise ConchError(
                f"{self.path}: made by another VQ-VAE than models/vqvae.pt (vqvae_sha256 differs); "
                "re-run encode_audio (`dvc repro encode_audio`)"
            )

    @property
    def spec(self) -> AudioSpec:
        """The audio spec of the stored clips: attrs `AudioSpec.to_dict()` (a store without `seconds`: T / rate)."""
        return AudioSpec.from_dict(self.attrs, f"{self.path} (re-run encode_audio)", self.shapes["audio"][-1])

    def codes(self, i: int, level: int) -> np.ndarray:
        """int64 [T_L]."""
        return self.file[f"codes/{level}"][i].astype(np.int64)

    def latent(self, i: int, level: int) -> np.ndarray:
        """float32 [emb, T_L]."""
        return self.finite(self.file[f"latents/{level}"][i].astype(np.float32), f"latents/{level}", i)

    def audio(self, i: int) -> np.ndarray:
        """float32 [T]."""
        return self.finite(self.file["audio"][i].astype(np.float32), "audio", i)


class ImageStore(_LazyH5):
    """Reader of data/features/images.h5."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(path, "image feature store", ("st_features", "pred_label", "probs"))

    def st_features(self, i: int) -> np.ndarray:
        """float32 [C_st, T']."""
        return self.finite(self.file["st_features"][i].astype(np.float32), "st_features", i)

    def non_finite(self, ids: list[str] | None = None) -> list[str]:
        """The pictures (of `ids`, default all) whose S-T features or probabilities hold NaN or inf."""
        wanted = set(range(len(self))) if ids is None else {self.index_of(i) for i in ids}
        bad: set[int] = set()
        for start in range(0, len(self), 256):  # [256, C_st, T'] float32 at a time
            for name in ("st_features", "probs"):
                bad.update(start + k for k in _non_finite_rows(self.file[name][start : start + 256]))
        return [self.ids[r] for r in sorted(bad & wanted)]

    def require_finite(self, ids: list[str] | None = None) -> None:
        """One ConchError line naming every picture (of `ids`) whose features hold NaN or inf."""
        bad = self.non_finite(ids)
        if bad:
            shown = ", ".join(bad[:10]) + (f" (+{len(bad) - 10} more)" if len(bad) > 10 else "")
            raise ConchError(
                f"{self.path}: S-T features of {len(bad)} picture{'s' * (len(bad) > 1)} are not finite (NaN or inf): "
                f"{shown}; re-run encode_images (`dvc repro -f encode_images`)"
            )

    def pred_label(self, i: int) -> int:
        return int(self.file["pred_label"][i])

    def probs(self, i: int) -> np.ndarray:
        """float32 [C]."""
        return self.file["probs"][i].astype(np.float32)


# -- manifest helpers and the dataset ------------------------------------------------------------
def unique_clips(manifest: pd.DataFrame, split: str | None = None) -> list[tuple[str, str]]:
    """(clip_id, audio relpath) of each clip once, in order of first appearance (optionally one split)."""
    rows = manifest if split is None else manifest[manifest["split"] == split]
    seen: dict[str, str] = {}
    for rel in rows["audio"]:
        seen.setdefault(clip_id(rel), rel)
    return list(seen.items())


class PairDataset(Dataset):
    """One item per picture of `split`: its S-T features and its clip's latent, codes and audio at `level`
    (a level name, high | low | deep, or the store's level index).

    Item: {"id": str, "piece": str (the clip's id), "st": float32 [C_st, T'], "label": long (TCNN-predicted),
    "true_label": long, "latent": float32 [emb, T_L], "codes": long [T_L], "audio": float32 [T]}.
    """

    def __init__(
        self,
        manifest_df: pd.DataFrame,
        audio_store_path: str | os.PathLike,
        image_store_path: str | os.PathLike,
        level: str | int,
        split: str | None,
        expect_vqvae_sha256: str | None = None,
    ):
        rows = manifest_df if split is None else manifest_df[manifest_df["split"] == split]
        self.audio_store = AudioStore(audio_store_path, expect_vqvae_sha256)
        self.image_store = ImageStore(image_store_path)
        self.level = LEVELS[level] if isinstance(level, str) else int(level)
        self.items = [
            (
                str(r.id),
                int(r.label),
                self.image_store.index_of(str(r.id)),
                self.audio_store.index_of(clip_id(r.audio)),
                clip_id(r.audio),
            )
            for r in rows.itertuples(index=False)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        picture, true_label, image_row, audio_row, piece = self.items[index]
        return {
            "id": picture,
            "piece": piece,
            "st": torch.from_numpy(self.image_store.st_features(image_row)),
            "label": torch.tensor(self.image_store.pred_label(image_row), dtype=torch.long),
            "true_label": torch.tensor(true_label, dtype=torch.long),
            "latent": torch.from_numpy(self.audio_store.latent(audio_row, self.level)),
            "codes": torch.from_numpy(self.audio_store.codes(audio_row, self.level)),
            "audio": torch.from_numpy(self.audio_store.audio(audio_row)),
        }

    def __iter__(self) -> Iterator[dict]:
        return (self[i] for i in range(len(self)))
