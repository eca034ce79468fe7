"""Public pricing API: :func:`price_options` (SPX, COS) and :func:`price_vix` (VIX futures/options).

Both take the model by name (``"heston"``, ``"bates"``, ``"svcj"``, ``"svcj2"``), class or
instance, and a parameter dict with the project-wide names (``v0, kappa, theta,
sigma, rho`` [+ ``jump_intensity, jump_mean, jump_std`` [+ ``var_jump_mean,
jump_corr`` [+ ``kappa2, theta2, sigma2, rho2`` and the state ``v2_0``]]]); the two-factor
``svcj2``'s VIX prices come from the Laplace transform of VIX^2 (:mod:`gpu_alvh.pricing.vix_laplace`).  Results come back as host NumPy arrays (this is an API
boundary, not the per-path engine path).
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import numpy as np

from ..backend import get_backend
from ..errors import SpecError, SpecIssue
from ..models import AffineModel, get_model
from .cos import CosSettings, cos_price
from .vix import vix_prices

__all__ = ["price_options", "price_vix", "VixPrices", "resolve_model"]


def resolve_model(model, params: "Mapping[str, Any] | None", *, with_slow: bool = False):
    """``(model instance, v0)`` from a name / class / instance and a parameter dict (``with_slow``:
    ``(model, v0, v2_0)``, the slow variance of a two-factor model, default its ``theta2``).

    With a model *instance*, ``params`` only needs ``v0`` (other keys override
    the instance's parameters).  ``v0`` is required.
    """
    params = dict(params or {})
    v2_0 = params.pop("v2_0", None)
    if "v0" not in params:
        raise SpecError("<params>", [SpecIssue("v0", SpecIssue.MISSING, "required: initial variance (decimal), e.g. 0.04")])
    v0 = params.pop("v0")
    if isinstance(v0, bool) or not isinstance(v0, (int, float)) or not (0.0 <= float(v0) <= 16.0):
        raise SpecError("<params>", [SpecIssue("v0", v0, "allowed: a number in [0, 16]")])
    if isinstance(model, AffineModel):
        inst = model.replace(**params) if params else model
    else:
        inst = get_model(model).from_params(params, source="<params>")
    if v2_0 is not None and (inst.n_factors == 1 or isinstance(v2_0, bool) or not isinstance(v2_0, (int, float)) or not 0.0 <= float(v2_0) <= 16.0):
        raise SpecError("<params>", [SpecIssue("v2_0", v2_0, "allowed: a number in [0, 16], for a two-factor model" if inst.n_factors == 2 else
                                               f"not a parameter of the one-factor model {inst.name!r} (v2_0 is the slow variance of svcj2)")])
    if not with_slow:
        return inst, float(v0)
    return inst, float(v0), float(inst.theta2 if v2_0 is None else v2_0) if inst.n_factors == 2 else 0.0


def _kind_to_bool(kind, xp):
    if isinstance(kind, str):
        k = kind.lower()
        if k not in ("call", "put"):
            raise ValueError(f"kind must be 'call', 'put' or a boolean array (True = call); got {kind!r}")
        return k == "call"
    arr = np.asarray(kind)
    if arr.dtype.kind == "U":
        low = np.char.lower(arr)
        if not np.all((low == "call") | (low == "put")):
            raise ValueError("kind entries must be 'call' or 'put'")
        return xp.asarray(low == "call")
    return xp.asarray(arr, dtype=bool)


def price_options(model, params, *, spot, strikes, expiries, rate: float = 0.0, dividend_yield: float = 0.0,
                  kind="call", backend="auto", n_terms="auto") -> np.ndarray:
    """European SPX option prices under an affine model, by the COS method.

    Parameters
    ----------
    model : str, model class or instance
    params : dict with the model's parameters and ``v0`` (initial variance); for the two-factor
        ``svcj2`` also ``v2_0`` (initial slow variance, default its ``theta2``)
    spot : float, index points
    strikes : array, index points
    expiries : array, years (> 0); broadcasts with ``strikes``
    rate, dividend_yield : float, continuously compounded per year
    kind : ``"call"``, ``"put"`` or a broadcastable boolean / string array
    backend : ``"auto"``, ``"numpy"``, ``"cupy"`` or a Backend
    n_terms : ``"auto"`` or a fixed number of COS terms

    Returns
    -------
    numpy.ndarray of discounted prices (index points per option), broadcast shape.

    Examples
    --------
    >>> p = price_options("heston", dict(v0=0.04, kappa=4.0, theta=0.25, sigma=1.0, rho=-0.5),
    ...                   spot=100.0, strikes=[80.0, 100.0, 120.0], expiries=1.0, rate=0.01,
    ...                   dividend_yield=0.02, kind=["put", "call", "call"], backend="numpy")
    >>> np.round(p, 6).tolist()
    [7.958878, 16.070155, 9.024913]
    """
    be = get_backend(backend)
    xp = be.xp
    inst, v0, v2_0 = resolve_model(model, params, with_slow=True)
    is_call = _kind_to_bool(kind, xp)
    out = cos_price(inst, spot=float(spot), strikes=xp.asarray(strikes, dtype=float), expiries=np.asarray(expiries, dtype=float),
                    v=v0, v2=v2_0, rate=float(rate), dividend_yield=float(dividend_yield), is_call=is_call,
                    settings=CosSettings(n_terms=n_terms), backend=be)
    return be.to_host(out)


class VixPrices(NamedTuple):
    """Result of :func:`price_vix` (host NumPy arrays).

    Attributes
    ----------
    expiries : [n_exp] years
    futures : [n_exp] VIX futures prices, index points
    strikes : [n_k] or None
    calls, puts : [n_exp, n_k] discounted option prices per 1 unit (x100 per contract), or None
    implied_vols : [n_exp, n_k] Black-76 vols of the calls on the futures price, or None
    spot_vix : model VIX of ``v0`` (points)
    """

    expiries: np.ndarray
    futures: np.ndarray
    strikes: "np.ndarray | None"
    calls: "np.ndarray | None"
    puts: "np.ndarray | None"
    implied_vols: "np.ndarray | None"
    spot_vix: float


def price_vix(model, params, *, expiries, strikes=None, rate: float = 0.0, backend="auto") -> VixPrices:
    """VIX futures and (with ``strikes``) European VIX call/put prices under an affine model.

    Computed from the law of ``v_T`` (see :mod:`gpu_alvh.pricing.vix`) with
    ``VIX_T^2 = a v_T + b``.

    Parameters
    ----------
    model, params : as :func:`price_options` (``v0`` is the current variance)
    expiries : array of years (>= 0; 0 gives the model VIX)
    strikes : array of VIX strikes (points) or None
    rate : discount rate for the options
    backend : backend name or instance

    Returns
    -------
    VixPrices
    """
    be = get_backend(backend)
    inst, v0, v2_0 = resolve_model(model, params, with_slow=True)
    exp = np.atleast_1d(np.asarray(expiries, dtype=float))
    if np.any(exp < 0.0) or exp.ndim != 1:
        raise ValueError("expiries must be a 1-D array of years >= 0")
    k = None if strikes is None else np.atleast_1d(np.asarray(strikes, dtype=float))
    if k is not None and (k.ndim != 1 or np.any(k <= 0.0)):
        raise ValueError("strikes must be a 1-D array of positive VIX points")
    q = vix_prices(inst, v0, expiries=exp, strikes=k, rate=float(rate), backend=be, v2=v2_0)
    h = be.to_host
    spot_vix = float(inst.vix_from_state(v0, v2_0))
    if k is None:
        return VixPrices(exp, h(q.futures), None, None, None, None, spot_vix)
    return VixPrices(exp, h(q.futures), k, h(q.calls), h(q.puts), h(q.implied_vols), spot_vix)
