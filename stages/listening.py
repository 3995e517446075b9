"""Stage `listening`: the listening test's ratings → MOS ± 95% CI per system and scale, rater screening and
inter-rater agreement.

Reads listening/ratings.sqlite (written by `conchshell serve`; a missing file means no ratings) and keeps
the ratings of the samples now in samples/ (their experiment_id, see conchshell.web.trials). Writes
metrics/listening.json:
    {"ratings": N, "raters": R, <system>: {<scale>: {"mos", "ci95", "low", "high", "n"}},   all raters
     "screening": {"threshold", "flagged", "raters_kept", "ratings_kept"},                 hidden reference
     "screened": {<system>: {<scale>: {...}}},                                              flagged raters out
     "alpha": {<scale>: Krippendorff's α, ordinal, or null},                                 all raters
     "alpha_screened": {<scale>: α}}                                                        flagged raters out
(the same keys, nulls and n = 0, while there are no ratings), plots/listening.csv (one row per raters
group, system and scale, the CI clipped to 1–5) and plots/listening.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from conchshell import paths
from conchshell.errors import ConchError, report_errors
from conchshell.evaluation.listening.agreement import alphas
from conchshell.evaluation.listening.mos import figure_png, summarise, table
from conchshell.evaluation.listening.ratings import read_ratings
from conchshell.evaluation.listening.screening import THRESHOLD, kept, screen
from conchshell.io import atomic_path, guard_temporaries, sweep_folders, write_json
from conchshell.web.trials import experiment_id

RATINGS = Path("listening/ratings.sqlite")


@report_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", default=str(RATINGS))
    parser.add_argument("--samples", default=str(paths.SAMPLES))
    parser.add_argument("--out", default=".", help="folder for metrics/ and plots/")
    args = parser.parse_args(argv)
    guard_temporaries()  # a kill -9 leaves no temporary, even if DVC then restores from its run cache
    sweep_folders(Path(args.out) / paths.METRICS, Path(args.out) / paths.PLOTS)  # a killed run's temporaries
    samples, out = Path(args.samples), Path(args.out)
    if not samples.is_dir():
        raise ConchError(f"{samples}: no samples (run `dvc repro evaluate`)")
    experiment = experiment_id(samples)
    everything = read_ratings(args.ratings)
    ratings = everything[everything["experiment"] == experiment]
    screening = screen(ratings, THRESHOLD)
    kept_ratings = kept(ratings, screening)
    summary, screened = summarise(ratings), summarise(kept_ratings)
    flagged = int(screening["flagged"].astype(bool).sum())
    metrics = {
        "ratings": int(len(ratings)),
        "raters": int(len(screening)),
        **summary,
        "screening": {
            "threshold": THRESHOLD,
            "flagged": flagged,
            "raters_kept": int(len(screening)) - flagged,
            "ratings_kept": int(len(kept_ratings)),
        },
        "screened": screened,
        "alpha": rounded(alphas(ratings)),
        "alpha_screened": rounded(alphas(kept_ratings)),
    }
    write_json(out / paths.METRICS / "listening.json", metrics, sort_keys=False)
    with atomic_path(out / paths.PLOTS / "listening.csv") as tmp:
        pd.concat([table(summary, "all"), table(screened, "screened")]).to_csv(tmp, index=False)
    with atomic_path(out / paths.PLOTS / "listening.png") as tmp:
        tmp.write_bytes(figure_png(summary, f"all {len(screening)} raters; screening flags {flagged}"))
    print(message(metrics, experiment, len(everything), args.ratings), file=sys.stderr)
    return 0


def rounded(values: dict[str, float | None]) -> dict[str, float | None]:
    return {key: None if value is None else round(value, 6) for key, value in values.items()}


def message(metrics: dict, experiment: str, stored: int, ratings: str) -> str:
    """The stage's one line on stderr."""
    if metrics["ratings"] == 0:
        return (
            f"listening: no ratings yet for these samples (experiment {experiment}; {stored} in {ratings} for "
            "other samples) — wrote an empty metrics/listening.json; start a study with `conchshell serve` "
            "and open /listen"
        )
    g, s = metrics["generated"]["i2m"], metrics["screened"]["generated"]["i2m"]
    return (
        f"listening: {metrics['ratings']} ratings by {metrics['raters']} raters (experiment {experiment}); "
        f"{metrics['screening']['flagged']} flagged by hidden-reference screening; generated I2M-MOS "
        f"{g['mos'] if g['mos'] is not None else '–'} (n={g['n']}), screened {s['mos'] if s['mos'] is not None else '–'} "
        f"(n={s['n']}); α(I2M) {metrics['alpha']['i2m']}"
    )


if __name__ == "__main__":
    sys.exit(main())
