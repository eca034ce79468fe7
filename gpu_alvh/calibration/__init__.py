"""Calibration of the market models to daily history, and the market checks (issue 9, SPEC section 3).

* :mod:`~gpu_alvh.calibration.stats` - market statistics of real or simulated daily closes with
  sampling errors (:func:`history_statistics`, :func:`path_statistics`);
* :mod:`~gpu_alvh.calibration.moments` - the same statistics for a model pair (P, Q) in
  semi-closed form (:func:`model_statistics`);
* :mod:`~gpu_alvh.calibration.fit` - the P / Q fit (:func:`calibrate`);
* :mod:`~gpu_alvh.calibration.history` - reading and validating daily-close CSV files;
* :mod:`~gpu_alvh.calibration.check` - a scenario's simulated statistics beside the history;
* :mod:`~gpu_alvh.calibration.cli` - ``alvh calibrate`` and ``alvh scenarios check``.
"""

from __future__ import annotations

from .._lazy import exports

#: Public name -> the submodule that defines it (imported on first use: :mod:`gpu_alvh._lazy`; ``alvh
#: calibrate`` and ``alvh scenarios check`` need scipy's interpolation, the other commands do not).
_EXPORTS = {
    "compare": ".check", "simulate_market": ".check", "FitResult": ".fit", "calibrate": ".fit",
    "read_closes": ".history", "shipped_frame": ".history", "model_statistics": ".moments",
    "STATISTICS": ".stats", "MarketStats": ".stats", "history_statistics": ".stats", "path_statistics": ".stats",
}
__getattr__, __dir__ = exports(__name__, _EXPORTS)

__all__ = [
    "STATISTICS",
    "MarketStats",
    "history_statistics",
    "path_statistics",
    "model_statistics",
    "calibrate",
    "FitResult",
    "read_closes",
    "shipped_frame",
    "simulate_market",
    "compare",
]
