"""Model registry.  Adding a model is one new file plus one line in :data:`MODELS`."""

from __future__ import annotations

from .base import VIX_TAU, AffineModel, ParamRule
from .bates import Bates
from .heston import Heston
from .svcj import SVCJ
from .svcj2 import SVCJ2

__all__ = ["MODELS", "get_model", "AffineModel", "Heston", "Bates", "SVCJ", "SVCJ2", "VIX_TAU", "ParamRule"]

#: Models by name.
MODELS: dict[str, type[AffineModel]] = {
    "heston": Heston,
    "bates": Bates,
    "svcj": SVCJ,
    "svcj2": SVCJ2,
}


def get_model(model: "str | type[AffineModel] | AffineModel") -> type[AffineModel]:
    """Resolve a model class from a name, a class or an instance.

    Raises ``ValueError`` listing the registered names for an unknown name.
    """
    if isinstance(model, AffineModel):
        return type(model)
    if isinstance(model, type) and issubclass(model, AffineModel):
        return model
    key = str(model).lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {model!r}; registered models: {', '.join(MODELS)}")
    return MODELS[key]
