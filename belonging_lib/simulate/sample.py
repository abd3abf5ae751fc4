"""The shipped sample: every data set from one seed, and the files of ``data/sample/``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .._progress import progress_bar, show_progress
from ._common import SYNTHETIC_NOTE
from .export import make_codebook, simulate_export
from .pisa import simulate_pisa
from .survey import assign_send_level, simulate_survey_with_latent
from .transition import simulate_transition
from .trial import simulate_trial
from .truth import make_truth

__all__ = ["simulate_all", "write_sample_data", "DEFAULT_SEED", "SAMPLE_NAMES"]

#: Seed of the shipped sample data.
DEFAULT_SEED = 20261123

#: The files of the shipped sample, in the order they are written.
SAMPLE_NAMES = ["survey.csv", "schools.csv", "staff.csv", "transition.csv", "trial.csv",
                "pisa.csv.gz", "survey_raw_export.csv", "survey_raw_export.sav", "codebook.csv",
                "TRUTH.json", "README.md"]

_SAV_FIXED_DATE = b"01 Jan 26"
_SAV_FIXED_TIME = b"00:00:00"


def _write_csv(frame: pd.DataFrame, path: Path, **kw) -> None:
    from .._safe_write import write_csv

    write_csv(frame, path, index=False, lineterminator="\n", **kw)


def _write_sav(frame: pd.DataFrame, meta: dict, path: Path) -> None:
    import pyreadstat

    pyreadstat.write_sav(
        frame, str(path), column_labels=meta["column_labels"],
        variable_value_labels=meta["variable_value_labels"],
        missing_ranges={k: v for k, v in meta["missing_ranges"].items()},
        file_label="SYNTHETIC belonging survey raw export", row_compress=True,
    )
    data = bytearray(path.read_bytes())
    # SAV header: $FL2(4) product(60) layout(4) nominal case size(4) compression(4)
    # weight index(4) ncases(4) bias(8) -> creation date at 92 (9 bytes), time at 101 (8).
    data[92:101] = _SAV_FIXED_DATE
    data[101:109] = _SAV_FIXED_TIME
    path.write_bytes(bytes(data))


def simulate_all(seed: int = DEFAULT_SEED) -> dict:
    """Every sample data set from one seed, as a dict of DataFrames (and the TRUTH dict).

    Keys: ``survey``, ``schools``, ``staff``, ``transition``, ``trial``, ``pisa``,
    ``export_csv``, ``export_sav`` and ``export_meta`` (the raw export, see
    :func:`simulate_export`), ``codebook``, ``truth`` and ``latent``.
    """
    # One independent child stream per data set, so changing one leaves the others intact.
    # Child i of a SeedSequence does not depend on how many children are spawned, so the sixth
    # stream (SEND level) leaves the first five, and every other column, as they were.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    survey, schools, staff, latent = simulate_survey_with_latent(streams[0])
    survey = assign_send_level(survey, streams[5])
    transition = simulate_transition(streams[1])
    trial = simulate_trial(streams[2])
    pisa = simulate_pisa(streams[3])
    export_csv, export_sav, export_meta = simulate_export(survey, streams[4])
    codebook = make_codebook(survey=survey, schools=schools, staff=staff, transition=transition,
                             trial=trial, pisa=pisa, export=export_csv)
    truth = make_truth(seed=seed, survey=survey, schools=schools, staff=staff,
                       transition=transition, trial=trial, pisa=pisa, latent=latent)
    return dict(survey=survey, schools=schools, staff=staff, transition=transition, trial=trial,
                pisa=pisa, export_csv=export_csv, export_sav=export_sav, export_meta=export_meta,
                codebook=codebook, truth=truth, latent=latent)


def write_sample_data(out=None, *, seed: int = DEFAULT_SEED, progress: bool | None = None
                      ) -> dict[str, Path]:
    """Simulate and write every sample file into the folder ``out``; returns {file name: path}.

    ``out`` defaults to ``data/sample/`` of the source tree; an installed package has none, so
    there ``out`` must be given. The files are byte-for-byte
    reproducible for a given seed. ``progress`` shows a progress bar (``None``: when the
    standard error stream is a terminal).
    """
    if out is None:
        from .._errors import DataError
        from .._resources import checkout_root

        root = checkout_root()
        if root is None:   # never write into an installed package
            raise DataError("write_sample_data: name the folder to write into (out=...); the installed "
                            "package ships its own copy of the sample.")
        out = root / "data" / "sample"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    d = simulate_all(seed)
    paths = {name: out / name for name in SAMPLE_NAMES}
    steps = [
        ("survey.csv", lambda p: _write_csv(d["survey"], p)),
        ("schools.csv", lambda p: _write_csv(d["schools"], p)),
        ("staff.csv", lambda p: _write_csv(d["staff"], p)),
        ("transition.csv", lambda p: _write_csv(d["transition"], p)),
        ("trial.csv", lambda p: _write_csv(d["trial"], p)),
        ("pisa.csv.gz", lambda p: _write_csv(
            d["pisa"], p, compression={"method": "gzip", "mtime": 0})),
        ("survey_raw_export.csv", lambda p: _write_csv(d["export_csv"], p)),
        ("survey_raw_export.sav", lambda p: _write_sav(d["export_sav"], d["export_meta"], p)),
        ("codebook.csv", lambda p: _write_csv(d["codebook"], p)),
        ("TRUTH.json", lambda p: p.write_text(
            json.dumps(d["truth"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")),
        ("README.md", lambda p: p.write_text(_readme(d), encoding="utf-8")),
    ]
    # a few seconds in all
    for name, fn in progress_bar(steps, desc="writing sample data", enabled=show_progress(progress, seconds=5)):
        fn(paths[name])
    return paths


def _readme(d) -> str:
    t = d["truth"]
    real = t["realised"]
    alphas = real["alpha"]["value"]
    alpha_lines = "\n".join(f"| {k} | {v:.2f} |" for k, v in alphas.items())
    return f"""# Sample data (SYNTHETIC)

**{SYNTHETIC_NOTE}**

Regenerate every file byte for byte with

    python -m belonging_lib.simulate            # or: --out OTHER_FOLDER

(seed {DEFAULT_SEED}; a few seconds). The generating model and every parameter are in
`TRUTH.json` (each entry has a `value` and a `description`; `by_construction` lists which
claims hold by construction; `realised` gives descriptive statistics of this sample). Every
variable of every file is described in `codebook.csv` (column `synthetic` = yes for every row).
Load the files with `belonging_lib.load_sample(name)` and `belonging_lib.load_truth()`.

| file | rows | what |
|---|---|---|
| survey.csv | {len(d['survey'])} | pupil survey in {d['survey']['school_id'].nunique()} schools ({d['survey']['class_id'].nunique()} classes): item-level PSSM (18), PISA belonging (6), teacher care / fairness / listening, peer acceptance, bullying, engagement, respect, pupil voice (4 items each), SDQ (25), SWEMWBS (7), parental engagement (3); characteristics; prior attainment (before the autumn survey; `ks2_score` for secondary pupils only) and the end-of-year attainment test (June, every pupil) |
| schools.csv | {len(d['schools'])} | one row per survey school, with staff-survey means |
| staff.csv | {len(d['staff'])} | staff survey (belonging, wellbeing, leader support) |
| transition.csv | {len(d['transition'])} | 3-wave primary-to-secondary transition panel, long format ({t['sizes']['transition_pupils']['value']} pupils; attrited pupil-waves are absent) |
| trial.csv | {len(d['trial'])} | cluster-randomised trial of a belonging programme (40 schools, 1:1 within 10 blocks) |
| pisa.csv.gz | {len(d['pisa'])} | PISA-style file: 6 fictional countries (AAA..FFF), final weight, 80 Fay-BRR replicate weights (k = 0.5), 10 PVs in mathematics and reading, BELONG, ESCS, IMMIG |
| survey_raw_export.csv / .sav | {len(d['export_csv'])} | survey.csv as a survey tool exports it: columns renamed (Q1_1 ...), text labels for the PSSM, PISA and teacher blocks (with stray case/whitespace variants), 9 / -99 / blank for "not answered"; the .sav has numeric codes with SPSS value labels and 9 / -99 declared user-missing |
| codebook.csv | {len(d['codebook'])} | one row per variable; `source_name`, `value_labels` and `missing_codes` map the raw export back to survey.csv |
| TRUTH.json | | generating parameters with descriptions |

## Coding

- Missing values are empty cells.
- PSSM items 1-5 (1 = not at all true ... 5 = completely true); reverse-keyed 03, 06, 09, 12, 16
  are stored unreversed (reverse as 6 - x).
- PISA belonging items 1-4 with 1 = strongly agree; items 1, 4, 6 are negatively worded, so
  reverse 2, 3, 5 (5 - x) for "higher = more belonging". Same in pisa.csv.gz (ST034Q01TA-Q06TA).
- Agreement scales 1-5 (1 = strongly disagree); bullying 1-5 frequency (1 = never).
- SDQ items 0-2; reversed items 07, 11, 14, 21, 25 (reverse as 2 - x).
- SWEMWBS items 1-5; transition.csv `wellbeing` is the metric score (Rasch conversion).
- `send` is 0/1; `send_level` is text: none (send = 0), SEN support or EHCP (send = 1).
- Timing: the survey is taken in the autumn term. `prior_attainment` (integer 80-120) is measured
  before it: the KS2 scaled score (end of Year 6) for secondary pupils, the school's own
  assessment at the end of the previous year (Year 4 or 5) on the same metric for primary pupils.
  `ks2_score` is the same value for secondary pupils and empty for primary pupils, who have not
  yet taken KS2. `attainment` is the end-of-year test in June, after the survey, for every pupil.

## Main true values (details in TRUTH.json)

- Pupil belonging (latent units): teacher care 0.30, fairness 0.15, listening 0.10, peer
  acceptance 0.20, bullying -0.15, engagement 0.10, voice 0.10, respect 0.05, parental
  engagement 0.10, school staff belonging 0.15 per school SD; SEND -0.30, LGBT -0.30, FSM -0.15.
- `send_level` (none, SEN support, EHCP): each SEND pupil has an EHCP with probability
  {t['survey']['send_level']['ehcp_share_within_send']['value']:.2f} (a simulation choice), at random,
  so both levels carry the same built-in SEND gap; a difference between them is chance.
- Causal order: characteristics -> prior attainment -> belonging (autumn; +0.10 per SD of prior
  attainment) -> end-of-year attainment.
- attainment = 50 + 0.8 (prior_attainment - 100) + 2.5 pc + 1.5 pc x fsm - 2.0 fsm - 2.0 send +
  1.0 (attendance - 95)/10 + school + class + residual, with pc = PSSM mean - 3.5 (observed, all
  18 items): the effect of belonging on later attainment, adjusted for prior attainment, is 2.5
  points per scale point (4.0 for FSM pupils).
- Trial: ITT effect 0.20 SD of the control post-test (0.12 points); CACE 0.25 SD.
- PISA: mathematics = country mean + 30 ESCS + 8 BELONG + school + residual.

## Realised reliabilities (raw alpha)

| scale | alpha |
|---|---|
{alpha_lines}

Unconditional school ICC of the PSSM mean: {real['pssm_mean_icc_school']['value']:.3f}.
"""
