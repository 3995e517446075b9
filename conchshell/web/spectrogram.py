"""The Try-it page's mel-spectrogram: large enough to read (900×320 px, 11-pt labels), unlike report.html's
thumbnails. The mel bands are the metric's (`conchshell.audio.log_mel.METRIC`)."""

from __future__ import annotations

import io

import numpy as np


def spectrogram_png(wave: np.ndarray, sample_rate: int, title: str = "") -> bytes:
    """Mono float [T] → PNG bytes (900×320) of its log-mel spectrogram [bands, frames], with a dB colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from conchshell.audio.log_mel import METRIC, log_mel

    mel = log_mel(torch.as_tensor(np.asarray(wave, np.float32)), sample_rate, METRIC).numpy()
    with plt.rc_context({"font.size": 11}):
        fig, ax = plt.subplots(figsize=(9.0, 3.2), dpi=100)
        image = ax.imshow(
            mel, origin="lower", aspect="auto", cmap="magma", extent=(0, len(wave) / sample_rate, 0, mel.shape[0])
        )
        fig.colorbar(image, ax=ax, pad=0.01, label="log-mel")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("mel band")
        if title:
            ax.set_title(title)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
        plt.close(fig)
    return buffer.getvalue()
