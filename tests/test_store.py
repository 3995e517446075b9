"""HDF5 feature stores: contents, attributes, alignment with the manifest, the VQ-VAE hash check, PairDataset."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from conchshell.artifacts.stores import (
    AudioStore,
    ImageStore,
    PairDataset,
    unique_clips,
    write_audio_store,
    write_image_store,
)
from conchshell.audio.spec import AudioSpec
from conchshell.errors import ConchError

T, EMB, FRAMES = 1024, 64, (128, 32, 8)


def manifest() -> pd.DataFrame:
    """3 pictures per category a/b; pictures 0,1 share clip x0; b's pictures are val."""
    rows = [
        ("a_000", "a", 0, "train", "images/a_000.png", "audio/x0.wav"),
        ("a_001", "a", 0, "train", "images/a_001.png", "audio/x0.wav"),
        ("a_002", "a", 0, "train", "images/a_002.png", "audio/x1.wav"),
        ("b_000", "b", 1, "val", "images/b_000.png", "audio/y0.wav"),
        ("b_001", "b", 1, "val", "images/b_001.png", "audio/y0.wav"),
    ]
    return pd.DataFrame(rows, columns=["id", "category", "label", "split", "image", "audio"])


@pytest.fixture
def stores(tmp_path):
    df = manifest()
    clips = [c for c, _ in unique_clips(df)]
    n = len(clips)
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((n, T)).astype(np.float32)
    codes = [np.arange(n * t).reshape(n, t) % 256 for t in FRAMES]
    latents = [rng.standard_normal((n, EMB, t)).astype(np.float32) for t in FRAMES]
    attrs = {
        "preset": "demo",
        "sample_rate": 16000,
        "audio_rate": 16000,
        "hop_lengths": [8, 32, 128],
        "vqvae_sha256": "abc",
        "l_bins": 256,
        "emb_width": EMB,
    }
    write_audio_store(tmp_path / "audio.h5", clips, audio, codes, latents, attrs)
    ids = list(df["id"])
    st = rng.standard_normal((len(ids), 2048, 2)).astype(np.float32)
    pred = np.array([0, 0, 1, 1, 1])
    probs = rng.random((len(ids), 2)).astype(np.float32)
    write_image_store(tmp_path / "images.h5", ids, st, pred, probs, {"image_encoder": "tcnn6"})
    return df, tmp_path / "audio.h5", tmp_path / "images.h5", (clips, audio, codes, latents, st, pred)


def test_audio_store_spec_from_its_attrs_old_and_new(stores, tmp_path):
    _, audio_path, _, (clips, audio, codes, latents, _, _) = stores
    assert AudioStore(audio_path).spec == AudioSpec(16000, T / 16000)  # an older store: audio_rate and T
    attrs = {"vqvae_sha256": "abc", **AudioSpec(8000, T / 8000).to_dict()}
    write_audio_store(tmp_path / "new.h5", clips, audio, codes, latents, attrs)
    assert AudioStore(tmp_path / "new.h5").spec == AudioSpec(8000, T / 8000)


def test_unique_clips_in_order_of_first_appearance():
    assert [c for c, _ in unique_clips(manifest())] == ["x0", "x1", "y0"]
    assert unique_clips(manifest(), "val") == [("y0", "audio/y0.wav")]


def test_audio_store_layout_dtypes_and_attrs(stores):
    _, audio_path, _, (clips, audio, codes, latents, _, _) = stores
    with h5py.File(audio_path) as f:
        assert f["audio"].dtype == np.float32 and f["audio"].shape == (3, T)
        for level, t in enumerate(FRAMES):
            assert f[f"codes/{level}"].dtype == np.int16 and f[f"codes/{level}"].shape == (3, t)
            assert f[f"latents/{level}"].dtype == np.float16 and f[f"latents/{level}"].shape == (3, EMB, t)
    store = AudioStore(audio_path, expect_vqvae_sha256="abc")
    assert store.ids == clips and store.index_of("y0") == 2
    assert store.attrs["hop_lengths"] == [8, 32, 128] and store.attrs["preset"] == "demo"
    assert np.array_equal(store.audio(1), audio[1])
    assert store.codes(2, 1).dtype == np.int64 and np.array_equal(store.codes(2, 1), codes[1][2])
    latent = store.latent(0, 2)
    assert latent.dtype == np.float32 and np.allclose(latent, latents[2][0], atol=1e-2)


def test_store_from_another_vqvae_is_a_clear_error(stores):
    _, audio_path, _, _ = stores
    with pytest.raises(ConchError, match="re-run encode_audio") as err:
        AudioStore(audio_path, expect_vqvae_sha256="def")
    assert str(audio_path) in str(err.value)


def test_missing_or_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(ConchError, match="not found"):
        AudioStore(tmp_path / "absent.h5")
    (tmp_path / "junk.h5").write_text("junk")
    with pytest.raises(ConchError, match="not a readable HDF5"):
        AudioStore(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f["ids"] = np.array([b"x"])
    with pytest.raises(ConchError, match="no `audio` dataset"):
        AudioStore(tmp_path / "empty.h5")


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(TypeError):  # 2 rows of codes for 1 clip
        write_audio_store(
            tmp_path / "audio.h5", ["x"], np.zeros((1, T)), [np.zeros((2, 4))] * 3, [np.zeros((1, EMB, 4))] * 3, {}
        )
    assert list(tmp_path.iterdir()) == []


def test_image_store_reads_rows(stores):
    _, _, image_path, (_, _, _, _, st, pred) = stores
    store = ImageStore(image_path)
    assert store.ids[3] == "b_000" and store.pred_label(2) == 1
    assert np.array_equal(store.st_features(4), st[4]) and store.probs(0).shape == (2,)
    with pytest.raises(ConchError, match="no entry for 'zzz'"):
        store.index_of("zzz")


def test_pair_dataset_aligns_pictures_with_their_clips(stores):
    df, audio_path, image_path, (_, audio, codes, latents, st, pred) = stores
    train = PairDataset(df, audio_path, image_path, level=1, split="train")
    assert [item["id"] for item in train] == ["a_000", "a_001", "a_002"]
    item = train[1]  # a_001 → clip x0 (row 0); picture row 1
    assert torch.equal(item["st"], torch.from_numpy(st[1]))
    assert item["label"].dtype == torch.long and int(item["label"]) == pred[1] and int(item["true_label"]) == 0
    assert item["codes"].dtype == torch.long and torch.equal(item["codes"], torch.from_numpy(codes[1][0]).long())
    assert item["latent"].shape == (EMB, FRAMES[1]) and torch.equal(item["audio"], torch.from_numpy(audio[0]))
    val = PairDataset(df, audio_path, image_path, level=2, split="val")
    assert len(val) == 2 and torch.equal(val[0]["audio"], torch.from_numpy(audio[2]))
    batch = next(iter(torch.utils.data.DataLoader(val, batch_size=2)))
    assert batch["latent"].shape == (2, EMB, FRAMES[2]) and batch["codes"].shape == (2, FRAMES[2])


def test_non_finite_features_are_refused_when_written_and_when_read(tmp_path):
    """Issue 26.4: the store refuses NaN / inf on write (nothing written) and on read (naming the picture)."""
    path = tmp_path / "images.h5"
    st = np.ones((3, 8, 2), np.float32)
    st[1, 4, 0] = np.inf
    args = (np.zeros(3, np.int64), np.full((3, 2), 0.5, np.float32), {"image_encoder": "tcnn6"})
    with pytest.raises(ConchError) as err:
        write_image_store(path, ["p0", "p1", "p2"], st, *args)
    assert str(err.value) == f"{path}: st_features of p1 is not finite (NaN or inf); nothing written"
    assert list(tmp_path.iterdir()) == []

    write_image_store(path, ["p0", "p1", "p2"], np.ones((3, 8, 2), np.float32), *args)
    with h5py.File(path, "r+") as f:
        f["st_features"][2, 0, 1] = np.nan
        f["probs"][0, 1] = np.nan
    store = ImageStore(path)
    assert store.st_features(1).shape == (8, 2)
    with pytest.raises(ConchError, match=r"images.h5: st_features of p2 is not finite \(NaN or inf\); re-run"):
        store.st_features(2)
    assert store.non_finite() == ["p0", "p2"] and store.non_finite(["p1", "p2"]) == ["p2"]
    with pytest.raises(ConchError, match=r"S-T features of 2 pictures are not finite \(NaN or inf\): p0, p2;"):
        store.require_finite()
