"""`conchshell generate --from DIR_OR_LIST`: streaming, the manifest, resume, refusing others' files, and two
gloo ranks giving the same wavs as one process (issue 24)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from test_cli import TinyI3D, make_models  # noqa: E402

import conchshell.inference.collection as collection
import conchshell.inference.pipeline
from conchshell import cli
from conchshell.inference.collection import shard_batches, wav_names
from conchshell.inference.ranks import Dist, choose_device

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def models(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(conchshell.inference.pipeline, "build_i3d", lambda *a, **k: seeded_i3d())
    return make_models(tmp_path / "models")


def seeded_i3d():
    import torch

    torch.manual_seed(3)
    return TinyI3D()


@pytest.fixture
def params(tmp_path) -> str:
    path = tmp_path / "params.yaml"
    path.write_text("seed: 0\n")
    return str(path)


def picture_folder(root: Path, n: int = 5, corrupt: bool = False) -> Path:
    """`n` random pictures, some in a subfolder, a text file Pillow is not asked to read, maybe a corrupt one."""
    rng = np.random.default_rng(0)
    for i in range(n):
        path = root / ("sub" if i % 2 else "") / f"p{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(path)
    (root / "notes.txt").write_text("not a picture")
    if corrupt:
        (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    return root


def run(source, out, models, params, *extra) -> int:
    argv = ["generate", "--from", str(source), "-o", str(out), "--models", str(models), "--params", params]
    return cli.main([*argv, "--backend", "eager", "--workers", "0", *extra])


def test_from_a_folder_writes_every_piece_and_the_manifest(models, params, tmp_path, capsys):
    pictures = picture_folder(tmp_path / "pics", n=3, corrupt=True)
    out = tmp_path / "out"
    assert run(pictures, out, models, params, "--batch", "2", "--seed", "7") == 2  # the corrupt picture
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "1 of 4 pictures failed" in err and "Traceback" not in err
    manifest = pd.read_csv(out / "manifest.csv")
    assert list(manifest.columns) == ["picture", "wav", "category", "seed"]
    assert list(manifest["wav"]) == ["p0.wav", "p2.wav", "sub/p1.wav"]
    assert set(manifest["category"]) <= {"beach", "forest"} and set(manifest["seed"]) == {7}
    for wav in manifest["wav"]:
        assert (out / wav).stat().st_size > 1000
    assert not (out / "broken.wav").exists()


def test_workers_do_not_change_the_bytes(models, params, tmp_path):
    pictures = picture_folder(tmp_path / "pics", n=3)
    assert run(pictures, tmp_path / "a", models, params, "--batch", "2") == 0
    assert run(pictures, tmp_path / "b", models, params, "--batch", "2", "--workers", "2") == 0
    for wav in pd.read_csv(tmp_path / "a/manifest.csv")["wav"]:
        assert (tmp_path / "a" / wav).read_bytes() == (tmp_path / "b" / wav).read_bytes()


def test_an_interrupted_run_resumes_without_redoing_finished_pictures(models, params, tmp_path, monkeypatch):
    pictures = picture_folder(tmp_path / "pics", n=4)
    assert run(pictures, tmp_path / "whole", models, params, "--batch", "2") == 0
    real = collection.write_wav
    written = []

    def killed_after_two(path, wave, rate):
        if len(written) == 2:
            raise KeyboardInterrupt  # the process stops here: the 3rd piece is recorded, its wav never written
        written.append(Path(path).name)
        real(path, wave, rate)

    with monkeypatch.context() as m:
        m.setattr(collection, "write_wav", killed_after_two)
        assert run(pictures, tmp_path / "out", models, params, "--batch", "2") != 0
    assert written == ["p0.wav", "p2.wav"] and not (tmp_path / "out/manifest.csv").exists()
    runs = []
    real_run = conchshell.inference.pipeline.Pipeline.run
    monkeypatch.setattr(
        conchshell.inference.pipeline.Pipeline, "run", lambda self, x: runs.append(len(x)) or real_run(self, x)
    )
    assert run(pictures, tmp_path / "out", models, params, "--batch", "2") == 0
    assert runs == [2]  # the second batch (its first piece recorded, never written), nothing else
    whole = pd.read_csv(tmp_path / "whole/manifest.csv")
    assert pd.read_csv(tmp_path / "out/manifest.csv").equals(whole)
    for wav in whole["wav"]:  # the redone batch holds the same pictures as in the whole run: same bytes
        assert (tmp_path / "out" / wav).read_bytes() == (tmp_path / "whole" / wav).read_bytes()


def test_a_wav_no_run_wrote_is_refused_before_models_load(models, params, tmp_path, capsys, monkeypatch):
    pictures = picture_folder(tmp_path / "pics", n=2)
    (tmp_path / "out/sub").mkdir(parents=True)
    (tmp_path / "out/p0.wav").write_bytes(b"precious")
    (tmp_path / "out/sub/p1.wav").mkdir()
    monkeypatch.setattr(conchshell.inference.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("loaded"))
    assert run(pictures, tmp_path / "out", models, params) == 2
    err = capsys.readouterr().err
    assert "p0.wav: already exists" in err and "p1.wav: is a folder" in err
    assert (tmp_path / "out/p0.wav").read_bytes() == b"precious"


def test_a_list_file_names_pictures_relative_to_itself(models, params, tmp_path):
    picture_folder(tmp_path / "pics", n=3)
    listing = tmp_path / "pics/list.txt"
    listing.write_text("# three pictures\np0.png\n\nsub/p1.png\np2.png\n")
    assert run(listing, tmp_path / "out", models, params) == 0
    assert list(pd.read_csv(tmp_path / "out/manifest.csv")["wav"]) == ["p0.wav", "sub/p1.wav", "p2.wav"]


def test_wav_names_never_collide():
    root = Path("/set")
    names = wav_names([root / "a.png", root / "a.jpg", root / "b.png", Path("/elsewhere/c.png")], root)
    assert names[:3] == ["a.png.wav", "a.jpg.wav", "b.wav"]
    assert names[3].startswith("c-") and names[3].endswith(".wav")


def test_ranks_take_disjoint_batches_covering_the_set():
    plan = collection.Plan([Path(f"{i}.png") for i in range(7)], [f"{i}.wav" for i in range(7)], Path("o"), [False] * 7)
    plan.done[1] = True
    parts = [shard_batches(plan, 2, Dist(rank=r, world=2)) for r in range(2)]
    assert parts == [[[0], [4, 5]], [[2, 3], [6]]]
    assert shard_batches(plan, 2, Dist()) == [[0], [2, 3], [4, 5], [6]]


def test_more_ranks_than_gpus_share_them_over_gloo():
    assert choose_device(1, 2, 2) == ("cuda:1", "nccl", None)
    device, backend, note = choose_device(1, 2, 1)
    assert (device, backend) == ("cuda:0", "gloo") and "share 1 GPU" in note
    assert choose_device(3, 4, 0) == ("cpu", "gloo", None)
    assert choose_device(0, 1, 8, cpu=True)[:2] == ("cpu", "gloo")


RANK_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import conchshell.inference.pipeline
from test_generate_collection import seeded_i3d
conchshell.inference.pipeline.build_i3d = lambda *a, **k: seeded_i3d()
from conchshell import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(world: int, argv: list[str]) -> list[subprocess.CompletedProcess]:
    """`world` processes as torchrun starts them (RANK, WORLD_SIZE, MASTER_*), each running `conchshell argv`."""
    script = RANK_SCRIPT.format(tests=str(Path(__file__).parent))
    port = str(free_port())
    procs = []
    for rank in range(world):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
        env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world))
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", script, *argv],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=180), *p.communicate()) for p in procs]


@pytest.mark.slow
def test_two_gloo_ranks_give_the_same_wavs_as_one_process(models, params, tmp_path):
    pictures = picture_folder(tmp_path / "pics", n=5)
    common = ["--models", str(models), "--params", params, "--backend", "eager", "--batch", "2", "--workers", "0"]
    one = launch(1, ["generate", "--from", str(pictures), "-o", str(tmp_path / "one"), *common])
    two = launch(2, ["generate", "--from", str(pictures), "-o", str(tmp_path / "two"), *common])
    for done in one + two:
        assert done.returncode == 0, done.stderr[-2000:]
    manifest = pd.read_csv(tmp_path / "one/manifest.csv")
    assert len(manifest) == 5 and pd.read_csv(tmp_path / "two/manifest.csv").equals(manifest)
    for wav in manifest["wav"]:
        assert (tmp_path / "two" / wav).read_bytes() == (tmp_path / "one" / wav).read_bytes(), wav
    per_rank = [len((tmp_path / f"two/.generate/rank-{r}.jsonl").read_text().splitlines()) for r in range(2)]
    assert per_rank == [3, 2]  # batches 0 and 2 (2 + 1 pictures) on rank 0, batch 1 (2) on rank 1
