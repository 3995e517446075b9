"""Music metrics on hand-made signals: piano transcription (basic-pitch through onnxruntime), pitch classes,
Krumhansl–Schmuckler keys, note-onset F1, ratios, silence, the transcription cache and the piano roll."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conchshell.data.demo import Score, demo_piece, demo_score, render
from conchshell.evaluation.music.metrics import (
    MUSIC_METRICS,
    MusicScores,
    Notes,
    compare,
    estimate_key,
    key_scores,
    onset_f1,
    pitch_class_histogram,
    pitch_span,
)
from conchshell.evaluation.music.transcription import (
    FRAMES_PER_SECOND,
    MODEL_RATE,
    TranscriptionCache,
    audio_key,
    frame_windows,
    unwrap,
)

RATE = 16000
C_MAJOR = {0, 2, 4, 5, 7, 9, 11}


def scale(tonic: int = 60, seconds_per_note: float = 0.5) -> Score:
    """A major scale up and down from MIDI `tonic` (15 notes), one note every `seconds_per_note`."""
    steps = [0, 2, 4, 5, 7, 9, 11, 12, 11, 9, 7, 5, 4, 2, 0]
    score = Score([], [], [], [])
    for k, step in enumerate(steps):
        score.add(k * seconds_per_note, seconds_per_note * 0.9, tonic + step, 0.8)
    return score


def synthesize(score: Score, seconds: float = 8.0) -> np.ndarray:
    """The demo's additive piano → float32 [RATE * seconds], peak 0.9."""
    wave = render(score, np.random.default_rng(0), RATE, int(RATE * seconds))
    return (0.9 * wave / np.abs(wave).max()).astype(np.float32)


def notes_of(score: Score, seconds: float = 8.0) -> Notes:
    return Notes.from_score(score.onset, score.duration, score.pitch, score.velocity, seconds)


@pytest.fixture(scope="module")
def transcriber():
    from conchshell.evaluation.music.transcription import PianoTranscriber

    return PianoTranscriber()


# -- transcription of synthesized audio ---------------------------------------------------------------
def test_c_major_scale_transcribes_to_c_major_pitch_classes(transcriber):
    score = scale(60)
    notes = transcriber.transcribe(synthesize(score), RATE)
    assert len(notes) >= 10
    hist = pitch_class_histogram(notes)
    assert set(np.nonzero(hist > 0.05 * hist.sum())[0].tolist()) == C_MAJOR
    assert hist[sorted(C_MAJOR)].sum() / hist.sum() > 0.95
    assert estimate_key(notes) == "C major"
    assert onset_f1(notes_of(score), notes) > 0.6  # 0.70: the way down re-strikes the note above (50 ms)


def test_transcription_is_deterministic_and_batch_independent(transcriber):
    a, b = synthesize(scale(60)), synthesize(scale(62))
    alone = transcriber.transcribe(a, RATE)
    batched = transcriber.transcribe_many([b, a], RATE)[1]
    for field in ("onset", "offset", "pitch", "amplitude"):
        assert np.array_equal(getattr(alone, field), getattr(batched, field))


def test_transposed_piece_lowers_key_agreement(transcriber):
    truth = transcriber.transcribe(synthesize(scale(60)), RATE)  # C major
    same, up = transcriber.transcribe_many([synthesize(scale(60)), synthesize(scale(62))], RATE)  # D major
    scores = MusicScores("val")
    scores.add("same", "beach", truth, same, same)
    scores.add("up", "beach", truth, up, same)
    same_scores, up_scores = (p.generated for p in scores.pieces)
    assert same_scores["key_agreement"] == 1.0 and up_scores["key_agreement"] == 0.0
    assert up_scores["key_weighted"] < 1.0
    assert up_scores["pitch_class_cosine"] < same_scores["pitch_class_cosine"]
    assert up_scores["onset_f1"] < 0.3 < same_scores["onset_f1"]
    flat = scores.flat()
    assert flat["val.key_agreement"] == 0.5 and flat["val.ceiling.key_agreement"] == 1.0


def test_silence_transcribes_to_no_notes_and_scores_nothing_fake(transcriber):
    silence = np.zeros(RATE * 8, np.float32)
    music = transcriber.transcribe(synthesize(scale(60)), RATE)
    empty = transcriber.transcribe(silence, RATE)
    assert len(empty) == 0 and estimate_key(empty) == "X"
    assert all(math.isnan(v) for v in compare(empty, empty).values())  # nothing to compare: undefined, not 1.0
    assert all(math.isnan(v) for v in compare(empty, music).values())
    worst = compare(music, empty)  # music generated as silence: the worst value of every score
    assert worst == {k: 0.0 for k in MUSIC_METRICS}
    scores = MusicScores("train")
    scores.add("a", "beach", music, empty, music)
    scores.add("b", "beach", empty, empty, empty)
    flat = scores.flat()
    assert flat["train.silent_generated"] == 1
    assert flat["train.pitch_class_cosine"] == 0.0 and flat["train.ceiling.onset_f1"] == 1.0
    assert "train.transcriber_onset_f1" not in flat  # only where true notes are known


def test_transcriber_recovers_a_demo_piece_notes(transcriber):
    score = demo_score("forest_piece_001", "forest", 0, 8.0)
    notes = transcriber.transcribe(demo_piece("forest_piece_001", "forest", 0, RATE, 8.0), RATE)
    truth = notes_of(score)
    assert onset_f1(truth, notes) > 0.5
    errors = [
        o - truth.onset[truth.pitch == p][np.argmin(abs(truth.onset[truth.pitch == p] - o))]
        for o, p in zip(notes.onset, notes.pitch)
        if (truth.pitch == p).any()
    ]
    near = [e for e in errors if abs(e) < 0.05]
    assert len(near) >= 0.6 * len(truth) and abs(np.median(near)) < 0.015  # onsets land on time


def test_windows_cover_the_piece_and_unwrap_to_86_frames_per_second():
    wave = np.ones(MODEL_RATE * 8, np.float32)
    windows = frame_windows(wave)
    assert windows.shape[1:] == (43844, 1) and windows.shape[0] == 5
    assert windows[0, :3840, 0].sum() == 0 and windows[0, 3840, 0] == 1  # half the overlap (15 frames) in front
    output = np.arange(5 * 172, dtype=np.float32).reshape(5, 172, 1).repeat(3, axis=2)
    frames = unwrap(output, len(wave))
    assert frames.shape == (8 * FRAMES_PER_SECOND, 3)
    assert frames[0, 0] == 15 and frames[142, 0] == 172 + 15  # 15 overlap frames cut on each side


# -- the metrics on hand-made note lists -------------------------------------------------------------
def test_identical_pieces_score_one():
    notes = notes_of(scale(60))
    assert compare(notes, notes) == {k: 1.0 for k in MUSIC_METRICS}
    scores = MusicScores("val")
    scores.add("a", "beach", notes, notes, notes, true_notes=notes)
    assert all(v == 1.0 for k, v in scores.flat().items() if k != "val.silent_generated")


def test_krumhansl_schmuckler_finds_major_and_minor_keys():
    assert estimate_key(notes_of(scale(60))) == "C major"
    assert estimate_key(notes_of(scale(62))) == "D major"
    a_minor = Score([], [], [], [])
    for k, (pitch, length) in enumerate(
        [(57, 1.0), (60, 0.5), (64, 0.5), (57, 1.0), (59, 0.25), (60, 0.5), (62, 0.25), (64, 1.0), (56, 0.5), (57, 1.5)]
    ):
        a_minor.add(k, length, pitch, 0.8)
    assert estimate_key(notes_of(a_minor, 20.0)) == "A minor"
    assert key_scores("C major", "G major") == (0.0, 0.5)  # mir_eval: a fifth above
    assert key_scores("C major", "A minor") == (0.0, 0.3)  # relative minor
    assert math.isnan(key_scores("X", "C major")[0])


def test_density_and_range_ratios():
    truth = Notes(
        np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.5, 1.5, 2.5, 3.5]), np.array([60, 64, 67, 72]), np.ones(4)
    )
    half = Notes(np.array([0.0, 2.0]), np.array([0.5, 2.5]), np.array([60, 66]), np.ones(2))
    assert pitch_span(truth) == 13 and pitch_span(half) == 7
    scores = compare(truth, half)
    assert scores["note_density_ratio"] == 0.5 and scores["pitch_range_ratio"] == pytest.approx(7 / 13)
    assert scores["onset_f1"] == pytest.approx(1 / 3)  # one match: P = 1/2, R = 1/4
    late = Notes(truth.onset + 0.06, truth.offset + 0.06, truth.pitch, truth.amplitude)
    assert compare(truth, late)["onset_f1"] == 0.0  # 60 ms is outside the 50 ms window


def test_pitch_class_histogram_weights_by_duration():
    notes = Notes(np.array([0.0, 0.0]), np.array([3.0, 1.0]), np.array([60, 79]), np.ones(2))
    hist = pitch_class_histogram(notes)
    assert hist[0] == 3.0 and hist[7] == 1.0 and hist.sum() == 4.0


# -- the cache ----------------------------------------------------------------------------------------
def test_cache_round_trips_exactly_and_treats_a_broken_entry_as_a_miss(tmp_path):
    cache = TranscriptionCache(tmp_path)
    notes = Notes(np.array([0.1 / 3, 1.0]), np.array([0.5, 2.0 / 7]), np.array([60, 61]), np.array([0.3, 0.7]))
    wave = np.linspace(-1, 1, 100, dtype=np.float32)
    key = audio_key(wave, RATE, "fp")
    assert cache.get(key) is None
    cache.put(key, notes)
    back = cache.get(key)
    for field in ("onset", "offset", "pitch", "amplitude"):
        assert np.array_equal(getattr(back, field), getattr(notes, field))
    cache.put(audio_key(wave, RATE, "other"), Notes.empty())
    assert len(cache.get(audio_key(wave, RATE, "other"))) == 0
    cache.path(key).write_text("onset,offset\n1,2\n")
    assert cache.get(key) is None and cache.misses == 2 and cache.hits == 2
    assert audio_key(wave, RATE, "fp") != audio_key(wave * 0.5, RATE, "fp") != audio_key(wave, 22050, "fp")


def test_music_evaluation_transcribes_ground_truth_once_and_then_reads_the_cache(transcriber, tmp_path):
    from conchshell.evaluation.music.split import MusicEvaluation

    truth, gen = synthesize(scale(60)), synthesize(scale(62))
    first = MusicEvaluation(transcriber, RATE, TranscriptionCache(tmp_path))
    on_piece = first.split("val")
    on_piece("p1", "beach", truth, gen, truth)
    on_piece("p2", "beach", truth, gen * 0.5, truth)  # same ground truth: from this run's memory
    assert first.transcribed == 3
    second = MusicEvaluation(transcriber, RATE, TranscriptionCache(tmp_path))
    second.split("val")("p1", "beach", truth, gen, truth)
    assert second.transcribed == 1 and second.cache.hits == 1  # only the generated piece is transcribed again
    assert second.flat()["val.ceiling.onset_f1"] == 1.0 and second.flat()["val.key_agreement"] == 0.0
    assert second.notes["p1"].generated.pitch.tolist() == first.notes["p1"].generated.pitch.tolist()


def test_piano_roll_is_a_png_and_lands_in_the_report(tmp_path):
    from conchshell.evaluation.report import Sample, piano_roll_png, render_report

    notes = notes_of(scale(60))
    png = piano_roll_png(notes, notes.transposed(2), 8.0, "x")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert piano_roll_png(Notes.empty(), Notes.empty(), 8.0)[:4] == b"\x89PNG"  # silence draws an empty roll
    wave = np.zeros(RATE, np.float32)
    page = render_report(
        "t",
        {"val.onset_f1": 0.5},
        [Sample("a", "beach", "beach", None, wave, wave, wave, png)],
        RATE,
        tables={"Music scores per category (val)": [{"category": "beach", "onset_f1": 0.25}]},
    )
    assert 'alt="piano roll"' in page and "Music scores per category (val)" in page and "0.250" in page
