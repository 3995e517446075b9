"""The audio spec, defined once: every clip is mono, `seconds` long at `rate` Hz (the paper: 8 s at 16 kHz).

params.yaml's `data.sample_rate` and `data.seconds` choose it (`DataConfig.audio`); `prepare` writes the clips
at it, `encode_audio` reads them at it and records it in data/features/audio.h5 (attrs `audio_rate`,
`seconds`), `train_gan` copies it into models/gan.pt, and everything downstream reads it from there.
This module imports nothing, so reading params stays light.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AudioSpec:
    """Mono clips of `seconds` at `rate` Hz; `samples` = round(rate · seconds)."""

    rate: int = 16000
    seconds: float = 8.0

    @property
    def samples(self) -> int:
        return int(round(self.rate * self.seconds))


#: The paper's spec (params.yaml's default): 8 s at 16 kHz, 128000 samples.
PAPER = AudioSpec()

#: The rates the pipeline runs at, with the PESQ mode each is measured in (ITU-T P.862 narrow band at 8 kHz,
#: P.862.2 wide band at 16 kHz): PESQ is defined at these two rates only.
PESQ_MODES: dict[int, str] = {8000: "nb", 16000: "wb"}
