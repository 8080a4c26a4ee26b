"""fastnax: training-free co-design of CNNs and in-memory-computing crossbar hardware.

Importing fastnax is cheap: torch and xgboost are imported only by the parts that use them.
"""

from fastnax.arch import Architecture, Layer, LayerTable
from fastnax.errors import FastnaxError
from fastnax import spaces  # noqa: E402  (registers the built-in spaces' codecs and parsers)

__version__ = "0.1.0"

__all__ = ["Architecture", "Layer", "LayerTable", "FastnaxError", "__version__"]
