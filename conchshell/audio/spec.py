"""The audio spec, defined once: every clip is mono, `seconds` long at `rate` Hz (the paper: 8 s at 16 kHz).

params.yaml's `data.sample_rate` and `data.seconds` choose it (`DataConfig.audio`); `prepare` writes the clips
at it, `encode_audio` reads them at it and records it in data/features/audio.h5, `train_gan` copies it into
models/gan.pt, the ONNX export into its bundle's meta.json, and everything downstream reads it from there.
Every artifact stores it in one encoding, `AudioSpec.to_dict()`: `{"audio_rate": 16000, "seconds": 8.0}`
(HDF5 attributes, gan.pt keys, meta.json keys); `AudioSpec.from_dict` reads that and the older encodings.
This module imports nothing but the error type, so reading params stays light.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from conchshell.errors import ConchError


@dataclass(frozen=True)
class AudioSpec:
    """Mono clips of `seconds` at `rate` Hz; `samples` = round(rate · seconds)."""

    rate: int
    seconds: float

    @property
    def samples(self) -> int:
        return int(round(self.rate * self.seconds))

    def to_dict(self) -> dict[str, int | float]:
        """The one on-disk encoding: `{"audio_rate": rate, "seconds": seconds}` (int, float)."""
        return {"audio_rate": int(self.rate), "seconds": float(self.seconds)}

    @classmethod
    def from_dict(
        cls, d: Mapping, source: str, samples: int | None = None, unrecorded: AudioSpec | None = None
    ) -> AudioSpec:
        """The spec `to_dict` wrote, or an older encoding: meta.json's `sample_rate` + `num_samples`, or
        audio.h5's `audio_rate` alone (seconds = `samples`, the stored clips' length, / rate); `unrecorded`
        when `d` records no rate (gan.pt files older than the spec: `UNRECORDED`). A missing or invalid entry
        is a ConchError naming `source` (the file)."""
        if unrecorded is not None and "audio_rate" not in d and "sample_rate" not in d:
            return unrecorded
        rate = d.get("audio_rate", d.get("sample_rate"))
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise ConchError(f"{source}: audio spec: `audio_rate` missing or invalid ({rate!r})")
        if "seconds" in d:
            seconds = d["seconds"]
        elif "num_samples" in d:
            seconds = d["num_samples"] / rate
        elif samples is not None:
            seconds = samples / rate
        else:
            raise ConchError(f"{source}: audio spec: `seconds` missing")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ConchError(f"{source}: audio spec: `seconds` invalid ({seconds!r})")
        return cls(int(rate), float(seconds))


#: The paper's spec (params.yaml's default): 8 s at 16 kHz, 128000 samples.
PAPER = AudioSpec(16000, 8.0)
#: The spec of a gan.pt written before gan.pt recorded one: the pipeline then ran at the paper's only.
UNRECORDED = PAPER

#: The rates the pipeline runs at, with the PESQ mode each is measured in (ITU-T P.862 narrow band at 8 kHz,
#: P.862.2 wide band at 16 kHz): PESQ is defined at these two rates only.
PESQ_MODES: dict[int, str] = {8000: "nb", 16000: "wb"}
