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

Inside a category each piece follows what its pictures show (`Attributes`, drawn per piece):
- **brightness** b ∈ [0, 1] sets the picture's mean luminance (a gamma solved to hit `luminance_target`)
  and the piece's register: the right hand is voiced around `pitch_centre_target` (24 semitones from b = 0
  to b = 1, chords inverted within the key, so key and harmony stay the category's);
- **objects**, the number of things drawn (wave crests, cacti, trees, stars, snowflakes, clouds), sets the
  right hand's events per second: `density_factor` 0.3 … 1.7 of the category's base (bass and pads fixed).
Pictures paired with one piece show the same attributes; everything else in them is drawn afresh.
A piece is a function of its category and attributes alone (`demo_score`): the category fixes its tempo,
progression, melody walk and velocities, a denser piece keeps every note of a sparser one (`event_slots`)
and a note sounds the same wherever it is played (`render`). What a picture does not show is not in its
piece, so a generator can learn the piece from the picture, not only its category's average.

Every picture, attribute pair, motif and instrument is drawn from its own generator seeded by (seed,
category, kind, index), so the same seed gives the same bytes and items do not depend on how many others
are made.
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
_PICTURE, _PIECE, _ATTRIBUTES, _MOTIF = 0, 1, 2, 3


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


@dataclass(frozen=True)
class Attributes:
    """What a piece and its pictures share: brightness b ∈ [0, 1] and the number of objects drawn."""

    brightness: float
    objects: int


# Per category: the objects counted in its pictures and their range, and the mean luminance range (0-255).
OBJECTS = {
    "beach": ("wave crests", 3, 14),
    "desert": ("cacti", 1, 8),
    "forest": ("trees", 6, 24),
    "night_city": ("stars", 8, 48),
    "snowy_mountains": ("snowflakes", 10, 60),
    "sunset_sea": ("clouds", 1, 8),
}
LUMINANCE = {
    "beach": (115.0, 215.0),
    "desert": (120.0, 220.0),
    "forest": (80.0, 170.0),
    "night_city": (20.0, 70.0),
    "snowy_mountains": (130.0, 230.0),
    "sunset_sea": (60.0, 140.0),
}


def piece_attributes(clip: str, category: str, seed: int) -> Attributes:
    """The attributes of demo piece `clip` and of every picture paired with it."""
    rng = _rng(seed, category, _ATTRIBUTES, _index(clip))
    _, low, high = OBJECTS[category]
    return Attributes(float(rng.uniform(0.0, 1.0)), int(rng.integers(low, high + 1)))


def demo_picture(pair_id: str, category: str, seed: int, size: int = 224, clip: str | None = None) -> np.ndarray:
    """The demo picture `pair_id` (e.g. `beach_003`) showing piece `clip`'s attributes → uint8 [size, size, 3].

    `clip` defaults to the piece with the picture's index (one piece per picture)."""
    clip = clip or piece_id(category, _index(pair_id))
    attributes = piece_attributes(clip, category, seed)
    return draw_picture(category, _rng(seed, category, _PICTURE, _index(pair_id)), size, attributes)


def demo_piece(clip: str, category: str, seed: int, sample_rate: int, seconds: float) -> np.ndarray:
    """The demo piece `clip` (e.g. `beach_piece_003`) → float32 [sample_rate * seconds], peak 0.95.

    `demo_score`'s notes played on the category's instrument (`render`): a function of the picture's attributes."""
    score = demo_score(clip, category, seed, seconds)
    wave = render(score, _rng(seed, category, _PIECE, 0), sample_rate, int(round(sample_rate * seconds)))
    return _normalise(wave)


def demo_score(clip: str, category: str, seed: int, seconds: float) -> Score:
    """The notes of demo piece `clip`: a function of its category and attributes alone.

    Every piece of a category draws its melody, chord-tone and velocity choices from the category's one
    motif generator, so two pieces differ only where their pictures do (brightness, objects): what a
    picture does not show cannot be learnt from it, and a piece drawn at random beyond it would leave G
    only the category's average to regress to (README, Honest expectations)."""
    attributes = piece_attributes(clip, category, seed)
    return compose_score(category, _rng(seed, category, _MOTIF, 0), seconds, attributes)


def mean_luminance(picture: np.ndarray) -> float:
    """Mean Rec. 601 luma of a uint8 [H, W, 3] picture, in [0, 1]."""
    return float((np.asarray(picture, np.float64) @ _LUMA).mean() / 255.0)


def score_summary(score: Score, seconds: float) -> tuple[float, float]:
    """(pitch centre: median MIDI pitch, notes per second) of the notes of `score` that start before `seconds`."""
    pitches = [p for o, p in zip(score.onset, score.pitch) if o < seconds]
    return (float(np.median(pitches)) if pitches else float("nan")), len(pitches) / seconds


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
        return demo_picture(pair.id, pair.category, self.seed, self.size, pair.clip_id)

    def attributes(self, pair: Pair, picture: np.ndarray) -> dict[str, float]:
        """The manifest's attribute columns (data/manifest.py ATTRIBUTES) of `pair` and its drawn `picture`."""
        score = demo_score(pair.clip_id, pair.category, self.seed, self.seconds)
        centre, density = score_summary(score, self.seconds)
        objects = piece_attributes(pair.clip_id, pair.category, self.seed).objects
        return {
            "brightness": round(mean_luminance(picture), 4),
            "objects": objects,
            "pitch_centre": round(centre, 3),
            "notes_per_second": round(density, 3),
        }

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


_LUMA = np.array([0.299, 0.587, 0.114])


def luminance_target(category: str, brightness: float) -> float:
    """The mean luminance (0-255) of `category`'s pictures at brightness b: linear over LUMINANCE[category]."""
    low, high = LUMINANCE[category]
    return low + brightness * (high - low)


def draw_picture(
    category: str, rng: np.random.Generator, size: int = 224, attributes: Attributes | None = None
) -> np.ndarray:
    """A random scene of `category` showing `attributes` → uint8 [size, size, 3] (drawn at 224, scaled when size differs).

    Its `objects` things are drawn; its mean luminance is `luminance_target` (a gamma on the noisy scene)."""
    attributes = attributes or Attributes(0.5, sum(OBJECTS[category][1:]) // 2)
    s = 224
    horizon = int(s * rng.uniform(0.38, 0.62))
    img = _SCENES[category](rng, s, horizon, attributes.objects)
    if size != s:
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, rng.uniform(3, 9), (size, size, 3))  # sensor noise
    arr = np.clip(arr, 0, 255) / 255.0
    gamma = _gamma_for(arr, luminance_target(category, attributes.brightness) / 255.0)
    return (255.0 * arr**gamma).round().astype(np.uint8)


def _gamma_for(x: np.ndarray, target: float) -> float:
    """The γ for which the mean luma of x**γ (x in [0, 1], [H, W, 3], γ per channel) is `target` (bisection on log γ)."""
    logx = np.log(np.maximum(x, 1e-6)).astype(np.float32)
    luma = _LUMA.astype(np.float32)
    low, high = -4.0, 4.0
    for _ in range(20):
        mid = (low + high) / 2
        if float((np.exp(logx * np.exp(mid)) @ luma).mean()) > target:
            low = mid
        else:
            high = mid
    return float(np.exp((low + high) / 2))


def _sky(rng, s, horizon, top, bottom) -> Image.Image:
    arr = np.zeros((s, s, 3))
    arr[:] = _gradient(_jitter(rng, top), _jitter(rng, bottom), s, s)
    return Image.fromarray(arr.astype(np.uint8), "RGB")


def _disc(draw: ImageDraw.ImageDraw, x: float, y: float, r: float, colour) -> None:
    draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


def _beach(rng, s, horizon, n) -> Image.Image:
    img = _sky(rng, s, horizon, (70, 140, 230), (180, 220, 250))
    d = ImageDraw.Draw(img)
    _disc(
        d, rng.uniform(20, s - 20), rng.uniform(15, horizon * 0.6), rng.uniform(10, 22), _jitter(rng, (255, 235, 120))
    )
    shore = int(horizon + (s - horizon) * rng.uniform(0.35, 0.6))
    d.rectangle((0, horizon, s, shore), fill=_jitter(rng, (30, 110, 190)))
    for _ in range(n):  # wave crests
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


def _desert(rng, s, horizon, n) -> Image.Image:
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
    for _ in range(n):  # cacti
        x, y, h = rng.uniform(10, s - 10), rng.uniform(horizon + 25, s - 5), rng.uniform(15, 35)
        green = _jitter(rng, (60, 120, 60))
        d.rectangle((x - 3, y - h, x + 3, y), fill=green)
        d.rectangle((x - 10, y - h * 0.6, x - 3, y - h * 0.5), fill=green)
        d.rectangle((x - 10, y - h * 0.85, x - 7, y - h * 0.5), fill=green)
    return img


def _forest(rng, s, horizon, n) -> Image.Image:
    img = _sky(rng, s, horizon, (150, 190, 210), (215, 230, 220))
    d = ImageDraw.Draw(img)
    d.rectangle((0, horizon, s, s), fill=_jitter(rng, (50, 100, 40)))
    rows = int(rng.integers(2, 4))
    for row in range(rows):  # conifers, back rows first and darker
        y_base = horizon + row * (s - horizon) / (rows + 0.5) + rng.uniform(0, 10)
        green = np.array((30 + 15 * row, 90 + 20 * row, 35 + 5 * row))
        for _ in range(n // rows + (row < n % rows)):
            x, h = rng.uniform(5, s - 5), rng.uniform(40, 110) * (0.7 + 0.25 * row)
            w = h * rng.uniform(0.25, 0.4)
            d.rectangle((x - 3, y_base - h * 0.15, x + 3, y_base), fill=_jitter(rng, (90, 60, 30), 8))
            d.polygon(
                [(x - w, y_base - h * 0.1), (x + w, y_base - h * 0.1), (x, y_base - h)], fill=_jitter(rng, green, 12)
            )
    return img


def _night_city(rng, s, horizon, n) -> Image.Image:
    img = _sky(rng, s, horizon, (5, 8, 30), (40, 40, 90))
    d = ImageDraw.Draw(img)
    for _ in range(n):  # stars
        x, y = rng.uniform(0, s), rng.uniform(0, horizon)
        _disc(d, x, y, rng.uniform(1.0, 1.8), (255, 255, int(rng.integers(180, 256))))
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


def _snowy_mountains(rng, s, horizon, n) -> Image.Image:
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
    for _ in range(n):  # snowflakes, falling in front of the sky
        _disc(d, rng.uniform(0, s), rng.uniform(0, horizon), rng.uniform(1.2, 2.4), (255, 255, 255))
    return img


def _sunset_sea(rng, s, horizon, n) -> Image.Image:
    img = _sky(rng, s, horizon, (90, 40, 120), (250, 140, 60))
    d = ImageDraw.Draw(img)
    sx, r = rng.uniform(40, s - 40), rng.uniform(20, 38)
    _disc(d, sx, horizon - r * rng.uniform(0.0, 0.8), r, _jitter(rng, (250, 90, 40)))
    d.rectangle((0, horizon, s, s), fill=_jitter(rng, (30, 30, 70), 12))
    for y in np.arange(horizon + 3, s, rng.uniform(5, 9)):  # the sun's reflection
        half = r * rng.uniform(0.3, 1.0) * (1 - 0.5 * (y - horizon) / (s - horizon))
        d.line((sx - half, y, sx + half, y), fill=_jitter(rng, (240, 120, 60)), width=2)
    for _ in range(n):  # clouds
        x, y, w = rng.uniform(0, s), rng.uniform(10, horizon - 20), rng.uniform(14, 30)
        d.ellipse((x - w, y - w * 0.3, x + w, y + w * 0.3), fill=_jitter(rng, (150, 70, 110), 10))
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
    texture: str  # arpeggio | melody | chords | sparse
    progressions: tuple[tuple[int, ...], ...]  # scale degrees (0-based), one chord per bar
    register: int = 0  # semitones added to the right hand
    sevenths: bool = False
    velocity: float = 0.7

    @property
    def events(self) -> float:
        """The right hand's events per bar at density factor 1 (an arpeggio tone, chord stab or melody note each)."""
        return EVENTS_PER_BAR[self.texture]


EVENTS_PER_BAR = {"arpeggio": 8.0, "chords": 3.4, "melody": 4.0, "sparse": 4.0}
PITCH_SPAN = 24.0  # semitones the right hand's centre moves from brightness 0 to 1
DENSITY_RANGE = (0.3, 1.7)  # density factor at the category's fewest and most objects


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
        64, (0, 2, 3, 5, 7, 8, 11), 60, "sparse", ((0, 5, 2, 6), (0, 3, 5, 4)), register=7, velocity=0.5
    ),
    "sunset_sea": Style(68, MAJOR, 84, "arpeggio", ((0, 1, 0, 4), (0, 5, 1, 0)), register=-7, velocity=0.6),
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


def pitch_centre_target(style: Style, brightness: float) -> float:
    """The MIDI pitch the right hand is voiced around: tonic + register + PITCH_SPAN · (b − 0.5)."""
    return style.tonic + style.register + PITCH_SPAN * (brightness - 0.5)


def density_factor(category: str, objects: int) -> float:
    """Right-hand events relative to the category's base: linear from DENSITY_RANGE[0] at its fewest objects to [1]."""
    _, low, high = OBJECTS[category]
    return DENSITY_RANGE[0] + (DENSITY_RANGE[1] - DENSITY_RANGE[0]) * (objects - low) / (high - low)


def voicing(style: Style, root: int, centre: float, size: int) -> list[int]:
    """The inversion of the `size`-note chord on degree `root` whose mean pitch is nearest `centre` (MIDI, ascending)."""
    tones = [_degree_pitch(style, root + 2 * i, style.tonic) for i in range(size)]
    candidates = sorted(p + 12 * k for p in tones for k in range(-5, 6))
    windows = [candidates[i : i + size] for i in range(len(candidates) - size + 1)]
    return min(windows, key=lambda w: abs(float(np.mean(w)) - centre))


def metrical_level(slot: int) -> int:
    """0 for a bar's downbeat (sixteenth 0 of 16), 1 for its half, 2 a beat, 3 an eighth, 4 a sixteenth."""
    for level, step in enumerate((16, 8, 4, 2)):
        if slot % step == 0:
            return level
    return 4


def _spread_rank(index: int) -> float:
    """Van der Corput rank of `index` (0, ½, ¼, ¾, ⅛ …): taking a level's slots in this order spreads them in time."""
    rank, weight = 0.0, 0.5
    while index:
        rank, index, weight = rank + weight * (index & 1), index >> 1, weight / 2
    return rank


def slot_order(slots: int) -> list[int]:
    """The sixteenth-note slots 0 … slots−1 in the order notes fill them: strong beats first (`metrical_level`),
    each level spread evenly over the piece (`_spread_rank`)."""
    by_level: dict[int, list[int]] = {}
    for slot in range(slots):
        by_level.setdefault(metrical_level(slot), []).append(slot)
    key = {s: (level, _spread_rank(i)) for level, group in by_level.items() for i, s in enumerate(group)}
    return sorted(range(slots), key=key.__getitem__)


def event_slots(beat: float, seconds: float, per_second: float) -> list[int]:
    """The round(per_second · seconds) sixteenth slots of `beat` the right hand plays, ascending: the first of
    `slot_order`, so a denser piece keeps every note of a sparser one and adds notes between them."""
    slots = int(seconds / (beat / 4))
    count = int(np.clip(round(per_second * seconds), 1, slots))
    return sorted(slot_order(slots)[:count])


# A right-hand note's length in beats, by texture: fixed, so that adding notes leaves the others unchanged.
NOTE_BEATS = {"arpeggio": 1.5, "chords": 0.45, "melody": 0.95, "sparse": 1.8}


def compose_score(
    category: str, rng: np.random.Generator, seconds: float, attributes: Attributes | None = None
) -> Score:
    """A piece in `category`'s style following `attributes`: a chord per bar, left-hand bass, and the right
    hand's texture voiced around `pitch_centre_target` on `event_slots` at `density_factor` × the style's events
    per bar. `rng` draws the choices of every slot (melody walk, chord tone, velocity) whether it is played or
    not, so the notes a piece keeps from a sparser one are the same notes."""
    style = STYLES[category]
    attributes = attributes or Attributes(0.5, sum(OBJECTS[category][1:]) // 2)
    beat = 60.0 / style.tempo
    bar, sixteenth = 4 * beat, beat / 4
    progression = style.progressions[rng.integers(len(style.progressions))]
    centre = pitch_centre_target(style, attributes.brightness)
    bass = style.tonic - 24 if style.tonic - 24 >= 33 else style.tonic - 12
    score = Score([], [], [], [])
    vel = style.velocity
    size = 4 if style.sevenths else 3
    n_bars = int(np.ceil(seconds / bar))
    chords = [voicing(style, progression[b % len(progression)], centre, size) for b in range(n_bars)]
    for b in range(n_bars):  # what sounds once per bar: the bass, and the held chord of melody and sparse
        root = progression[b % len(progression)]
        score.add(b * bar, bar * 0.98, _degree_pitch(style, root, bass), vel * 0.9)
        if style.texture == "melody":
            for p in voicing(style, root, centre - 12, 2):
                score.add(b * bar, bar * 0.9, p, vel * 0.55)
        elif style.texture == "sparse":
            for p in voicing(style, root, centre - 12, 2):
                score.add(b * bar + rng.uniform(0, 0.03), bar * 0.95, p, vel * rng.uniform(0.7, 0.9))
    slots = int(seconds / sixteenth)
    walk = np.clip(np.cumsum(rng.integers(-2, 3, slots)), -4, 4)  # the melody's degree at every slot
    tone = rng.integers(0, 64, slots)  # which chord tone a sparse note takes
    loud = rng.uniform(0.8, 1.05, slots) * (1.1 - 0.05 * np.array([metrical_level(s) for s in range(slots)]))
    per_second = style.events * density_factor(category, attributes.objects) * style.tempo / 240.0
    centre_degree = min(range(-14, 21), key=lambda d: abs(_degree_pitch(style, d, style.tonic) - centre))
    length = NOTE_BEATS[style.texture] * beat
    for s in event_slots(beat, seconds, per_second):  # the right hand's events
        t, b = s * sixteenth, min(int(s * sixteenth // bar), n_bars - 1)
        if style.texture == "arpeggio":
            low = voicing(style, progression[b % len(progression)], centre - 6, size)
            tones = low + [p + 12 for p in low]
            tones = tones + tones[-2:0:-1]
            score.add(t, length, tones[s % len(tones)], vel * loud[s])
        elif style.texture == "chords":
            for p in chords[b]:
                score.add(t, length, p, vel * loud[s])
        elif style.texture == "sparse":
            score.add(t, length, chords[b][tone[s] % len(chords[b])], vel * loud[s])
        else:  # melody
            score.add(t, length, _degree_pitch(style, centre_degree + int(walk[s]), style.tonic), vel * loud[s])
    return score


def _normalise(wave: np.ndarray) -> np.ndarray:
    """`wave` scaled to peak 0.95 → float32."""
    return (wave * (0.95 / max(float(np.abs(wave).max()), 1e-9))).astype(np.float32)


def render(score: Score, rng: np.random.Generator, sample_rate: int, length: int, partials: int = 8) -> np.ndarray:
    """Synthesize `score` with the additive piano model → float32 [length].

    `rng` is the instrument: it draws, once per MIDI pitch, the partials' phases and the hammer's noise, so a
    note sounds the same wherever it is played and two scores differ in sound only where they differ in notes."""
    out = np.zeros(length, dtype=np.float32)
    nyquist = sample_rate / 2
    n = np.arange(1, partials + 1, dtype=np.float32)[:, None]  # [K, 1]
    release = 0.12  # damper: seconds to fall by e after note-off
    hammer = int(0.006 * sample_rate)  # a short decaying noise burst
    phase_of = rng.uniform(0, 2 * np.pi, (128, partials, 1)).astype(np.float32)  # [pitch, K, 1]
    noise_of = rng.normal(0, 1, (128, hammer)) * np.exp(-np.arange(hammer) / (0.0015 * sample_rate))  # [pitch, H]
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
        env = np.exp(-t / tau) * np.minimum(1.0, t / 0.002)
        env *= np.exp(-np.maximum(t - duration, 0.0) / release)  # damper after note-off
        note = (amps * env * np.sin(2 * np.pi * freqs * t + phase_of[pitch])).sum(axis=0)
        burst = min(note.shape[0], hammer)
        note[:burst] += 0.3 * velocity * noise_of[pitch, :burst]
        out[start : start + note.shape[0]] += velocity * note.astype(np.float32)
    return out
