"""COS pricer (Fang & Oosterlee 2008) for European options under Heston, Bates and SVCJ.

For ``Y = ln(S_T / F_T)`` (forward-normalised log price, ``E[e^Y] = 1``) with
characteristic function ``phi(u) = exp(A(u, T) + B(u, T) v)`` (Heston part in
the "little trap" form of Albrecher et al. 2007), the undiscounted put per unit
strike at log-moneyness ``k = ln(K/F)`` is

.. code-block:: text

    p(k) = E[(1 - e^{Y - k})^+]
         ~ sum'_{j<N} Re{phi(u_j) e^{-i u_j a}} (2/(b-a)) [psi_j(a, c) - e^{-k} chi_j(a, c)],
    u_j = j pi / (b - a),   c = clip(k, a, b),
    psi_j = sin(u_j (c - a)) / u_j  (c - a for j = 0),
    chi_j = [e^c (cos(u_j (c-a)) + u_j sin(u_j (c-a))) - e^a] / (1 + u_j^2),

(``sum'``: first term halved).  Puts are priced by COS and calls by put-call
parity, ``C = P + D (F - K)``, as Fang & Oosterlee recommend (the put payoff is
bounded, so truncation of the right tail costs nothing).

**Truncation range** (per expiry and per variance state): ``[a, b] = c1 -+ L
sqrt(c2 + sqrt(c4))`` with the cumulants ``c_n(v)`` of ``Y`` taken from the
log-CF (affine in ``v``: see :func:`~gpu_alvh.pricing.affine.log_price_cumulants`);
``L = 12`` by default (the tails of Heston-type laws are exponential, not
Gaussian, so ``L = 10`` leaves ~1e-8 of the price on the table in the Fang-Oosterlee
``T = 1`` case; ``L = 12`` leaves ~1e-10).  The fourth cumulant widens the range for heavy-tailed,
long-dated cases (e.g. ``kappa = 0.5, sigma = 1, rho = -0.9, T = 10``).

**Number of terms**: fixed ``n_terms``, or ``"auto"`` (default): the smallest
``64 * 2^j`` (up to ``max_terms``) with ``|phi(u_N)| < 1e-14`` for every variance
state of the call, i.e. the series is cut where the characteristic function has
decayed to rounding level.  ``auto`` costs one small device->host copy per expiry.

Everything runs on the array namespace of the backend (NumPy or CuPy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..backend import Backend, get_backend
from ..models import AffineModel
from .affine import log_price_abc, log_price_cumulants, slow_cumulants

__all__ = ["CosSettings", "cos_put_normalized", "cos_price", "cos_terms", "truncation_range"]


@dataclass(frozen=True)
class CosSettings:
    """COS method settings.

    Attributes
    ----------
    n_terms : int or "auto"
        Number of cosine terms ``N``.
    truncation : float
        ``L`` in ``c1 -+ L sqrt(c2 + sqrt(c4))``.
    tol : float
        ``auto`` stops doubling ``N`` once ``|phi(N pi/(b-a))| < tol``.
    min_terms, max_terms : int
        Bounds of ``auto``.
    """

    n_terms: "int | str" = "auto"
    truncation: float = 12.0
    tol: float = 1e-14
    min_terms: int = 64
    max_terms: int = 16384


def _host(a):
    return np.asarray(a.get() if hasattr(a, "get") else a)


def truncation_range(model: AffineModel, T: float, v, v2=0.0, *, truncation: float = 12.0, xp=np):
    """``(a, b)`` arrays (shape of ``v``) of the COS truncation range of ``Y = ln(S_T/F_T)`` (``v2``: the
    slow variance of a two-factor model, broadcast with ``v``)."""
    v = xp.asarray(v, dtype=float)
    v_min = float(_host(xp.min(v))) if v.size else 0.0
    (c1a, c1b), (c2a, c2b), (c4a, c4b) = log_price_cumulants(model, T, v_min=max(v_min, 0.0), xp=xp)
    c1 = c1a + c1b * v
    c2 = c2a + c2b * v
    c4 = c4a + c4b * v
    if model.n_factors == 2:
        v2 = xp.asarray(v2, dtype=float)
        v2_min = float(_host(xp.min(v2))) if v2.size else 0.0
        (s1a, s1c), (s2a, s2c), (s4a, s4c) = slow_cumulants(model, T, v2_min=max(v2_min, 0.0), xp=xp)
        c1, c2, c4 = c1 + (s1a + s1c * v2), c2 + (s2a + s2c * v2), c4 + (s4a + s4c * v2)
    c2 = xp.maximum(c2, 1e-300)
    c4 = xp.maximum(c4, 0.0)
    half = truncation * xp.sqrt(c2 + xp.sqrt(c4))
    half = xp.maximum(half, 1e-8)  # never a zero-width range
    return c1 - half, c1 + half


def cos_terms(model: AffineModel, T: float, v, a, b, settings: CosSettings, xp=np, v2=0.0) -> np.ndarray:
    """Number of terms per variance state (host int array, shape of ``v`` flattened).

    Fixed ``settings.n_terms``, or the smallest ``min_terms * 2^j <= max_terms``
    with ``|phi(N pi/(b-a))| < tol`` (see module doc).
    """
    v = xp.asarray(v, dtype=float).reshape(-1)
    if settings.n_terms != "auto":
        return np.full(v.shape[0], int(settings.n_terms))
    width = (b - a).reshape(-1)
    cands = []
    n = settings.min_terms
    while n <= settings.max_terms:
        cands.append(n)
        n *= 2
    cands = np.array(cands)
    u = xp.asarray(cands.astype(float))[None, :] * math.pi / width[:, None]  # [nv, ncand]
    A, B, C = log_price_abc(model, u, T, xp=xp)
    mod = _host(xp.exp((A + B * v[:, None] + C * _column(v2, v.shape[0], xp)).real))  # [nv, ncand]
    ok = mod < settings.tol
    first = np.where(ok.any(axis=1), ok.argmax(axis=1), len(cands) - 1)
    return cands[first]


def _column(v2, n: int, xp):
    """``v2`` as a column ``[n, 1]`` (a scalar stays a scalar: one-factor models pass 0)."""
    v2 = xp.asarray(v2, dtype=float)
    return v2 if v2.ndim == 0 else xp.broadcast_to(v2.reshape(-1), (n,))[:, None]


def _put_rows(model, T, v, k, a, b, N, xp, v2=0.0):
    width = b - a
    j = xp.arange(N, dtype=float)
    u = j[None, :] * (math.pi / width[:, None])  # [nv, N]
    A, B, C = log_price_abc(model, u, T, xp=xp)
    coef = (xp.exp(A + B * v[:, None] + C * _column(v2, v.shape[0], xp) - 1j * u * a[:, None])).real * (2.0 / width[:, None])  # [nv, N]
    coef[:, 0] *= 0.5
    c = xp.clip(k, a[:, None], b[:, None])  # [nv, nk]
    w = c - a[:, None]
    x = w[:, :, None] * u[:, None, :]  # [nv, nk, N]
    sw, cw = xp.sin(x), xp.cos(x)
    # sum_n coef_n [psi_n - e^{-k} chi_n] with the k-independent parts folded into
    # per-term weights, so the [nv, nk, N] work is two sin/cos and three contractions.
    u_safe = xp.where(u == 0.0, 1.0, u)
    inv1 = 1.0 / (1.0 + u * u)
    alpha = xp.where(u == 0.0, 0.0, coef / u_safe)
    beta_ = coef * u * inv1
    gamma = coef * inv1
    ek = xp.exp(c - k)
    eak = xp.exp(a[:, None] - k)
    s_alpha = xp.einsum("vkn,vn->vk", sw, alpha)
    s_beta = xp.einsum("vkn,vn->vk", sw, beta_)
    c_gamma = xp.einsum("vkn,vn->vk", cw, gamma)
    return s_alpha + coef[:, :1] * w - ek * (s_beta + c_gamma) + eak * gamma.sum(axis=1)[:, None]


def cos_put_normalized(model: AffineModel, T: float, v, k, *, v2=0.0, settings: CosSettings = CosSettings(), backend=None,
                       return_terms: bool = False):
    """Undiscounted put per unit strike ``p(k) = E[(1 - e^{Y-k})^+]`` by COS.

    Parameters
    ----------
    T : float, years (> 0)
    v : array [nv], variance states
    k : array [nv, nk] (or [nk], shared), log-moneyness ``ln(K/F)`` per variance state
    v2 : float or array [nv], slow variance states of a two-factor model (ignored by one-factor models)
    return_terms : also return the host array of the number of terms per state

    Returns
    -------
    array [nv, nk] (and ``terms[nv]``).  Rows are grouped by their number of
    terms, so a few near-zero variance states (sharp peak, fat tails, slowly
    decaying CF) do not make every row expensive.
    """
    be = get_backend(backend) if not isinstance(backend, Backend) else backend
    xp = be.xp
    v = xp.asarray(v, dtype=float).reshape(-1)
    k = xp.asarray(k, dtype=float)
    if k.ndim == 1:
        k = xp.broadcast_to(k[None, :], (v.shape[0], k.shape[0]))
    two = model.n_factors == 2
    v2 = xp.broadcast_to(xp.asarray(v2, dtype=float).reshape(-1), v.shape) if two else 0.0
    a, b = truncation_range(model, T, v, v2, truncation=settings.truncation, xp=xp)
    terms = cos_terms(model, T, v, a, b, settings, xp=xp, v2=v2)
    uniq = np.unique(terms)
    if uniq.size == 1:
        out = _put_rows(model, T, v, k, a, b, int(uniq[0]), xp, v2)
    else:
        out = xp.empty(k.shape, dtype=float)
        for N in uniq:
            rows = xp.asarray(np.nonzero(terms == N)[0])
            out[rows] = _put_rows(model, T, v[rows], k[rows], a[rows], b[rows], int(N), xp, v2[rows] if two else 0.0)
    return (out, terms) if return_terms else out


def cos_price(model: AffineModel, *, spot, strikes, expiries, v, v2=0.0, rate=0.0, dividend_yield=0.0, is_call=True,
              settings: CosSettings = CosSettings(), backend=None):
    """European option prices by COS, broadcasting over strikes, expiries and variance states.

    Parameters
    ----------
    model : AffineModel (pricing measure)
    spot : float, index points
    strikes, expiries, v : arrays that broadcast together; expiries in years (> 0)
    v2 : slow variance states of a two-factor model (broadcasts too; ignored by one-factor models)
    rate, dividend_yield : float
    is_call : bool or bool array (broadcasts too)

    Returns
    -------
    array, discounted price per option, index points (host loop over the
    distinct expiries; arrays on the backend).
    """
    be = get_backend(backend) if not isinstance(backend, Backend) else backend
    xp = be.xp
    strikes = xp.asarray(strikes, dtype=float)
    expiries_h = np.asarray(_host(xp.asarray(expiries, dtype=float)))
    v_arr = xp.asarray(v, dtype=float)
    v2_arr = xp.asarray(v2 if model.n_factors == 2 else 0.0, dtype=float)
    is_call = xp.asarray(is_call, dtype=bool)
    shape = np.broadcast_shapes(tuple(strikes.shape), expiries_h.shape, tuple(v_arr.shape), tuple(v2_arr.shape), tuple(is_call.shape))
    Kb = xp.broadcast_to(strikes, shape).reshape(-1)
    Tb = np.broadcast_to(expiries_h, shape).reshape(-1)
    Vb = xp.broadcast_to(v_arr, shape).reshape(-1)
    V2b = xp.broadcast_to(v2_arr, shape).reshape(-1)
    Cb = xp.broadcast_to(is_call, shape).reshape(-1)
    out = xp.zeros(Kb.shape, dtype=float)
    if np.any(Tb <= 0.0):
        raise ValueError("cos_price: expiries must be > 0 years")
    for T in np.unique(Tb):
        idx_h = np.nonzero(Tb == T)[0]
        idx = xp.asarray(idx_h)
        fwd = spot * math.exp((rate - dividend_yield) * T)
        disc = math.exp(-rate * T)
        K = Kb[idx]
        # group by variance state (usually one) so each row shares its CF
        states = np.stack([_host(Vb[idx]), _host(V2b[idx])], axis=1)
        uniq, inv = np.unique(states, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        if len(uniq) == 1:
            p = cos_put_normalized(model, float(T), xp.asarray(uniq[:, 0]), xp.log(K / fwd)[None, :], v2=xp.asarray(uniq[:, 1]),
                                   settings=settings, backend=be)[0]
        else:
            p = xp.zeros(K.shape, dtype=float)
            for i, (vu, v2u) in enumerate(uniq):
                sel_h = np.nonzero(inv == i)[0]
                sel = xp.asarray(sel_h)
                p[sel] = cos_put_normalized(model, float(T), xp.asarray([vu]), xp.log(K[sel] / fwd)[None, :], v2=xp.asarray([v2u]),
                                            settings=settings, backend=be)[0]
        put = disc * K * xp.maximum(p, 0.0)
        call = put + disc * (fwd - K)
        out[idx] = xp.where(Cb[idx], xp.maximum(call, 0.0), put)
    return out.reshape(shape)
