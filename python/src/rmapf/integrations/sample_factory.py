"""pogema 1.4.0's ``pogema.integrations.sample_factory`` path: the wrappers that
``integration="SampleFactory"`` stacks, for code that applies them itself."""
from . import AutoResetWrapper, IsMultiAgentWrapper, MetricsForwardingWrapper

__all__ = ["AutoResetWrapper", "IsMultiAgentWrapper", "MetricsForwardingWrapper"]
