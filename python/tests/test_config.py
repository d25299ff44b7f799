"""``GridConfig`` reads every field and default from the Rust core: rmapf's extensions (rewards,
the follower observation and its planner) are reachable from Python with the Rust core's errors."""
import json

import numpy as np
import pytest

import rmapf
from rmapf import _rmapf
from rmapf.grid_config import DEFAULTS


def test_defaults_are_pogemas_plus_the_extensions():
    pogema = pytest.importorskip("pogema")
    # The declared defaults (pydantic 1's fields), before pogema derives width/height from size.
    theirs = {k: f.default for k, f in pogema.GridConfig.__fields__.items()
              if k not in ("FREE", "OBSTACLE", "MOVES")}
    for name, value in theirs.items():
        assert DEFAULTS[name] == value, name
    assert set(DEFAULTS) - set(theirs) == {"bug_compat", "reward", "path_planner"}
    assert (DEFAULTS["reward"], DEFAULTS["path_planner"]) == ("pogema", "shortest")
    assert json.loads(_rmapf.config_defaults()) == DEFAULTS


@pytest.mark.parametrize(
    "field, bad",
    [("reward", "shiny"), ("path_planner", "dijkstra"), ("observation_type", "pixels")],
)
def test_bad_extension_values_name_the_field(field, bad):
    with pytest.raises(ValueError, match=field):
        rmapf.GridConfig(**{field: bad})


def test_follower_planner_needs_the_follower_observation():
    with pytest.raises(ValueError, match="path_planner"):
        rmapf.GridConfig(path_planner="follower", num_agents=2, seed=0)


def test_shaped_rewards_and_follower_observation_from_python():
    cfg = rmapf.GridConfig(
        size=16, num_agents=8, seed=3, on_target="restart", observation_type="follower",
        path_planner="follower", reward="moving_negative", max_episode_steps=32,
    )
    assert (cfg.reward, cfg.path_planner) == ("moving_negative", "follower")
    vec = rmapf.VecEnv([cfg], threads=1)
    obs = vec.reset()
    assert obs.shape == (8, 3, 11, 11)
    # Staying costs -0.005 and asking to move -0.01, whatever happens (plus 1 on a goal).
    _, rewards, *_ = vec.step(np.zeros(8, dtype=np.int64))
    assert np.allclose(rewards[rewards < 0.5], -0.005)
    _, rewards, *_ = vec.step(np.full(8, 1, dtype=np.int64))
    assert np.allclose(rewards[rewards < 0.5], -0.01)


def test_copy_and_json_as_pydantics():
    gc = rmapf.GridConfig(num_agents=3, size=6, seed=1, agents_xy=[[0, 0], [1, 1], [2, 2]],
                          targets_xy=[[5, 5], [4, 4], [3, 3]])
    twin = gc.copy()
    assert twin == gc and twin is not gc and twin.agents_xy is not gc.agents_xy
    twin.agents_xy[0][1] = 3  # the copy shares no list
    assert gc.agents_xy[0] == [0, 0]
    bigger = gc.copy(update={"size": 9, "obs_radius": 2})
    assert (bigger.size, bigger.width, bigger.obs_radius, gc.size) == (9, 9, 2, 6)
    with pytest.raises(ValueError, match="obs_radius"):
        gc.copy(update={"obs_radius": 0})
    with pytest.raises(TypeError, match="update"):
        gc.copy(update=[("size", 9)])
    assert json.loads(gc.json()) == gc.dict() and json.loads(gc.json(indent=2))["seed"] == 1
    fields = gc.dict()  # pogema's constants too, so pogema-style GridConfig(**gc.dict()) round-trips
    assert (fields["MOVES"], fields["FREE"], fields["OBSTACLE"]) == (gc.MOVES, 0, 1)
    fields["MOVES"].append([9, 9])  # a fresh list: the config's constant is untouched
    assert len(gc.MOVES) == 5 and rmapf.GridConfig(**gc.dict()) == gc


@pytest.mark.parametrize("text", ["b.a\nB#A", "@.$\n!#.", "...\n.#.", "  ..\n  #.  ", "a.cB\n#bAC"])
def test_str_map_to_list_and_check_positions_as_pogemas(text):
    pogema = pytest.importorskip("pogema")
    assert rmapf.GridConfig.str_map_to_list(text, 0, 1) == pogema.GridConfig.str_map_to_list(text, 0, 1)
    assert rmapf.GridConfig.str_map_to_list(text, 5, 7) == pogema.GridConfig.str_map_to_list(text, 5, 7)
    with pytest.raises(KeyError, match="unsupported map symbol"):
        rmapf.GridConfig.str_map_to_list(text + "?", 0, 1)
    for positions, error in [([[0, 0], [1, 2]], None), ([[0, 3]], IndexError), ([[0]], ValueError),
                             ([[0.5, 1]], ValueError)]:
        outcomes = []
        for cls in (pogema.GridConfig, rmapf.GridConfig):
            try:
                outcomes.append(cls.check_positions(positions, 3, 2))
            except (ValueError, IndexError) as e:
                outcomes.append(type(e))
        assert outcomes == [error, error]


def test_the_signature_lists_pogemas_fields_keyword_only():
    import inspect

    params = inspect.signature(rmapf.GridConfig).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    assert {name: p.default for name, p in params.items()} == {**rmapf.GridConfig().dict(), "MOVES": [
        [0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], "FREE": 0, "OBSTACLE": 1, "num_agents": None, "width": None,
        "height": None}


BAD_FIELDS = [
    dict(size=1),
    dict(num_agents=0),
    dict(density=2.0),
    dict(obs_radius=0),
    dict(agents_xy=[[0, 0]], targets_xy=[[[2, 2, 3], [4, 4]]]),
    dict(agents_xy=[[0, 0]], targets_xy=[[[2.5, 2], [4, 4]]]),
    dict(agents_xy=[[0, 0]], targets_xy=[[2, "a"]]),
    dict(agents_xy=[[0, 0]], targets_xy=[[[2, 2], [3, 3]], [3, 3]]),
]


@pytest.mark.parametrize("fields", BAD_FIELDS)
def test_bad_fields_raise_what_pogema_raises(fields):
    """Where pogema's pydantic model rejects a field, rmapf raises the same exception class
    (pydantic's ``ValidationError``, a ``ValueError``) with pogema's sentence for positions."""
    pogema = pytest.importorskip("pogema")
    with pytest.raises(Exception) as theirs:
        pogema.GridConfig(**fields)
    with pytest.raises(ValueError) as ours:
        rmapf.GridConfig(**fields)
    assert type(ours.value) is type(theirs.value)
    assert list(fields)[-1] in str(ours.value)
    for sentence in ("Position must be a list/tuple of length 2", "Position coordinates must be integers",
                     "Invalid targets_xy format"):
        if sentence in str(theirs.value):
            assert sentence in str(ours.value)
    assert "untagged" not in str(ours.value) and "line 1" not in str(ours.value)


@pytest.mark.parametrize("fields", BAD_FIELDS)
def test_bad_fields_are_value_errors_without_pydantic(fields, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pydantic", None)  # `import pydantic` fails
    with pytest.raises(ValueError, match=f"invalid config field `{list(fields)[-1]}`") as ours:
        rmapf.GridConfig(**fields)
    assert type(ours.value) is ValueError


def test_validation_errors_carry_the_field_for_pydantic_users():
    pydantic = pytest.importorskip("pydantic")
    with pytest.raises(pydantic.ValidationError) as e:
        rmapf.GridConfig(density=2.0)
    assert [err["loc"] for err in e.value.errors()] == [("density",)]
    assert "is not in [0, 1]" in e.value.errors()[0]["msg"]


def test_subclasses_declare_fields_as_pogemas_pydantic_model_lets_them():
    # pogema-toolbox's `Environment(GridConfig)` declares `with_animation` and `use_maps` this way.
    class Environment(rmapf.GridConfig):
        with_animation: bool = False
        use_maps: bool = True

    env_config = Environment(num_agents=3, size=6, use_maps=False, name="Environment")
    assert (env_config.num_agents, env_config.use_maps, env_config.with_animation) == (3, False, False)
    assert not hasattr(env_config, "name")  # undeclared keywords are ignored, as pydantic does
    fields = env_config.dict()
    assert fields["use_maps"] is False and fields["with_animation"] is False
    # Other configs ignore a subclass's fields (the toolbox's `GridConfig(**cfg.dict())`) ...
    plain = rmapf.GridConfig(**fields)
    assert plain.num_agents == 3 and not hasattr(plain, "use_maps")
    # ... and still refuse a typo.
    with pytest.raises(TypeError, match="num_agnets"):
        rmapf.GridConfig(num_agnets=3)
    env_config.use_maps = True
    with pytest.raises(ValueError, match="no field"):
        env_config.use_mapz = True
    env_config.update_config(num_agents=4, with_animation=True)
    assert (env_config.num_agents, env_config.use_maps, env_config.with_animation) == (4, True, True)
    assert env_config.copy(update={"use_maps": False}).use_maps is False
    obs, _ = rmapf.pogema_v0(env_config).reset()
    assert len(obs) == 4


def test_equality_and_repr_see_a_subclass_s_own_fields():
    class Environment(rmapf.GridConfig):
        use_maps: bool = True

    a, b = Environment(num_agents=3), Environment(num_agents=3)
    assert a == b
    b.use_maps = False
    assert a != b  # before, equality compared pogema's fields only
    assert "use_maps=False" in repr(b) and repr(b).startswith("Environment(")
    assert a != rmapf.GridConfig(num_agents=3)  # pydantic: the field dicts differ
    assert rmapf.GridConfig(num_agents=3) == rmapf.GridConfig(num_agents=3).dict()
    assert rmapf.GridConfig(num_agents=3) != 3


def test_equality_follows_pogemas_pydantic_model():
    pogema = pytest.importorskip("pogema")
    # Each case: two configs, or a config and a dict, built the same way on both packages.
    class PogemaEnv(pogema.GridConfig):
        use_maps: bool = True

    class RmapfEnv(rmapf.GridConfig):
        use_maps: bool = True

    cases = [
        lambda m, E: (m.GridConfig(num_agents=3), m.GridConfig(num_agents=3)),
        lambda m, E: (m.GridConfig(num_agents=3), m.GridConfig(num_agents=4)),
        lambda m, E: (m.GridConfig(seed=1), m.GridConfig(seed=1).dict()),
        lambda m, E: (m.GridConfig(seed=1), {"seed": 1}),
        lambda m, E: (E(num_agents=2), E(num_agents=2)),
        lambda m, E: (E(num_agents=2), E(num_agents=2, use_maps=False)),
        lambda m, E: (E(num_agents=2), m.GridConfig(num_agents=2)),
        lambda m, E: (m.GridConfig(map=".a.\n.A."), m.GridConfig(map=".a.\n.A.")),
    ]
    for k, case in enumerate(cases):
        expected = (lambda x, y: x == y)(*case(pogema, PogemaEnv))
        assert (lambda x, y: x == y)(*case(rmapf, RmapfEnv)) == expected, f"case {k}"


def test_the_simulators_json_writes_numpy_values_and_tuples_as_plain_values():
    from rmapf.grid_config import to_json

    values = {"map": np.array([[0, 1], [1, 0]]), "agents_xy": ((0, 0), [1, np.int32(1)]),
              "num_agents": np.int64(2), "density": np.float32(0.5), "seed": None,
              "flags": [np.bool_(True), False]}
    assert json.loads(to_json(values)) == {
        "map": [[0, 1], [1, 0]], "agents_xy": [[0, 0], [1, 1]], "num_agents": 2, "density": 0.5,
        "flags": [True, False]}
    with pytest.raises(TypeError, match="GridConfig values must be"):
        to_json({"map": [[object()]]})


def test_a_rebuild_keeps_the_spaces_unless_the_observation_changes():
    gc = rmapf.GridConfig(num_agents=2, size=8, seed=1, obs_radius=2)
    env = rmapf.pogema_v0(gc)
    env.reset()
    space = env.observation_space
    gc.num_agents = 3  # a rebuild at the next reset, same observation
    env.reset()
    assert env.get_num_agents() == 3 and env.observation_space is space
    gc.obs_radius = 3
    env.reset()
    assert env.observation_space is not space and env.observation_space.shape == (3, 7, 7)
    assert env.reset()[0][0].shape == (3, 7, 7)
