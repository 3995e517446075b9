"""params.yaml → typed config: defaults, overrides and one-line errors naming the key."""

import textwrap

import pytest

from conchshell.config import LEVELS, Config, from_dict, load_config
from conchshell.errors import ConchError


def test_repository_params_load_and_match_defaults_types():
    cfg = load_config("params.yaml")
    assert isinstance(cfg, Config)
    assert cfg.level in LEVELS
    assert cfg.data.sample_rate == 16000 and cfg.data.seconds == 8.0


def test_defaults_are_the_repository_params():
    """One home for each default: a key left out of params.yaml means what the repository's params.yaml says."""
    assert load_config("params.yaml") == Config()


def test_missing_sections_fall_back_to_defaults():
    cfg = from_dict({"level": "deep"})
    assert cfg.level == "deep"
    assert cfg.gan == Config().gan


def test_overrides_use_dotted_keys(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("level: high\ngan:\n  steps: 5\n")
    cfg = load_config(path, overrides={"level": "low", "gan.batch_size": 2})
    assert (cfg.level, cfg.gan.steps, cfg.gan.batch_size) == ("low", 5, 2)


def test_scientific_notation_strings_are_numbers():
    assert from_dict({"gan": {"lr_g": "1e-5"}}).gan.lr_g == pytest.approx(1e-5)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"level": "medium"}, "level: 'medium' is not allowed; choose one of: high | low | deep"),
        ({"image_encoder": "resnet"}, "image_encoder: 'resnet' is not allowed; choose one of: tcnn6 | tcnn18"),
        ({"gan": {"batch_size": -1}}, "gan.batch_size: must be > 0, got -1"),
        ({"gan": {"steps": 2.5}}, "gan.steps: expected an integer"),
        ({"gan": {"lr_g": "fast"}}, "gan.lr_g: expected a number, got 'fast'"),
        ({"tcnn": {"augment": "yes"}}, "tcnn.augment: expected true or false"),
        ({"vqvae": {"checkpoint": "no/such/vqvae.pth.tar"}}, "vqvae.checkpoint: no/such/vqvae.pth.tar does not exist"),
        ({"i3d": {"checkpoint": "missing.pyth"}}, "i3d.checkpoint: missing.pyth does not exist"),
        ({"gan": {"lamda_mel": 1}}, "unknown key gan.lamda_mel"),
        ({"seed": None}, "seed: must not be empty"),
        ({"data": 3}, "data: expected a mapping"),
    ],
)
def test_bad_values_name_the_key(raw, expected):
    with pytest.raises(ConchError) as err:
        from_dict(raw)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConchError, match="parameters file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text(textwrap.dedent("level: high\ngan: [unclosed\n"))
    with pytest.raises(ConchError, match=r"not valid YAML \(line"):
        load_config(bad)
