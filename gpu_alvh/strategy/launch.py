"""Run the fused book over one batch of paths on a backend, and bring its outputs to the host.

:func:`run_batch` allocates the outputs on the backend's arrays (NumPy, or CuPy for the CUDA kernels),
launches the ``book`` entry (:mod:`gpu_alvh.kernels.build`) over ``row groups x paths`` threads (a thread
runs up to :data:`~gpu_alvh.strategy.params.ROWS_PER_THREAD` strategy rows on its path), and
copies the results to the host once (through :func:`gpu_alvh.results.to_host`): per-path core outputs
and accumulator fields. The band histograms and greek sums (:func:`band_outputs`, a copy per CPU thread)
are the batch's own, summed on return, or a run's, which every batch adds to and :func:`band_sums`
reduces once.  The
returned dict has the layout :func:`gpu_alvh.results.scenario_dataset` reads.

:func:`trace_rows` runs the same per-path program as plain Python for a few paths and records the state
twice per step (after the marks, and at the end of the step) - the numbers behind a path's P&L.
"""

from __future__ import annotations

import numpy as np

from ..kernels import build, market
from ..kernels.target import n_copies
from . import accumulators as acc_mod
from .engine import CORE, CORE_INDEX, GREEKS, N_CORE, NAV_BINS, SPX_BINS, VIX_BINS
from .params import MAX_LAYERS, ROWS_PER_THREAD, BookParams
from .signals import neutral_seed_move

__all__ = ["KernelInputs", "prepare", "run_batch", "per_path_outputs", "vix_beta_terms", "regime_constants"]

VIX3M_TAU = 93.0 / 365.0


class KernelInputs:
    """Everything the kernel reads, on the backend, built once per run (tables, parameters, market)."""

    def __init__(self, book, params: BookParams, compiled, spx_tables, vix_tables, backend):
        """``spx_tables``, ``vix_tables``: one table per pricing regime of ``compiled`` (``compiled.pricing_models``
        order; a single table for a scenario without regimes)."""
        from . import marks

        self.backend, self.book, self.params, self.compiled = backend, book, params, compiled
        dev = lambda a: _to_kernel(a, backend)  # noqa: E731
        self.market = tuple(dev(a) for a in market.compile_market(compiled))  # (mk, steps)
        self.book_arrays = tuple(dev(a) for a in (params.strat, params.slots, params.hedges, params.cond, params.cal, params.spx_expiry, params.vix_expiry,
                                                  params.spx_expiry_v, params.vix_expiry_v))
        spx, vix = marks.spx_arrays(spx_tables), marks.vix_arrays(vix_tables)  # a record per table
        n_reg = len(compiled.pricing_models)
        if len(spx[0]) != n_reg or len(vix[0]) != n_reg:
            raise ValueError(f"{compiled.name}: {n_reg} pricing regime(s) need as many SPX and VIX tables "
                             f"(got {len(spx[0])} and {len(vix[0])}; gpu_alvh.runner.build_tables builds them)")
        self.spx = tuple(dev(a) for a in spx)
        self.vix = tuple(dev(a) for a in vix)
        self.kq_host = regime_constants(compiled)
        self.kq = dev(self.kq_host)
        mq = compiled.pricing_models[compiled.regime[0]]  # the start close's pricing model
        self.seeds = rsi_seeds(compiled, mq)
        self.run_has_hedges = bool(book.n_hedge_slots > 0)
        self.n_days = int(compiled.horizon)
        self.S = params.n_strategies
        self.n_layers = params.n_layers

    def scalars(self):
        """The kernel's scalar arguments after ``kq``: rate, yield, spot, v0, RSI seeds, hedges flag, layers."""
        c = self.compiled
        return (float(c.rate), float(c.dividend_yield), float(c.spot), float(c.v0), self.seeds, self.run_has_hedges, self.n_layers)


def rsi_seeds(compiled, mq) -> tuple[float, float]:
    """Wilder's RSI seeds (:func:`~gpu_alvh.strategy.signals.neutral_seed_move`) of SPX and VIX at the start
    state: SPX with variance ``v0 + v2_0``; VIX with the relative variance of its square root,
    ``(a^2 sigma^2 v0 + a2^2 sigma2^2 v2_0) / (a v0)^2`` (``sigma^2 / v0`` for one factor, ``a, a2`` of the
    pricing model ``mq``, ``sigma, sigma2`` of the P model), floored at 0.25."""
    v0, v2 = float(compiled.v0), float(compiled.v2_0)
    mp = compiled.model_p
    if mq.n_factors == 1:
        rel = mp.sigma**2 / max(v0, 1e-6)
    else:
        a, a2, _ = mq.vix2_terms()
        rel = (a * a * mp.sigma**2 * v0 + a2 * a2 * mp.sigma2**2 * v2) / max(a * v0, 1e-6) ** 2
    return (neutral_seed_move(compiled.spot, v0 + v2), neutral_seed_move(float(mq.vix_from_state(v0, v2)), max(rel, 0.25)))


def regime_constants(compiled) -> np.ndarray:
    """``kq`` [n_regimes, 10] float64: per pricing regime ``(a, b, a3, b3)`` of its pricing model's
    ``VIX^2 = a v + a2 v2 + b`` at 30 and 93 days, then :func:`vix_beta_terms` of its paths' model, then the
    slow-factor terms ``(a2, a3_2, rho2 sigma2)`` (zeros for one-factor models)."""
    rows = []
    for mq, mp in zip(compiled.pricing_models, compiled.regime_models_p):
        a, a2, b = mq.vix2_terms()
        a3, a3_2, b3 = mq.vix2_terms(VIX3M_TAU)
        slow = float(getattr(mp, "rho2", 0.0) * getattr(mp, "sigma2", 0.0))
        rows.append((a, b, a3, b3, *vix_beta_terms(mp), a2, a3_2, slow))
    return np.array(rows, dtype=np.float64)


def vix_beta_terms(model) -> tuple[float, float, float]:
    """``(rho sigma, lambda E[Z_v J], lambda E[J^2])`` of a model: the instantaneous covariation of the
    variance with the log price and the jump part of the log price's quadratic variation (per year), for
    :func:`gpu_alvh.strategy.hedge.vix_beta`.  Price jump ``J | Z_v ~ N(mu_J + rho_J Z_v, delta^2)``,
    ``Z_v ~ Exp(mu_v)`` (``E[Z_v^2] = 2 mu_v^2``); Heston has no jumps, Bates no variance jumps."""
    lam = float(getattr(model, "jump_intensity", 0.0))
    mu_j, dlt = float(getattr(model, "jump_mean", 0.0)), float(getattr(model, "jump_std", 0.0))
    mu_v, rho_j = float(model.mean_variance_jump()), float(getattr(model, "jump_corr", 0.0))
    e_zj = mu_j * mu_v + 2.0 * rho_j * mu_v**2
    e_j2 = dlt**2 + mu_j**2 + 2.0 * mu_j * rho_j * mu_v + 2.0 * rho_j**2 * mu_v**2
    return float(model.rho * model.sigma), lam * e_zj, lam * e_j2


def _to_kernel(a, backend):
    """An input array where the kernels read it: host NumPy (CPU, simulator); CUDA device memory for the
    GPU (records through numba-cuda - CuPy has no structured dtypes - other arrays through CuPy)."""
    if backend.kernel_target != "cuda":
        return backend.to_host(a) if hasattr(a, "__cuda_array_interface__") else np.asarray(a)
    if isinstance(a, np.ndarray) and a.dtype.names:
        from numba import cuda

        return cuda.to_device(a)
    return backend.xp.asarray(a)


def prepare(book, params, compiled, spx_tables, vix_tables, backend) -> KernelInputs:
    return KernelInputs(book, params, compiled, spx_tables, vix_tables, backend)


BANDS = ("h_nav", "h_spx", "h_vix", "g_sums")


def band_outputs(inp: KernelInputs) -> dict:
    """Zeroed daily-band accumulators on the backend's arrays, shaped ``[copy, ...]`` (a copy per CPU
    thread, one on a GPU): ``h_nav [copy, S * D1, NAV_BINS]``, ``h_spx`` / ``h_vix [copy, D1, bins]``
    (int32 counts), ``g_sums [copy, D1, 4 * S * L]`` (float64 greek sums: a path-day's adds in one row). Launches add into them, so one
    set serves every batch of a run; :func:`band_sums` reduces them once at the end."""
    xp = inp.backend.xp
    S, D1 = inp.S, inp.n_days + 1
    copies = n_copies(inp.backend.kernel_target)
    return {
        "h_nav": xp.zeros((copies, S * D1, NAV_BINS[2]), dtype=np.int32),
        "h_spx": xp.zeros((copies, D1, SPX_BINS[2]), dtype=np.int32),
        "h_vix": xp.zeros((copies, D1, VIX_BINS[2]), dtype=np.int32),
        "g_sums": xp.zeros((copies, D1, len(GREEKS) * S * inp.n_layers), dtype=np.float64),
    }


def band_sums(inp: KernelInputs, bands: dict) -> dict:
    """Host sums of :func:`band_outputs` over copies: ``nav_hist [S, D1, bins]``, ``spx_hist`` /
    ``vix_hist [D1, bins]`` (int64 path counts), ``greek_sums [4, S, L, D1]``."""
    from ..results import to_host

    S, D1 = inp.S, inp.n_days + 1
    host = {k: to_host(inp.backend, bands[k]) for k in BANDS}
    return {
        "nav_hist": host["h_nav"].sum(axis=0, dtype=np.int64).reshape(S, D1, NAV_BINS[2]),
        "spx_hist": host["h_spx"].sum(axis=0, dtype=np.int64),
        "vix_hist": host["h_vix"].sum(axis=0, dtype=np.int64),
        "greek_sums": np.ascontiguousarray(host["g_sums"].sum(axis=0).T).reshape(len(GREEKS), S, inp.n_layers, D1),
    }


def _outputs(inp: KernelInputs, count: int, save_paths: bool):
    """Zeroed per-path outputs of a batch of ``count`` paths (``core [N_CORE, S, count]``, ``accs``, the
    saved series)."""
    xp = inp.backend.xp
    S, D1 = inp.S, inp.n_days + 1
    out = {
        "core": xp.zeros((N_CORE, S, count), dtype=np.float64),
        "accs": xp.zeros((acc_mod.N_ACC, S, count), dtype=np.float64),
    }
    if save_paths:
        out.update(sv_nav=xp.zeros((S, D1, count)), sv_spx=xp.zeros((D1, count)), sv_vix=xp.zeros((D1, count)))
    else:
        out.update(sv_nav=xp.zeros((0, 1, 1)), sv_spx=xp.zeros((0, 1)), sv_vix=xp.zeros((0, 1)))
    return out


def run_batch(inp: KernelInputs, start: int, count: int, seed: int, save_paths: bool = False, rows_per_thread: int | None = None,
              bands: dict | None = None) -> dict:
    """Run every strategy row on paths ``start .. start + count - 1``; host results (see module docstring).

    ``rows_per_thread``: rows a thread runs (default: ``ROWS_PER_THREAD`` of the target, at most the
    strategies'; the results do not depend on it). ``bands``: accumulators of :func:`band_outputs` the
    launch adds its daily bands into (the result's ``sums`` is then ``None``; the caller reduces them once
    with :func:`band_sums`); by default the batch gets its own and returns their sums. Nothing is added to
    ``bands`` before the launch runs, so an out-of-memory split retries a batch that added nothing (the
    allocations come first); an error after the launch ends the run."""
    from ..results import to_host

    b = inp.backend
    most = ROWS_PER_THREAD["cpu" if b.kernel_target == "cpu" else "cuda"]
    rows = min(inp.S, most) if rows_per_thread is None else int(rows_per_thread)
    if not 1 <= rows <= most:
        raise ValueError(f"rows_per_thread must be in 1..{most} on {b.kernel_target}, got {rows}")
    o = _outputs(inp, count, save_paths)
    own = bands is None
    bands = band_outputs(inp) if own else bands
    n = -(-inp.S // rows) * count
    rate, q, spot0, v0, seeds, run_has_hedges, n_layers = inp.scalars()
    args = (n, count, np.int64(rows), np.int64(start), np.uint64(seed), np.uint64(inp.compiled.key), *inp.market, *inp.book_arrays, *inp.spx, *inp.vix,
            inp.kq, rate, q, spot0, v0, *seeds, run_has_hedges, n_layers,
            o["core"], o["accs"], *(bands[k] for k in BANDS), o["sv_nav"], o["sv_spx"], o["sv_vix"],
            np.int64(n_copies(b.kernel_target)))
    build.launch("book", b.kernel_target, n, *args)
    host = {k: to_host(b, v) for k, v in o.items()}
    return per_path_outputs(inp, host, start, count, save_paths, band_sums(inp, bands) if own else None)


def per_path_outputs(inp: KernelInputs, host: dict, start: int, count: int, save_paths: bool, sums: dict | None) -> dict:
    """The batch's results in the layout of :func:`gpu_alvh.results.scenario_dataset` (host arrays):
    ``host`` the outputs of :func:`_outputs`, ``sums`` those of :func:`band_sums` (or ``None``)."""
    S, L = inp.S, inp.n_layers
    core, accs = host["core"], host["accs"]
    slots = inp.params.slots
    strat = inp.params.strat
    pp = {}
    for name in CORE:
        if name != "layer_pnl" and name not in ("spx_final", "vix_final"):
            pp[name] = core[CORE_INDEX[name]]
    pp["final_pnl"] = pp["final_nav"] - strat["nav"][:, None]
    # excess over cash: what NAV_0 would have earned at the rate, accrued as the engine accrues cash
    pp["excess_pnl"] = pp["final_pnl"] - strat["nav"][:, None] * (float(np.prod(inp.params.cal["growth"])) - 1.0)
    fields = acc_mod.FIELD
    per_layer = {}
    for f in fields.values():
        if f.size == 1:
            pp[f.name] = accs[f.offset]
        else:
            per_layer[f.name] = accs[f.offset: f.offset + f.size]
    per_layer["layer_pnl"] = core[CORE_INDEX["layer_pnl"]: CORE_INDEX["layer_pnl"] + MAX_LAYERS]
    for name, a in per_layer.items():  # local slot k of strategy s -> its layer coordinate
        out = np.zeros((S, L, count))
        for s in range(S):
            g0, nk = int(strat[s]["slot0"]), int(strat[s]["n_slots"])
            for k in range(nk):
                out[s, int(slots[g0 + k]["layer"])] = a[k, s]
        pp[name] = out
    pp["spx_final"] = core[CORE_INDEX["spx_final"], 0]
    pp["vix_final"] = core[CORE_INDEX["vix_final"], 0]
    paths = None
    if save_paths:
        paths = {"nav": host["sv_nav"], "spx": host["sv_spx"], "vix": host["sv_vix"]}
    years = float(inp.params.cal["now"][-1]) / 365.0
    bad = pp.pop("bad_day")
    return {"per_path": pp, "sums": sums, "paths": paths, "years": years, "count": count, "start": start, "bad_day": bad}


def trace_paths(inp: KernelInputs, paths, seed: int) -> dict:
    """Run the per-path program as plain Python on ``paths`` for every strategy, recording each step.

    Returns ``{"paths", "records", "audit", "result"}``: ``records`` is a list (per step and stage, in
    order) of dicts of host arrays over ``[slot, traced path]`` (ladder fields), ``[hedge slot, traced
    path]`` (``h_*``), ``[strategy, traced path]`` (``nav``, ``cash``, ``spent``, ``allowance``, ``under``,
    ``signal_*`` ...) and ``[traced path]`` (``spot``, ``vix``); ``audit`` the worst bookkeeping errors
    (:class:`gpu_alvh.strategy.tracing.Recorder`); ``result`` the batch outputs of those paths.
    """
    from . import engine
    from .signals import SIGNALS
    from .state import local_state
    from .tracing import Recorder

    paths = [int(p) for p in paths]
    S = inp.S
    strat, hedges = inp.params.strat, inp.params.hedges
    K, J = inp.params.slots.shape[0], hedges.shape[0]
    n_t = len(paths)
    recs: dict[tuple[int, int], list] = {}
    audit = {"nav_error": 0.0, "value_excess": 0.0, "budget_excess": 0.0}
    parts = []
    for ti, path in enumerate(paths):
        host = {k: np.asarray(v) for k, v in {**_outputs(inp, 1, False), **band_outputs(inp)}.items()}
        for s in range(S):
            st = strat[s]
            nh, h0 = int(st["n_hedge"]), int(st["hedge0"])
            state = local_state(1)
            args = (s, 1, 1, path, np.uint64(seed), np.uint64(inp.compiled.key), *(np.asarray(a) for a in inp.market), *(np.asarray(a) for a in inp.book_arrays),
                    tuple(np.asarray(a) for a in inp.spx), tuple(np.asarray(a) for a in inp.vix), inp.kq_host, *inp.scalars(), *state,
                    host["core"], host["accs"], host["h_nav"], host["h_spx"], host["h_vix"], host["g_sums"], np.full((3, 1), -1, np.int32), host["sv_nav"], host["sv_spx"], host["sv_vix"])
            with Recorder(int(st["n_slots"]), nh, float(st["nav"]), hedges[h0:h0 + nh]) as rec:
                engine.run_path(*args)
            recs[(s, ti)] = rec.records
            for k in audit:
                audit[k] = max(audit[k], getattr(rec, k))
        parts.append(per_path_outputs(inp, host, path, 1, False, band_sums(inp, {k: host[k] for k in BANDS})))
    n_rec = len(recs[(0, 0)])
    records = []
    layer_slots = {}
    for j in range(J):
        layer_slots.setdefault(int(hedges[j]["layer"]), []).append(j)
    for r in range(n_rec):
        first = recs[(0, 0)][r]
        out = {"stage": first["stage"], "t": first["t"], "now": first["now"], "days_to_event": float(inp.params.cal[first["t"]]["days_to_event"])}
        out["spot"] = np.array([recs[(0, ti)][r]["spot"] for ti in range(n_t)])
        out["vix"] = np.array([recs[(0, ti)][r]["vix"] for ti in range(n_t)])
        slot_keys = [k for k, v in first.items() if isinstance(v, np.ndarray) and not k.startswith("h_") and k not in ("signals", "leg_price")]
        for key in slot_keys:
            a = np.zeros((K, n_t), dtype=first[key].dtype)
            for s in range(S):
                g0, nk = int(strat[s]["slot0"]), int(strat[s]["n_slots"])
                for ti in range(n_t):
                    a[g0:g0 + nk, ti] = recs[(s, ti)][r][key]
            out[key] = a
        lp = np.zeros((4, K, n_t))
        for s in range(S):
            g0, nk = int(strat[s]["slot0"]), int(strat[s]["n_slots"])
            for ti in range(n_t):
                lp[:, g0:g0 + nk, ti] = recs[(s, ti)][r]["leg_price"]
        out["leg_price"] = lp
        for key in [k for k in first if k.startswith("h_")]:
            a = np.zeros((J, n_t), dtype=first[key].dtype if first[key].size else float)
            for s in range(S):
                h0, nh = int(strat[s]["hedge0"]), int(strat[s]["n_hedge"])
                for ti in range(n_t):
                    if nh:
                        a[h0:h0 + nh, ti] = recs[(s, ti)][r][key]
            out[key] = a
        for key, name in (("nav", "nav"), ("cash", "cash"), ("interest", "interest"), ("spent", "spent"), ("probe_loss", "probe_loss"),
                          ("target_fraction", "target_fraction"), ("underhedge", "under"), ("allowance", "allowance"), ("hedge_pnl", "hedge_pnl")):
            if key in first:
                out[name] = np.array([[recs[(s, ti)][r][key] for ti in range(n_t)] for s in range(S)])
        for i, name in enumerate(SIGNALS):
            out[f"signal_{name}"] = np.array([[recs[(s, ti)][r]["signals"][i] for ti in range(n_t)] for s in range(S)])
        for h, js in layer_slots.items():
            out[f"active_{h}"] = out["h_active"][js]
        records.append(out)
    return {"paths": paths, "records": records, "audit": audit, "parts": parts}
