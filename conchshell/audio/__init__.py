"""Audio: the one audio spec, files (read any clip as fixed-length mono, write WAVs), log-mel, denoise.

- `spec`     `AudioSpec` (rate, seconds): the only place the paper's 16 kHz / 8 s are written down
- `files`    `read_audio` (any rate / channels → the spec's mono clip, peak 0.95) and `write_wav`
- `log_mel`  the one log-mel (G's mel term, the VQ-VAE loss, the metric and the pictures)
- `denoise`  optional spectral noise reduction of a generated piece
"""
