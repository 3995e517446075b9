"""Data: the demo set, BOP ingestion, audio and picture I/O, and the prepared manifest.

- `demo`      the built-in demo dataset (procedural pictures, synthesized piano), generated from the seed
- `bop`       ingestion and validation of the BOP dataset layout (`images/<category>/`, `audio/`, annotations.csv)
- `audio`     `read_audio` (any rate / channels → 16 kHz mono, 8 s, peak 0.95) and `write_wav`
- `images`    `read_picture` (any Pillow mode → RGB 224×224) and `to_tensor`
- `manifest`  `data/prepared/manifest.csv`: reading, categories, clip ids and the train/val split
"""
