"""Centring predictors for multilevel models.

Grand-mean centring (subtract the overall mean) changes only what the
intercept means.  Group-mean centring (subtract the school's mean) splits a
pupil-level predictor into a within-school part and, with the school mean
added back as its own predictor, a between-school part: the standard way to
ask whether a relationship holds among pupils in the same school or only
between schools (Enders & Tofighi, 2007).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._errors import DataError
from .._validation import as_frame, as_list, require_columns, require_finite, require_numeric

__all__ = ["center"]


def center(data: pd.DataFrame, *, columns: str | Sequence[str], cluster: str | None = None) -> pd.DataFrame:
    """Return a copy of ``data`` with centred versions of ``columns`` added.

    Parameters
    ----------
    data : pandas.DataFrame
        Or a Dask DataFrame (with the ``dask`` extra), which gives a Dask DataFrame: the means are computed by
        Dask (a group-by for the cluster means), so the centred columns can enter a formula of
        :func:`~belonging_lib.models.multilevel` fitted from the same Dask DataFrame.
    columns : str or list of str
        The columns to centre.
    cluster : str, optional
        Clustering column (for example the school) for centring within cluster.  Without it,
        grand-mean centring.

    Returns
    -------
    pandas.DataFrame
        Without ``cluster``: ``<col>_cgm`` (grand-mean centred).  With ``cluster``:
        ``<col>_cwc`` (centred within cluster), ``<col>_gm`` (the cluster mean)
        and ``<col>_gm_cgm`` (the cluster mean, grand-mean centred across
        pupils).  Means ignore missing values; a missing value stays missing.

    Examples
    --------
    >>> d = pd.DataFrame({"s": [1, 1, 2, 2], "x": [1.0, 3.0, 5.0, 7.0]})
    >>> center(d, columns="x", cluster="s")[["x_cwc", "x_gm"]].to_numpy().tolist()
    [[-1.0, 2.0], [1.0, 2.0], [-1.0, 6.0], [1.0, 6.0]]
    """
    if type(data).__module__.split(".")[0] in ("dask", "dask_expr"):
        return _center_dask(data, as_list(columns), cluster)
    data = as_frame(data)
    cols = as_list(columns)
    require_columns(data, cols + as_list(cluster))
    require_numeric(data, cols)
    require_finite(data, cols, what="centring")
    out = data.copy()
    for col in cols:
        x = pd.to_numeric(out[col], errors="coerce")
        if cluster is None:
            out[f"{col}_cgm"] = x - x.mean()
        else:
            gm = x.groupby(out[cluster]).transform("mean")
            out[f"{col}_cwc"] = x - gm
            out[f"{col}_gm"] = gm
            out[f"{col}_gm_cgm"] = gm - gm.mean()
    return out


def _center_dask(data, cols: list, cluster: str | None):
    """:func:`center` on a Dask DataFrame: the same columns, the means computed by Dask."""
    import dask
    import dask.dataframe as dd

    if not isinstance(data, dd.DataFrame):
        raise DataError(f"`data` must be a pandas or a Dask DataFrame, but a {type(data).__name__} was passed.")
    meta = data._meta
    require_columns(meta, cols + as_list(cluster))
    require_numeric(meta, cols)
    infinite = dask.compute({col: np.isinf(data[col].astype(float)).sum() for col in cols})[0]
    for col in cols:
        if int(infinite[col]):
            raise DataError(
                f"The column {col!r} holds infinite values in {int(infinite[col])} rows, so its mean "
                "(for centring) is undefined; correct or exclude those rows."
            )
    out = data
    for col in cols:
        x = out[col].astype(float)
        if cluster is None:
            out = out.assign(**{f"{col}_cgm": x - x.mean()})
            continue
        means = data[[cluster, col]].groupby(cluster)[col].mean().rename(f"{col}_gm").to_frame()
        joined = out.merge(means, left_on=cluster, right_index=True, how="left")
        gm = joined[f"{col}_gm"]
        out = joined.drop(columns=[f"{col}_gm"]).assign(
            **{f"{col}_cwc": joined[col].astype(float) - gm, f"{col}_gm": gm, f"{col}_gm_cgm": gm - gm.mean()}
        )
    return out
