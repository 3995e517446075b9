"""The built-in demo dataset: procedural scene pictures paired with synthesized piano pieces.

Six scene categories, each with its own picture composition and its own music, so that a
picture → music mapping exists to be learned:

| category        | picture                                      | music                                       |
|-----------------|----------------------------------------------|---------------------------------------------|
| beach           | blue sky, sun, sea with waves, sand          | C major, 104 bpm, broken-chord arpeggios    |
| desert          | hot sky, big sun, rolling dunes, cacti       | D phrygian dominant, 72 bpm, melody on drone |
| forest          | pale sky, rows of conifers, green floor      | G major, 92 bpm, melody over chords         |
| night_city      | dark sky, stars, moon, lit buildings         | F dorian, 126 bpm, syncopated 7th chords    |
| snowy_mountains | cold sky, snow-capped peaks, snow field      | E harmonic minor, 60 bpm, high sparse chords |
| sunset_sea      | orange-violet sky, low red sun, dark sea     | A♭ major, 84 bpm, low rolling arpeggios     |

Every picture and piece is drawn from its own generator seeded by (seed, category, kind, index),
so the same seed gives the same bytes and items do not depend on how many others are made.
Pictures are uint8 [size, size, 3]; pieces are float32 [sample_rate * seconds], peak 0.95.

Piano model (per note): partials f_n = n f0 sqrt(1 + B n²) with a register-dependent inharmonicity
B, amplitudes falling with n (brighter when struck harder), per-partial exponential decay (higher
partials die faster, low notes ring longer), a 2 ms attack with a short noise burst for the hammer,
and a damper release at note-off (the sustain pedal holds chords until the next chord).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from conchshell.data.manifest import Pair

CATEGORIES = ("beach", "desert", "forest", "night_city", "snowy_mountains", "sunset_sea")
_PICTURE, _PIECE = 0, 1


# ---------------------------------------------------------------------------------------------
# The dataset plan
# ---------------------------------------------------------------------------------------------


def picture_id(category: str, index: int) -> str:
    return f"{category}_{index:03d}"


def piece_id(category: str, index: int) -> str:
    return f"{category}_piece_{index:03d}"


def demo_pairs(pictures_per_category: int, pieces_per_category: int) -> list[Pair]:
    """Picture j of a category is paired with piece j mod pieces_per_category (≈2 pictures per piece)."""
    return [
        Pair(picture_id(c, j), c, piece_id(c, j % pieces_per_category))
        for c in CATEGORIES
        for j in range(pictures_per_category)
    ]


def _rng(seed: int, category: str, kind: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, CATEGORIES.index(category), kind, index])


def _index(item_id: str) -> int:
    return int(item_id.rsplit("_", 1)[1])


def demo_picture(pair_id: str, category: str, seed: int, size: int = 224) -> np.ndarray:
    """The demo picture `pair_id` (e.g. `beach_003`) → uint8 [size, size, 3]."""
    return draw_picture(category, _rng(seed, category, _PICTURE, _index(pair_id)), size)


def demo_piece(clip: str, category: str, seed: int, sample_rate: int, seconds: float) -> np.ndarray:
    """The demo piece `clip` (e.g. `beach_piece_003`) → float32 [sample_rate * seconds]."""
    return compose_piece(category, _rng(seed, category, _PIECE, _index(clip)), sample_rate, seconds)


def demo_score(clip: str, category: str, seed: int, seconds: float) -> Score:
    """The notes demo piece `clip` is synthesised from (`demo_piece` draws this score first from the same generator)."""
    return compose_score(category, _rng(seed, category, _PIECE, _index(clip)), seconds)


class DemoSource:
    """The demo dataset as the `prepare` stage reads it: pairs, pictures and pieces (no problems)."""

    where = "demo"

    def __init__(
        self,
        seed: int,
        pictures_per_category: int = 20,
        pieces_per_category: int = 10,
        size: int = 224,
        *,
        sample_rate: int,
        seconds: float,
    ):
        self.seed, self.size, self.sample_rate, self.seconds = seed, size, sample_rate, seconds
        self.pairs = demo_pairs(pictures_per_category, pieces_per_category)
        self.problems: list[str] = []

    def picture(self, pair: Pair) -> np.ndarray:
        """uint8 [size, size, 3]."""
        return demo_picture(pair.id, pair.category, self.seed, self.size)

    def piece(self, clip: str) -> np.ndarray:
        """float32 [sample_rate * seconds], peak 0.95."""
        category = clip.rsplit("_piece_", 1)[0]
        return demo_piece(clip, category, self.seed, self.sample_rate, self.seconds)


# ---------------------------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------------------------


def _jitter(rng: np.random.Generator, colour, amount: float = 18.0) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.normal(0, amount), 0, 255)) for c in colour)


def _gradient(top, bottom, height: int, width: int) -> np.ndarray:
    """Vertical colour ramp → float [height, width, 3]."""
    w = np.linspace(0.0, 1.0, height)[:, None, None]
    ramp = (1 - w) * np.asarray(top, float) + w * np.asarray(bottom, float)
    return np.broadcast_to(ramp, (height, width, 3)).copy()


def draw_picture(category: str, rng: np.random.Generator, size: int = 224) -> np.ndarray:
    """A random scene of `category` → uint8 [size, size, 3] (drawn at 224 and scaled when size differs)."""
    s = 224
    horizon = int(s * rng.uniform(0.38, 0.62))
    img = _SCENES[category](rng, s, horizon)
    if size != s:
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32)
    arr = arr * rng.uniform(0.85, 1.12) + rng.normal(0, rng.uniform(3, 9), arr.shape)  # exposure and noise
    return np.clip(arr, 0, 255).round().astype(np.uint8)


def _sky(rng, s, horizon, top, bottom) -> Image.Image:
    arr = np.zeros((s, s, 3))
    arr[:] = _gradient(_jitter(rng, top), _jitter(rng, bottom), s, s)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def _disc(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, colour) -> None:
    draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


def _beach(rng, s, horizon) -> Image.Image:
    img = _sky(rng, s, horizon, (70, 140, 230), (180, 220, 250))
    d = ImageDraw.Draw(img)
    _disc(
        d, rng.uniform(20, s - 20), rng.uniform(15, horizon * 0.6), rng.uniform(10, 22), _jitter(rng, (255, 235, 120))
    )
    shore = int(horizon + (s - horizon) * rng.uniform(0.35, 0.6))
    d.rectangle((0, horizon, s, shore), fill=_jitter(rng, (30, 110, 190)))
    for _ in range(rng.integers(4, 10)):  # wave crests
        y = rng.uniform(horizon + 4, shore - 2)
        x0 = rng.uniform(-20, s)
        d.line(
            (x0, y, x0 + rng.uniform(20, 70), y + rng.uniform(-2, 2)),
            fill=(235, 245, 255),
            width=int(rng.integers(1, 4)),
        )
    xs = np.linspace(0, s, 12)
    edge = shore + rng.normal(0, 3, xs.size)
    d.polygon([(0, s)] + list(zip(xs, edge)) + [(s, s)], fill=_jitter(rng, (225, 200, 150)))
    return img


def _desert(rng, s, horizon) -> Image.Image:
    img = _sky(rng, s, horizon, (235, 160, 70), (250, 220, 150))
    d = ImageDraw.Draw(img)
    _disc(
        d, rng.uniform(30, s - 30), rng.uniform(20, horizon * 0.7), rng.uniform(18, 34), _jitter(rng, (255, 245, 200))
    )
    xs = np.linspace(0, s, 40)
    for layer in range(int(rng.integers(2, 4))):  # dunes, back to front
        base = horizon + layer * (s - horizon) / 3.5
        phase, freq, amp = rng.uniform(0, 2 * np.pi), rng.uniform(1, 3), rng.uniform(6, 18)
        ys = base - amp * np.sin(phase + freq * np.pi * xs / s)
        shade = _jitter(rng, (210 - 25 * layer, 150 - 20 * layer, 80 - 10 * layer))
        d.polygon([(0, s)] + list(zip(xs, ys)) + [(s, s)], fill=shade)
    for _ in range(rng.integers(0, 3)):  # cacti
        x, y, h = rng.uniform(10, s - 10), rng.uniform(horizon + 10, s - 10), rng.uniform(15, 35)
        green = _jitter(rng, (60, 120, 60))
        d.rectangle((x - 3, y - h, x + 3, y), fill=green)
        d.rectangle((x - 10, y - h * 0.6, x - 3, y - h * 0.5), fill=green)
        d.rectangle((x - 10, y - h * 0.85, x - 7, y - h * 0.5), fill=green)
    return img


def _forest(rng, s, horizon) -> Image.Image:
    img = _sky(rng, s, horizon, (150, 190, 210), (215, 230, 220))
    d = ImageDraw.Draw(img)
    d.rectangle((0, horizon, s, s), fill=_jitter(rng, (50, 100, 40)))
    rows = int(rng.integers(2, 4))
    for row in range(rows):  # conifers, back rows first and darker
        y_base = horizon + row * (s - horizon) / (rows + 0.5) + rng.uniform(0, 10)
        green = np.array((30 + 15 * row, 90 + 20 * row, 35 + 5 * row))
        for _ in range(rng.integers(5, 11)):
            x, h = rng.uniform(-10, s + 10), rng.uniform(40, 110) * (0.7 + 0.25 * row)
            w = h * rng.uniform(0.25, 0.4)
            d.rectangle((x - 3, y_base - h * 0.15, x + 3, y_base), fill=_jitter(rng, (90, 60, 30), 8))
            d.polygon(
                [(x - w, y_base - h * 0.1), (x + w, y_base - h * 0.1), (x, y_base - h)], fill=_jitter(rng, green, 12)
            )
    return img


def _night_city(rng, s, horizon) -> Image.Image:
    img = _sky(rng, s, horizon, (5, 8, 30), (40, 40, 90))
    d = ImageDraw.Draw(img)
    for _ in range(rng.integers(20, 60)):  # stars
        x, y = rng.uniform(0, s), rng.uniform(0, horizon)
        d.point((x, y), fill=(255, 255, int(rng.integers(180, 256))))
    mx, my, mr = rng.uniform(20, s - 20), rng.uniform(15, horizon * 0.5), rng.uniform(8, 16)
    _disc(d, mx, my, mr, (240, 240, 215))
    x = rng.uniform(-15, 0)
    while x < s:  # buildings with lit windows
        w, h = rng.uniform(18, 45), rng.uniform(0.3, 1.1) * (s - 30)
        top = max(20.0, s - h)
        d.rectangle((x, top, x + w, s), fill=_jitter(rng, (35, 35, 45), 10))
        for wy in np.arange(top + 5, s - 6, 9):
            for wx in np.arange(x + 4, x + w - 5, 8):
                if rng.random() < 0.45:
                    d.rectangle((wx, wy, wx + 3, wy + 4), fill=_jitter(rng, (255, 210, 90), 20))
        x += w + rng.uniform(0, 6)
    return img


def _snowy_mountains(rng, s, horizon) -> Image.Image:
    img = _sky(rng, s, horizon, (110, 150, 200), (225, 235, 245))
    d = ImageDraw.Draw(img)
    for _ in range(rng.integers(2, 5)):  # peaks with snow caps
        x, h, w = rng.uniform(0, s), rng.uniform(60, 140), rng.uniform(60, 120)
        base, top = horizon + 20, horizon + 20 - h
        rock = _jitter(rng, (105, 110, 125), 12)
        d.polygon([(x - w, base), (x + w, base), (x, top)], fill=rock)
        cap = rng.uniform(0.25, 0.45)
        d.polygon([(x - w * cap, top + h * cap), (x + w * cap, top + h * cap), (x, top)], fill=(245, 248, 255))
    d.rectangle((0, horizon + 18, s, s), fill=_jitter(rng, (235, 240, 250), 8))
    for _ in range(rng.integers(0, 40)):  # falling snow
        _disc(d, rng.uniform(0, s), rng.uniform(0, s), rng.uniform(0.5, 1.8), (255, 255, 255))
    return img


def _sunset_sea(rng, s, horizon) -> Image.Image:
    img = _sky(rng, s, horizon, (90, 40, 120), (250, 140, 60))
    d = ImageDraw.Draw(img)
    sx, r = rng.uniform(40, s - 40), rng.uniform(20, 38)
    _disc(d, sx, horizon - r * rng.uniform(0.0, 0.8), r, _jitter(rng, (250, 90, 40)))
    d.rectangle((0, horizon, s, s), fill=_jitter(rng, (30, 30, 70), 12))
    for y in np.arange(horizon + 3, s, rng.uniform(5, 9)):  # the sun's reflection
        half = r * rng.uniform(0.3, 1.0) * (1 - 0.5 * (y - horizon) / (s - horizon))
        d.line((sx - half, y, sx + half, y), fill=_jitter(rng, (240, 120, 60)), width=2)
    return img


_SCENES = {
    "beach": _beach,
    "desert": _desert,
    "forest": _forest,
    "night_city": _night_city,
    "snowy_mountains": _snowy_mountains,
    "sunset_sea": _sunset_sea,
}


# ---------------------------------------------------------------------------------------------
# Music
# ---------------------------------------------------------------------------------------------

MAJOR = (0, 2, 4, 5, 7, 9, 11)


@dataclass(frozen=True)
class Style:
    """A category's music: key (tonic MIDI note and scale), tempo, register and texture."""

    tonic: int
    scale: tuple[int, ...]
    tempo: float  # beats per minute
    texture: str  # arpeggio | melody | chords
    progressions: tuple[tuple[int, ...], ...]  # scale degrees (0-based), one chord per bar
    register: int = 0  # semitones added to the right hand
    sevenths: bool = False
    velocity: float = 0.7


STYLES = {
    "beach": Style(60, MAJOR, 104, "arpeggio", ((0, 4, 5, 3), (0, 3, 4, 0), (0, 5, 3, 4))),
    "desert": Style(62, (0, 1, 4, 5, 7, 8, 10), 72, "melody", ((0, 0, 1, 0), (0, 6, 1, 0)), register=0, velocity=0.6),
    "forest": Style(67, MAJOR, 92, "melody", ((0, 6, 3, 0), (0, 3, 6, 4), (3, 0, 6, 0))),
    "night_city": Style(
        65,
        (0, 2, 3, 5, 7, 9, 10),
        126,
        "chords",
        ((0, 3, 0, 3), (1, 4, 0, 0), (0, 6, 3, 4)),
        sevenths=True,
        velocity=0.75,
    ),
    "snowy_mountains": Style(
        64, (0, 2, 3, 5, 7, 8, 11), 60, "sparse", ((0, 5, 2, 6), (0, 3, 5, 4)), register=12, velocity=0.5
    ),
    "sunset_sea": Style(68, MAJOR, 84, "arpeggio", ((0, 1, 0, 4), (0, 5, 1, 0)), register=-12, velocity=0.6),
}


@dataclass
class Score:
    """Notes as parallel lists: onset and duration in seconds, MIDI pitch, velocity in (0, 1]."""

    onset: list[float]
    duration: list[float]
    pitch: list[int]
    velocity: list[float]

    def add(self, onset: float, duration: float, pitch: int, velocity: float) -> None:
        self.onset.append(onset)
        self.duration.append(duration)
        self.pitch.append(int(pitch))
        self.velocity.append(float(np.clip(velocity, 0.05, 1.0)))


def _degree_pitch(style: Style, degree: int, octave_base: int) -> int:
    n = len(style.scale)
    return octave_base + style.scale[degree % n] + 12 * (degree // n)


def _chord(style: Style, root: int, base: int, size: int) -> list[int]:
    return [_degree_pitch(style, root + 2 * i, base) for i in range(size)]


def compose_score(category: str, rng: np.random.Generator, seconds: float) -> Score:
    """A random piece in `category`'s style: chord per bar, left hand bass, right hand texture."""
    style = STYLES[category]
    beat = 60.0 / (style.tempo * rng.uniform(0.92, 1.08))
    bar = 4 * beat
    progression = style.progressions[rng.integers(len(style.progressions))]
    right = style.tonic + style.register + 12 * int(rng.choice([0, 0, 0, 1, -1]))
    bass = style.tonic - 24 if style.tonic - 24 >= 33 else style.tonic - 12
    score = Score([], [], [], [])
    vel = style.velocity * rng.uniform(0.85, 1.1)
    melody_degree = int(rng.integers(0, 5))
    n_bars = int(np.ceil(seconds / bar))
    for b in range(n_bars):
        t0 = b * bar
        root = progression[b % len(progression)]
        chord = _chord(style, root, right, 4 if style.sevenths else 3)
        score.add(t0, bar * 0.98, _degree_pitch(style, root, bass), vel * 0.9)  # bass on the downbeat
        if style.texture == "arpeggio":
            tones = chord + [p + 12 for p in chord]
            tones = tones + tones[-2:0:-1]
            for k in range(8):
                score.add(t0 + k * beat / 2, beat * 1.5, tones[k % len(tones)], vel * rng.uniform(0.75, 1.0))
        elif style.texture == "chords":
            for pos, length in ((0, 1.0), (1.5, 0.5), (2.5, 1.0), (3.5, 0.5)):
                if rng.random() < 0.85:
                    for p in chord:
                        score.add(t0 + pos * beat, length * beat * 0.9, p, vel * rng.uniform(0.8, 1.0))
        elif style.texture == "sparse":
            for p in chord:
                score.add(t0 + rng.uniform(0, 0.03), bar * 0.95, p, vel * rng.uniform(0.7, 0.9))
            for pos in (1.0, 2.0, 3.0):
                if rng.random() < 0.6:
                    score.add(t0 + pos * beat, beat * 1.5, chord[int(rng.integers(len(chord)))] + 12, vel * 0.8)
        else:  # melody over a soft chord
            for p in chord[:2]:
                score.add(t0, bar * 0.9, p - 12, vel * 0.55)
            t = 0.0
            while t < 4.0 - 1e-6:
                length = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
                length = min(length, 4.0 - t)
                melody_degree = int(np.clip(melody_degree + rng.integers(-2, 3), 0, 11))
                score.add(
                    t0 + t * beat,
                    length * beat * 0.95,
                    _degree_pitch(style, melody_degree, right),
                    vel * rng.uniform(0.85, 1.1),
                )
                t += length
    return score


def compose_piece(category: str, rng: np.random.Generator, sample_rate: int, seconds: float) -> np.ndarray:
    """A random piece in `category`'s style, synthesized → float32 [sample_rate * seconds], peak 0.95."""
    score = compose_score(category, rng, seconds)
    wave = render(score, rng, sample_rate, int(round(sample_rate * seconds)))
    return (wave * (0.95 / max(float(np.abs(wave).max()), 1e-9))).astype(np.float32)


def render(score: Score, rng: np.random.Generator, sample_rate: int, length: int, partials: int = 8) -> np.ndarray:
    """Synthesize `score` with the additive piano model → float32 [length]."""
    out = np.zeros(length, dtype=np.float32)
    nyquist = sample_rate / 2
    n = np.arange(1, partials + 1, dtype=np.float32)[:, None]  # [K, 1]
    release = 0.12  # damper: seconds to fall by e after note-off
    for onset, duration, pitch, velocity in zip(score.onset, score.duration, score.pitch, score.velocity):
        start = int(round(onset * sample_rate))
        if start >= length:
            continue
        f0 = 440.0 * 2.0 ** ((pitch - 69) / 12)
        ring = min(duration + 4 * release, (length - start) / sample_rate)
        t = np.arange(int(ring * sample_rate), dtype=np.float32)[None, :] / sample_rate  # [1, L]
        inharm = 1e-4 * 2.0 ** ((pitch - 60) / 24)  # B grows with pitch
        freqs = n * f0 * np.sqrt(1 + inharm * n**2)  # [K, 1]
        brightness = 1.0 + 1.5 * velocity
        amps = np.where(freqs < nyquist, n ** -(3.0 / brightness), 0.0)  # louder notes are brighter
        tau = 2.5 * (261.6 / f0) ** 0.6 / (1 + 0.6 * (n - 1))  # [K, 1] seconds
        phases = rng.uniform(0, 2 * np.pi, (partials, 1)).astype(np.float32)
        env = np.exp(-t / tau) * np.minimum(1.0, t / 0.002)
        env *= np.exp(-np.maximum(t - duration, 0.0) / release)  # damper after note-off
        note = (amps * env * np.sin(2 * np.pi * freqs * t + phases)).sum(axis=0)
        hammer = min(note.shape[0], int(0.006 * sample_rate))  # a short decaying noise burst
        note[:hammer] += 0.3 * velocity * rng.normal(0, 1, hammer) * np.exp(-np.arange(hammer) / (0.0015 * sample_rate))
        out[start : start + note.shape[0]] += velocity * note.astype(np.float32)
    return out
