"""SurveyDesign on a Dask DataFrame (the ``dask`` extra): means and regressions equal the in-memory design.

The pupils are written to Parquet in several files in random order, so each group and each missing
value is spread over partitions (and the two workers).  Every number of the table (estimate, se,
df, interval, Rubin's variances) must equal the pandas design's to 1e-9, and the counts (``n``,
``n_excluded``, the ledger) exactly.
"""

from __future__ import annotations


import dask.dataframe as dd  # the dask extra: `make` installs it, so CI runs these tests (no skip)
import numpy as np
import pandas as pd
import pytest

from belonging_lib._errors import DataError, ModelError
from belonging_lib.disclosure import DisclosurePolicy
from belonging_lib.survey import SurveyDesign

RTOL = 1e-9
N_REP = 8


def _pupils(seed: int = 11, n: int = 2400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "school": np.array([f"0{k:03d}" for k in rng.integers(0, 40, n)]),  # IDs stay text
            "country": rng.choice(["DNK", "FIN", "NOR"], n, p=[0.4, 0.35, 0.25]),
            "year": rng.choice(["y7", "y8", "y9"], n),
            "fsm": rng.integers(0, 2, n),
            "escs": rng.normal(size=n),
            "W": rng.uniform(5, 40, n),
        }
    )
    sign = np.where(rng.random((n, N_REP)) < 0.5, 1.0, -1.0)
    for r in range(N_REP):
        d[f"RW{r + 1}"] = d["W"] * (1 + 0.5 * sign[:, r])
    for m in range(5):
        d[f"PV{m + 1}MATH"] = 480 + 30 * d["escs"] + 10 * d["fsm"] + rng.normal(0, 80, n)
    d["belong"] = 0.2 * d["escs"] + 0.1 * (d["year"] == "y9") + rng.normal(size=n)
    # missing values spread over every partition: an analysis variable, a plausible value, a group
    d.loc[rng.choice(n, 40, replace=False), "escs"] = np.nan
    d.loc[rng.choice(n, 15, replace=False), "PV3MATH"] = np.nan
    d.loc[rng.choice(n, 12, replace=False), "country"] = None
    # a group of nine pupils (withheld by the disclosure rules), one of whom misses escs
    small = rng.choice(n, 9, replace=False)
    d.loc[small, "country"] = "ISL"
    d.loc[small[0], "escs"] = np.nan
    return d


@pytest.fixture(scope="module")
def pupils(tmp_path_factory):
    d = _pupils()
    path = tmp_path_factory.mktemp("parquet") / "pupils"
    path.mkdir()
    for k, part in enumerate(np.array_split(np.arange(len(d)), 4)):
        d.iloc[part].to_parquet(path / f"part{k}.parquet")
    ddf = dd.read_parquet(path)
    assert ddf.npartitions == 4
    # the missing values are in several partitions
    per_part = ddf.map_partitions(lambda p: p[["escs"]].isna().sum().to_frame().T, meta={"escs": "i8"}).compute()
    assert (per_part["escs"] > 0).sum() >= 3
    return d, ddf


def _designs(pupils):
    d, ddf = pupils
    kw = dict(weight="W", replicates="RW", pv="auto")
    return SurveyDesign(d, **kw), SurveyDesign(ddf, **kw)


def _same(mem, dist):
    a, b = mem.to_frame(disclosure=False), dist.to_frame(disclosure=False)
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for col in a.columns:
        if col in ("n", "n_excluded"):
            assert a[col].tolist() == b[col].tolist(), col
        elif pd.api.types.is_float_dtype(a[col]):
            np.testing.assert_allclose(b[col], a[col], rtol=RTOL, atol=1e-12, err_msg=col)
        else:
            assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), col
    assert (mem.n, mem.n_excluded) == (dist.n, dist.n_excluded)
    cols = ["step", "n_in", "n_out"]
    assert mem.ledger.to_frame()[cols].equals(dist.ledger.to_frame()[cols])


def test_the_design_reads_the_dask_frame(client, pupils):
    mem, dist = _designs(pupils)
    assert repr(dist) == repr(mem)
    assert dist.pv == mem.pv and dist.replicates == mem.replicates and dist.scale == mem.scale


@pytest.mark.parametrize("by", [None, "country", ["country", "year"]])
def test_the_mean_of_plausible_values_equals_the_in_memory_mean(client, pupils, by):
    mem, dist = _designs(pupils)
    a, b = mem.mean("MATH", by=by), dist.mean("MATH", by=by)
    _same(a, b)
    assert a.n_excluded > 0


def test_the_mean_of_a_column_equals_the_in_memory_mean(client, pupils):
    mem, dist = _designs(pupils)
    _same(mem.mean("escs", by="country"), dist.mean("escs", by="country"))
    _same(mem.mean("belong", ci_level=0.9), dist.mean("belong", ci_level=0.9))


@pytest.mark.parametrize(
    "formula, by",
    [
        ("MATH ~ escs + fsm", None),
        ("MATH ~ escs + C(fsm) + year", "country"),
        ("belong ~ MATH + escs", None),  # a plausible-value predictor: one design per plausible value
        ("belong ~ MATH * fsm + year + np.log(W)", "country"),
    ],
)
def test_the_regression_equals_the_in_memory_regression(client, pupils, formula, by):
    mem, dist = _designs(pupils)
    a, b = mem.regress(formula, by=by), dist.regress(formula, by=by)
    _same(a, b)
    assert a.n_excluded > 0


def test_a_factor_level_missing_from_a_group_is_left_out_there_as_in_memory(client, pupils):
    d, ddf = pupils
    d = d.copy()
    d.loc[(d["country"] == "NOR") & (d["year"] == "y9"), "year"] = "y8"
    kw = dict(weight="W", replicates="RW", pv="auto")
    a = SurveyDesign(d, **kw).regress("MATH ~ escs + year", by="country")
    b = SurveyDesign(dd.from_pandas(d, npartitions=3), **kw).regress("MATH ~ escs + year", by="country")
    _same(a, b)
    assert "year[T.y9]" not in set(a.table.loc[a.table["country"] == "NOR", "term"])


def test_a_group_whose_pupils_all_miss_a_value_is_counted(client, pupils):
    d, _ = pupils
    d = d.copy()
    d.loc[d["country"] == "FIN", "belong"] = np.nan
    kw = dict(weight="W", replicates="RW", pv="auto")
    ddf = dd.from_pandas(d, npartitions=3)
    for call in (lambda s: s.mean("belong", by="country"), lambda s: s.regress("belong ~ escs", by="country")):
        a, b = call(SurveyDesign(d, **kw)), call(SurveyDesign(ddf, **kw))
        _same(a, b)
        assert a.table.loc[a.table["country"] == "FIN", "n"].eq(0).all()


def test_small_groups_and_their_complement_are_withheld(client, pupils):
    mem, dist = _designs(pupils)
    policy = DisclosurePolicy(threshold=10)
    a = mem.mean("MATH", by="country").disclosed(policy=policy, context=False)
    res = dist.mean("MATH", by="country")
    b = res.disclosed(policy=policy)
    assert b.mask.equals(a.mask)
    assert b.mask.any(axis=1).sum() >= 2  # the group of nine and one other (its complement)
    assert any("not checked against the output's other tables" in line for line in res.notes())
    reg = dist.regress("MATH ~ escs", by="country").disclosed(policy=policy)
    assert reg.mask.equals(mem.regress("MATH ~ escs", by="country").disclosed(policy=policy, context=False).mask)


def test_a_disclosure_context_is_told_that_the_groups_are_not_matched(client, pupils):
    from belonging_lib import BelongingWarning
    from belonging_lib.disclosure import context

    _, dist = _designs(pupils)
    res = dist.mean("MATH", by="country")
    with pytest.warns(BelongingWarning, match="neither checked against the disclosure context"):
        res.disclosed(policy=DisclosurePolicy(threshold=10), context=context())
    with context(), pytest.warns(BelongingWarning, match="nor recorded in it"):
        dist.regress("MATH ~ escs", by="country").disclosed(policy=DisclosurePolicy(threshold=10))
    with pytest.raises(DataError, match="must be a DisclosureContext"):
        res.disclosed(policy=DisclosurePolicy(threshold=10), context="yes")
    assert any("nor recorded for the tables checked after it" in line for line in res.notes())


def test_the_other_methods_are_refused_with_what_to_do(client, pupils):
    _, dist = _designs(pupils)
    calls = {
        "percent": lambda: dist.percent("fsm"),
        "percentile": lambda: dist.percentile("MATH", 50),
        "corr": lambda: dist.corr("MATH", "escs"),
        "diff": lambda: dist.diff("MATH", by="fsm"),
        "multilevel": lambda: dist.multilevel("MATH ~ escs", cluster="school", school_weight="W"),
    }
    for name, call in calls.items():
        with pytest.raises(DataError, match=rf"{name}\(\).*only mean\(\) and regress\(\).*ddf\[columns\]\.compute"):
            call()


def test_bad_weights_are_refused_as_in_memory(client, pupils):
    d, _ = pupils
    kw = dict(weight="W", replicates="RW")
    for change, match in [
        (lambda x: x.assign(RW3=x["RW3"].where(x.index != 1500, -2.0)), r"'RW3' holds \S*-2\.0\S* at row 1500"),
        (lambda x: x.assign(W=x["W"].where(x.index != 1900)), r"'W' holds \S*nan\S* at row 1900"),
        (
            lambda x: x.assign(W=x["W"].where(~x.index.isin([700, 2100]), 0.0)),
            r"2 pupils have final weight 0.*rows 701, 2101",
        ),
        (lambda x: x.assign(**{f"RW{r + 1}": x["W"] for r in range(N_REP)}), "carry no variance"),
    ]:
        bad = change(d)
        with pytest.raises(DataError, match=match) as mem:
            SurveyDesign(bad, **kw)
        with pytest.raises(DataError, match=match) as dist:
            SurveyDesign(dd.from_pandas(bad, npartitions=3), **kw)
        assert str(dist.value) == str(mem.value)


def test_an_empty_plausible_value_and_a_text_outcome_are_refused(client, pupils):
    d, ddf = pupils
    with pytest.raises(DataError, match="'PV2MATH' of 'MATH' is empty"):
        SurveyDesign(dd.from_pandas(d.assign(PV2MATH=np.nan), npartitions=2), weight="W", replicates="RW", pv="auto")
    _, dist = _designs(pupils)
    with pytest.raises(DataError, match="'year' must be numeric"):
        dist.mean("year")
    with pytest.raises(ModelError, match=r"'center\(escs\)'.*whole data"):
        dist.regress("MATH ~ center(escs)")


def test_a_predictor_that_does_not_vary_in_a_group_is_an_error(client, pupils):
    d, _ = pupils
    d = d.assign(one=1.0)
    kw = dict(weight="W", replicates="RW", pv="auto")
    with pytest.raises(ModelError, match="cannot be estimated in the data"):
        SurveyDesign(d, **kw).regress("MATH ~ escs + one")
    with pytest.raises(ModelError, match="cannot be estimated in the data"):
        SurveyDesign(dd.from_pandas(d, npartitions=2), **kw).regress("MATH ~ escs + one")


@pytest.mark.parametrize("shared", [True, False])
def test_the_sums_with_the_intercept_s_repeats_copied_equal_the_sums_multiplied(shared):
    # the intercept's products with itself and with each outcome are copied, not multiplied (both paths)
    from belonging_lib.survey._weighted import _wls_sums

    rng = np.random.default_rng(8)
    n, M = 5000, 4
    W = rng.uniform(1, 3, (n, 6))
    Y = rng.normal(500, 90, (n, M))
    X = np.column_stack([rng.normal(size=n), np.ones(n), rng.normal(3, 2, n)])  # the intercept second
    Xs = [X] if shared else [X + np.outer(rng.normal(size=n), [1, 0, 0]) for _ in range(M)]
    ones = np.array([False, True, False])
    shifts = [np.where(ones, 0.0, x.mean(axis=0)) for x in Xs]
    ybar = Y.mean(axis=0)
    copied = _wls_sums(W, Xs, Y, shifts, ybar, ones)
    multiplied = _wls_sums(W, Xs, Y, shifts, ybar)
    np.testing.assert_allclose(copied, multiplied, rtol=1e-13, atol=1e-9)
    # a column of ones in the first design matrix only is multiplied like any other
    if not shared:
        Xs[1] = Xs[1].copy()
        Xs[1][:, 1] = 2.0
        np.testing.assert_allclose(
            _wls_sums(W, Xs, Y, shifts, ybar, ones), _wls_sums(W, Xs, Y, shifts, ybar), rtol=1e-13
        )


def test_without_a_client_and_with_what_a_task_carries_pickled(pupils, monkeypatch):
    # Dask's own scheduler runs it too, and a task's arguments survive pickling, as they must between
    # worker processes (the cluster above runs its workers as threads)
    import pickle

    import dask

    from belonging_lib.survey import _dask

    mem, dist = _designs(pupils)
    carried = []
    sums = _dask._regress_sums

    def pickled(part, *args):
        carried.append(len(pickle.dumps(args)))
        return sums(part, *pickle.loads(pickle.dumps(args)))

    monkeypatch.setattr(_dask, "_regress_sums", pickled)
    with dask.config.set(scheduler="synchronous"):
        _same(mem.regress("MATH ~ escs + year", by="country"), dist.regress("MATH ~ escs + year", by="country"))
        _same(mem.mean("MATH"), dist.mean("MATH"))
    assert len(carried) >= 2  # one task per partition (Dask may join the files of a few columns): sums added
