"""BOP ingestion and the picture / audio readers: every mode and format, and every bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import tone
from PIL import Image

from conchshell.audio.files import read_audio, write_wav
from conchshell.data.bop import MAX_LISTED, BopSource, problems_error, scan_bop
from conchshell.data.images import read_picture, to_tensor
from conchshell.errors import ConchError

# --- pictures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, make",
    [
        ("RGBA", lambda: Image.new("RGBA", (300, 200), (255, 0, 0, 0))),
        ("P", lambda: Image.new("RGB", (200, 300), (0, 128, 255)).convert("P", palette=Image.Palette.ADAPTIVE)),
        ("L", lambda: Image.new("L", (224, 224), 100)),
        ("CMYK", lambda: Image.new("CMYK", (250, 250), (0, 255, 255, 0))),
        ("I;16", lambda: Image.fromarray(np.full((120, 90), 65535, np.uint16))),
    ],
)
def test_any_mode_becomes_rgb_224(tmp_path, mode, make):
    img = make()
    assert img.mode == mode
    path = tmp_path / ("p.tiff" if mode == "CMYK" else "p.png")
    img.save(path)
    out = read_picture(path)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    expected = {
        "RGBA": (255, 255, 255),
        "P": (0, 128, 255),
        "L": (100, 100, 100),
        "CMYK": (255, 0, 0),
        "I;16": (255, 255, 255),
    }
    assert np.abs(out[112, 112].astype(int) - expected[mode]).max() <= 2  # transparency → white; 16-bit scaled


def test_sixteen_bit_grey_scaled_to_eight_bits(tmp_path):
    Image.fromarray(np.full((64, 64), 32896, np.uint16)).save(tmp_path / "g.png")
    assert tuple(read_picture(tmp_path / "g.png", size=32)[5, 5]) == (128, 128, 128)


def test_exif_rotation_applied(tmp_path):
    arr = np.zeros((200, 300, 3), np.uint8)
    arr[:, :150] = (255, 0, 0)  # left half red, right half blue
    arr[:, 150:] = (0, 0, 255)
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # display rotated 90° clockwise: the left half ends up on top
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = read_picture(tmp_path / "r.jpg").astype(int)
    assert out[20, 112, 0] > 200 and out[20, 112, 2] < 60
    assert out[200, 112, 2] > 200 and out[200, 112, 0] < 60


def test_corrupt_and_missing_picture_named(tmp_path):
    bad = tmp_path / "bad.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(bad)
    bad.write_bytes(bad.read_bytes()[:40])
    for path in (bad, tmp_path / "none.png"):
        with pytest.raises(ConchError, match=str(path)):
            read_picture(path)


def test_to_tensor_layout():
    x = to_tensor(np.full((2, 8, 8, 3), 255, np.uint8))
    assert x.shape == (2, 3, 8, 8) and x.dtype.is_floating_point and float(x.max()) == 1.0


# --- audio ------------------------------------------------------------------------------------


def test_stereo_44k_short_becomes_16k_mono_8s(tmp_path):
    sf.write(tmp_path / "s.wav", tone(3.0, 44100, 440.0, channels=2), 44100)
    wave = read_audio(tmp_path / "s.wav", 16000, 8.0)
    assert wave.shape == (128000,) and wave.dtype == np.float32
    assert np.abs(wave).max() == pytest.approx(0.95, abs=1e-5)
    assert np.all(wave[3 * 16000 + 200 :] == 0)  # padded with zeros
    spectrum = np.abs(np.fft.rfft(wave[:32000]))
    assert np.fft.rfftfreq(32000, 1 / 16000)[spectrum.argmax()] == pytest.approx(440.0, abs=1.0)


def test_long_audio_is_cut(tmp_path):
    sf.write(tmp_path / "l.flac", tone(10.0, 16000, 300.0), 16000)
    assert read_audio(tmp_path / "l.flac", 16000, 8.0).shape == (128000,)


def test_write_wav_is_float(tmp_path):
    write_wav(tmp_path / "w.wav", tone(1.0), 16000)
    info = sf.info(tmp_path / "w.wav")
    assert info.subtype == "FLOAT" and info.samplerate == 16000 and info.frames == 16000


def _bad_audio(tmp_path, kind):
    path = tmp_path / f"{kind}.wav"
    if kind == "truncated":
        sf.write(path, tone(1.0), 16000)
        path.write_bytes(path.read_bytes()[:30])
    elif kind == "silent":
        sf.write(path, np.zeros(16000, np.float32), 16000)
    elif kind == "nan":
        wave = tone(1.0)
        wave[100] = np.nan
        sf.write(path, wave, 16000, subtype="FLOAT")
    elif kind == "garbage":
        path.write_bytes(b"not audio at all" * 10)
    return path  # "missing": never written


@pytest.mark.parametrize("kind", ["truncated", "silent", "nan", "garbage", "missing"])
def test_bad_audio_named(tmp_path, kind):
    path = _bad_audio(tmp_path, kind)
    with pytest.raises(ConchError, match=str(path)) as info:
        read_audio(path, 16000, 8.0)
    assert "\n" not in str(info.value)


def _write_ints(path, samples, bits):
    """Integer samples [T] or [T, C] (in steps of `bits`) as a PCM file of that depth."""
    subtype = {8: "PCM_U8", 16: "PCM_16", 24: "PCM_24"}[bits]
    sf.write(path, np.asarray(samples, np.float64) / 2 ** (bits - 1), 16000, subtype=subtype)
    return path


@pytest.mark.parametrize("bits", [8, 16, 24])
def test_dithered_digital_silence_is_silent(tmp_path, bits):
    """±1 LSB of dither is no music: it must not be normalised up to full-scale noise."""
    dither = np.random.default_rng(0).integers(-1, 2, 16000 * 3)
    path = _write_ints(tmp_path / f"dither{bits}.wav", dither, bits)
    with pytest.raises(ConchError, match=f"{path}: audio is silent .*noise floor"):
        read_audio(path, 16000, 8.0)


def test_stereo_whose_channels_cancel_is_refused(tmp_path):
    """Right = −left (plus ±1 LSB): loud channels, a mono mix at the noise floor."""
    music = np.round(tone(2.0, 16000, 330.0) * 2**15)
    dither = np.random.default_rng(1).integers(-1, 2, music.shape[0])
    path = _write_ints(tmp_path / "cancel.wav", np.stack([music, -music + dither], axis=1), 16)
    with pytest.raises(ConchError, match=f"{path}: the 2 channels cancel out when mixed to mono"):
        read_audio(path, 16000, 8.0)
    exact = tmp_path / "exact.wav"
    sf.write(exact, tone(2.0, 16000, 330.0, channels=2) * [1.0, -1.0], 16000, subtype="FLOAT")
    with pytest.raises(ConchError, match="cancel out"):
        read_audio(exact, 16000, 8.0)


@pytest.mark.parametrize("level_db", [-40, -66])
def test_quiet_music_is_not_silence(tmp_path, level_db):
    """A real but quiet piece (16-bit, well above the noise floor) is read and normalised."""
    path = tmp_path / "quiet.wav"
    sf.write(path, tone(3.0, 16000, 440.0) * 2 * 10 ** (level_db / 20), 16000, subtype="PCM_16")
    wave = read_audio(path, 16000, 8.0)
    assert np.abs(wave).max() == pytest.approx(0.95, abs=1e-5)


def test_silence_is_judged_on_the_kept_part(tmp_path):
    """A piece that starts after 8 s of digital silence is silent in what the pipeline keeps."""
    wave = np.concatenate([np.zeros(16000 * 8, np.float32), tone(2.0)])
    sf.write(tmp_path / "late.wav", wave, 16000, subtype="PCM_16")
    with pytest.raises(ConchError, match="audio is silent"):
        read_audio(tmp_path / "late.wav", 16000, 8.0)


# --- BOP --------------------------------------------------------------------------------------


def test_valid_bop(bop_root):
    source = BopSource(bop_root, 224, 16000, 8.0)
    assert source.problems == []
    assert [p.id for p in source.pairs[:2]] == ["a_p0", "a_p1"]
    assert {p.clip_id for p in source.pairs} == {"a0", "a1", "b0", "b1"}
    assert source.picture(source.pairs[0]).shape == (224, 224, 3)
    assert source.piece("a0").shape == (128000,)


def test_every_table_problem_reported_together(bop_root):
    (bop_root / "images" / "a" / "p0.png").unlink()  # missing picture
    (bop_root / "audio" / "b1.wav").unlink()  # missing audio (rows 7 and 9)
    rows = (bop_root / "annotations.csv").read_text()
    rows += "images/a/p1.png,audio/a1.wav,a\n"  # duplicate id
    rows += "images/a/p2.png,audio/a0.wav,b\n"  # category differs from folder
    rows += "images/c/p9.png,audio/a0.wav,c\n"  # unknown category (and missing picture)
    (bop_root / "annotations.csv").write_text(rows)
    scan = scan_bop(bop_root)
    text = "; ".join(scan.problems)
    assert str(bop_root / "images" / "a" / "p0.png") in text
    assert str(bop_root / "audio" / "b1.wav") in text
    assert "duplicate picture id a_p1" in text
    assert "category 'b' does not match" in text
    assert "unknown category 'c'" in text
    assert "duplicate picture id b_p2" in text  # the mismatched row's id also clashes with images/b/p2.png
    assert len(scan.problems) == 8
    assert len(scan.pairs) == 8 - 1 - 2  # the good rows stay usable


def test_missing_columns_and_missing_table(tmp_path, bop_root):
    (bop_root / "annotations.csv").write_text("image,label\nimages/a/p0.png,a\n")
    with pytest.raises(
        ConchError, match="annotations.csv: 2 problems:\n  missing column audio\n  missing column category$"
    ):
        scan_bop(bop_root)
    (bop_root / "annotations.csv").unlink()
    with pytest.raises(ConchError, match="annotations.csv: annotations not found"):
        scan_bop(bop_root)
    with pytest.raises(ConchError, match="BOP folder not found"):
        scan_bop(tmp_path / "nowhere")


def test_problems_are_one_per_line_and_capped():
    err = problems_error("data/raw/annotations.csv", [f"row {i}: bad\nreally" for i in range(MAX_LISTED + 5)])
    lines = str(err).splitlines()
    assert lines[0] == f"data/raw/annotations.csv: {MAX_LISTED + 5} problems:"
    assert lines[1:3] == ["  row 0: bad really", "  row 1: bad really"]  # a problem never spans two lines
    assert len(lines) == 1 + MAX_LISTED + 1 and lines[-1] == "  ... and 5 more"


def _add_rows(root, *rows):
    with open(root / "annotations.csv", "a") as f:
        f.write("".join(f"{row}\n" for row in rows))


def test_every_path_is_confined_to_the_bop_root(tmp_path, bop_root):
    """`..`, absolute paths and links leading out of bop_root are refused: no other file can be ingested."""
    outside = tmp_path / "outside"
    outside.mkdir()
    sf.write(outside / "secret.wav", tone(1.0), 16000)
    Image.new("RGB", (32, 32)).save(outside / "secret.png")
    (bop_root / "audio" / "link.wav").symlink_to(outside / "secret.wav")
    (bop_root / "images" / "a" / "link.png").symlink_to(outside / "secret.png")
    _add_rows(
        bop_root,
        "images/a/p0.png,../outside/secret.wav,a",  # row 10
        f"images/a/p1.png,{outside / 'secret.wav'},a",  # row 11
        "images/a/p2.png,audio/link.wav,a",  # row 12
        "images/a/link.png,audio/a0.wav,a",  # row 13
        "images/a/../../../outside/secret.png,audio/a0.wav,a",  # row 14
        "images/a/p3.png,C:\\Users\\secret.wav,a",  # row 15
        "images/a/p3.png,audio/../../outside/secret.wav,a",  # row 16
    )
    scan = scan_bop(bop_root)
    text = "\n".join(scan.problems)
    assert "row 10: audio ../outside/secret.wav steps out of" in text
    assert f"row 11: audio {outside / 'secret.wav'} is an absolute path" in text
    assert "row 12: audio audio/link.wav leads outside" in text
    assert "row 13: image images/a/link.png leads outside" in text
    assert "row 14: image images/a/../../../outside/secret.png steps out of" in text
    assert "row 15: audio C:\\Users\\secret.wav is an absolute path" in text
    assert "row 16: audio audio/../../outside/secret.wav steps out of" in text
    assert len(scan.pairs) == 8
    every = {*scan.image_paths.values(), *scan.audio_paths.values(), *scan.rejected_images, *scan.rejected_audio}
    assert all(p.resolve().is_relative_to(bop_root.resolve()) for p in every)


def test_each_row_is_checked_fully(bop_root):
    """A row rejected for one problem is still checked for all the others."""
    _add_rows(bop_root, "images/a/nope.png,/etc/passwd,", "images/b/p0.png,audio/none.wav,c")
    problems = scan_bop(bop_root).problems
    row10 = [p for p in problems if p.startswith("row 10:")]
    assert row10[0] == "row 10: empty category" and len(row10) == 3, row10
    assert row10[1].endswith("nope.png: picture not found") and "audio /etc/passwd is an absolute path" in row10[2]
    row11 = [p for p in problems if p.startswith("row 11:")]
    assert len(row11) == 3, row11
    assert (
        "unknown category 'c'" in row11[0]
        and "does not match" in row11[1]
        and "none.wav: audio file not found" in row11[2]
    )
