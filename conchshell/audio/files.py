"""Audio files: read anything soundfile reads as a fixed-length mono clip; write float WAVs.

Every clip the pipeline sees is `seconds` long at `sample_rate` (conchshell.audio.spec; the paper's: 8 s at 16 kHz):
- several channels are averaged to mono;
- other rates are resampled with `torchaudio.functional.resample`;
- a shorter clip is padded with zeros at the end, a longer one is cut: its first `seconds` are kept;
- the result is peak-normalised (to 0.95 by default).
Non-finite samples, or a clip that is silent, are errors naming the file. Silence is judged after the
mono mix-down, on the kept part (the first `seconds`, before padding), by RMS against the file's own
quantisation step: below `SILENCE_STEPS` steps of its bit depth (at least of 16 bits) it is noise-floor
silence (e.g. dithered digital silence); a mono mix `CANCEL_DB` below its channels means the channels
cancel out (e.g. one channel the other's negative). Either would be normalised up to full-scale noise.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from conchshell.errors import ConchError
from conchshell.io import atomic_path

PEAK = 0.95
#: A clip whose RMS stays below this many quantisation steps of its bit depth is silent (2 steps of 16 bits: -84 dBFS).
SILENCE_STEPS = 2.0
#: Bits of the finest step counted: float and lossy files are judged as 16-bit ones (finer files too).
FLOOR_BITS = 16
#: A mono mix this many dB below the RMS of its channels means the channels cancel out.
CANCEL_DB = 60.0
#: Bit depth of each soundfile subtype with a fixed quantisation step (A-law / mu-law: their finest step).
SUBTYPE_BITS = {"PCM_S8": 8, "PCM_U8": 8, "ALAW": 13, "ULAW": 14, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}


def read_audio(
    path: str | os.PathLike,
    sample_rate: int,
    seconds: float,
    peak: float | None = PEAK,
) -> np.ndarray:
    """Read `path` as mono float32 [T], T = round(sample_rate * seconds); `peak=None` skips normalising."""
    path = Path(path)
    wave, rate, subtype = _read_raw(path)
    if not np.isfinite(wave).all():
        raise ConchError(f"{path}: audio contains NaN or infinite samples")
    mono = wave.mean(axis=1)
    check_not_silent(path, wave, mono, rate, seconds, subtype)
    if rate != sample_rate:
        mono = resample(mono, rate, sample_rate)
    mono = fit_length(mono, int(round(sample_rate * seconds)))
    if not np.abs(mono).max(initial=0.0) > 0:  # only resampling could still make it so; never divide by 0
        raise ConchError(f"{path}: audio is silent after resampling to {sample_rate} Hz")
    if peak is not None:
        mono = mono * (peak / np.abs(mono).max())
    return mono.astype(np.float32)


def check_not_silent(
    path: Path, wave: np.ndarray, mono: np.ndarray, rate: int, seconds: float, subtype: str | None
) -> None:
    """ConchError naming `path` if the kept part of `mono` [T] (mix-down of `wave` [T, C]) is silent.

    RMS over the first `seconds` (before any padding): below `SILENCE_STEPS` quantisation steps of the
    file's bit depth (float / lossy / finer than 16 bits: 16-bit steps) → silent; a mono mix more than
    `CANCEL_DB` below its channels → the channels cancel out.
    """
    kept = int(round(rate * seconds))
    mono_rms = _rms(mono[:kept])
    channels_rms = _rms(wave[:kept])
    bits = min(SUBTYPE_BITS.get(subtype or "", FLOOR_BITS), FLOOR_BITS)
    floor = SILENCE_STEPS * 2.0 ** -(bits - 1)
    if channels_rms < floor:
        raise ConchError(
            f"{path}: audio is silent (RMS {_dbfs(channels_rms)} in the first {seconds:g} s, below the "
            f"{bits}-bit noise floor {_dbfs(floor)})"
        )
    if mono_rms < floor or mono_rms < channels_rms * 10 ** (-CANCEL_DB / 20):
        raise ConchError(
            f"{path}: the {wave.shape[1]} channels cancel out when mixed to mono "
            f"(mono RMS {_dbfs(mono_rms)}, channels {_dbfs(channels_rms)})"
        )


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _dbfs(rms: float) -> str:
    return f"{20 * np.log10(rms):.0f} dBFS" if rms > 0 else "-inf dBFS"


def _read_raw(path: Path) -> tuple[np.ndarray, int, str | None]:
    """soundfile read as float32 [T, C], its rate and subtype; any failure is a ConchError naming the file."""
    if not path.is_file():
        raise ConchError(f"{path}: audio file not found")
    try:
        with sf.SoundFile(path) as f:
            subtype = f.subtype
            wave = f.read(dtype="float32", always_2d=True)
            rate = f.samplerate
    except Exception as err:  # noqa: BLE001 - libsndfile raises several types for bad files
        raise ConchError(f"{path}: not a readable audio file ({_first_line(err)})") from err
    if wave.shape[0] == 0:
        raise ConchError(f"{path}: audio file holds no samples")
    return wave, int(rate), subtype


def resample(wave: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono float32 [T] → [T * to_rate / from_rate] (torchaudio's windowed sinc)."""
    import torch  # imported here: writing a wav (conchshell generate) needs neither
    import torchaudio

    out = torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(wave, np.float32)), from_rate, to_rate)
    return out.numpy()


def fit_length(wave: np.ndarray, length: int) -> np.ndarray:
    """Pad [T] with zeros at the end, or keep its first `length` samples → [length]."""
    if wave.shape[0] >= length:
        return wave[:length]
    return np.pad(wave, (0, length - wave.shape[0]))


def write_wav(path: str | os.PathLike, wave: np.ndarray, sample_rate: int) -> None:
    """Write mono [T] as a float32 WAV (subtype FLOAT), atomically; equal samples give equal bytes.

    libsndfile adds a PEAK chunk to float WAVs holding the wall-clock time of writing; it is dropped
    (it is optional: readers take the peak from the samples), so the file stays lossless float32
    rather than being quantised to PCM, and carries no timestamp.
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"write_wav expects a mono wave [T], got shape {wave.shape}")
    buffer = io.BytesIO()
    sf.write(buffer, wave, sample_rate, subtype="FLOAT", format="WAV")
    with atomic_path(path) as tmp:
        tmp.write_bytes(drop_riff_chunk(buffer.getvalue(), b"PEAK"))


def drop_riff_chunk(riff: bytes, chunk_id: bytes) -> bytes:
    """A RIFF/WAVE file's bytes without its `chunk_id` chunks (the RIFF size is rewritten)."""
    if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        raise ValueError("drop_riff_chunk expects a RIFF/WAVE file")
    kept, pos = [], 12
    while pos + 8 <= len(riff):
        size = int.from_bytes(riff[pos + 4 : pos + 8], "little")
        end = pos + 8 + size + (size & 1)  # chunks are padded to an even length
        if riff[pos : pos + 4] != chunk_id:
            kept.append(riff[pos:end])
        pos = end
    body = b"WAVE" + b"".join(kept)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
