"""Multilevel models from a Dask DataFrame (the ``dask`` extra): equal to the in-memory fit to 1e-9.

The data are written to Parquet in several files, pupils in random school order, so a school's pupils
span partitions (and workers) and the Dask group-by must sum a school's blocks across them.  The
cluster's two workers are threads of this process (worker processes take seconds to start on a
busy machine); that what a task carries survives pickling, as it must between processes or
machines, is checked on its own (``bench/bench_dask.py`` runs worker processes).
"""

from __future__ import annotations


import dask.dataframe as dd  # the dask extra: `make` installs it, so CI runs these tests (no skip)
import numpy as np
import pandas as pd
import pytest

import belonging_lib as bl
from belonging_lib._errors import ColumnError, DataError, ModelError
from belonging_lib.models import _lmm
from belonging_lib.models.multilevel import multilevel

RTOL = 1e-9


def _pupils(seed: int = 3, n_schools: int = 60, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_schools, n)
    d = pd.DataFrame(
        {
            "school": np.array([f"0{k:03d}" for k in g]),  # IDs stay text (a leading zero)
            "ses": rng.normal(size=n),
            "fsm": rng.integers(0, 2, n).astype(bool),
            "year": rng.choice(["y7", "y8", "y9"], n),
            "band": pd.Categorical(rng.choice(["high", "low", "mid"], n), categories=["low", "mid", "high"]),
        }
    )
    u0, u1 = rng.normal(0, 0.5, n_schools), rng.normal(0, 0.3, n_schools)
    d["belonging"] = (
        1 + 0.4 * d["ses"] + u0[g] + u1[g] * d["ses"] + 0.2 * d["fsm"] + 0.1 * d["band"].cat.codes + rng.normal(size=n)
    )
    d.loc[[4, 17, 250], "ses"] = np.nan
    d.loc[[9], "belonging"] = np.nan
    return d


@pytest.fixture(scope="module")
def pupils(tmp_path_factory):
    d = _pupils()
    path = tmp_path_factory.mktemp("parquet") / "pupils"
    path.mkdir()
    for k, part in enumerate(np.array_split(np.arange(len(d)), 5)):  # rows in file order, schools mixed
        d.iloc[part].to_parquet(path / f"part{k}.parquet")
    ddf = dd.read_parquet(path)
    assert ddf.npartitions == 5
    return d, ddf


def _close(a, b, what):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, what
    np.testing.assert_allclose(b, a, rtol=RTOL, atol=1e-13, err_msg=what)


def _same_fit(mem, dist):
    assert list(mem.fixed.index) == list(dist.fixed.index)
    assert list(mem.variance.index) == list(dist.variance.index)
    for col in ("estimate", "se", "df", "statistic", "p", "ci_low", "ci_high"):
        _close(mem.fixed[col], dist.fixed[col], col)
    for col in ("variance", "sd", "corr"):
        _close(mem.variance[col], dist.variance[col], col)
    for name in ("icc", "loglik", "aic", "bic", "r2_marginal", "r2_conditional"):
        _close(getattr(mem, name), getattr(dist, name), name)
    assert (mem.n, mem.n_excluded, mem.n_clusters) == (dist.n, dist.n_excluded, dist.n_clusters)
    assert mem.ledger.to_frame()[["step", "n_in", "n_out"]].equals(dist.ledger.to_frame()[["step", "n_in", "n_out"]])
    assert (mem.boundary, mem.converged, mem.reml) == (dist.boundary, dist.converged, dist.reml)


def test_schools_span_partitions(client, pupils):
    d, ddf = pupils
    per_part = ddf.map_partitions(lambda p: p[["school"]].drop_duplicates(), meta={"school": str}).compute()
    assert per_part["school"].duplicated().any()  # a school's pupils are in more than one partition


def test_random_intercept_equals_the_in_memory_fit(client, pupils):
    d, ddf = pupils
    formula = "belonging ~ ses + fsm + C(year) + band"
    mem = multilevel(d, formula, cluster="school")
    dist = multilevel(ddf, formula, cluster="school")
    _same_fit(mem, dist)
    assert mem.n_excluded == 4
    assert "Dask" in dist.method
    # the fixed effects agree far more closely than the 1e-9 asked for: only the order of the sums differs
    assert dist.fixed.loc["ses", "estimate"] == pytest.approx(mem.fixed.loc["ses", "estimate"], rel=1e-12)


def test_ml_fit_equals_the_in_memory_fit(client, pupils):
    d, ddf = pupils
    mem = multilevel(d, "belonging ~ ses + np.log(1 + ses**2)", cluster="school", reml=False)
    dist = multilevel(ddf, "belonging ~ ses + np.log(1 + ses**2)", cluster="school", reml=False)
    _same_fit(mem, dist)


@pytest.mark.parametrize("random", ["~ ses", "(1 + ses || school)"])
def test_random_slope_equals_the_in_memory_fit(client, pupils, random):
    d, ddf = pupils
    mem = multilevel(d, "belonging ~ ses + fsm", cluster="school", random=random)
    dist = multilevel(ddf, "belonging ~ ses + fsm", cluster="school", random=random)
    _same_fit(mem, dist)
    assert mem.variance.loc["school: ses", "variance"] > 0.02


def test_the_blocks_are_the_engines_blocks(client, pupils):
    """The group-by's per-school blocks are those the engine builds from the rows in memory."""
    from belonging_lib.models import _distributed
    from belonging_lib.models.multilevel import _random_terms

    d, ddf = pupils
    desc, cols = _random_terms("~ ses", ddf._meta, "school")
    blk = _distributed.cluster_blocks(ddf, "belonging ~ ses + C(year)", "school", desc, "~ ses", cols)
    full = d.dropna(subset=["belonging", "ses"])
    codes, labels = pd.factorize(full["school"], sort=True)
    X = np.column_stack([np.ones(len(full)), full["year"] == "y8", full["year"] == "y9", full["ses"]]).astype(float)
    Z = np.column_stack([np.ones(len(full)), full["ses"]])
    ztz, ztw, wtw = _lmm.cluster_cross_products(full["belonging"], X, Z, codes, len(labels))
    assert list(blk.labels) == list(labels)
    _close(ztz, blk.ztz, "Z'Z")
    _close(ztw, blk.ztw, "Z'[X y]")
    _close(wtw, blk.wtw, "[X y]'[X y]")


def test_a_task_s_arguments_survive_pickling(pupils):
    """Between processes a task's arguments are pickled: patsy's designs cannot be, so a task carries
    the formula's text and the template of levels, and rebuilds the same blocks after a round trip."""
    import cloudpickle

    from belonging_lib.models import _distributed

    d, _ = pupils
    part = d.dropna(subset=["belonging", "ses"]).iloc[:700]
    template = _distributed._template(
        part,
        ["belonging", "ses", "year", "school"],
        {"year": ["y7", "y8", "y9"], "school": sorted(part["school"].unique())},
    )
    args = ("belonging ~ ses + C(year)", ("~ 1 + ses",), template, "school", _distributed.block_width(4, 2))
    here = _distributed._partition_blocks(part, *args)
    there = cloudpickle.loads(cloudpickle.dumps((_distributed._partition_blocks, part, args)))
    again = there[0](there[1], *there[2])
    pd.testing.assert_frame_equal(here, again)
    assert len(here) == part["school"].nunique()


def test_without_a_client_dask_s_own_scheduler_gives_the_same_fit(pupils):
    d, ddf = pupils
    mem = multilevel(d, "belonging ~ ses", cluster="school")
    import dask

    with dask.config.set(scheduler="synchronous"):
        _same_fit(mem, multilevel(ddf, "belonging ~ ses", cluster="school"))


# --------------------------------------------------------------------------- what is refused, and why


def test_weights_are_refused_with_the_reason(client, pupils):
    d, ddf = pupils
    ddf = ddf.assign(w=1.0, sw=1.0)
    with pytest.raises(ModelError, match="weighted multilevel model.*not fitted from a Dask DataFrame.*sandwich"):
        multilevel(ddf, "belonging ~ ses", cluster="school", weights={"pupil": "w", "school": "sw"})


def test_three_levels_are_refused_with_the_reason(client, pupils):
    d, ddf = pupils
    with pytest.raises(ModelError, match="Three-level models.*class sums"):
        multilevel(ddf, "belonging ~ ses", cluster=["school", "year"])


def test_a_stateful_transform_is_refused_and_centring_is_advised(client, pupils):
    d, ddf = pupils
    with pytest.raises(ModelError, match=r"'center\(ses\)'.*whole data.*center\(ddf"):
        multilevel(ddf, "belonging ~ center(ses)", cluster="school")


def test_a_text_outcome_a_series_and_an_unknown_column_are_refused(client, pupils):
    d, ddf = pupils
    with pytest.raises(DataError, match="outcome 'year' must be numeric"):
        multilevel(ddf, "year ~ ses", cluster="school")
    with pytest.raises(DataError, match="pandas or a Dask DataFrame"):
        multilevel(ddf["ses"], "belonging ~ ses", cluster="school")
    with pytest.raises(Exception, match="not a column"):
        multilevel(ddf, "belonging ~ ses", cluster="schl")


def test_collinear_predictors_and_one_row_per_school_are_refused(client, pupils):
    d, ddf = pupils
    with pytest.raises(ModelError, match="perfectly collinear.*ses2"):
        multilevel(ddf.assign(ses2=ddf["ses"] * 2), "belonging ~ ses + ses2", cluster="school")
    single = dd.from_pandas(d.assign(school=[f"s{i}" for i in range(len(d))]), npartitions=2)
    with pytest.raises(ModelError, match="single row"):
        multilevel(single, "belonging ~ ses", cluster="school")


def test_categories_that_differ_between_partitions_are_refused(client):
    parts = [
        pd.DataFrame(
            {"s": ["a", "a", "b", "b"], "y": [1.0, 2, 3, 5], "c": pd.Categorical(["u", "v", "u", "v"], categories=cats)}
        )
        for cats in (["u", "v"], ["v", "u"])
    ]
    ddf = dd.from_pandas(parts[0], npartitions=1)
    ddf = dd.concat([ddf, dd.from_pandas(parts[1], npartitions=1)])
    ddf = ddf.assign(c=ddf["c"].cat.as_unknown())
    with pytest.raises(DataError, match="'c' has different categories in different partitions"):
        multilevel(ddf, "y ~ c", cluster="s")


def test_centring_within_schools_runs_on_dask_and_feeds_the_fit(client, pupils):
    """Centring within cluster needs each school's mean over all its partitions: computed by Dask."""
    d, ddf = pupils
    mem = bl.models.center(d, columns="ses", cluster="school")
    lazy = bl.models.center(ddf, columns="ses", cluster="school")
    got = lazy.compute().loc[mem.index]
    assert list(got.columns) == list(mem.columns)
    for col in ("ses_cwc", "ses_gm", "ses_gm_cgm"):
        _close(mem[col], got[col], col)
    formula = "belonging ~ ses_cwc + ses_gm_cgm"
    _same_fit(multilevel(mem, formula, cluster="school"), multilevel(lazy, formula, cluster="school"))
    _close(
        bl.models.center(d, columns="ses")["ses_cgm"],
        bl.models.center(ddf, columns="ses").compute().loc[d.index, "ses_cgm"],
        "ses_cgm",
    )


def test_a_survey_design_of_a_dask_frame_refuses_what_needs_every_row(pupils):
    from belonging_lib.survey import SurveyDesign

    d, ddf = pupils
    des = SurveyDesign(ddf.assign(W=1.0, RW1=1.0, RW2=2.0), weight="W", replicates="RW")  # tests/test_survey_dask.py
    with pytest.raises(DataError, match=r"only mean\(\) and regress\(\).*ddf\[columns\]\.compute\(\)"):
        des.percentile("belonging", 50)


def test_a_term_that_is_not_finite_is_named_with_its_rows(client, pupils):
    d, ddf = pupils
    complete = d.dropna(subset=["belonging", "ses"])
    bad = int(((1 + complete["ses"]) <= 0).sum())
    assert bad > 0
    with pytest.raises(DataError, match=rf"'np.log\(1 \+ ses\)' of the model is not a finite number in {bad} complete"):
        multilevel(ddf, "belonging ~ np.log(1 + ses)", cluster="school")
    with pytest.raises(ColumnError, match=r"np.log\(1 \+ ses\)"):  # the in-memory fit refuses it too
        multilevel(d, "belonging ~ np.log(1 + ses)", cluster="school")


def test_a_categorical_cluster_column_with_unused_categories(client, pupils):
    """Schools are the clusters with pupils: a category without rows is not a cluster."""
    d, ddf = pupils
    schools = sorted(d["school"].unique()) + ["9999"]
    ddf = ddf.assign(school=ddf["school"].astype(pd.CategoricalDtype(schools)))
    mem = multilevel(d, "belonging ~ ses", cluster="school")
    _same_fit(mem, multilevel(ddf, "belonging ~ ses", cluster="school"))
