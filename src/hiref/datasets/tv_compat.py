"""Import torchvision when its compiled operators do not match the installed torch.

The PyPI torchvision 0.28.0 wheel is a CUDA build. Next to the CPU build of torch 2.13.0
its C++ extension does not load, and ``import torchvision`` then fails in
``torchvision/_meta_registrations.py`` with ``RuntimeError: operator torchvision::nms
does not exist``: it registers fake (meta) kernels for ``nms`` and ``qnms`` and needs
their schemas. Declaring those two schemas with :mod:`torch.library` lets the Python
package import; the models and the PIL-based transforms, all we use, work, while the
compiled ops (nms itself, ``torchvision.io`` decoding) stay unavailable, which is why
images are decoded with Pillow. On a machine whose torchvision matches its torch (any
CUDA machine with the pinned wheels) the first import succeeds and nothing is changed.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

# Schemas as torchvision's csrc/ops/nms.cpp declares them.
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor",
)
# Held for the life of the process: dropping the Library object would unregister the schemas.
_library = None


def import_torchvision() -> ModuleType:
    """Return the ``torchvision`` module, declaring the two missing op schemas only if needed."""
    global _library
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as err:
        if "torchvision::nms" not in str(err):
            raise
    import torch

    # The failed import leaves half-initialised torchvision modules behind.
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    _library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        _library.define(schema)
    return importlib.import_module("torchvision")
