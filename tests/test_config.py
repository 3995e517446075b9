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
    path.write_text("level: high\ngan:\n  steps: 5\n  warmup_steps: 2\n")
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


# issue 26: non-numbers and absurd sizes are refused with one line naming the key (and why, for a bound)
@pytest.mark.parametrize(
    "text, expected",
    [
        ("data:\n  val_fraction: .nan\n", "data.val_fraction: must be a finite number, got nan"),
        ("gan:\n  lr_g: .nan\n", "gan.lr_g: must be a finite number, got nan"),
        ("gan:\n  lambdas:\n    mel: .nan\n", "gan.lambdas.mel: must be a finite number, got nan"),
        ("gan:\n  beta1: .nan\n", "gan.beta1: must be a finite number"),
        ("gan:\n  out_scale: -.inf\n", "gan.out_scale: must be a finite number, got -inf"),
        ("gan:\n  lr_d: 'nan'\n", "gan.lr_d: must be a finite number, got 'nan'"),
        ("data:\n  seconds: .inf\n", "data.seconds: must be a finite number, got inf"),
        ("data:\n  seconds: 3600\n", "data.seconds: must be <= 60.0, got 3600.0 (latents, G and D grow"),
        ("data:\n  image_size: 200000\n", "data.image_size: must be <= 1024, got 200000 (the TCNN runs at full"),
        ("gan:\n  width: 100000\n", "gan.width: must be <= 4.0, got 100000.0 (G and D parameters grow"),
        ("gan:\n  batch_size: 100000\n", "gan.batch_size: must be <= 4096, got 100000 (one batch must fit"),
        ("vqvae:\n  l_bins: 40000\n", "vqvae.l_bins: must be <= 32768, got 40000 (codes are stored as int16)"),
        ("gan:\n  steps: 0\n  warmup_steps: 0\n", "gan.steps: must be >= 1, got 0"),
        ("gan:\n  steps: 20\n  warmup_steps: 30\n", "gan.warmup_steps: must be <= gan.steps (20), got 30"),
        ("gan:\n  steps: 30\n", "gan.warmup_steps: must be <= gan.steps (30), got 1200"),
    ],
)
def test_strict_params_refuse_non_finite_and_absurd_values(tmp_path, text, expected):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConchError) as err:
        load_config(path)
    message = str(err.value)
    assert message == f"{path}: {expected}" or message.startswith(f"{path}: {expected}")
    assert "\n" not in message


def test_every_float_field_refuses_nan():
    """Every float (and λ) key of Config refuses NaN: no bound comparison can let it through."""
    import dataclasses

    from conchshell.config import _strip_optional

    def floats(cls, prefix=""):
        hints = __import__("typing").get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = _strip_optional(hints[f.name])
            if dataclasses.is_dataclass(hint):
                yield from floats(hint, f"{prefix}{f.name}.")
            elif hint is float:
                yield prefix + f.name

    keys = list(floats(Config))
    assert len(keys) > 20
    for key in keys:
        raw: dict = {}
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = float("nan")
        with pytest.raises(ConchError, match=f"{key}: must be a finite number"):
            from_dict(raw)


def bounded_fields(cls=Config, prefix=""):
    """(key, type, metadata) of every scalar field of Config with a min, min_exclusive or max."""
    import dataclasses
    import typing

    from conchshell.config import _strip_optional

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = _strip_optional(hints[f.name])
        if dataclasses.is_dataclass(hint):
            yield from bounded_fields(hint, f"{prefix}{f.name}.")
        elif hint in (int, float) and {"min", "min_exclusive", "max"} & set(f.metadata):
            yield prefix + f.name, hint, f.metadata


def raw_with(key: str, value) -> dict:
    raw: dict = {}
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return raw


def test_every_bound_refuses_the_first_value_past_it():
    """Issue 26.5, each bound: one past every max (and below every min) is refused with one line naming the key."""
    fields = list(bounded_fields())
    assert sum("max" in meta for _, _, meta in fields) >= 20
    for key, hint, meta in fields:
        step = 1 if hint is int else 1e-6 * max(1.0, abs(meta.get("max", 1.0)))
        past = []
        if "max" in meta:
            past.append((hint(meta["max"] + step), f"must be <= {meta['max']}"))
        if "min" in meta:
            past.append((hint(meta["min"] - step), f"must be >= {meta['min']}"))
        if "min_exclusive" in meta:
            past.append((hint(meta["min_exclusive"]), f"must be > {meta['min_exclusive']}"))
        for value, expected in past:
            with pytest.raises(ConchError, match=f"^params: {key}: {expected}, got") as err:
                from_dict(raw_with(key, value))
            assert "\n" not in str(err.value)


def test_bounds_at_their_limit_are_accepted():
    cfg = from_dict({"data": {"image_size": 1024, "seconds": 60}, "gan": {"steps": 1, "warmup_steps": 1}})
    assert (cfg.data.image_size, cfg.data.seconds, cfg.gan.steps, cfg.gan.warmup_steps) == (1024, 60.0, 1, 1)
