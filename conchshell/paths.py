"""Where each pipeline stage reads and writes (relative to the repository root; mirrors dvc.yaml)."""

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
