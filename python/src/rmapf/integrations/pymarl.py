"""pogema 1.4.0's ``pogema.integrations.pymarl`` path: the PyMARL env class."""
from ..grid_config import GridConfig
from . import PyMarlPogema

__all__ = ["GridConfig", "PyMarlPogema"]
