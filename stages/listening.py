"""Stage `listening`: the listening test's ratings → MOS ± 95% CI per system and scale.

Reads listening/ratings.sqlite (written by `conchshell serve`; a missing file means no ratings) and keeps
the ratings of the samples now in samples/ (their `experiment_id`, see conchshell.web.trials). Writes
metrics/listening.json ({"ratings": N, <system>: {<scale>: {"mos", "ci95", "n"}}}, nulls and n = 0 while
there are no ratings), plots/listening.csv (one row per system and scale) and plots/listening.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conchshell import paths
from conchshell.errors import ConchError, report_errors
from conchshell.evaluation.listening.mos import figure_png, summarise, table
from conchshell.evaluation.listening.ratings import read_ratings
from conchshell.io import atomic_path, sweep_folders, write_json
from conchshell.web.trials import experiment_id

RATINGS = Path("listening/ratings.sqlite")


@report_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", default=str(RATINGS))
    parser.add_argument("--samples", default=str(paths.SAMPLES))
    parser.add_argument("--out", default=".", help="folder for metrics/ and plots/")
    args = parser.parse_args(argv)
    sweep_folders(Path(args.out) / paths.METRICS, Path(args.out) / paths.PLOTS)  # a killed run's temporaries
    samples, out = Path(args.samples), Path(args.out)
    if not samples.is_dir():
        raise ConchError(f"{samples}: no samples (run `dvc repro evaluate`)")
    experiment = experiment_id(samples)
    everything = read_ratings(args.ratings)
    ratings = everything[everything["experiment"] == experiment]
    summary = summarise(ratings)
    write_json(out / paths.METRICS / "listening.json", {"ratings": int(len(ratings)), **summary}, sort_keys=False)
    with atomic_path(out / paths.PLOTS / "listening.csv") as tmp:
        table(summary).to_csv(tmp, index=False)
    with atomic_path(out / paths.PLOTS / "listening.png") as tmp:
        tmp.write_bytes(figure_png(summary))
    if len(ratings) == 0:
        print(
            f"listening: no ratings yet for these samples (experiment {experiment}; {len(everything)} in "
            f"{args.ratings} for other samples) — wrote an empty metrics/listening.json; "
            "start a study with `conchshell serve` and open /listen",
            file=sys.stderr,
        )
    else:
        g = summary["generated"]["i2m"]
        print(
            f"listening: {len(ratings)} ratings (experiment {experiment}); generated I2M-MOS "
            f"{g['mos'] if g['mos'] is not None else '–'} (n={g['n']})",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
