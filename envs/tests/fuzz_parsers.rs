//! Property tests: the map and config parsers return errors, never panic, on arbitrary input, and
//! any map that parses builds an environment that resets and steps (or reports a typed error).

use proptest::prelude::*;
use rmapf_env::map::parse_str_map;
use rmapf_env::maps::formats::{parse_map_set, parse_movingai};
use rmapf_env::{Env, EnvConfig, MapSpec};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn string_maps_never_panic(text in "[.#@$!a-dA-D?\\n ]{0,60}") {
        let _ = parse_str_map(&text);
    }

    #[test]
    fn movingai_never_panics(text in "(type octile\\n)?(height [0-9]{1,2}\\n)?(width [0-9]{1,2}\\n)?(map\\n)?[.@TGSOW#x\\n]{0,80}") {
        let _ = parse_movingai(&text);
    }

    #[test]
    fn yaml_map_sets_never_panic(text in "(\"?[a-z]{1,4}\"?: \\|-?\\n(  [.#?]{1,5}\\n){0,3}){0,3}[:|\\- ]{0,3}") {
        let _ = parse_map_set(&text);
    }

    #[test]
    fn configs_never_panic(json in "\\{(\"(size|num_agents|obs_radius|density|seed|max_episode_steps)\": -?[0-9]{1,3}(\\.[0-9])?,? ?){0,4}\\}") {
        if let Ok(c) = EnvConfig::from_json_str(&json) {
            let _ = c.resolve();
        }
    }

    #[test]
    fn parsed_maps_reset_and_step(text in "[.#a-cA-C@$]{1,6}(\\n[.#a-cA-C@$]{1,6}){0,5}", n in 1i64..6, seed in 0u64..1000, actions in proptest::collection::vec(0u8..7, 0..8)) {
        let config = EnvConfig { map: Some(MapSpec::Text(text)), num_agents: Some(n), seed: Some(seed), max_episode_steps: 8, ..Default::default() };
        if let Ok(mut env) = Env::new(&config)
            && env.reset().is_ok()
        {
            let _ = env.step(&actions);
        }
    }
}
