"""Helpers for the web app tests: a small listening study on disk and a live server on a loopback port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import uvicorn
from PIL import Image

from conchshell.evaluation.listening.ratings import SYSTEMS

RATE = 16000


def make_study(root: Path, ids=("beach_000", "forest_001"), seconds: float = 1.0) -> tuple[Path, Path]:
    """prepared/ (manifest.csv + pictures) and samples/ (<id>_<system>.wav, three distinct tones each)."""
    prepared, samples = root / "prepared", root / "samples"
    (prepared / "images").mkdir(parents=True)
    samples.mkdir(parents=True)
    rows = ["id,category,label,split,image,audio"]
    t = np.arange(int(seconds * RATE)) / RATE
    for k, sample in enumerate(ids):
        category = sample.split("_")[0]
        Image.new("RGB", (224, 224), (40 * k, 120, 200 - 40 * k)).save(prepared / "images" / f"{sample}.png")
        rows.append(f"{sample},{category},{k},val,images/{sample}.png,audio/{category}_piece_{k:03d}.wav")
        for j, system in enumerate(SYSTEMS):
            wave = 0.3 * np.sin(2 * np.pi * 220.0 * (1 + k + j) * t)
            sf.write(samples / f"{sample}_{system}.wav", wave.astype(np.float32), RATE, subtype="PCM_16")
    (prepared / "manifest.csv").write_text("\n".join(rows) + "\n")
    return samples, prepared


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(app, timeout: float = 30.0):
    """Run `app` with uvicorn on 127.0.0.1 in a thread; yield its base URL; stop it afterwards."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


def wait_ready(client, base: str, timeout: float = 60.0) -> dict:
    """Poll /status until the composer has left 'loading'; return the last status."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"{base}/status").json()
        if status["state"] != "loading" or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def write_params(root) -> Path:
    """The pipeline's params file `generate` needs (seed 0, default I3D), as a run from the repository has."""
    from pathlib import Path

    params = Path(root) / "params.yaml"
    params.write_text("seed: 0\n")
    return params
