"""Base class of the affine stochastic-volatility models.

All models share the CIR variance factor

.. code-block:: text

    dS/S = (mu - lambda*m) dt + sqrt(v) dW_s + (e^J - 1) dN
    dv   = kappa (theta - v) dt + sigma sqrt(v) dW_v + Z_v dN
    d<W_s, W_v> = rho dt

and differ only in the jump terms.  A model *instance* holds validated,
immutable parameters (floats) and provides

* :meth:`AffineModel.vix2_coefficients` - ``VIX^2 = a v + b`` (decimal variance),
* :meth:`AffineModel.log_price_cf` - ``E[exp(i u ln(S_T/S_0))]`` under the
  pricing measure, in affine form ``exp(i u (r-q) T + A(u,T) + B(u,T) v)``,
* :meth:`AffineModel.variance_cf` - ``E[exp(i w v_T) | v_0 = v]`` for VIX pricing,
* jump moments used by the simulator and the VIX formula.

The characteristic functions take an array namespace ``xp`` so that the same
code runs on NumPy and CuPy.  ``u`` and ``w`` may be arrays of any shape; ``T``
is a scalar (years); ``v`` broadcasts against the result.

Parameter names are fixed project-wide (API, YAML, results):
``v0, kappa, theta, sigma, rho``; Bates adds ``jump_intensity, jump_mean,
jump_std``; SVCJ adds ``var_jump_mean, jump_corr``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from ..errors import SpecError, SpecIssue

__all__ = ["AffineModel", "ParamRule", "VIX_TAU", "SIGMA_FLOOR", "graded_quadrature", "heston_ab", "cir_ab"]

#: VIX horizon: 30 calendar days in years.
VIX_TAU = 30.0 / 365.0
#: Below this vol of variance the little-trap formulas cancel catastrophically
#: (``A = kappa theta / sigma^2 (...)`` loses every digit near sigma ~ 1e-8); the
#: deterministic-variance limit is used instead (error O(sigma)).
SIGMA_FLOOR = 1e-5


@dataclass(frozen=True)
class ParamRule:
    """Allowed range of one model parameter (closed bounds unless stated)."""

    low: float
    high: float
    low_open: bool = False
    doc: str = ""

    def allowed(self) -> str:
        lo = "(" if self.low_open else "["
        return f"allowed: a number in {lo}{self.low:g}, {self.high:g}]"

    def ok(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        if self.low_open and not x > self.low:
            return False
        return self.low <= x <= self.high


@dataclass(frozen=True)
class AffineModel:
    """Heston-family model with CIR variance.  Subclasses add jump terms.

    Parameters
    ----------
    kappa : float
        Mean-reversion speed of variance (1/yr).
    theta : float
        Long-run variance (decimal, annualised).
    sigma : float
        Volatility of variance ("vol of vol").
    rho : float
        Correlation of the price and variance Brownian motions.
    """

    name: ClassVar[str] = "affine"
    #: Variance factors: ``v`` (1), or ``v`` and the slow ``v2`` (2, :class:`~gpu_alvh.models.SVCJ2`).
    n_factors: ClassVar[int] = 1
    #: Rules for the parameters of this model, by name.
    RULES: ClassVar[dict[str, ParamRule]] = {
        "kappa": ParamRule(1e-3, 100.0, doc="mean-reversion speed, 1/yr"),
        "theta": ParamRule(0.0, 4.0, low_open=True, doc="long-run variance, decimal"),
        "sigma": ParamRule(0.0, 10.0, doc="volatility of variance"),
        "rho": ParamRule(-1.0, 1.0, doc="price/variance correlation"),
    }
    #: State and measure-specific names accepted in a parameter dict beside RULES.
    STATE_RULES: ClassVar[dict[str, ParamRule]] = {
        "v0": ParamRule(0.0, 16.0, doc="initial variance, decimal"),
    }

    kappa: float
    theta: float
    sigma: float
    rho: float

    # ------------------------------------------------------------------ construction
    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """Names of the model parameters (without the state ``v0``)."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def check_params(cls, params: dict[str, Any], *, allow_state: bool = True, required: bool = True) -> list[SpecIssue]:
        """Validate a parameter dict; return the problems (empty when valid).

        Field names in the issues are the bare parameter names; callers prefix
        them (``params.kappa``).  With ``required=False`` missing names are
        allowed (partial ``pricing:`` overrides).
        """
        issues: list[SpecIssue] = []
        rules = dict(cls.RULES)
        if allow_state:
            rules.update(cls.STATE_RULES)
        allowed_names = ", ".join(rules)
        if not isinstance(params, dict):
            return [SpecIssue("", params, f"expected a mapping of parameter names to numbers ({allowed_names})")]
        for key, value in params.items():
            if key not in rules:
                issues.append(SpecIssue(str(key), value, f"unknown parameter for model '{cls.name}'; allowed: {allowed_names}"))
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                issues.append(SpecIssue(str(key), value, f"expected a number; {rules[key].allowed()}"))
                continue
            if not rules[key].ok(float(value)):
                issues.append(SpecIssue(str(key), value, rules[key].allowed()))
        if required:
            for key in cls.RULES:
                if key not in params:
                    issues.append(SpecIssue(key, SpecIssue.MISSING, f"required parameter of model '{cls.name}' ({cls.RULES[key].doc})"))
        if not issues:
            issues += cls._check_joint({k: float(v) for k, v in params.items()})
        return issues

    @classmethod
    def _check_joint(cls, params: dict[str, float]) -> list[SpecIssue]:
        """Constraints between parameters (subclasses extend)."""
        return []

    @classmethod
    def from_params(cls, params: dict[str, Any], *, source: str = "<params>") -> "AffineModel":
        """Build a model from a parameter dict (``v0`` and unknown-free).

        Raises :class:`~gpu_alvh.errors.SpecError` naming each bad parameter.
        ``v0`` may be present and is ignored here (it is state, not a model
        parameter).
        """
        issues = cls.check_params(params)
        if issues:
            raise SpecError(source, issues)
        return cls(**{k: float(params[k]) for k in cls.param_names()})

    def to_dict(self) -> dict[str, float]:
        """Parameters as a plain dict (model name not included)."""
        return asdict(self)

    def replace(self, **changes: float) -> "AffineModel":
        """Copy with some parameters changed (validated)."""
        d = self.to_dict()
        d.update(changes)
        return type(self).from_params(d)

    # ------------------------------------------------------------------ jump moments
    @property
    def jump_intensity(self) -> float:
        """Jump arrival rate per year (0 for pure diffusions)."""
        return 0.0

    def jump_compensator(self) -> float:
        """``m = E[e^J] - 1``; the drift carries ``-lambda m``."""
        return 0.0

    def jump_qv_term(self) -> float:
        """``2 lambda (E[e^J] - 1 - E[J])``: the jump part of VIX^2 (per year)."""
        return 0.0

    def mean_variance_jump(self) -> float:
        """``E[Z_v]``: mean variance jump size (0 unless SVCJ)."""
        return 0.0

    def effective_theta(self) -> float:
        """Long-run mean of v including variance jumps: ``theta + lambda mu_v / kappa``."""
        return self.theta + self.jump_intensity * self.mean_variance_jump() / self.kappa

    def sample_jumps(self, draw, count, max_count: int, xp, special, dt: float = 0.0):
        """Jump contributions over one step, given the Poisson counts.

        Parameters
        ----------
        draw : callable
            ``draw(block) -> (u1, u2)``: two independent U(0,1) arrays [paths]
            from :func:`gpu_alvh.rng.uniforms` for this step.
        count : array [paths]
            Number of jumps in the step (float array of small integers).
        max_count : int
            Largest value ``count`` can take in this step (host-side bound of
            the Poisson inversion), so rare-branch work is skipped statically.
        xp, special
            Array namespace and its special functions (``ndtri``).
        dt : float
            The step's length in variance years (for what a jump of the variance adds to the price
            diffusion within the step).

        Returns
        -------
        (log_jump, var_jump) : arrays [paths] or None
            Sum of log price jumps and of variance jumps (None = no jumps).
        """
        return None, None

    # ------------------------------------------------------------------ VIX
    def vix2_coefficients(self, tau: float = VIX_TAU) -> tuple[float, float]:
        """Coefficients of the model-implied VIX: ``VIX_t^2 = a v_t + b``.

        ``a = (1 - exp(-kappa tau)) / (kappa tau)``,
        ``b = theta_eff (1 - a) + 2 lambda (E[e^J] - 1 - E[J])``, decimal
        variance per year; VIX in points is ``100 sqrt(VIX^2)``.
        """
        kt = self.kappa * tau
        a = -math.expm1(-kt) / kt
        b = self.effective_theta() * (1.0 - a) + self.jump_qv_term()
        return a, b

    def vix2_terms(self, tau: float = VIX_TAU) -> tuple[float, float, float]:
        """``(a, a2, b)`` of ``VIX^2 = a v + a2 v2 + b``: the form every model shares (``a2 = 0`` here; the
        two-factor :class:`~gpu_alvh.models.SVCJ2` has a slow variance ``v2``)."""
        a, b = self.vix2_coefficients(tau)
        return a, 0.0, b

    def vix_from_state(self, v, v2=0.0, xp=np, tau: float = VIX_TAU):
        """Model VIX in index points from the variance state(s) (``v2`` ignored by one-factor models)."""
        return self.vix_from_variance(v, xp=xp, tau=tau)

    def fast_variance_from_vix(self, vix, v2=0.0, xp=np, tau: float = VIX_TAU):
        """Variance ``v`` that gives VIX = ``vix`` points (at slow variance ``v2`` for two-factor models)."""
        return self.variance_from_vix(vix, xp=xp, tau=tau)

    def vix_from_variance(self, v, xp=np, tau: float = VIX_TAU):
        """Model VIX in index points from the variance state ``v``."""
        a, b = self.vix2_coefficients(tau)
        return 100.0 * xp.sqrt(xp.maximum(a * v + b, 0.0))

    def variance_from_vix(self, vix, xp=np, tau: float = VIX_TAU):
        """Variance state that gives VIX = ``vix`` points (floored at 0)."""
        a, b = self.vix2_coefficients(tau)
        return xp.maximum(((vix / 100.0) ** 2 - b) / a, 0.0)

    def vix_floor(self, tau: float = VIX_TAU) -> float:
        """Lowest VIX the model can produce (at ``v = 0``), in points."""
        return 100.0 * math.sqrt(max(self.vix2_coefficients(tau)[1], 0.0))

    # ------------------------------------------------------------------ moments of v
    def mean_variance(self, v0, t):
        """``E[v_t | v_0]`` (diffusive part plus variance jumps)."""
        th = self.effective_theta()
        return th + (v0 - th) * np.exp(-self.kappa * t)

    def variance_of_variance(self, v0, t):
        """``Var[v_t | v_0]``, variance jumps included.

        From the moment equations ``dm/dt = kappa (theta_eff - m)`` and
        ``ds/dt = -2 kappa s + sigma^2 m + lambda E[Z_v^2]``:
        ``s(t) = sigma^2 theta_eff (1 - e^{-2kt})/(2k) + sigma^2 (v0 - theta_eff)(e^{-kt} - e^{-2kt})/k
        + lambda E[Z_v^2] (1 - e^{-2kt})/(2k)``; for Heston this is the CIR variance.
        """
        k, s = self.kappa, self.sigma
        th = self.effective_theta()
        e1, e2 = np.exp(-k * t), np.exp(-2 * k * t)
        jump_m2 = self.jump_intensity * 2.0 * self.mean_variance_jump() ** 2
        return s * s * th * (1 - e2) / (2 * k) + s * s * (v0 - th) * (e1 - e2) / k + jump_m2 * (1 - e2) / (2 * k)

    # ------------------------------------------------------------------ characteristic functions
    def heston_ab(self, u, T: float, xp=np):
        """Heston part of the log-price CF: ``(A, B)`` of :func:`heston_ab` with this model's CIR factor
        (``E[exp(i u x_T)] = exp(i u (r-q) T + A + B v)`` for the diffusive part, ``x_T = ln(S_T/S_0)``)."""
        return heston_ab(u, T, self.kappa, self.theta, self.sigma, self.rho, xp=xp)

    def jump_a(self, u, T: float, xp=np):
        """Jump contribution to ``A(u, T)`` (0 for Heston)."""
        return xp.zeros_like(xp.asarray(u, dtype=complex))

    def log_price_cf(self, u, T: float, v, *, rate: float = 0.0, dividend_yield: float = 0.0, xp=np):
        """Characteristic function of ``ln(S_T/S_0)`` under this (pricing) model.

        Parameters
        ----------
        u : array, real
            Fourier arguments, any shape.
        T : float
            Time to expiry in years (> 0).
        v : float or array
            Current variance state; broadcasts with ``u``.
        rate, dividend_yield : float
            Continuously compounded, per year.
        """
        A, B = self.log_price_ab(u, T, rate=rate, dividend_yield=dividend_yield, xp=xp)
        return xp.exp(A + B * v)

    def log_price_ab(self, u, T: float, *, rate: float = 0.0, dividend_yield: float = 0.0, xp=np):
        """Affine coefficients: ``ln E[e^{iu x_T}] = A + B v`` (drift and jumps in ``A``)."""
        A, B = self.heston_ab(u, T, xp=xp)
        u = xp.asarray(u, dtype=complex)
        drift = rate - dividend_yield - self.jump_intensity * self.jump_compensator()
        return A + 1j * u * drift * T + self.jump_a(u, T, xp=xp), B

    def variance_ab(self, w, T: float, xp=np):
        """Affine coefficients of the variance CF: ``ln E[e^{i w v_T}|v] = A_v + B_v v``: the CIR part
        (:func:`cir_ab`) plus the variance jumps (:meth:`variance_jump_a`)."""
        A, B = cir_ab(w, T, self.kappa, self.theta, self.sigma, xp=xp)
        return A + self.variance_jump_a(w, T, xp=xp), B

    def variance_jump_a(self, w, T: float, xp=np):
        """Jump contribution to ``A_v`` (0 unless variance jumps)."""
        return xp.zeros_like(xp.asarray(w, dtype=complex))

    def variance_cf(self, w, T: float, v, xp=np):
        """``E[exp(i w v_T) | v_0 = v]``."""
        A, B = self.variance_ab(w, T, xp=xp)
        return xp.exp(A + B * v)


def heston_ab(u, T: float, kappa: float, theta: float, sigma: float, rho: float, xp=np):
    """Heston log-price CF coefficients of one CIR factor, "little trap" form (no drift).

    ``E[exp(i u x_T)] = exp(A + B v)`` for ``dx = -v/2 dt + sqrt(v) dW``, ``dv = kappa (theta - v) dt
    + sigma sqrt(v) dZ``, ``d<W, Z> = rho dt``.  Albrecher, Mayer, Schoutens & Tistaert (2007):

    ``d = sqrt((rho sigma i u - kappa)^2 + sigma^2 (i u + u^2))``,
    ``g = (kappa - rho sigma i u - d) / (kappa - rho sigma i u + d)``,
    ``B = (kappa - rho sigma i u - d)/sigma^2 (1 - e^{-dT})/(1 - g e^{-dT})``,
    ``A = kappa theta/sigma^2 [(kappa - rho sigma i u - d) T - 2 ln((1 - g e^{-dT})/(1 - g))]``.

    ``sigma < SIGMA_FLOOR`` uses the deterministic-variance limit.
    """
    u = xp.asarray(u, dtype=complex)
    k, th, s, r = kappa, theta, sigma, rho
    iu = 1j * u
    if s < SIGMA_FLOOR:
        ek = xp.exp(-k * xp.asarray(T, dtype=float))
        w = (1 - ek) / k  # integral of e^{-k s} over [0, T]
        half = -0.5 * (iu + u * u)
        return half * th * (T - w), half * w
    beta = k - r * s * iu
    d = xp.sqrt(beta * beta + s * s * (iu + u * u))
    g = (beta - d) / (beta + d)
    e = xp.exp(-d * T)
    B = (beta - d) / (s * s) * (1 - e) / (1 - g * e)
    A = k * th / (s * s) * ((beta - d) * T - 2.0 * xp.log((1 - g * e) / (1 - g)))
    return A, B


def cir_ab(w, T: float, kappa: float, theta: float, sigma: float, xp=np):
    """CIR transform coefficients: ``ln E[e^{i w v_T} | v] = A + B v`` (no jumps).

    With ``c = sigma^2 (1 - e^{-kappa T}) / (2 kappa)``: ``B = i w e^{-kappa T} / (1 - i w c)``,
    ``A = -(2 kappa theta / sigma^2) ln(1 - i w c)`` (``sigma < SIGMA_FLOOR``:
    ``A = i w theta (1 - e^{-kappa T})``, ``B = i w e^{-kappa T}``).
    """
    w = xp.asarray(w, dtype=complex)
    k, th, s = kappa, theta, sigma
    ek = math.exp(-k * T)
    iw = 1j * w
    if s < SIGMA_FLOOR:
        return iw * th * (1 - ek), iw * ek
    c = s * s * (1 - ek) / (2 * k)
    den = 1 - iw * c
    return -(2 * k * th / (s * s)) * xp.log(den), iw * ek / den


@lru_cache(maxsize=32)
def _graded_nodes(n_panels: int, nodes_per_panel: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(nodes_per_panel)
    edges = np.concatenate([[0.0], 2.0 ** np.arange(-n_panels + 1, 1)])  # 0, 2^-(n-1), ..., 1
    lo, hi = edges[:-1], edges[1:]
    s = (0.5 * (hi - lo)[:, None] * (x[None, :] + 1.0) + lo[:, None]).ravel()
    ws = (0.5 * (hi - lo)[:, None] * w[None, :]).ravel()
    return s, ws


def graded_quadrature(T: float, n_panels: int = 40, nodes_per_panel: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes on geometrically graded panels of ``[0, T]``.

    Panels ``[0, T 2^{1-n}], ..., [T/4, T/2], [T/2, T]`` resolve integrands with
    a boundary layer at ``s = 0`` of any width down to ``T 2^{-n}`` (jump terms
    of the SVCJ transforms).  Returns host arrays ``(s, weights)``.
    """
    s, w = _graded_nodes(n_panels, nodes_per_panel)
    return s * T, w * T
