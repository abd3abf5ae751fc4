"""The trial's design file (``design.yaml``): what the evaluator fixed before unblinding.

:func:`read_design` reads and checks it, naming the key and the value at fault; :func:`design_template`
is the commented blank that ``belonging trial-report --template`` writes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd

from .._errors import DataError
from .security import THREATS, _check_bands

__all__ = ["TrialDesign", "read_design", "design_template", "check_design_data", "sample_design"]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One outcome: its column, its label, whether it is attainment, and its pre-test."""

    column: str
    label: str
    attainment: bool
    pretest: str | None


@dataclasses.dataclass(frozen=True)
class TrialDesign:
    """A checked design file.  Built by :func:`read_design` (or :func:`design_from_dict`)."""

    title: str
    synthetic: bool
    treatment: str
    treated: object
    arm_labels: tuple
    unit: str
    cluster: str
    block: str | None
    design: str
    primary: Outcome
    secondary: tuple
    covariates: tuple
    balance: tuple
    attrited: str | None
    protocol: dict
    subgroup: str | None
    complied: str | None
    threats: dict
    bands: dict
    n_perm: int
    n_boot: int
    n_imputations: int
    seed: int
    months_table: str

    @property
    def outcomes(self) -> tuple:
        return (self.primary, *self.secondary)


_TEMPLATE = (
    """\
# design.yaml: the trial's analysis plan, written BEFORE the outcome data are unblinded.
# `belonging trial-report --data pupils.csv --design design.yaml --out report/` reads it.
# Every key below is required unless it says "optional". Column names are those of the data file
# (one row per randomised pupil, lost pupils included).

title: ""                      # the trial's name, printed on the report
synthetic: false               # true only if the data are simulated (the report then says so)

arms:
  column: ""                   # the arm column (for example: treat)
  treated: 1                   # the value of that column that marks the programme arm
  labels: [programme, control] # names shown for the programme and control arms

randomisation:
  design: randomised           # a key of security_bands.design
  unit: school                 # what was randomised: school, class or pupil
  cluster: ""                  # the column naming the randomised unit (for example: school_id)
  block: null                  # optional: the randomisation block (stratum) column

outcomes:
  primary:
    column: ""                 # the primary outcome
    label: ""                  # its name in the report
    attainment: true           # true for a test of attainment (months of progress are shown only then)
    pretest: ""                # its baseline measure (adjusted for in every model of this outcome)
  secondary: []                # optional: a list of outcomes written like `primary`

covariates: []                 # optional: further baseline measures in every model (those the
                               # balance rule says need adjustment are added automatically)
balance: []                    # baseline measures checked for balance at randomisation and analysis
attrition_column: null         # optional: a 0/1 column, 1 = pupil lost; null = primary outcome missing

protocol_mdes:                 # the protocol's MDES inputs (PowerUp!, two-level trial)
  n_clusters: 0
  cluster_size: 0              # pupils per randomised unit
  icc: 0.0
  r2_level1: 0.0               # share of pupil-level variance the pre-test explains
  r2_level2: 0.0               # share of school-level variance the pre-test explains
  p_treated: 0.5

subgroup: null                 # optional: a 0/1 pupil column (FSM eligibility) for the subgroup analysis
compliance_column: null        # optional: a 0/1 column, 1 = the pupil's school delivered the programme

analysis:
  n_perm: 2000                 # re-randomisations for the permutation p-value
  n_boot: 0                    # optional cluster-bootstrap resamples (0 = none)
  n_imputations: 20            # imputed data sets for the missing-data sensitivity analysis
  seed: 0
  months_table: project        # EEF months' progress table: project (evaluation reports) or toolkit

# Each threat to validity: its risk (low, moderate or high) and the direction it would push the
# result (overstates the effect, understates the effect, unclear), with a note of the evidence.
threats:
"""
    + "".join(
        f"""  {t}: {{risk: "", direction: unclear, note: ""}}
"""
        for t in THREATS
    )
    + """
# The EEF's classification of the security of findings: COPY the band edges from the version of
# the EEF's procedure the trial is judged against (the 2019 document "Classifying the security of
# findings from EEF evaluations", or a later one), and name it in `source`. Nothing is filled in
# here on purpose: the report refuses to rate a trial without the published edges.
security_bands:
  source: ""                   # the document, its version and page
  design: {randomised: null}   # the most padlocks each design allows
  mdes: []                     # 5 upper edges of the MDES at analysis, for 5, 4, 3, 2 and 1 padlocks
  attrition: []                # 5 upper edges of pupil attrition (proportions), for 5, 4, 3, 2, 1
  downgrade: {moderate: null, high: null}   # padlocks removed for a threat at that risk
  combine: sum                 # several threats: sum their downgrades, or take the largest (max)
"""
)


def design_template() -> str:
    """The commented blank design file."""
    return _TEMPLATE


def _need(d, key, where, kind=None):
    if not isinstance(d, dict) or key not in d or d[key] is None or d[key] == "":
        raise DataError(f"design file: `{where}{key}` is missing or empty.")
    v = d[key]
    if kind is not None and not isinstance(v, kind):
        raise DataError(
            f"design file: `{where}{key}` must be {kind.__name__ if isinstance(kind, type) else 'a ' + '/'.join(k.__name__ for k in kind)}, "
            f"but {v!r} was given."
        )
    return v


def _opt(d, key, default=None):
    v = d.get(key, default) if isinstance(d, dict) else default
    return default if v == "" else v


def _outcome(d, where) -> Outcome:
    if not isinstance(d, dict):
        raise DataError(f"design file: `{where}` must be a mapping with column, label, attainment and pretest.")
    column = str(_need(d, "column", f"{where}."))
    attainment = _need(d, "attainment", f"{where}.", bool)
    pre = _opt(d, "pretest")
    return Outcome(
        column=column,
        label=str(_opt(d, "label") or column),
        attainment=attainment,
        pretest=None if pre is None else str(pre),
    )


def _int(d, key, where, default, minimum=0):
    v = _opt(d, key, default)
    if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
        raise DataError(
            f"design file: `{where}{key}` must be a whole number of at least {minimum}, but {v!r} was given."
        )
    return v


def design_from_dict(spec: dict) -> TrialDesign:
    """Check a design given as a mapping (the parsed YAML) and return a :class:`TrialDesign`."""
    if not isinstance(spec, dict):
        raise DataError("design file: the file must be a YAML mapping (keys and values), as the template.")
    known = {
        "title",
        "synthetic",
        "arms",
        "randomisation",
        "outcomes",
        "covariates",
        "balance",
        "attrition_column",
        "protocol_mdes",
        "subgroup",
        "compliance_column",
        "analysis",
        "threats",
        "security_bands",
    }
    unknown = sorted(set(spec) - known)
    if unknown:
        raise DataError(f"design file: unknown key(s) {unknown}; the keys are {sorted(known)}.")
    title = str(_need(spec, "title", ""))
    arms = _need(spec, "arms", "", dict)
    labels = _opt(arms, "labels", ["programme", "control"])
    if not isinstance(labels, list) or len(labels) != 2:
        raise DataError(
            f"design file: `arms.labels` must list two names (programme, control), but {labels!r} was given."
        )
    if "treated" not in arms:
        raise DataError("design file: `arms.treated` is missing (the value that marks the programme arm).")
    rand = _need(spec, "randomisation", "", dict)
    outs = _need(spec, "outcomes", "", dict)
    primary = _outcome(_need(outs, "primary", "outcomes.", dict), "outcomes.primary")
    secondary = _opt(outs, "secondary", []) or []
    if not isinstance(secondary, list):
        raise DataError("design file: `outcomes.secondary` must be a list of outcomes.")
    secondary = tuple(_outcome(s, f"outcomes.secondary[{i + 1}]") for i, s in enumerate(secondary))
    cols = [o.column for o in (primary, *secondary)]
    if len(set(cols)) != len(cols):
        raise DataError(f"design file: an outcome is listed twice ({cols}).")

    def _list(key):
        v = _opt(spec, key, []) or []
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise DataError(f"design file: `{key}` must be a list of column names, but {v!r} was given.")
        return tuple(v)

    proto = _need(spec, "protocol_mdes", "", dict)
    protocol = {}
    for key in ("n_clusters", "cluster_size", "icc", "r2_level1", "r2_level2", "p_treated"):
        v = _opt(proto, key, 0.5 if key == "p_treated" else None)
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise DataError(f"design file: `protocol_mdes.{key}` must be a number, but {v!r} was given.")
        protocol[key] = v
    if protocol["n_clusters"] < 3 or protocol["cluster_size"] <= 0:
        raise DataError(
            f"design file: `protocol_mdes` needs at least 3 clusters and a positive cluster size, "
            f"but n_clusters={protocol['n_clusters']!r}, cluster_size={protocol['cluster_size']!r}."
        )
    threats = _need(spec, "threats", "", dict)
    bands = _check_bands(_need(spec, "security_bands", "", dict))
    design = str(_opt(rand, "design", "randomised"))
    if design not in bands["design"]:
        raise DataError(f"design file: `randomisation.design` {design!r} has no entry in `security_bands.design`.")
    from .security import _threat_rows

    _threat_rows(threats, bands["downgrade"])  # every threat declared, with a known risk and direction
    analysis = _opt(spec, "analysis", {}) or {}
    if not isinstance(analysis, dict):
        raise DataError("design file: `analysis` must be a mapping.")
    months = _opt(analysis, "months_table", "project")
    if months not in ("project", "toolkit"):
        raise DataError(f"design file: `analysis.months_table` must be project or toolkit, but {months!r} was given.")
    unit = str(_opt(rand, "unit", "school"))
    if unit not in ("school", "class", "pupil"):
        raise DataError(f"design file: `randomisation.unit` must be school, class or pupil, but {unit!r} was given.")
    synthetic = _opt(spec, "synthetic", False)
    if not isinstance(synthetic, bool):
        raise DataError(f"design file: `synthetic` must be true or false, but {synthetic!r} was given.")
    return TrialDesign(
        title=title,
        synthetic=synthetic,
        treatment=str(_need(arms, "column", "arms.")),
        treated=arms["treated"],
        arm_labels=tuple(map(str, labels)),
        unit=unit,
        cluster=str(_need(rand, "cluster", "randomisation.")),
        block=_opt(rand, "block"),
        design=design,
        primary=primary,
        secondary=secondary,
        covariates=_list("covariates"),
        balance=_list("balance"),
        attrited=_opt(spec, "attrition_column"),
        protocol=protocol,
        subgroup=_opt(spec, "subgroup"),
        complied=_opt(spec, "compliance_column"),
        threats=threats,
        bands=bands,
        n_perm=_int(analysis, "n_perm", "analysis.", 2000),
        n_boot=_int(analysis, "n_boot", "analysis.", 0),
        n_imputations=_int(analysis, "n_imputations", "analysis.", 20),
        seed=_int(analysis, "seed", "analysis.", 0),
        months_table=months,
    )


def read_design(path: str | os.PathLike) -> TrialDesign:
    """Read and check a design file.

    Raises
    ------
    DataError
        The file is missing or not YAML, or a key is missing, unknown or holds a value of the wrong
        kind (the message names the key and the value).
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise DataError(
            f"design file {str(p)!r} does not exist (write a blank with `belonging trial-report --template`)."
        )
    try:
        spec = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise DataError(f"design file {p.name!r} is not valid YAML{where}: {getattr(exc, 'problem', exc)}.") from None
    return design_from_dict(spec)


def sample_design() -> TrialDesign:
    """The design file of the synthetic sample trial (chapter 09), read and checked.

    Its security-rating band edges are illustrative and say so in their ``source``: copy the EEF's
    published edges into a real trial's design file.
    """
    from importlib.resources import as_file, files

    with as_file(files("belonging_lib") / "templates" / "trial_design_sample.yaml") as path:
        return read_design(path)


def check_design_data(data: pd.DataFrame, design: TrialDesign) -> None:
    """Every column the design names is in the data (the message lists those that are not)."""
    named = [
        design.treatment,
        design.cluster,
        design.block,
        design.attrited,
        design.subgroup,
        design.complied,
        *design.covariates,
        *design.balance,
    ]
    for o in design.outcomes:
        named += [o.column, o.pretest]
    missing = [c for c in dict.fromkeys(n for n in named if n) if c not in data.columns]
    if missing:
        raise DataError(
            f"The design file names column(s) {missing} that the data file does not have "
            f"(its columns: {list(data.columns)})."
        )
