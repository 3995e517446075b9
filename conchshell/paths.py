"""Where each pipeline stage reads and writes (relative to the repository root; mirrors dvc.yaml)."""

import os
from pathlib import Path

PARAMS = Path("params.yaml")
RAW = Path("data/raw")
PREPARED = Path("data/prepared")
MANIFEST = PREPARED / "manifest.csv"
FEATURES = Path("data/features")
AUDIO_H5 = FEATURES / "audio.h5"
IMAGES_H5 = FEATURES / "images.h5"
MODELS = Path("models")
VQVAE = MODELS / "vqvae.pt"
TCNN = MODELS / "tcnn.pt"
GAN = MODELS / "gan.pt"
GAN_CHECKPOINTS = Path("checkpoints/gan")
METRICS = Path("metrics")
PLOTS = Path("plots")
SAMPLES = Path("samples")
REPORT = Path("report.html")
TRANSCRIPTIONS = Path("cache/transcriptions")  # evaluate: ground-truth / reconstruction notes by audio content hash
DVCLIVE = Path("dvclive")


def gan_path(models_dir: str | os.PathLike, level: str | None) -> Path:
    """The generator checkpoint for `level`: models/gan-<level>.pt when present, else models/gan.pt."""
    models_dir = Path(models_dir)
    if level is not None and (models_dir / f"gan-{level}.pt").is_file():
        return models_dir / f"gan-{level}.pt"
    return models_dir / "gan.pt"
