"""Running code written for pogema 1.4.0 unchanged: :func:`install_as_pogema` makes ``import
pogema`` and pogema's module paths (``pogema.wrappers.metrics``,
``pogema.integrations.sample_factory``, ``pogema.a_star_policy``, ...) resolve to rmapf's."""
import importlib
import sys

#: pogema 1.4.0's module paths that rmapf offers, and the rmapf module behind each. pogema's
#: generator and utils and ``pogema.wrappers.persistence`` are not among them (``persistent=True``
#: is built into rmapf's env).
POGEMA_MODULES = {
    "pogema": "rmapf",
    "pogema.grid": "rmapf.grid",
    "pogema.grid_config": "rmapf.grid_config",
    "pogema.grid_registry": "rmapf.grid_registry",
    "pogema.a_star_policy": "rmapf.a_star_policy",
    "pogema.envs": "rmapf.envs",
    "pogema.integrations": "rmapf.integrations",
    "pogema.integrations.make_pogema": "rmapf.integrations.make_pogema",
    "pogema.integrations.sample_factory": "rmapf.integrations.sample_factory",
    "pogema.integrations.pymarl": "rmapf.integrations.pymarl",
    "pogema.integrations.pettingzoo": "rmapf.integrations.pettingzoo",
    "pogema.svg_animation": "rmapf.svg_animation",
    "pogema.svg_animation.animation_wrapper": "rmapf.svg_animation.animation_wrapper",
    "pogema.wrappers": "rmapf.wrappers",
    "pogema.wrappers.metrics": "rmapf.wrappers.metrics",
    "pogema.wrappers.multi_time_limit": "rmapf.wrappers.multi_time_limit",
    "pogema.wrappers.persistence": "rmapf.wrappers.persistence",
}


def install_as_pogema():
    """Registers rmapf's modules under pogema's names (``sys.modules``), so that code written for
    pogema runs on rmapf without an edit, for the rest of the process: call it before that code
    imports pogema. Raises ``ImportError`` when pogema itself is already imported (its objects
    would be mixed with rmapf's). Calling it again does nothing."""
    current = sys.modules.get("pogema")
    rmapf = importlib.import_module("rmapf")
    if current is not None and current is not rmapf:
        raise ImportError(
            "pogema is already imported in this process; call rmapf.install_as_pogema() before "
            "anything imports pogema"
        )
    for alias, name in POGEMA_MODULES.items():
        sys.modules[alias] = importlib.import_module(name)
