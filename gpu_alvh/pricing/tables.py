"""SPX implied-volatility table: built once per scenario by COS, looked up per path per day.

The strategy engine marks its SPX legs on every path every day; it never calls
the Fourier pricer per leg.  :meth:`SpxTable.build` prices, once, a grid of
out-of-the-money options by COS (:mod:`gpu_alvh.pricing.cos`), inverts them to
Black implied vols and stores them; :meth:`SpxTable.price_greeks` interpolates
the vol and prices with Black-Scholes (which also gives the greeks).

Coordinates (uniform grids; chosen so that the tabulated function is smooth and
O(1) everywhere, which makes cubic interpolation accurate):

.. code-block:: text

    w(v, tau)  = a(tau) v + (1 - a(tau)) theta_eff + lambda E[J^2],   a(tau) = (1 - e^{-kappa tau}) / (kappa tau)
                 (expected mean variance of log returns over [0, tau]: mean reversion and jumps included)
    z          = ln(K/F) / sqrt(w tau)           standardised forward log-moneyness, F = S e^{(r-q) tau}
    sv, st     = sqrt(v), sqrt(tau)
    table      = nu(z, sv, st) = IV / sqrt(w)    normalised implied vol (~1 at the money)

A lookup computes ``w`` and ``z`` in closed form, interpolates ``nu`` (cubic
Lagrange per axis by default, 64 gathers) and returns ``IV = nu sqrt(w)``.

Two variance factors (:class:`~gpu_alvh.models.SVCJ2`, state ``(v, v2)``): the variance coordinate is
the total instantaneous variance ``V = v + v2``, a fourth axis holds the fast share ``f = v / V`` in
``[0, 1]`` (uniform, default 13 nodes, cubic; ``f = 1`` at ``V = 0``), and the moneyness axis is stretched:

.. code-block:: text

    w(V, tau)  = a(tau) V + (1 - a(tau)) (theta_eff + theta2) + lambda E[J^2]     (fast kappa in a(tau))
    y          = asinh((z - z0) / s),  (z0, s) = z_map = (1, 0.75)    uniform axis, default 161 nodes
    table      = nu(y, f, sV, st),  sV = asinh(sqrt(V) / eps),  eps = 0.25 sqrt(theta_eff + theta2)
    nu         : [n_tau, n_v, n_f, n_z],  default 72 x 61 x 13 x 161; lookup stencil linear in st, cubic
                 in sV, f and y: 128 reads

``w`` does not depend on the share, so the strikes (``z sqrt(w tau)``) of a ``(tau, V)`` node are the
same at every share node; the node prices are COS with both factors' characteristic function, with one
truncation range (the union of the shares' ranges) and term count per ``(tau, V)`` so that the
trigonometric sums are shared by the shares (:func:`_cos_put_shared`: the default build is ~1 minute on 2
cores, several times faster than row by row).  The share changes the smile's shape (the slow factor's own vol of
vol and correlation) and its level (the slow factor reverts at ``kappa2``, not ``kappa``).  The stretch
puts nodes 0.03 apart at ``z ~ 1`` (0.2 at ``z = -4.5``, 0.4 at ``z = -10``): at correlations near -1
(``base_2f``: -0.99) the log price has a near-hard upper bound and the call smile falls off a cliff at
``z ~ 0.5-1.5`` that the one-factor grid's 0.2 steps miss.  Accuracy against direct COS:
``tests/test_tables_2f.py``.  One-factor tables have no share axis and no stretch (``f_axis``, ``z_map``
None): their builds and lookups are the same numbers as before the two-factor axes existed.

Clamping (documented behaviour, never NaN):

* ``tau`` below the first node (``min_days``, default 1 hour) or above
  ``max_days``: the normalised smile ``nu`` of the end node is used with the
  actual ``tau`` in ``z`` and ``w`` (the short-time smile in standardised
  moneyness converges, so this is the natural extrapolation);
  ``tau = 0`` prices the intrinsic value.
* ``v`` above ``v_max`` (below ``v_min``): the normalised smile of ``v_max``
  (``v_min``) with the level ``sqrt(w(v, tau))`` of the actual ``v``; two factors: the same for ``V``,
  negative ``v`` or ``v2`` count as 0, and the share is in ``[0, 1]`` by construction.
* ``z`` outside the grid (default ``[-10, 6]``, i.e. far beyond |delta| = 0.01):
  flat extrapolation of ``nu`` (prices stay positive and monotone in strike).
* nodes whose OTM price is below ``1e-11`` of the strike (beyond the reach of
  double precision) take the vol of the nearest reliable node in ``z``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backend import Backend, get_backend
from ..models import AffineModel
from .affine import jump_second_moment, log_price_abc
from .black import Greeks, black_scholes, normalized_implied_total_vol
from .cos import CosSettings, cos_put_normalized, cos_terms, truncation_range
from .interp import UniformAxis, interp

__all__ = ["SpxTable", "DEFAULT_V_MAX"]

#: Default upper end of the variance grid: (150% vol)^2, beyond any VIX/VXO close on record.
DEFAULT_V_MAX = 2.25
_RELIABLE = 1e-9


def _host(a):
    return np.asarray(a.get() if hasattr(a, "get") else a)


@dataclass(frozen=True, eq=False)
class SpxTable:
    """Implied-volatility table of SPX options under one pricing model.

    Build with :meth:`build`; all lookups run on ``backend.xp`` arrays, accept
    any broadcastable shapes (typically ``[paths]``) and never leave the device.
    """

    backend: Backend
    model: AffineModel
    rate: float
    dividend_yield: float
    dtype: Any
    order: Any
    z_axis: UniformAxis
    sv_axis: UniformAxis
    st_axis: UniformAxis
    nu: Any = field(repr=False)  # [n_tau, n_v, n_z]; two factors: [n_tau, n_v, n_f, n_z]
    f_axis: "UniformAxis | None" = None  # two factors: the fast share f = v / (v + v2) in [0, 1]
    z_map: "tuple | None" = None  # two factors: (z0, s), z_axis is uniform in y = asinh((z - z0) / s)
    theta_eff: float = 0.0
    jump_var: float = 0.0
    v_scale: float = 1.0
    info: dict = field(default_factory=dict, compare=False)

    # ------------------------------------------------------------------ build
    @classmethod
    def build(cls, model: AffineModel, *, rate: float, dividend_yield: float, backend=None, dtype="float64",
              max_days: float = 130.0, v_min: "float | None" = None, v_max: "float | None" = None,
              min_days: float = 1.0 / 24.0, n_z: "int | None" = None, z_range: tuple = (-10.0, 6.0), n_v: int = 61,
              n_tau: "int | None" = None, order=None, cos: CosSettings = CosSettings(tol=1e-10, max_terms=4096),
              v_scale: "float | None" = None, n_f: int = 13, order_f: int = 3, z_map: "tuple | None" = (1.0, 0.75)) -> "SpxTable":
        """Tabulate implied vols of ``model`` (pricing measure) by COS.

        Parameters
        ----------
        model : AffineModel
            Pricing (Q) model instance.
        rate, dividend_yield : float
            Continuously compounded; used by the lookups (forward, discount).
            The normalised smile does not depend on them.
        backend : Backend or name
        dtype : "float64" or "float32"
            Storage and lookup precision.
        max_days, min_days : float
            Calendar-day range of the expiry grid (uniform in ``sqrt(tau)``).
        v_min, v_max : float, optional
            Variance range (uniform in ``sqrt(v)``); defaults 0 and
            ``max(2.25, 4 theta_eff)``.
        n_z, z_range, n_v, n_tau : grid sizes / moneyness range (``n_tau`` default 54 nodes, 72 for
            two factors)
        order : 1 or 3, or one per axis (sqrt tau, v, moneyness); default
            linear in time and variance, cubic in moneyness (16-node stencil):
            within the SPEC tolerance on the strategy's region at 1/4 of the
            cost of tricubic (64 nodes) - see ``tests/test_tables.py``; two factors: default cubic
            in variance too (128 reads with the share axis): at ``base_2f``'s correlations the
            call wing's cliff moves with ``V`` and the share faster than linear interpolation follows
            (worst 2.2x the tolerance with 54 expiries, linear in ``V`` and 9 shares; 0.45x with these
            defaults: ``tests/test_tables_2f.py``)
        cos : CosSettings for the node prices
        n_f, order_f : two-factor models only: nodes of the fast-share axis ``f = v / (v + v2)`` on
            ``[0, 1]`` and its stencil order (default 13 nodes, cubic; see the module doc: the cliff's position
            moves with the share, 9 nodes missed it by 1.6x)
        z_map : two-factor models only: ``(z0, s)`` of the moneyness axis uniform in
            ``asinh((z - z0) / s)`` (None: uniform in ``z``, as one-factor tables); ``n_z`` defaults to 161
            with it and 81 without

        Build cost (NumPy, 2 cores, defaults): one factor ~1-3 s, two factors ~1.5-2.5 min (77 s unloaded); see ``info["build_seconds"]``.
        """
        be = get_backend(backend) if not isinstance(backend, Backend) else backend
        xp = be.xp
        t0 = time.perf_counter()
        two = model.n_factors == 2
        n_tau = (72 if two else 54) if n_tau is None else int(n_tau)
        order = ((1, 3, 3) if two else (1, 1, 3)) if order is None else order
        # two factors: the scale w of the table is that of the total variance V = v + v2 with the fast
        # factor's kappa and the sum of the long-run means (share-free, so a (tau, V) node's strikes and
        # COS coefficients serve every share)
        theta_eff = model.effective_theta() + (model.theta2 if two else 0.0)
        vmin = 0.0 if v_min is None else float(v_min)
        vmax = max(DEFAULT_V_MAX, 4.0 * theta_eff) if v_max is None else float(v_max)
        if not (0.0 <= vmin < vmax):
            raise ValueError(f"need 0 <= v_min < v_max (got {vmin}, {vmax})")
        z_map = (float(z_map[0]), float(z_map[1])) if two and z_map is not None else None
        n_z = (161 if z_map is not None else 81) if n_z is None else int(n_z)
        if z_map is None:
            z_axis = UniformAxis.between(z_range[0], z_range[1], n_z)
            z = xp.asarray(z_axis.nodes())
        else:  # nodes uniform in y = asinh((z - z0) / s): finest (s dy) at z0, ~|z - z0| dy far from it
            z_axis = UniformAxis.between(math.asinh((z_range[0] - z_map[0]) / z_map[1]), math.asinh((z_range[1] - z_map[0]) / z_map[1]), n_z)
            z = xp.asarray(z_map[0] + z_map[1] * np.sinh(z_axis.nodes()))
        eps = 0.25 * math.sqrt(theta_eff) if v_scale is None else float(v_scale)
        sv_axis = UniformAxis.between(math.asinh(math.sqrt(vmin) / eps), math.asinh(math.sqrt(vmax) / eps), n_v)
        st_axis = UniformAxis.between(math.sqrt(min_days / 365.0), math.sqrt(max_days / 365.0), n_tau)
        jump_var = jump_second_moment(model)
        v_nodes = xp.asarray((eps * np.sinh(sv_axis.nodes())) ** 2)
        f_axis = UniformAxis.between(0.0, 1.0, int(n_f)) if two else None
        shares = xp.asarray(f_axis.nodes()) if two else xp.ones(1)
        n_s = int(shares.shape[0])
        nu = xp.empty((n_tau, n_v, n_s, n_z), dtype=float)
        terms = []
        for it, st in enumerate(st_axis.nodes()):
            tau = float(st * st)
            w = _mean_var(v_nodes, tau, model.kappa, theta_eff, jump_var, xp)
            sd = xp.sqrt(w * tau)
            k = z[None, :] * sd[:, None]
            if two:  # [n_v, n_s, n_z]: one truncation range and strike row per V node, shared by its shares
                p, n_terms = _cos_put_shared(model, tau, v_nodes, shares, k, cos, xp)
                k = k[:, None, :]
                sd = sd[:, None]
            else:
                p, n_terms = cos_put_normalized(model, tau, v_nodes, k, settings=cos, backend=be, return_terms=True)
            otm = xp.where(k < 0.0, p, p + xp.expm1(-k))
            beta = xp.exp(0.5 * k) * otm
            s = normalized_implied_total_vol(-xp.abs(k), beta, backend=be)
            row = s / sd[..., None]
            good = (beta > _RELIABLE) & xp.isfinite(row) & (row > 0.0)
            nu[it] = _fill_unreliable(row, good, xp).reshape(n_v, n_s, n_z)
            terms.append(int(n_terms.max()))
        if two:
            o = (int(order),) * 3 if np.ndim(order) == 0 else tuple(int(x) for x in order)
            order = (o[0], o[1], int(order_f), o[2])
        else:
            nu = nu[:, :, 0, :]
        dt = np.dtype(dtype)
        table = cls(
            backend=be, model=model, rate=float(rate), dividend_yield=float(dividend_yield), dtype=dt, order=order,
            z_axis=z_axis, sv_axis=sv_axis, st_axis=st_axis, nu=nu.astype(dt), f_axis=f_axis, z_map=z_map, theta_eff=theta_eff,
            jump_var=jump_var, v_scale=eps,
            info={"build_seconds": time.perf_counter() - t0, "cos_terms": terms, "nodes": n_tau * n_v * n_s * n_z,
                  "v_range": (vmin, vmax), "day_range": (min_days, max_days)},
        )
        return table

    # ------------------------------------------------------------------ lookups
    @property
    def xp(self):
        return self.backend.xp

    def _cast(self, a):
        return self.xp.asarray(a, dtype=self.dtype)

    def _total(self, v, v2):
        """``(V, f)``: the table's variance coordinate (``v``; two factors: ``v + v2``) and fast share
        (``v / V``, 1 at ``V = 0``; None for one factor); negative variances count as 0."""
        xp = self.xp
        v = xp.maximum(self._cast(v), 0.0)
        if self.f_axis is None:
            return v, None
        v2 = xp.maximum(self._cast(v2), 0.0)
        total = v + v2
        return total, xp.where(total > 0.0, v / xp.where(total > 0.0, total, 1.0), 1.0)

    def mean_variance(self, v, tau, v2=0.0):
        """``w(V, tau)``: the vol-scale of the table (see module doc)."""
        total, _ = self._total(v, v2)
        return _mean_var(total, self._cast(tau), self.model.kappa, self.theta_eff, self.jump_var, self.xp)

    def _nu(self, log_moneyness, v, tau, v2=0.0):
        xp = self.xp
        k = self._cast(log_moneyness)
        v, share = self._total(v, v2)
        tau = xp.maximum(self._cast(tau), 0.0)
        w = _mean_var(v, tau, self.model.kappa, self.theta_eff, self.jump_var, xp)
        sd = xp.sqrt(w * xp.maximum(tau, 1e-12))
        z = k / sd
        if self.z_map is not None:
            z = xp.arcsinh((z - self.z_map[0]) / self.z_map[1])
        sv = xp.arcsinh(xp.sqrt(v) / self.v_scale)
        if share is None:
            nu = interp(self.nu, (self.st_axis, self.sv_axis, self.z_axis), (xp.sqrt(tau), sv, z), self.order, xp)
        else:
            nu = interp(self.nu, (self.st_axis, self.sv_axis, self.f_axis, self.z_axis), (xp.sqrt(tau), sv, share, z), self.order, xp)
        return nu, w

    def iv(self, log_moneyness, v, tau, v2=0.0):
        """Black implied vol at forward log-moneyness ``ln(K/F)``, variance ``v`` (and slow variance ``v2``
        of a two-factor table), expiry ``tau`` (years)."""
        nu, w = self._nu(log_moneyness, v, tau, v2)
        return nu * self.xp.sqrt(w)

    def forward(self, spot, tau):
        """``F = S e^{(r-q) tau}``."""
        return self._cast(spot) * self.xp.exp((self.rate - self.dividend_yield) * self._cast(tau))

    def price_greeks(self, spot, strike, v, tau, is_call, v2=0.0) -> Greeks:
        """Price and greeks of SPX options from the interpolated implied vol.

        Parameters
        ----------
        spot, strike : arrays, index points
        v : array, variance state (decimal; a two-factor model's fast variance)
        tau : array, years (calendar days / 365), may be 0
        is_call : bool or bool array
        v2 : array, the slow variance of a two-factor table (ignored by one-factor tables)

        Returns
        -------
        Greeks
            ``(price, delta, gamma, vega, theta)`` per option (no multiplier):
            index points, per point, per point^2, per 1.00 vol, per year.
            ``vega``/``theta`` are Black-Scholes sensitivities at the table vol
            (sticky strike).
        """
        xp = self.xp
        spot = self._cast(spot)
        strike = self._cast(strike)
        tau = xp.maximum(self._cast(tau), 0.0)
        fwd = self.forward(spot, tau)
        vol = self.iv(xp.log(strike / fwd), v, tau, v2)
        return black_scholes(spot, strike, tau, vol, rate=self.rate, dividend_yield=self.dividend_yield,
                             is_call=is_call, backend=self.backend)

    def price(self, spot, strike, v, tau, is_call, v2=0.0):
        """Option price only (see :meth:`price_greeks`)."""
        return self.price_greeks(spot, strike, v, tau, is_call, v2).price

    def strike_for_delta(self, spot, v, tau, delta, is_call, grid: float = 5.0, iterations: int = 6, v2=0.0):
        """Strike whose Black-Scholes delta (at the table vol) is ``delta``, rounded to the strike grid.

        Parameters
        ----------
        spot, v, tau (and ``v2`` of a two-factor table) : arrays (broadcast); ``tau`` below the first table node is
            raised to it (the delta of an expiring option is a step function).
        delta : array, target ``|delta|`` in (0, 1) (sign ignored)
        is_call : bool or bool array
        grid : strike spacing (5 points for SPX); ``grid <= 0`` returns the raw strike.

        Returns
        -------
        array of strikes (index points), multiples of ``grid``, >= ``grid``.

        Method: with ``d1* = N^{-1}(|delta| e^{q tau})`` (calls) or ``-N^{-1}(...)``
        (puts), the log-moneyness ``k = ln(K/F)`` solves the fixed point
        ``k = phi(k) = sigma(k)^2 tau / 2 - d1* sigma(k) sqrt(tau)`` with
        ``sigma(k)`` the table vol.  Secant iterations on ``k - phi(k)`` from
        ``k = 0`` converge superlinearly (one table lookup each); six reach
        1e-3 index points on the whole table range.  Pure array code.
        """
        xp = self.xp
        sp = self.backend.special
        spot = self._cast(spot)
        v = xp.maximum(self._cast(v), 0.0)
        tau_min = self.st_axis.start ** 2
        tau = xp.maximum(self._cast(tau), tau_min)
        target = xp.clip(xp.abs(self._cast(delta)) * xp.exp(self.dividend_yield * tau), 1e-9, 1.0 - 1e-9)
        is_call = xp.asarray(is_call, dtype=bool)
        d1 = sp.ndtri(target)
        d1 = xp.where(is_call, d1, -d1)
        sq = xp.sqrt(tau)

        def g(k):
            s = self.iv(k, v, tau, v2)
            return k - (0.5 * s * s * tau - d1 * s * sq)

        k0 = xp.zeros(xp.broadcast_shapes(spot.shape, v.shape, self._cast(v2).shape, tau.shape, d1.shape), dtype=self.dtype)
        g0 = g(k0)
        k1 = k0 - g0
        g1 = g(k1)
        for _ in range(iterations):
            den = g1 - g0
            ok = xp.abs(den) > 1e-14
            k2 = xp.where(ok, k1 - g1 * (k1 - k0) / xp.where(ok, den, 1.0), k1)
            k0, g0 = k1, g1
            k1 = k2
            g1 = g(k1)
        strike = self.forward(spot, tau) * xp.exp(k1)
        if grid and grid > 0:
            strike = xp.maximum(xp.round(strike / grid) * grid, grid)
        return strike


def _cos_put_shared(model, T, v_total, shares, k, settings, xp, max_elems=1 << 22):
    """Undiscounted puts ``p(k) = E[(1 - e^{Y-k})^+]`` of a two-factor model at the states
    ``(v, v2) = (f V, (1 - f) V)`` for every total ``V`` (``v_total[n_v]``) and share ``f`` (``shares[n_s]``).

    ``k`` is ``[n_v, n_k]``: one strike row per ``V``, shared by its shares.  COS as
    :func:`~gpu_alvh.pricing.cos.cos_put_normalized` (same formula, same per-state truncation rule and
    term count rule), except that the shares of a ``V`` share one truncation range - the union of their
    ranges - and one number of terms - the largest of theirs -, so the trigonometric sums over
    ``[n_k, N]``, the cost of COS, are computed once per ``V`` and contracted with the ``n_s`` rows of
    cosine coefficients (a matrix product).  Returns ``(p[n_v, n_s, n_k], terms[n_v])`` (terms on the host).
    """
    n_v, n_s = int(v_total.shape[0]), int(shares.shape[0])
    v = (v_total[:, None] * shares[None, :]).reshape(-1)
    v2 = (v_total[:, None] * (1.0 - shares[None, :])).reshape(-1)
    a, b = truncation_range(model, T, v, v2, truncation=settings.truncation, xp=xp)
    a = a.reshape(n_v, n_s).min(axis=1)
    b = b.reshape(n_v, n_s).max(axis=1)
    rep = lambda x: xp.repeat(x, n_s)  # noqa: E731
    terms = cos_terms(model, T, v, rep(a), rep(b), settings, xp=xp, v2=v2).reshape(n_v, n_s).max(axis=1)
    out = xp.empty((n_v, n_s, k.shape[1]), dtype=float)
    vv, vv2 = v.reshape(n_v, n_s), v2.reshape(n_v, n_s)
    for N in np.unique(terms):
        rows = np.nonzero(terms == N)[0]
        step = max(1, int(max_elems // (int(N) * (4 * n_s + k.shape[1] // 4))))  # bound the work arrays per chunk
        for lo in range(0, rows.size, step):
            r = xp.asarray(rows[lo:lo + step])
            out[r] = _put_rows_shared(model, T, vv[r], vv2[r], k[r], a[r], b[r], int(N), xp)
    return out, terms


def _put_rows_shared(model, T, v, v2, k, a, b, N, xp):
    """``p[g, n_s, n_k]`` for ``g`` total variances (``v, v2`` ``[g, n_s]``, ``k`` ``[g, n_k]``, ``a, b`` ``[g]``)
    with ``N`` terms: the sums of :func:`gpu_alvh.pricing.cos._put_rows`, their trigonometric part shared
    by the shares.

    With ``x_j = j theta`` (``theta = (c - a) pi / (b - a)`` per strike) and ``j = m M + l`` (``M = N / 8``,
    ``m < 8``), ``sin x_j = sin(m M theta) cos(l theta) + cos(m M theta) sin(l theta)`` (and the same for
    ``cos``): the sums ``sum_j sin(x_j) c_j`` over the coefficient rows ``c`` (three series per share) become
    one batched matrix product over ``l`` (``[3 n_s 8, M] @ [M, 2 n_k]`` per ``V``) and a weighted sum over
    ``m``, with ``2 (M + 8)`` sines and cosines per strike instead of ``2 N`` (same rounding level: every
    angle is one product of an integer and ``theta``)."""
    width = b - a
    g, n_s = int(v.shape[0]), int(v.shape[1])
    n_k = int(k.shape[1])
    P = 8 if N >= 64 else 1
    M = -(-int(N) // P)
    du = math.pi / width  # [g]
    u = xp.arange(P * M, dtype=float)[None, :] * du[:, None]  # [g, P M]; terms j >= N get zero coefficients
    A, B, C = log_price_abc(model, u, T, xp=xp)
    coef = (xp.exp(A[:, None, :] + B[:, None, :] * v[:, :, None] + C[:, None, :] * v2[:, :, None]
                   - 1j * (u * a[:, None])[:, None, :])).real * (2.0 / width[:, None, None])  # [g, n_s, P M]
    coef[:, :, 0] *= 0.5
    coef[:, :, N:] = 0.0
    u3 = u[:, None, :]
    inv1 = 1.0 / (1.0 + u3 * u3)
    alpha = xp.where(u3 == 0.0, 0.0, coef / xp.where(u3 == 0.0, 1.0, u3))
    gamma = coef * inv1
    W = xp.concatenate([alpha, coef * u3 * inv1, gamma], axis=1).reshape(g, 3 * n_s * P, M)  # rows (series, m)
    c = xp.clip(k, a[:, None], b[:, None])  # [g, n_k]
    wd = c - a[:, None]
    theta = wd * du[:, None]  # [g, n_k]
    xl = xp.arange(M, dtype=float)[None, :, None] * theta[:, None, :]  # [g, M, n_k]
    t = xp.matmul(W, xp.concatenate([xp.cos(xl), xp.sin(xl)], axis=2)).reshape(g, 3 * n_s, P, 2, n_k)
    tc, ts = t[:, :, :, 0], t[:, :, :, 1]  # sum_l cos(l theta) W, sum_l sin(l theta) W: [g, series, m, n_k]
    xm = (xp.arange(P, dtype=float) * M)[None, :, None] * theta[:, None, :]  # [g, m, n_k]
    sm, cm = xp.sin(xm)[:, None], xp.cos(xm)[:, None]
    sin_sum = (sm * tc[:, :2 * n_s] + cm * ts[:, :2 * n_s]).sum(axis=2)  # alpha, beta series: [g, 2 n_s, n_k]
    cos_sum = (cm * tc[:, 2 * n_s:] - sm * ts[:, 2 * n_s:]).sum(axis=2)  # gamma series: [g, n_s, n_k]
    ek = xp.exp(c - k)[:, None, :]
    eak = xp.exp(a[:, None] - k)[:, None, :]
    return (sin_sum[:, :n_s] + coef[:, :, :1] * wd[:, None, :] - ek * (sin_sum[:, n_s:] + cos_sum)
            + eak * gamma.sum(axis=2)[:, :, None])

def _mean_var(v, tau, kappa, theta_eff, jump_var, xp):
    kt = xp.asarray(kappa * tau)  # an array also for a scalar tau (CuPy's where takes arrays only)
    small = kt < 1e-8
    a = xp.where(small, 1.0 - 0.5 * kt, -xp.expm1(-kt) / xp.where(small, 1.0, kt))
    return xp.maximum(a * v + (1.0 - a) * theta_eff + jump_var, 1e-12)


def _fill_unreliable(row, good, xp):
    """Replace unreliable nodes by the nearest reliable value along the last axis."""
    n = row.shape[-1]
    idx = xp.arange(n)
    any_good = good.any(axis=-1)
    first = xp.argmax(good, axis=-1)
    last = n - 1 - xp.argmax(good[..., ::-1], axis=-1)
    lo_val = xp.take_along_axis(row, first[..., None], axis=-1)
    hi_val = xp.take_along_axis(row, last[..., None], axis=-1)
    out = xp.where(idx < first[..., None], lo_val, row)
    out = xp.where(idx > last[..., None], hi_val, out)
    out = xp.where(good | (idx < first[..., None]) | (idx > last[..., None]), out, xp.nan)
    # interior holes (rare): linear fill via neighbours is overkill; use the nearest good value on the left
    if bool(_host(xp.isnan(out).any())):
        o = _host(out).copy()
        for r in zip(*np.nonzero(np.isnan(o))):
            row_h = o[r[:-1]]
            j = r[-1]
            left = np.nonzero(~np.isnan(row_h[:j]))[0]
            row_h[j] = row_h[left[-1]] if left.size else 1.0
        out = xp.asarray(o)
    return xp.where(any_good[..., None], out, 1.0)
