"""``alvh price SCENARIO --dte 7,21,45,90``: a small SPX option chain per expiry and the VIX futures curve.

Prices are direct COS / law-of-``v_T`` prices under the scenario's pricing (Q)
model at its initial state (spot, ``v0``); IVs are Black-Scholes (SPX) and
Black-76 (VIX) implied vols; deltas are Black-Scholes deltas at the IV.
Registered on the ``alvh`` group as ``price`` by :mod:`gpu_alvh.cli`.
"""

from __future__ import annotations

import math

import click
import numpy as np

from ..backend import get_backend

__all__ = ["price_command", "chain_rows"]

#: |delta| targets shown per side (puts below the forward, calls above).
CHAIN_DELTAS = (0.05, 0.10, 0.16, 0.25, 0.40)


#: most expiries one ``alvh price`` prints
MAX_DTES = 20
_DTE_ALLOWED = f"allowed: up to {MAX_DTES} comma-separated calendar days to expiry, each a number in (0, 3650], e.g. 7,21,45,90"


def _parse_dte(text: str) -> list[float]:
    """``--dte`` text -> calendar days; :class:`click.BadParameter` naming ``--dte`` and what is allowed."""
    parts = [x for x in str(text).replace(" ", "").split(",") if x]
    try:
        vals = [float(x) for x in parts[: MAX_DTES + 1]]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of numbers; {_DTE_ALLOWED}", param_hint="'--dte'") from None
    if not vals or len(parts) > MAX_DTES or any(not (0.0 < d <= 3650.0) for d in vals):
        raise click.BadParameter(f"{text!r} is not allowed; {_DTE_ALLOWED}", param_hint="'--dte'")
    return vals


def chain_rows(model, v0: float, *, spot: float, rate: float, dividend_yield: float, dte: float, backend, grid: float = 5.0,
               v2: float = 0.0):
    """Rows ``(kind, strike, price, iv, delta)`` of a small chain at ``dte`` calendar days.

    Strikes on the ``grid`` nearest to the |delta| targets of :data:`CHAIN_DELTAS`
    (OTM puts, the ATM strike, OTM calls).
    """
    from .black import black_scholes, implied_vol
    from .cos import cos_price

    be = get_backend(backend)
    xp = be.xp
    tau = dte / 365.0
    fwd = spot * math.exp((rate - dividend_yield) * tau)
    sd = math.sqrt(max(v0 + v2, model.effective_theta() + getattr(model, "theta2", 0.0), 1e-4) * tau)
    lo = max(grid, math.floor(fwd * math.exp(-8.0 * sd) / grid) * grid)
    hi = math.ceil(fwd * math.exp(5.0 * sd) / grid) * grid
    K = np.arange(lo, hi + grid / 2, grid)
    if K.size > 4000:  # keep the scan cheap for long expiries
        K = np.unique(np.round(np.geomspace(lo, hi, 4000) / grid) * grid)
    is_call = K >= fwd
    Kx = xp.asarray(K)
    cx = xp.asarray(is_call)
    p = cos_price(model, spot=spot, strikes=Kx, expiries=tau, v=v0, v2=v2, rate=rate, dividend_yield=dividend_yield, is_call=cx, backend=be)
    iv = implied_vol(p, fwd, Kx, tau, discount=math.exp(-rate * tau), is_call=cx, backend=be)
    d = black_scholes(spot, Kx, tau, iv, rate=rate, dividend_yield=dividend_yield, is_call=cx, backend=be).delta
    p, iv, d = (np.asarray(be.to_host(a)) for a in (p, iv, d))
    picks = []
    for target in CHAIN_DELTAS:
        for want_call in (False, True):
            sel = np.nonzero((is_call == want_call) & np.isfinite(d))[0]
            if sel.size:
                picks.append(sel[np.argmin(np.abs(np.abs(d[sel]) - target))])
    picks.append(int(np.argmin(np.abs(K - fwd))))
    rows = []
    for i in sorted(set(picks), key=lambda j: K[j]):
        rows.append(("C" if is_call[i] else "P", float(K[i]), float(p[i]), float(iv[i]), float(d[i])))
    return rows


@click.command("price", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("scenario")
@click.option("--dte", "dte_text", default="7,21,45,90", show_default=True, help="Expiries in calendar days, comma-separated.")
@click.option("--backend", type=click.Choice(["auto", "numpy", "cupy"], case_sensitive=False), default="auto", show_default=True)
def price_command(scenario: str, dte_text: str, backend: str) -> None:
    """Print an SPX option chain per expiry and the VIX futures curve of SCENARIO (file or library name).

    Uses the pricing model of the scenario's start close (its base pricing model, or the regime of a priced
    window from day 1) at its initial state (spot, v0).
    """
    from ..spec import load_scenario
    from .vix import vix_prices

    dtes = _parse_dte(dte_text)
    spec = load_scenario(scenario)
    model = spec.close_pricing_model(0)
    v0, v2 = spec.v0(), spec.v2_0()
    be = get_backend(backend)
    spot, rate, q = float(spec.spot), float(spec.rate), float(spec.dividend_yield)
    vix0 = float(model.vix_from_state(v0, v2))
    slow = f", v2_0 {v2:.6f}" if model.n_factors == 2 else ""
    click.echo(f"scenario {spec.name}: model {model.name}, spot {spot:.2f}, v0 {v0:.6f}{slow} (model VIX {vix0:.2f}), "
               f"rate {rate:.4f}, dividend yield {q:.4f}, backend {be.name}")
    for dte in dtes:
        rows = chain_rows(model, v0, spot=spot, rate=rate, dividend_yield=q, dte=dte, backend=be, v2=v2)
        fwd = spot * math.exp((rate - q) * dte / 365.0)
        click.echo("")
        click.echo(f"SPX {dte:g} DTE (forward {fwd:.2f})")
        click.echo(f"  {'type':>4s} {'strike':>9s} {'price':>10s} {'IV %':>7s} {'delta':>7s}")
        for kind, k, p, iv, d in rows:
            click.echo(f"  {kind:>4s} {k:9.0f} {p:10.2f} {100 * iv:7.2f} {d:7.3f}")
    quote = vix_prices(model, v0, expiries=np.asarray(dtes) / 365.0, rate=rate, backend=be, v2=v2)
    fut = np.asarray(be.to_host(quote.futures))
    click.echo("")
    click.echo("VIX futures curve")
    click.echo(f"  {'DTE':>6s} {'future':>8s}")
    click.echo(f"  {0:6g} {vix0:8.2f}  (model VIX)")
    for dte, f in zip(dtes, fut):
        click.echo(f"  {dte:6g} {f:8.2f}")
