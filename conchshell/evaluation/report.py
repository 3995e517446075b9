"""report.html: one self-contained page (no external files) showing what the pipeline made.

For each sample: its picture, audio players for the generated piece, the ground truth and the VQ-VAE
reconstruction, their mel spectrograms and a piano roll of the generated piece's transcription over the
ground truth's; above them the metrics table (per split) and any extra tables (the music scores per
category). Pictures, audio (16-bit PCM WAV) and PNGs are embedded as base64 `data:` URIs.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from conchshell.audio.spec import PESQ_MODES

#: The three players per sample, in page order: (field of Sample, heading).
TRACKS = (("generated", "Generated"), ("ground_truth", "Ground truth"), ("reconstruction", "VQ-VAE reconstruction"))


@dataclass
class Sample:
    """One kept picture, the record evaluation fills and the report (and samples/) shows: its picture uint8
    [H,W,3] (None until the stage reads it) and three mono waves float [T] at `sample_rate`."""

    id: str
    category: str
    predicted_category: str
    picture: np.ndarray | None
    generated: np.ndarray
    ground_truth: np.ndarray
    reconstruction: np.ndarray
    piano_roll: bytes | None = None  # PNG: transcribed notes, generated over ground truth (piano_roll_png)


def data_uri(payload: bytes, mime: str) -> str:
    """bytes → `data:<mime>;base64,...`."""
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def wav_bytes(wave: np.ndarray, sample_rate: int) -> bytes:
    """Mono float [T] → a 16-bit PCM WAV file's bytes (clipped to ±1; every browser plays it)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(np.asarray(wave, np.float32), -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def png_bytes(picture: np.ndarray) -> bytes:
    """uint8 [H,W,3] → PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(picture, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def spectrogram_png(wave: np.ndarray, sample_rate: int, title: str = "") -> bytes:
    """Mono float [T] → PNG bytes of its log-mel spectrogram (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from conchshell.audio.log_mel import METRIC, log_mel

    mel = log_mel(torch.as_tensor(np.asarray(wave, np.float32)), sample_rate, METRIC).numpy()
    seconds = len(wave) / sample_rate
    fig, ax = plt.subplots(figsize=(4.0, 1.8), dpi=80)
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, mel.shape[0]))
    ax.set_xlabel("s")
    ax.set_ylabel("mel band")
    return _finish_png(fig, ax, title)


def _finish_png(fig, ax, title: str) -> bytes:
    """Title (when given), tight layout, PNG bytes; the figure is closed."""
    import matplotlib.pyplot as plt

    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def piano_roll_png(ground_truth, generated, seconds: float, title: str = "") -> bytes:
    """PNG bytes of two note lists (conchshell.evaluation.music.metrics.Notes) as one piano roll: ground truth as grey bars,
    the generated piece as orange outlines; x is time in seconds, y the MIDI pitch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    styles = (
        (ground_truth, "ground truth", dict(facecolor="0.6", edgecolor="none")),
        (generated, "generated", dict(facecolor="none", edgecolor="tab:orange", linewidth=1.0)),
    )
    fig, ax = plt.subplots(figsize=(4.0, 1.8), dpi=80)
    for notes, _, style in styles:
        for start, end, pitch in zip(notes.onset, notes.offset, notes.pitch):
            ax.broken_barh([(float(start), float(end - start))], (int(pitch) - 0.4, 0.8), **style)
    pitches = np.concatenate([np.asarray(ground_truth.pitch), np.asarray(generated.pitch)])
    low, high = (int(pitches.min()) - 2, int(pitches.max()) + 2) if len(pitches) else (48, 84)
    ax.set_xlim(0, seconds)
    ax.set_ylim(low, high)
    ax.set_xlabel("s")
    ax.set_ylabel("MIDI pitch")
    ax.legend(
        handles=[Patch(label=f"{label} ({len(notes)} notes)", **style) for notes, label, style in styles],
        fontsize=6,
        loc="upper right",
    )
    return _finish_png(fig, ax, title)


def _format(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def metrics_table(metrics: dict[str, float]) -> str:
    """Flat `<split>.<metric>` keys → an HTML table, one row per metric, one column per split."""
    splits = sorted({key.split(".", 1)[0] for key in metrics}, key=lambda s: (s != "train", s))
    names = list(dict.fromkeys(key.split(".", 1)[1] for key in metrics))
    head = "".join(f"<th>{html.escape(s)}</th>" for s in splits)
    rows = "".join(
        f"<tr><th>{html.escape(n)}</th>"
        + "".join(f"<td>{_format(metrics.get(f'{s}.{n}'))}</td>" for s in splits)
        + "</tr>"
        for n in names
    )
    return f'<table class="metrics"><thead><tr><th>metric</th>{head}</tr></thead><tbody>{rows}</tbody></table>'


def rows_table(rows: list[dict]) -> str:
    """A list of same-keyed dicts → an HTML table, one row per dict, one column per key."""
    if not rows:
        return "<p>No rows.</p>"
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_format(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f'<table class="metrics"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def sample_section(sample: Sample, sample_rate: int) -> str:
    """One sample: picture, then per track a heading, an <audio> player and a spectrogram."""
    picture = (
        f'<img class="picture" alt="{html.escape(sample.id)}" src="{data_uri(png_bytes(sample.picture), "image/png")}">'
        if sample.picture is not None
        else ""
    )
    tracks = []
    for name, heading in TRACKS:
        wave = getattr(sample, name)
        tracks.append(
            f'<div class="track {name}"><h4>{heading}</h4>'
            f'<audio controls preload="none" data-track="{name}" src="{data_uri(wav_bytes(wave, sample_rate), "audio/wav")}"></audio>'
            f'<img class="spectrogram" alt="{heading} spectrogram" '
            f'src="{data_uri(spectrogram_png(wave, sample_rate), "image/png")}"></div>'
        )
    if sample.piano_roll is not None:
        tracks.append(
            '<div class="track piano_roll"><h4>Piano roll (transcribed)</h4>'
            f'<img class="spectrogram" alt="piano roll" src="{data_uri(sample.piano_roll, "image/png")}"></div>'
        )
    caption = (
        f"{html.escape(sample.id)} — category {html.escape(sample.category)}, "
        f"the judge hears {html.escape(sample.predicted_category)}"
    )
    return (
        f'<section class="sample" id="{html.escape(sample.id)}"><h3>{caption}</h3>{picture}{"".join(tracks)}</section>'
    )


#: Where the blind listening test runs (`conchshell serve`); its MOS lands in metrics/listening.json.
LISTENING_LINK = (
    '<p class="listening">Human ratings: start the blind listening test with <code>uv run conchshell serve</code> '
    'and open <a href="http://127.0.0.1:7860/listen">http://127.0.0.1:7860/listen</a>; '
    "<code>dvc repro listening</code> turns the ratings into MOS ± 95% CI per system and scale "
    "(<code>metrics/listening.json</code>).</p>"
)

_STYLE = """
body{font-family:sans-serif;margin:2em;max-width:1400px}
table.metrics{border-collapse:collapse}table.metrics td,table.metrics th{border:1px solid #ccc;padding:3px 8px;text-align:right}
section.sample{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start;border-top:1px solid #ddd;padding:1em 0}
section.sample h3{flex-basis:100%;margin:0}img.picture{width:160px;height:160px}
.track h4{margin:0 0 .3em 0}.track audio{display:block;width:320px}img.spectrogram{width:320px}
"""


def pesq_label(sample_rate: int) -> str:
    """The PESQ column's name at `sample_rate`: the mode it is measured in there (`PESQ_MODES`)."""
    mode = PESQ_MODES.get(sample_rate)
    if mode == "wb":
        return "PESQ (wide-band)"
    if mode == "nb":
        return f"PESQ (narrow-band, {sample_rate // 1000} kHz)"
    return f"PESQ (not defined at {sample_rate} Hz)"


def render_report(
    title: str,
    metrics: dict[str, float],
    samples: list[Sample],
    sample_rate: int,
    notes: str = "",
    tables: dict[str, list[dict]] | None = None,
) -> str:
    """The whole page as a string; `tables` maps a heading to the rows of an extra table shown after the metrics."""
    body = "".join(sample_section(s, sample_rate) for s in samples) or "<p>No samples.</p>"
    extra = "".join(f"<h2>{html.escape(h)}</h2>{rows_table(rows)}" for h, rows in (tables or {}).items())
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>'
        f"<body><h1>{html.escape(title)}</h1>{f'<p>{html.escape(notes)}</p>' if notes else ''}"
        f"<h2>Metrics</h2>{metrics_table(metrics)}"
        f"<p>{pesq_label(sample_rate)} and STOI: higher is better; mel L1: lower is better; category agreement: the fraction "
        "of generated pieces the judge (trained on real pieces; judge.val_accuracy says how many real val pieces it "
        "recognises) assigns to the picture's category; "
        "Fréchet: distance between real and generated pieces in the judge's embedding space (lower is better); "
        "ceiling: the same scores for the VQ-VAE reconstruction of the ground truth.</p>"
        "<p>Music scores compare piano transcriptions (basic-pitch) of the generated piece and the ground truth: "
        "pitch-class cosine, key agreement and mir_eval's weighted key score, note-onset F1 (50 ms), and note "
        "density and pitch range as generated/ground-truth ratios (1 is ideal); transcriber onset F1 is the "
        "transcriber's own accuracy on the demo's known notes (README, Metrics).</p>"
        f"{extra}{LISTENING_LINK}<h2>Samples</h2>{body}</body></html>\n"
    )


def write_report(
    path: str | os.PathLike,
    title: str,
    metrics: dict[str, float],
    samples: list[Sample],
    sample_rate: int,
    notes: str = "",
    tables: dict[str, list[dict]] | None = None,
) -> None:
    """Render and write report.html atomically."""
    from conchshell.io import atomic_path

    page = render_report(title, metrics, samples, sample_rate, notes, tables)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
