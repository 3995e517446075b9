"""`conchshell generate`: pictures of every kind → valid 8 s wavs; bad input → named, exit 2, no traceback.

The models are tiny random ones saved in the contract layouts (tcnn.pt, vqvae.pt, gan.pt); the I3D is
replaced by a tiny stand-in with the default arch's feature width, [B, 1024, 9], so the tests stay fast.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image
from torch import nn

import conchshell.inference.pipeline
from conchshell import cli
from conchshell.artifacts.jukebox import save_vqvae
from conchshell.audio.spec import AudioSpec
from conchshell.inference import generate
from conchshell.inference.pipeline import load_pipeline
from conchshell.io import save_torch
from conchshell.models.generator import build_generator, generator_config
from conchshell.models.jukebox.codec import JukeboxCodec
from conchshell.models.jukebox.presets import preset_hps
from conchshell.models.jukebox.vqvae import VQVAE
from conchshell.models.tcnn import TCNN

CATEGORIES = ["beach", "forest"]
LEVEL_INDEX = {"high": 2, "low": 1, "deep": 0}
NUM_SAMPLES = 128000


pytestmark = pytest.mark.usefixtures("one_thread")


class TinyI3D(nn.Module):
    """Stand-in for I3DFeatures (arch inception): video [B,3,18,H,W] → [B,1024,2], the real one's shape."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv1d(3, 1024, 9, stride=9)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.proj(video.mean(dim=(-2, -1)))


def tiny_vqvae() -> VQVAE:
    torch.manual_seed(0)
    return VQVAE(preset_hps("demo", width=4, depth=1, l_bins=16, sr=16000)).eval()


def make_models(models: Path, level: str = "high", image_size: int = 64) -> Path:
    """Write tiny tcnn.pt, vqvae.pt and gan.pt (contract layouts) into `models`."""
    torch.manual_seed(0)
    models.mkdir(parents=True, exist_ok=True)
    tcnn = TCNN("tcnn6", len(CATEGORIES))
    save_torch(
        {
            "arch": "tcnn6",
            "model": tcnn.state_dict(),
            "mean": [0.5] * 3,
            "std": [0.25] * 3,
            "categories": CATEGORIES,
            "image_size": image_size,
        },
        models / "tcnn.pt",
    )
    vqvae = tiny_vqvae()
    save_vqvae(vqvae, models / "vqvae.pt", "demo", 16000)
    frames = JukeboxCodec(vqvae, AudioSpec(16000, NUM_SAMPLES / 16000)).frames(LEVEL_INDEX[level], NUM_SAMPLES)
    config = generator_config(level, frames, size="demo", width=0.01, in_channels=1024, num_classes=len(CATEGORIES))
    g = build_generator(config)
    save_torch(
        {
            "level": level,
            "generator": g.state_dict(),
            "generator_config": config,
            "categories": CATEGORIES,
            "config": {},
            "step": 0,
        },
        models / "gan.pt",
    )
    return models


@pytest.fixture
def params(tmp_path) -> str:
    """The pipeline's params.yaml (generate rebuilds the I3D from its i3d.checkpoint and seed)."""
    path = tmp_path / "params.yaml"
    path.write_text("seed: 0\n")
    return str(path)


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(
        conchshell.inference.pipeline, "build_i3d", lambda checkpoint=None, seed=0, arch="inception": TinyI3D()
    )
    return make_models(tmp_path / "models")


@pytest.fixture
def pictures(tmp_path) -> dict[str, Path]:
    """A PNG, a JPEG whose EXIF says 'rotate 90°', a grayscale, an RGBA picture and a corrupt file."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    out = {}
    out["png"] = folder / "colour.png"
    Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(out["png"])
    out["jpeg"] = folder / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    Image.fromarray(rng.integers(0, 255, (60, 120, 3), dtype=np.uint8)).save(out["jpeg"], exif=exif)
    out["gray"] = folder / "gray.png"
    Image.fromarray(rng.integers(0, 255, (70, 70), dtype=np.uint8), mode="L").save(out["gray"])
    out["rgba"] = folder / "alpha.png"
    Image.fromarray(rng.integers(0, 255, (90, 90, 4), dtype=np.uint8), mode="RGBA").save(out["rgba"])
    out["corrupt"] = folder / "broken.jpg"
    out["corrupt"].write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return out


def assert_valid_piece(path: Path) -> None:
    wave, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    assert wave.ndim == 1 and wave.shape[0] == NUM_SAMPLES
    assert np.isfinite(wave).all()


def test_every_picture_kind_and_a_corrupt_one(models, pictures, params, tmp_path, capsys):
    """PNG, EXIF-rotated JPEG, grayscale, RGBA → valid wavs; the corrupt file is named; exit status 2."""
    good = [pictures[k] for k in ("png", "jpeg", "gray", "rgba")]
    out = tmp_path / "out"
    args = [*map(str, good[:2]), str(pictures["corrupt"]), *map(str, good[2:])]
    status = cli.main(
        ["generate", *args, "-o", str(out), "--models", str(models), "--batch-size", "3", "--params", params]
    )
    assert status == 2
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err and "Traceback" not in captured.err
    for picture in good:
        assert_valid_piece(out / f"{picture.stem}.wav")
        assert picture.name in captured.out
    assert not (out / "broken.wav").exists()


def test_single_picture_to_named_wav_with_denoise(models, pictures, params, tmp_path):
    """--denoise writes the spectrally gated piece: measurably not the plain one, and what `denoise` makes of it."""
    from conchshell.audio.denoise import denoise

    plain, target = tmp_path / "plain.wav", tmp_path / "piece.wav"
    common = ["--models", str(models), "--seed", "3", "--params", params]
    assert cli.main(["generate", str(pictures["png"]), "-o", str(plain), *common]) == 0
    assert cli.main(["generate", str(pictures["png"]), "-o", str(target), "--denoise", *common]) == 0
    assert_valid_piece(target)
    before, after = sf.read(plain, dtype="float32")[0], sf.read(target, dtype="float32")[0]
    change = np.sqrt(np.mean((after - before) ** 2) / np.mean(before**2))
    assert change > 0.05, change  # relative RMS change of the piece
    np.testing.assert_allclose(after, denoise(before, 16000), atol=2e-3)


def test_batching_does_not_change_the_music(models, pictures):
    pipeline = load_pipeline(models)
    paths = [pictures["png"], pictures["gray"], pictures["rgba"]]
    one = [r.wave for r in generate.generate(pipeline, paths, batch_size=1, progress=False)]
    three = [r.wave for r in generate.generate(pipeline, paths, batch_size=3, progress=False)]
    for a, b in zip(one, three):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_wrong_level_is_one_line(models, pictures, params, tmp_path, capsys):
    status = cli.main(
        [
            "generate",
            str(pictures["png"]),
            "-o",
            str(tmp_path / "o"),
            "--models",
            str(models),
            "--level",
            "deep",
            "--params",
            params,
        ]
    )
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gan.pt" in err and "deep" in err


@pytest.mark.slow
def test_missing_models_folder_exits_2_without_traceback(pictures, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "conchshell.cli",
            "generate",
            str(pictures["png"]),
            "-o",
            str(tmp_path / "o"),
            "--models",
            str(tmp_path / "nowhere"),
        ],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "nowhere" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_output_names_never_collide(tmp_path):
    """`a/x.png b/x.png c/x-1.png`: the numbered name of one must not be the plain name of another."""
    pictures = [Path("a/x.png"), Path("b/x.jpg"), Path("c/x-1.png"), Path("y.gif"), Path("d/X.png")]
    names = [p.name for p in generate.plan_outputs(pictures, tmp_path / "out")]
    assert names == ["x.wav", "x-2.wav", "x-1.wav", "y.wav", "X-3.wav"]  # X.wav is x.wav on some file systems
    assert generate.plan_outputs([Path("x.png")], tmp_path / "song.wav") == [tmp_path / "song.wav"]


def no_models(*args, **kwargs):
    raise AssertionError("the models were loaded before the destinations were checked")


def run(pictures, out, models, params, *extra) -> int:
    return cli.main(
        ["generate", *map(str, pictures), "-o", str(out), "--models", str(models), "--params", params, *extra]
    )


def error_lines_of(captured) -> list[str]:
    assert "Traceback" not in captured.err
    return [line for line in captured.err.splitlines() if line.startswith("error:")]


def test_an_output_named_like_a_wav_that_is_a_folder_is_kept(models, pictures, params, tmp_path, capsys):
    """`-o precious.wav` where precious.wav is a folder: the piece goes inside; nothing is deleted."""
    precious = tmp_path / "precious.wav"
    precious.mkdir()
    (precious / "photo.jpg").write_bytes(b"irreplaceable")
    assert run([pictures["png"]], precious, models, params) == 0
    assert (precious / "photo.jpg").read_bytes() == b"irreplaceable"
    assert_valid_piece(precious / "colour.wav")


def test_an_input_is_never_overwritten(models, pictures, params, tmp_path, capsys, monkeypatch):
    """`generate pic.wav -o pic.wav` (a PNG named .wav): refused, even with --overwrite, before models load."""
    picture = tmp_path / "pic.wav"
    picture.write_bytes(pictures["png"].read_bytes())
    monkeypatch.setattr(conchshell.inference.pipeline, "load_pipeline", no_models)
    for extra in ([], ["--overwrite"]):
        assert run([picture], picture, models, params, *extra) == 2
        lines = error_lines_of(capsys.readouterr())
        assert lines == [f"error: {picture}: is one of the input pictures; it is never overwritten (choose another -o)"]
    assert picture.read_bytes() == pictures["png"].read_bytes()
    # in folder mode too: pictures/colour.png → pictures/colour.wav is fine, but not over an input named so
    (tmp_path / "in").mkdir()
    clash = tmp_path / "in" / "colour.wav"
    clash.write_bytes(pictures["png"].read_bytes())
    assert run([clash, pictures["png"]], tmp_path / "in", models, params, "--overwrite") == 2
    assert "is one of the input pictures" in capsys.readouterr().err


def test_pictures_with_clashing_names_all_get_their_piece(models, pictures, params, tmp_path, capsys):
    folders = [tmp_path / d for d in "abc"]
    for folder, name in zip(folders, ("x.png", "x.png", "x-1.png")):
        folder.mkdir()
        (folder / name).write_bytes(pictures["png"].read_bytes())
    out = tmp_path / "out"
    assert run([folders[0] / "x.png", folders[1] / "x.png", folders[2] / "x-1.png"], out, models, params) == 0
    assert sorted(p.name for p in out.iterdir()) == ["x-1.wav", "x-2.wav", "x.wav"]
    assert capsys.readouterr().out.count("→") == 3


def test_an_existing_file_needs_overwrite(models, pictures, params, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "colour.wav").write_bytes(b"an earlier piece")
    with monkeypatch.context() as patch:
        patch.setattr(conchshell.inference.pipeline, "load_pipeline", no_models)
        assert run([pictures["png"], pictures["gray"]], out, models, params) == 2
    lines = error_lines_of(capsys.readouterr())
    assert lines == [
        f"error: {out / 'colour.wav'}: already exists (pass --overwrite to replace it, or choose another -o)"
    ]
    assert (out / "colour.wav").read_bytes() == b"an earlier piece" and not (out / "gray.wav").exists()
    assert run([pictures["png"], pictures["gray"]], out, models, params, "--overwrite") == 0
    assert_valid_piece(out / "colour.wav")


@pytest.mark.parametrize("case", ["file as folder", "file as parent", "cannot create", "cannot write"])
def test_an_unusable_destination_is_one_line_before_models_load(
    models, pictures, params, tmp_path, capsys, monkeypatch, case
):
    monkeypatch.setattr(conchshell.inference.pipeline, "load_pipeline", no_models)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    out = {
        "file as folder": notes,
        "file as parent": notes / "music",
        "cannot create": tmp_path / "ro" / "music",
        "cannot write": tmp_path / "ro",
    }[case]
    if case.startswith("cannot"):

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        (tmp_path / "ro").mkdir()
        monkeypatch.setattr(generate.tempfile, "mkstemp", refuse)
        monkeypatch.setattr(Path, "mkdir", refuse) if case == "cannot create" else None
    assert run([pictures["png"], pictures["gray"]], out, models, params) == 2
    lines = error_lines_of(capsys.readouterr())
    assert len(lines) == 1 and str(out if case != "file as parent" else notes) in lines[0], lines
    assert notes.read_text() == "mine"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc (a folder no one can create files in)")
def test_a_really_unwritable_folder_is_one_line(models, pictures, params, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(conchshell.inference.pipeline, "load_pipeline", no_models)
    assert run([pictures["png"], pictures["gray"]], "/proc/conchshell-music", models, params) == 2
    lines = error_lines_of(capsys.readouterr())
    assert len(lines) == 1 and lines[0].startswith("error: /proc/conchshell-music: cannot write there"), lines


def test_a_full_disk_costs_only_that_piece(models, pictures, params, tmp_path, capsys, monkeypatch):
    """The disk filling up while one wav is written: one line naming it; the other pictures still get their music."""
    import errno
    from pathlib import Path

    real_write = Path.write_bytes

    def full_for_gray(self, data):
        if ".gray.wav." in self.name:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_for_gray)
    out = tmp_path / "out"
    assert run([pictures["gray"], pictures["png"], pictures["rgba"]], out, models, params, "--batch-size", "1") == 2
    captured = capsys.readouterr()
    lines = error_lines_of(captured)
    assert lines[0].startswith(f"error: {out / 'gray.wav'}: could not write the piece (") and "No space" in lines[0]
    assert len(lines) == 1 and captured.err.rstrip().endswith("1 of 3 pictures failed")
    assert sorted(p.name for p in out.iterdir()) == ["alpha.wav", "colour.wav"]  # no temporary left either


def test_an_empty_output_path_is_refused(models, pictures, params, tmp_path, capsys, monkeypatch):
    """`-o "$OUT"` with OUT unset must not scatter wavs into the current folder."""
    monkeypatch.setattr(conchshell.inference.pipeline, "load_pipeline", no_models)
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    assert run([pictures["png"]], "", models, params) == 2
    assert error_lines_of(capsys.readouterr()) == [
        "error: -o: the output path is empty (name a .wav for one picture, or a folder)"
    ]
    assert sorted(tmp_path.iterdir()) == before


def test_a_missing_params_file_is_an_error_not_another_i3d(models, pictures, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(conchshell.inference.pipeline, "load_pipeline", no_models)
    monkeypatch.chdir(tmp_path)  # no params.yaml here either
    for extra in (["--params", "nonexistent.yaml"], []):
        status = cli.main(["generate", str(pictures["png"]), "-o", "o.wav", "--models", str(models), *extra])
        assert status == 2
        lines = error_lines_of(capsys.readouterr())
        name = "nonexistent.yaml" if extra else "params.yaml"
        assert len(lines) == 1 and lines[0].startswith(f"error: {name}: parameters file not found"), lines


def test_error_lines_never_share_the_progress_bar_line(models, pictures, params, tmp_path, capsys):
    good = [pictures["png"], pictures["gray"], pictures["rgba"]]
    status = run([good[0], pictures["corrupt"], *good[1:]], tmp_path / "out", models, params, "--batch-size", "1")
    assert status == 2
    err = capsys.readouterr().err
    assert "generate:" in err, "the progress bar should be on"  # tqdm's line, redrawn with \r
    for segment in re.split(r"[\r\n]", err):
        assert "error:" not in segment or segment.startswith("error:"), repr(segment)


def test_info_lists_models_and_flags_a_stale_level(models, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("level: low\n")
    assert (
        cli.main(["info", "--models", str(models), "--features", str(tmp_path / "none"), "--params", str(params)]) == 0
    )
    out = capsys.readouterr().out
    assert "params: level=low" in out
    assert "vqvae.pt: preset" in out and "tcnn.pt: tcnn6" in out
    assert "gan.pt: level high" in out and "[stale: params say level=low]" in out
    assert "audio.h5: missing" in out and "images.h5: missing" in out


@pytest.mark.parametrize(
    "name, damage, why",
    [
        ("gan.pt", {"config": ["not", "a", "dict"]}, "field `config` is a list, not a dict"),
        ("gan.pt", {"step": "many"}, "field `step` is a str, not a int"),
        ("gan.pt", {"generator": {"w": "not a tensor"}}, "field `generator` is not a state dict"),
        ("tcnn.pt", {"categories": [1, 2]}, "field `categories` must list names"),
        ("tcnn.pt", {"arch": None}, "field `arch` is a NoneType, not a str"),
        ("vqvae.pt", {"hps": {"width": 10**9}}, "hps.width: 1000000000 is not an integer 1..4096"),
        ("vqvae.pt", {"sample_rate": "fast"}, "field `sample_rate` is a str, not an integer"),
    ],
)
def test_info_names_a_damaged_checkpoint_field_in_one_line(models, tmp_path, capsys, name, damage, why):
    ckpt = torch.load(models / name, weights_only=True)
    for key, value in damage.items():
        ckpt[key] = {**ckpt[key], **value} if key == "hps" else value
    save_torch(ckpt, models / name)
    params = tmp_path / "params.yaml"
    params.write_text("level: high\n")
    assert cli.main(["info", "--models", str(models), "--features", str(tmp_path), "--params", str(params)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(str(models / name))]
    assert len(lines) == 1 and lines[0].startswith(f"{models / name}: unreadable ({why}"), lines
