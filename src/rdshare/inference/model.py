"""The PyMC model of the R&D compute fraction and the knowledge-sharing discount.

This module translates the registries into PyMC: every parameter's prior comes from the
:class:`~rdshare.core.priors.PriorSet` passed in, built with the PyMC class its family names
(:mod:`rdshare.core.families`); the variants' parameters come from :mod:`rdshare.core.quantities`; the
fixed effects, mean, scales and derived shares are :mod:`rdshare.core.generative`'s functions, called
with PyTensor's operations (:data:`PYTENSOR`); the multivariate normal density is one Op with an analytic
gradient (:mod:`rdshare.inference.mvn_op`), equal to PyMC's ``MvNormal`` (tests) at a fraction of the
cost per evaluation. Nothing here chooses a prior or writes the model's
arithmetic a second time. The structure (``docs/model.md``, :mod:`rdshare.core.design`)::

    v ~ MVN(X theta, K0 + sum_k tau_k^2 K[k])        every row's latent value
    Gaussian rows observe their element of v; each bound row's element is a latent value on its side
    of its bound, sampled as  x = b + direction * exp(z)  (log-Jacobian z added)

The lab, programme and estimator effects are integrated out analytically, so the sampler never meets the
funnel that explicit effects have at small scales; their draws are recovered afterwards from their
Gaussian conditional (:func:`rdshare.core.generative.effects_given_data`).

All data enter through ``pm.Data`` so a compiled sampler can be reused for new data of the same shape.
Importing this module changes no global setting; :func:`rdshare.inference.pytensor_flags.compile_flags`
sets the flags rdshare needs only while it compiles.
"""

from __future__ import annotations

from types import SimpleNamespace

import pymc as pm
import pytensor.tensor as pt
from pymc.distributions import transforms

from rdshare.core import generative as gen
from rdshare.core.design import FIXED, SCALES, Design
from rdshare.core.families import FAMILIES
from rdshare.core.priors import Prior, PriorSet
from rdshare.core.quantities import HEADLINE, OFFSETS, VARIANTS, share_in, variant
from rdshare.inference.density import BOUND_LATENT, BOUND_Z
from rdshare.inference.evidence_kernel import DATA_DIMS, evidence_data
from rdshare.inference.mvn_op import DATA_INPUTS, evidence_logp, lower_nonzeros

VARIANT_NAMES = tuple(VARIANTS)

#: PyTensor's operations for :mod:`rdshare.core.generative` (parameters are scalars: no sample axes).
PYTENSOR = gen.Ops(
    log=pt.log,
    log1p=pt.log1p,
    exp=pt.exp,
    sigmoid=pt.sigmoid,
    stack=pt.stack,
    matvec=lambda X, theta: pt.dot(X, theta),
    combine=lambda tau2, K: pt.tensordot(tau2, K, axes=1),
)


__all__ = ["BOUND_LATENT", "BOUND_Z", "HEADLINE", "PYTENSOR", "build", "coords"]


def prior_rv(prior: Prior, **kwargs):
    """A PyMC random variable for a validated prior: the PyMC class its family names (closed list).

    A reflected family (``1 - X``) is a ``CustomDist`` of ``1 - X`` whose value is sampled on the scale
    ``log(1 - value)``.
    """
    family = FAMILIES[prior.dist]
    cls = getattr(pm, family.pymc)
    params = family.pymc_kwargs(prior.params)
    if not family.reflected:
        return cls(prior.name, **params, **kwargs)
    names = list(params)

    def dist(*args):
        *values, size = args  # PyMC passes the parameters, then the size
        return 1.0 - cls.dist(**dict(zip(names, values, strict=True)), size=size)

    return pm.CustomDist(
        prior.name,
        *params.values(),
        dist=dist,
        default_transform=transforms.Interval(None, 1.0),
        **kwargs,
    )


def coords(design: Design) -> dict[str, tuple[str, ...]]:
    """Named dimensions of the model."""
    return {
        "row": design.row_ids,
        "obs": design.gauss_ids,
        "bound": design.bound_ids,
        "fixed": FIXED,
        "scale": SCALES,
        "knz": tuple(range(len(lower_nonzeros(design.K)[0]))),
    }


def build(design: Design, priors: PriorSet, variant_name: str = "full") -> pm.Model:
    """Build the model for ``design`` with ``priors``.

    Parameters
    ----------
    design : Design
        Arrays from :func:`rdshare.core.design.build`.
    priors : PriorSet
        A validated prior file.
    variant_name : {"full", "no_discount", "pooled"}
        Which model (:data:`rdshare.core.quantities.VARIANTS`).
    """
    v = variant(variant_name)
    with pm.Model(coords=coords(design)) as model:
        d = SimpleNamespace(
            **{
                name: pm.Data(name, value, dims=DATA_DIMS[name])
                for name, value in evidence_data(design).items()
            }
        )
        p = {name: prior_rv(priors[name]) for name in v.parameters}
        theta = gen.fixed_effects(p, v, PYTENSOR)
        tau = gen.scales(p, v, PYTENSOR)
        if design.bound_idx.size:
            z = pm.Flat(BOUND_Z, dims="bound")
            pm.Deterministic(
                BOUND_LATENT, gen.bound_latent(d.b, d.bound_dir, z, PYTENSOR), dims="bound"
            )
        else:
            z = pt.zeros(0)
        # log MVN(v | X theta, K0 + sum_k tau_k^2 K[k]) + sum(z), the rows' latent values v built from
        # y and the bound rows' z, with its analytic gradient: one Op (rdshare.inference.mvn_op)
        evidence = evidence_logp(
            theta, z, tau**2, **{name: getattr(d, name) for name, _, _ in DATA_INPUTS}
        )
        pm.Potential("evidence", evidence)
        for unit in OFFSETS:
            pm.Deterministic(share_in(unit), gen.f_in_unit(p, unit, PYTENSOR))
        if v.discount:
            pm.Deterministic("f_follower", gen.f_follower(p, PYTENSOR))
    return model
