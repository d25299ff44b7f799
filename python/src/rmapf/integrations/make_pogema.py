"""pogema 1.4.0's ``pogema.integrations.make_pogema`` path: ``make_pogema`` (``pogema_v0``) and the
single-agent Gymnasium env, for code that imports them from there."""
from .. import pogema_v0
from ..grid_config import GridConfig
from ..pettingzoo import parallel_env
from . import (
    AutoResetWrapper,
    IsMultiAgentWrapper,
    MetricsForwardingWrapper,
    PyMarlPogema,
    SingleAgentWrapper,
    make_single_agent_gym,
)

#: pogema's name for ``pogema_v0`` (the same function).
make_pogema = pogema_v0

__all__ = ["make_pogema", "pogema_v0", "make_single_agent_gym", "SingleAgentWrapper", "GridConfig",
           "parallel_env", "PyMarlPogema", "AutoResetWrapper", "IsMultiAgentWrapper",
           "MetricsForwardingWrapper"]
