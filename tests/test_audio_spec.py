"""The audio spec's one on-disk encoding, and the older ones every reader still accepts."""

from __future__ import annotations

import pytest

from conchshell.audio.spec import PAPER, UNRECORDED, AudioSpec
from conchshell.errors import ConchError
from conchshell.inference.runtime import BundleMeta


def test_one_encoding_round_trips():
    spec = AudioSpec(8000, 2.5)
    assert spec.to_dict() == {"audio_rate": 8000, "seconds": 2.5} and spec.samples == 20000
    assert AudioSpec.from_dict(spec.to_dict(), "x") == spec
    assert PAPER.to_dict() == {"audio_rate": 16000, "seconds": 8.0} and PAPER.samples == 128000


def test_older_encodings_give_the_same_spec():
    # ONNX meta.json before: sample_rate + num_samples; audio.h5 before: audio_rate + the clips' length
    assert AudioSpec.from_dict({"sample_rate": 8000, "num_samples": 20000}, "meta.json") == AudioSpec(8000, 2.5)
    assert AudioSpec.from_dict({"audio_rate": 16000}, "audio.h5", samples=4000) == AudioSpec(16000, 0.25)
    assert AudioSpec.from_dict({"step": 3}, "gan.pt", unrecorded=UNRECORDED) == PAPER


@pytest.mark.parametrize(
    "entries, problem",
    [({}, "`audio_rate` missing"), ({"audio_rate": 0, "seconds": 1.0}, "invalid"), ({"audio_rate": 8000}, "`seconds`")],
)
def test_a_missing_or_bad_spec_names_the_file(entries, problem):
    with pytest.raises(ConchError, match=f"models/gan.pt: audio spec: .*{problem}"):
        AudioSpec.from_dict(entries, "models/gan.pt")


def test_bundle_meta_writes_the_one_encoding_and_reads_the_old_one():
    meta = BundleMeta("high", ["a", "b"], 224, AudioSpec(16000, 8.0))
    assert meta.to_dict() == {"level": "high", "categories": ["a", "b"], "image_size": 224, **PAPER.to_dict()}
    old = {"level": "high", "categories": ["a", "b"], "image_size": 224, "sample_rate": 16000, "num_samples": 128000}
    assert BundleMeta.from_dict(old, "meta.json") == meta == BundleMeta.from_dict(meta.to_dict(), "meta.json")
