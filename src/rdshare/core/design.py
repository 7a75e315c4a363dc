"""From a validated dataset to the arrays the model reads (numpy only).

Every fitted row becomes one element of a latent vector ``v`` on its target's scale (``logit f``, the log of a
contrast ratio, or ``log(1 - d)``; :mod:`rdshare.core.kinds`). The model (``docs/model.md``) is

    v = X theta + Z_lab u + Z_programme w_p + Z_estimator w_e + L e

- ``theta`` the fixed effects (:data:`FIXED`): ``logit f_frontier``, the scope and era shifts, ``log(1 - d)``
  for followers, and the offset of each unit other than FLOP;
- ``u``, ``w_p``, ``w_e`` the lab, programme and estimator effects, Normal(0, sigma) each;
- ``e`` one noise term per row, Normal(0, sqrt(s^2 + sigma_meas[provenance]^2)).

A contrast row loads +1 on its own programme's terms and -1 on its versus row's, and -1 on the versus
row's noise when that row is fitted (the two figures share its error); the estimator effect cancels.
A discount row loads 1 on ``log(1 - d)`` and on its programme effect. Gaussian rows observe their element
of ``v``; bound rows only say it lies above (direction +1) or below (-1) a bound ``b``.

Marginally ``v ~ MVN(X theta, C)`` with ``C = K0 + sum_k tau_k^2 K[k]``: ``K0`` holds the rows' stated
uncertainty ``s`` and each ``K[k]`` the structure of one scale (:data:`SCALES`), so the covariance is the same
few lines in numpy and in PyTensor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from rdshare.core.kinds import KINDS, PROVENANCES, interval_sd, logit
from rdshare.core.quantities import GROUP_SCALES, OFFSETS, REF_YEAR, SIGMA_MEAS

__all__ = [
    "FIXED",
    "NEUTRAL_SD",
    "REF_YEAR",
    "SCALES",
    "Covariates",
    "Design",
    "build",
    "from_dataset",
    "interval_sd",
    "logit",
]

#: The fixed effects, in the order of :attr:`Design.X`'s columns.
FIXED: tuple[str, ...] = (
    "alpha",
    "beta_pretraining",
    "beta_posttraining",
    "beta_era",
    "log_keep",
    *OFFSETS.values(),
)
#: The scales of the covariance, in the order of :attr:`Design.K`.
SCALES: tuple[str, ...] = (*GROUP_SCALES, *SIGMA_MEAS)
#: The stated sd that makes a Gaussian row uninformative (and how far a bound is moved) when a row is
#: left out without changing the design's shapes (exact refits in LOO and leave-one-lab-out).
NEUTRAL_SD = 1e3


@dataclass(frozen=True)
class Covariates:
    """The covariates of programmes (one entry per row): scope, era, position and unit.

    ``era`` is ``year - REF_YEAR``; the others are 0/1 indicators (``unit`` is a unit name).
    """

    pretraining: np.ndarray
    posttraining: np.ndarray
    era: np.ndarray
    follower: np.ndarray
    unit: tuple[str, ...] = ()

    @classmethod
    def one(
        cls,
        position: str = "leader",
        scope: str = "full",
        year: int = REF_YEAR,
        unit: str | None = None,
    ) -> Covariates:
        """The covariates of a single programme (``unit`` None or ``flop``: the FLOP share)."""
        return cls(
            pretraining=np.array([float(scope == "pretraining")]),
            posttraining=np.array([float(scope == "posttraining")]),
            era=np.array([float(year - REF_YEAR)]),
            follower=np.array([float(position == "follower")]),
            unit=(unit or "flop",),
        )

    def fixed_rows(self) -> np.ndarray:
        """Rows of the fixed-effect matrix (one per programme, columns :data:`FIXED`)."""
        n = len(self.follower)
        units = self.unit or ("flop",) * n
        out = np.zeros((n, len(FIXED)))
        out[:, 0] = 1.0
        out[:, 1] = self.pretraining
        out[:, 2] = self.posttraining
        out[:, 3] = self.era
        out[:, 4] = self.follower
        for j, unit in enumerate(OFFSETS, start=5):
            out[:, j] = [float(u == unit) for u in units]
        return out


@dataclass(frozen=True)
class Design:
    """The model's inputs for the fitted rows.

    Per-row arrays have one entry per fitted row (``row_ids``, the dataset's order). ``gauss_idx`` and
    ``bound_idx`` pick the rows of each likelihood form; ``f_idx`` the rows whose target is a share f.
    """

    row_ids: tuple[str, ...]
    targets: tuple[str, ...]
    labs: tuple[str, ...]
    programmes: tuple[str, ...]
    estimators: tuple[str, ...]
    #: fixed-effect design, rows x FIXED
    X: np.ndarray
    #: loadings of the lab, programme and estimator effects
    Z_lab: np.ndarray
    Z_programme: np.ndarray
    Z_estimator: np.ndarray
    #: noise loadings (rows x rows): a row's own noise, and -1 on a fitted versus row's
    L: np.ndarray
    #: each row's provenance index, stated sd, and (contrasts against an unfitted row) the versus
    #: row's provenance (-1: none) and stated sd
    prov_idx: np.ndarray
    s: np.ndarray
    extra_prov: np.ndarray
    extra_s: np.ndarray
    #: covariates of each row's own programme (the A side of a contrast)
    x: Covariates
    lab_idx: np.ndarray
    programme_idx: np.ndarray
    #: observations
    gauss_idx: np.ndarray
    y: np.ndarray
    bound_idx: np.ndarray
    b: np.ndarray
    bound_dir: np.ndarray
    f_idx: np.ndarray

    # -- sizes and names ---------------------------------------------------------------------------

    @property
    def n_rows(self) -> int:
        return len(self.row_ids)

    @property
    def n_labs(self) -> int:
        return len(self.labs)

    @property
    def gauss_ids(self) -> tuple[str, ...]:
        return tuple(self.row_ids[i] for i in self.gauss_idx)

    @property
    def bound_ids(self) -> tuple[str, ...]:
        return tuple(self.row_ids[i] for i in self.bound_idx)

    @property
    def f_ids(self) -> tuple[str, ...]:
        return tuple(self.row_ids[i] for i in self.f_idx)

    # -- covariance pieces (computed from the arrays above, so copies stay consistent) -----------------

    @cached_property
    def K0(self) -> np.ndarray:
        """The stated-uncertainty part of the covariance: ``L diag(s^2) L' + diag(extra_s^2)``."""
        return (self.L * self.s**2) @ self.L.T + np.diag(self.extra_s**2)

    @cached_property
    def K(self) -> np.ndarray:
        """One matrix per scale in :data:`SCALES`: ``C = K0 + sum_k tau_k^2 K[k]``."""
        out = [self.Z_lab @ self.Z_lab.T, self.Z_programme @ self.Z_programme.T]
        out.append(self.Z_estimator @ self.Z_estimator.T)
        for p in range(len(PROVENANCES)):
            own = (self.L * (self.prov_idx == p)) @ self.L.T
            out.append(own + np.diag((self.extra_prov == p).astype(float)))
        return np.stack(out)

    # -- copies ------------------------------------------------------------------------------------

    def with_observations(self, y: np.ndarray, at_least: np.ndarray) -> Design:
        """A copy with new Gaussian observations and bound outcomes (same structure).

        ``at_least[k]`` True means bound row k's latent value is at or above ``b``; False, below.
        """
        y = np.asarray(y, dtype=float)
        at_least = np.asarray(at_least, dtype=bool)
        if y.shape != self.y.shape or at_least.shape != self.b.shape:
            raise ValueError("new observations must keep the design's shapes")
        return replace(self, y=y, bound_dir=np.where(at_least, 1, -1).astype(np.int64))

    def without(self, rows) -> Design:
        """A copy in which the rows ``rows`` (positions) carry no information, same shapes.

        A Gaussian row's stated sd becomes :data:`NEUTRAL_SD` (so its noise swamps it, and a contrast that
        shares its noise loses it too). A bound row's sd becomes :data:`NEUTRAL_SD` as well and its bound
        moves ten times that away on its open side, ten of its new sds, so it never binds (the probability
        that it does is below 1e-23). Used for exact leave-one-out and leave-one-lab-out refits on the
        compiled model.
        """
        s, b = self.s.copy(), self.b.copy()
        for r in np.atleast_1d(rows):
            s[r] = NEUTRAL_SD
            k = np.flatnonzero(self.bound_idx == r)
            if k.size:
                b[k[0]] = -10 * NEUTRAL_SD * self.bound_dir[k[0]]
        return replace(self, s=s, b=b)


def _group_index(values: list[str]) -> tuple[tuple[str, ...], dict[str, int]]:
    names = tuple(dict.fromkeys(values))
    return names, {n: i for i, n in enumerate(names)}


def build(table: pd.DataFrame, *, all_rows: pd.DataFrame | None = None) -> Design:
    """Design arrays from the fitted rows of a validated table.

    ``all_rows`` (default ``table``) is where a contrast's versus row is looked up when it is not itself
    fitted (a dataset's full table, excluded rows included).
    """
    t = table.reset_index(drop=True)
    every = (all_rows if all_rows is not None else t).set_index("id", drop=False)
    pos = {rid: i for i, rid in enumerate(t["id"])}
    n = len(t)

    def programme_of(r) -> str:
        return r["programme"] if r.get("programme", "") else r["id"]

    def estimator_of(r) -> str:
        return r["estimator"] if r.get("estimator", "") else r["id"]

    versus = [every.loc[r["versus"]] if r.get("versus", "") else None for _, r in t.iterrows()]
    lab_names, lab_pos = _group_index(
        [r["lab"] for _, r in t.iterrows()] + [v["lab"] for v in versus if v is not None]
    )
    prog_names, prog_pos = _group_index(
        [programme_of(r) for _, r in t.iterrows()]
        + [programme_of(v) for v in versus if v is not None]
    )
    est_names, est_pos = _group_index([estimator_of(r) for _, r in t.iterrows()])
    prov = {p: i for i, p in enumerate(PROVENANCES)}

    def covariates(rows) -> Covariates:
        return Covariates(
            pretraining=np.array([float(r["scope"] == "pretraining") for r in rows]),
            posttraining=np.array([float(r["scope"] == "posttraining") for r in rows]),
            era=np.array([float(r["year"]) - REF_YEAR for r in rows], dtype=float),
            follower=np.array([float(r["position"] == "follower") for r in rows]),
            unit=tuple(str(r["unit"]) for r in rows),
        )

    rows = [r for _, r in t.iterrows()]
    x = covariates(rows)
    own = x.fixed_rows()
    X = np.zeros((n, len(FIXED)))
    Z_lab = np.zeros((n, len(lab_names)))
    Z_prog = np.zeros((n, len(prog_names)))
    Z_est = np.zeros((n, len(est_names)))
    L = np.eye(n)
    s = np.zeros(n)
    extra_prov = np.full(n, -1, dtype=np.int64)
    extra_s = np.zeros(n)
    reductions = [KINDS[r["kind"]].reduce(r) for r in rows]
    for i, (r, red, vs) in enumerate(zip(rows, reductions, versus, strict=True)):
        s[i] = red.s
        if red.target == "discount":
            X[i, FIXED.index("log_keep")] = 1.0
            Z_prog[i, prog_pos[programme_of(r)]] = 1.0
            continue
        X[i] = own[i]
        Z_lab[i, lab_pos[r["lab"]]] += 1.0
        Z_prog[i, prog_pos[programme_of(r)]] += 1.0
        if red.target == "f":
            Z_est[i, est_pos[estimator_of(r)]] = 1.0
            continue
        # a contrast: this programme against the versus row's, from one study (the estimator cancels)
        X[i] -= covariates([vs]).fixed_rows()[0]
        Z_lab[i, lab_pos[vs["lab"]]] -= 1.0
        Z_prog[i, prog_pos[programme_of(vs)]] -= 1.0
        if vs["id"] in pos:
            L[i, pos[vs["id"]]] = -1.0
        else:
            extra_prov[i] = prov[vs["provenance"]]
            vred = KINDS[vs["kind"]].reduce(vs)
            extra_s[i] = vred.s
    is_bound = np.array([red.form == "bound" for red in reductions], dtype=bool)
    gauss_idx = np.flatnonzero(~is_bound).astype(np.int64)
    bound_idx = np.flatnonzero(is_bound).astype(np.int64)
    return Design(
        row_ids=tuple(t["id"]),
        targets=tuple(red.target for red in reductions),
        labs=lab_names,
        programmes=prog_names,
        estimators=est_names,
        X=X,
        Z_lab=Z_lab,
        Z_programme=Z_prog,
        Z_estimator=Z_est,
        L=L,
        prov_idx=np.array([prov[r["provenance"]] for r in rows], dtype=np.int64),
        s=s,
        extra_prov=extra_prov,
        extra_s=extra_s,
        x=x,
        lab_idx=np.array([lab_pos[r["lab"]] for r in rows], dtype=np.int64),
        programme_idx=np.array([prog_pos[programme_of(r)] for r in rows], dtype=np.int64),
        gauss_idx=gauss_idx,
        y=np.array([reductions[i].y for i in gauss_idx], dtype=float),
        bound_idx=bound_idx,
        b=np.array([reductions[i].b for i in bound_idx], dtype=float),
        bound_dir=np.array([reductions[i].direction for i in bound_idx], dtype=np.int64),
        f_idx=np.array(
            [i for i, red in enumerate(reductions) if red.target == "f"], dtype=np.int64
        ),
    )


def from_dataset(dataset) -> Design:
    """The design of a :class:`~rdshare.core.dataset.Dataset`'s fitted rows (contrasts may compare
    with excluded rows)."""
    return build(dataset.fitted, all_rows=dataset.table)
