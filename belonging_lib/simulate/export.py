"""The survey as a school's survey tool exports it (the raw export), and the codebook of every file."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import _as_rng
from .items import (
    PARENT_ITEMS, PISA_ITEMS, PISA_REVERSED, PSSM_ITEMS, PSSM_REVERSED, SDQ_ITEMS, SDQ_REVERSED,
    SWEMWBS_ITEMS,
)
from .survey import SEND_LEVELS

__all__ = ["simulate_export", "make_codebook", "LABELS", "MISSING_CODES"]

LABELS = {
    "pssm": {1: "Not at all true", 2: "Not very true", 3: "Somewhat true", 4: "Mostly true",
             5: "Completely true"},
    "agree5": {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree",
               4: "Agree", 5: "Strongly agree"},
    "pisa": {1: "Strongly agree", 2: "Agree", 3: "Disagree", 4: "Strongly disagree"},
    "bully": {1: "Never", 2: "Rarely", 3: "Sometimes", 4: "Often", 5: "Always"},
    "sdq": {0: "Not true", 1: "Somewhat true", 2: "Certainly true"},
    "swemwbs": {1: "None of the time", 2: "Rarely", 3: "Some of the time", 4: "Often",
                5: "All of the time"},
}
MISSING_CODES = (9, -99)

# survey.csv item block -> (raw question number, label set, written as text in the CSV?)
_RAW_BLOCKS = [
    ("pssm", PSSM_ITEMS, "Q1", "pssm", True),
    ("pisa_belong", PISA_ITEMS, "Q2", "pisa", True),
    ("tr_care", [f"tr_care_{i}" for i in range(1, 5)], "Q3", "agree5", True),
    ("tr_fair", [f"tr_fair_{i}" for i in range(1, 5)], "Q4", "agree5", True),
    ("tr_listen", [f"tr_listen_{i}" for i in range(1, 5)], "Q5", "agree5", True),
    ("peer", [f"peer_{i}" for i in range(1, 5)], "Q6", "agree5", False),
    ("bully", [f"bully_{i}" for i in range(1, 5)], "Q7", "bully", False),
    ("engage", [f"engage_{i}" for i in range(1, 5)], "Q8", "agree5", False),
    ("respect", [f"respect_{i}" for i in range(1, 5)], "Q9", "agree5", False),
    ("voice", [f"voice_{i}" for i in range(1, 5)], "Q10", "agree5", False),
    ("sdq", SDQ_ITEMS, "Q11", "sdq", False),
    ("swemwbs", SWEMWBS_ITEMS, "Q12", "swemwbs", False),
    ("parent_engage", PARENT_ITEMS, "Q13", "agree5", False),
]
_RAW_IDS = {
    "pupil_id": "ResponseId", "school_id": "School", "class_id": "Class", "phase": "Phase",
    "year_group": "YearGroup", "gender": "Gender", "fsm": "FSM", "send": "SEND",
    "send_level": "SENDLevel", "eal": "EAL", "ethnicity": "Ethnicity", "lgbt": "LGBT",
    "attendance": "AttendancePct",
    "adversity": "AdversityFlag", "ks2_score": "KS2Score", "prior_attainment": "PriorAttainment",
    "attainment": "Attainment",
}



def _raw_name_map() -> dict[str, str]:
    m = dict(_RAW_IDS)
    for _, items, q, _, _ in _RAW_BLOCKS:
        for j, it in enumerate(items, start=1):
            m[it] = f"{q}_{j}"
    return m


def simulate_export(survey: pd.DataFrame, rng):
    """The survey as a survey tool exports it, for the CSV and the SPSS file.

    Parameters
    ----------
    survey : DataFrame
        The pupil survey (columns as ``survey.csv``).
    rng : numpy.random.Generator or int
        Random generator or seed (the start times, the stray spellings and the codes
        for "not answered").

    Returns
    -------
    tuple
        ``(export_csv, export_sav, sav_meta)``: the CSV frame (text labels for the PSSM,
        PISA and teacher-relationship blocks, with stray case and whitespace variants;
        9 / -99 / blank for "not answered"), the numeric frame written to ``.sav`` and a
        dict of value labels, variable labels and user-missing codes.
    """
    rng = _as_rng(rng)
    names = _raw_name_map()
    n = len(survey)
    # columns are collected in dicts and made into frames once (no column-by-column inserts)
    raw = {}
    start = pd.Timestamp("2026-10-05 09:00") + pd.to_timedelta(  # autumn-term survey
        rng.integers(0, 60 * 24 * 25, n), unit="min")
    raw["StartDate"] = start.strftime("%d/%m/%Y %H:%M")
    for c, rc in _RAW_IDS.items():
        if c in ("ks2_score", "prior_attainment", "attainment") or c not in survey.columns:
            continue
        raw[rc] = survey[c]
    # Gender with stray case/whitespace variants.
    g = survey["gender"].to_numpy().astype(object)
    variants = {"girl": ["Girl", "girl", " Girl", "GIRL"], "boy": ["Boy", "boy", "Boy ", "BOY"]}
    pick = rng.choice(4, size=n, p=[0.85, 0.08, 0.04, 0.03])
    raw["Gender"] = [variants[v][k] for v, k in zip(g, pick)]
    sav = {}
    sav["StartDate"] = raw["StartDate"]
    for c, rc in _RAW_IDS.items():
        if c in ("ks2_score", "prior_attainment", "attainment") or c not in survey.columns:
            continue
        sav[rc] = survey[c]
    sav["Gender"] = raw["Gender"]
    value_labels, missing_ranges = {}, {}
    for _, items, _, lab, as_text in _RAW_BLOCKS:
        labels = LABELS[lab]
        for it in items:
            rc = names[it]
            vals = survey[it]
            miss = vals.isna().to_numpy()
            code = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])  # blank, 9, -99
            num = vals.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
            if as_text:
                txt = np.array([labels[int(v)] if not np.isnan(v) else "" for v in num],
                               dtype=object)
                # stray variants: lower case, trailing space, upper case
                var = rng.random(n)
                low = var < 0.03
                trail = (var >= 0.03) & (var < 0.05)
                up = (var >= 0.05) & (var < 0.06)
                txt[low & ~miss] = [t.lower() for t in txt[low & ~miss]]
                txt[trail & ~miss] = [t + " " for t in txt[trail & ~miss]]
                txt[up & ~miss] = [t.upper() for t in txt[up & ~miss]]
                txt[miss & (code == 1)] = "9"
                txt[miss & (code == 2)] = "-99"
                raw[rc] = txt
            else:
                col = pd.array(num, dtype="Float64")
                col[miss & (code == 1)] = 9
                col[miss & (code == 2)] = -99
                raw[rc] = col.astype("Int64")
            sv = num.copy()
            sv[miss & (code >= 1)] = np.where(code[miss & (code >= 1)] == 1, 9, -99)
            sav[rc] = sv
            value_labels[rc] = {float(k): v for k, v in labels.items()}
            value_labels[rc].update({9.0: "Not answered", -99.0: "Not answered (skipped)"})
            missing_ranges[rc] = [9, -99]
    raw["KS2Score"] = survey["ks2_score"]
    raw["PriorAttainment"] = survey["prior_attainment"]
    raw["Attainment"] = survey["attainment"]
    sav["KS2Score"] = survey["ks2_score"].astype("Float64").to_numpy(
        dtype=float, na_value=np.nan)
    sav["PriorAttainment"] = survey["prior_attainment"].astype("Float64").to_numpy(
        dtype=float, na_value=np.nan)
    sav["Attainment"] = survey["attainment"]
    raw = pd.DataFrame(raw, index=survey.index)
    sav = pd.DataFrame(sav, index=survey.index)
    sav["YearGroup"] = sav["YearGroup"].astype(float)
    for c in ["FSM", "SEND", "EAL", "AdversityFlag"]:
        sav[c] = sav[c].astype(float)
        value_labels[c] = {0.0: "No", 1.0: "Yes"}
    sav["LGBT"] = survey["lgbt"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    value_labels["LGBT"] = {0.0: "No", 1.0: "Yes"}
    inv = {v: k for k, v in names.items()}
    column_labels = {c: _label_of(inv.get(c, c)) for c in sav.columns}
    meta = {"variable_value_labels": value_labels, "column_labels": column_labels,
            "missing_ranges": missing_ranges}
    return raw, sav, meta


def _label_of(var: str) -> str:
    """Plain-English label of a survey.csv variable (no item wording is shipped)."""
    fixed = {
        "StartDate": "Date and time the questionnaire was started (export metadata)",
        "pupil_id": "Pupil identifier (synthetic)", "school_id": "School identifier",
        "class_id": "Class identifier (school-class)", "phase": "School phase",
        "year_group": "National Curriculum year group",
        "gender": "Gender (self-reported; the raw export has case/whitespace variants)",
        "fsm": "Eligible for free school meals", "send": "Special educational needs or disability",
        "send_level": "SEND provision: none, SEN support or EHCP (education, health and care "
                      "plan); synthetic, assigned at random within SEND pupils",
        "eal": "English as an additional language",
        "ethnicity": "Ethnic group (broad)", "lgbt": "Identifies as LGBT+ (secondary only)",
        "attendance": "Attendance (percent of sessions attended)",
        "adversity": "Community adversity flag (area-level)",
        "ks2_score": "KS2-style scaled score, end of Year 6, before the survey (secondary "
                     "pupils only; primary pupils have not yet taken KS2)",
        "prior_attainment": "Prior attainment before the autumn survey, 80-120 scaled-score "
                            "metric: KS2 for secondary pupils, the school's end-of-previous-"
                            "year assessment (Year 4 or 5) for primary pupils",
        "attainment": "End-of-year attainment test in June, after the autumn survey, every "
                      "pupil (mean ~50, SD ~10)",
    }
    if var in fixed:
        return fixed[var]
    stem, _, num = var.rpartition("_")
    desc = {
        "pssm": "PSSM school membership item", "pisa_belong": "PISA-style belonging item",
        "tr_care": "Teacher care item", "tr_fair": "Teacher fairness item",
        "tr_listen": "Teachers listen item", "peer": "Peer acceptance item",
        "bully": "Bullying victimisation item (frequency)", "engage": "Engagement item",
        "respect": "Respectful, safe environment item", "voice": "Pupil voice item",
        "sdq": "SDQ-style item", "swemwbs": "SWEMWBS-style wellbeing item",
        "parent_engage": "Parental engagement item",
    }
    if stem in desc:
        return f"{desc[stem]} {num}"
    return var


def _value_label_string(lab: str) -> str:
    return ";".join(f"{k}={v}" for k, v in LABELS[lab].items())


def make_codebook(*, survey, schools, staff, transition, trial, pisa, export) -> pd.DataFrame:
    """One row per variable of every sample file (all marked synthetic).

    Each argument is the data set of the same name; ``export`` is the raw export's CSV frame
    (the first table :func:`simulate_export` returns).
    """
    rows = []
    names = _raw_name_map()
    item_meta = {}
    for inst, items, _, lab, _ in _RAW_BLOCKS:
        for it in items:
            item_meta[it] = (inst, lab)

    def add(file, var, label, typ, allowed, instrument="", reverse=0, source_name="",
            value_labels="", missing_codes=""):
        rows.append(dict(file=file, variable=var, label=label, type=typ, allowed=allowed,
                         instrument=instrument, reverse=int(reverse), synthetic="yes",
                         source_name=source_name, value_labels=value_labels,
                         missing_codes=missing_codes))

    survey_types = {
        "pupil_id": ("id", "P0001-P9999"), "school_id": ("id", "S01-S40"),
        "class_id": ("id", "S01-C1 style"), "phase": ("categorical", "primary;secondary"),
        "year_group": ("integer", "5;6;7;8;9;10"), "gender": ("categorical", "girl;boy"),
        "fsm": ("binary", "0;1"), "send": ("binary", "0;1"),
        "send_level": ("categorical", ";".join(SEND_LEVELS)), "eal": ("binary", "0;1"),
        "ethnicity": ("categorical", "White;Asian;Black;Mixed;Other"),
        "lgbt": ("binary", "0;1"), "attendance": ("continuous", "60-100"),
        "adversity": ("binary", "0;1"), "ks2_score": ("integer", "80-120"),
        "prior_attainment": ("integer", "80-120"), "attainment": ("continuous", "0-100"),
    }
    for var in survey.columns:
        src = names.get(var, "")
        if var in item_meta:
            inst, lab = item_meta[var]
            lo, hi = min(LABELS[lab]), max(LABELS[lab])
            rev = var in PSSM_REVERSED or var in PISA_REVERSED or var in SDQ_REVERSED
            # the instrument column names the registry's id, so that scoring and validate find it
            add("survey.csv", var, _label_of(var), "item", f"{lo}-{hi}", inst, rev, src,
                _value_label_string(lab), "9;-99")
        else:
            typ, allowed = survey_types[var]
            vl = ""
            if typ == "binary":
                vl = "0=No;1=Yes"
            add("survey.csv", var, _label_of(var), typ, allowed, "", 0, src, vl, "")
    for var in export.columns:
        inv = {v: k for k, v in names.items()}
        base = inv.get(var)
        if base is not None and base in item_meta:
            _, lab = item_meta[base]
            text = any(base in items for _, items, _, _, t in _RAW_BLOCKS if t)
            add("survey_raw_export.csv", var,
                _label_of(base) + (" (text labels)" if text else " (numeric codes)"),
                "item", "labels" if text else f"{min(LABELS[lab])}-{max(LABELS[lab])}",
                item_meta[base][0],
                int(base in PSSM_REVERSED or base in PISA_REVERSED or base in SDQ_REVERSED),
                var, _value_label_string(lab), "9;-99")
        else:
            if base in survey_types:
                typ, allowed = survey_types[base]
                if base == "gender":
                    allowed = "girl;boy (any case, stray spaces)"
            else:  # StartDate
                typ, allowed = "categorical", "dd/mm/yyyy hh:mm"
            add("survey_raw_export.csv", var, _label_of(base or var), typ, allowed, "", 0, var,
                "0=No;1=Yes" if typ == "binary" else "", "")
    raw_rows = [dict(r, file="survey_raw_export.sav") for r in rows
                if r["file"] == "survey_raw_export.csv"]
    for r in raw_rows:
        if r["allowed"] == "labels":  # the .sav holds numeric codes with value labels
            codes = [int(x.split("=")[0]) for x in r["value_labels"].split(";")]
            r["allowed"] = f"{min(codes)}-{max(codes)}"
            r["label"] = r["label"].replace("(text labels)", "(numeric codes, SPSS value labels)")
    rows.extend(raw_rows)
    sch_info = {
        "school_id": ("id", "S01-S40", "School identifier"),
        "phase": ("categorical", "primary;secondary", "School phase"),
        "n_pupils": ("integer", ">=1", "Pupils in survey.csv"),
        "urban": ("binary", "0;1", "Urban school"),
        "fsm_share": ("continuous", "0-1", "Share of surveyed pupils eligible for FSM"),
        "staff_belonging": ("continuous", "1-5", "School mean of staff belonging scale "
                            "(mean of staff_belong_1..5 per respondent)"),
        "staff_wellbeing": ("continuous", "1-5", "School mean of staff wellbeing item mean"),
        "leader_support": ("continuous", "1-5", "School mean of leader support item mean"),
        "n_staff_responses": ("integer", ">=1", "Staff survey responses"),
    }
    for var in schools.columns:
        t, a, lab = sch_info[var]
        add("schools.csv", var, lab, t, a)
    for var in staff.columns:
        if var.startswith(("staff_belong_", "staff_wellbeing_", "leader_support_")):
            inst = var.rpartition("_")[0]
            add("staff.csv", var, f"{inst.replace('_', ' ').capitalize()} item "
                f"{var.rpartition('_')[2]}", "item", "1-5", inst, 0, "",
                _value_label_string("swemwbs" if "wellbeing" in var else "agree5"), "")
        else:
            t, a, lab = {
                "staff_id": ("id", "ST0001-", "Staff respondent identifier"),
                "school_id": ("id", "S01-S40", "School identifier"),
                "role": ("categorical", "teacher;support;leader", "Role"),
                "years_in_school": ("integer", "0-35", "Years working in this school"),
            }[var]
            add("staff.csv", var, lab, t, a)
    tr_info = {
        "pupil_id": ("id", "T0001-", "Pupil identifier"),
        "wave": ("integer", "1;2;3", "1 = Year 6 summer, 2 = Year 7 autumn, 3 = Year 7 summer"),
        "year_group": ("integer", "6;7", "Year group at the wave"),
        "primary_id": ("id", "TP01-TP20", "Primary school attended in Year 6"),
        "secondary_id": ("id", "TS01-TS08", "Secondary school joined in Year 7"),
        "school_id": ("id", "", "School attended at this wave"),
        "gender": ("categorical", "girl;boy", "Gender"), "fsm": ("binary", "0;1", "FSM"),
        "send": ("binary", "0;1", "SEND"),
        "belonging": ("continuous", "1-5", "PSSM mean (18 items, reverse-keyed items reversed)"),
        "teacher_rel": ("continuous", "1-5", "Teacher relationship mean (4 items)"),
        "peer": ("continuous", "1-5", "Peer acceptance mean (4 items)"),
        "wellbeing": ("continuous", "7-35", "SWEMWBS metric score"),
        "sdq_total": ("integer", "0-40", "SDQ total difficulties"),
    }
    for var in transition.columns:
        t, a, lab = tr_info[var]
        add("transition.csv", var, lab, t, a,
            {"belonging": "pssm", "wellbeing": "swemwbs", "sdq_total": "sdq"}.get(var, ""))
    trial_info = {
        "pupil_id": ("id", "R00001-", "Pupil identifier"),
        "school_id": ("id", "R01-R40", "School identifier"),
        "arm": ("categorical", "control;programme", "Randomised arm"),
        "treat": ("binary", "0;1", "1 = school randomised to the programme"),
        "block": ("integer", "1-10", "Randomisation block (stratum of 4 schools by FSM share)"),
        "fsm": ("binary", "0;1", "FSM"), "send": ("binary", "0;1", "SEND"),
        "gender": ("categorical", "girl;boy", "Gender"),
        "pre_belonging": ("continuous", "1-5", "Belonging (PSSM mean) before randomisation"),
        "post_belonging": ("continuous", "1-5", "Belonging (PSSM mean) at follow-up; empty if "
                           "attrited"),
        "pre_attain": ("continuous", "", "Standardised attainment test before (~100 +/- 15)"),
        "post_attain": ("continuous", "", "Standardised attainment test at follow-up"),
        "attrited": ("binary", "0;1", "No follow-up measures"),
        "complied": ("binary", "0;1", "Pupil's school delivered the programme with fidelity "
                     "(0 for control)"),
        "dosage": ("integer", "0-12", "Programme sessions delivered"),
    }
    for var in trial.columns:
        t, a, lab = trial_info[var]
        add("trial.csv", var, lab, t, a, "pssm" if "belonging" in var else "")
    for var in pisa.columns:
        if var.startswith("W_FSTURWT"):
            add("pisa.csv.gz", var, f"Fay BRR replicate weight {var[9:]} (k = 0.5)", "weight",
                ">0")
        elif var.startswith("PV"):
            dom = "mathematics" if var.endswith("MATH") else "reading"
            add("pisa.csv.gz", var, f"Plausible value {var[2:-4]} in {dom}", "pv", "")
        elif var.startswith("ST034"):
            j = int(var[6])
            wording = "negative" if j in (1, 4, 6) else "positive"
            add("pisa.csv.gz", var, f"Belonging item {j} ({wording} wording)",
                "item", "1-4", "pisa_belong", int(j in (2, 3, 5)), "", _value_label_string("pisa"),
                "")
        else:
            t, a, lab = {
                "CNT": ("categorical", "AAA;BBB;CCC;DDD;EEE;FFF", "Country (fictional)"),
                "CNTSCHID": ("id", "", "School identifier"),
                "CNTSTUID": ("id", "", "Student identifier"),
                "ST004D01T": ("categorical", "1;2", "Gender: 1 female, 2 male"),
                "ESCS": ("continuous", "", "Economic, social and cultural status index"),
                "IMMIG": ("categorical", "1;2;3", "1 native, 2 second generation, 3 first "
                          "generation"),
                "BELONG": ("continuous", "", "Sense of belonging index (standardised item "
                           "mean, pooled mean 0 SD 1)"),
                "W_FSTUWT": ("weight", ">0", "Final student weight"),
            }[var]
            add("pisa.csv.gz", var, lab, t, a)
    return pd.DataFrame(rows)
