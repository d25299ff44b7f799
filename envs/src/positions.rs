//! Reading `[row, column]` position lists from a config (JSON or TOML) with the sentences pogema's
//! `GridConfig` validators give ("Position must be a list/tuple of length 2", "Position
//! coordinates must be integers"), where serde's derived readers
//! would say "data did not match any variant of untagged enum" or "trailing characters".

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::config::TargetsSpec;
use crate::grid::Xy;

/// One `[row, column]` pair of integers.
fn position(v: &Value) -> Result<Xy, String> {
    let Some(pair) = v.as_array().filter(|a| a.len() == 2) else {
        return Err(format!(
            "Position must be a list/tuple of length 2 ([row, column]), got {v}"
        ));
    };
    let coordinate = |c: &Value| {
        c.as_i64()
            .ok_or_else(|| format!("Position coordinates must be integers, got {v}"))
    };
    Ok([coordinate(&pair[0])?, coordinate(&pair[1])?])
}

/// A list of positions.
fn position_list(v: &Value) -> Result<Vec<Xy>, String> {
    v.as_array()
        .ok_or_else(|| format!("must be a list of [row, column] positions, got {v}"))?
        .iter()
        .map(position)
        .collect()
}

/// `targets_xy`: one goal per agent, or one goal sequence per agent (lifelong). As in pogema,
/// the first entry decides: a list whose first entry is a list makes `targets_xy` sequences
/// (`isinstance(targets_xy[0][0], (list, tuple))`).
fn targets(v: &Value) -> Result<TargetsSpec, String> {
    let entries = v.as_array().ok_or_else(|| {
        format!("Invalid targets_xy format: expected a list of [row, column] goals or of goal sequences, got {v}")
    })?;
    let first_is_sequence = entries
        .first()
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .is_some_and(Value::is_array);
    if first_is_sequence {
        entries
            .iter()
            .map(position_list)
            .collect::<Result<_, _>>()
            .map(TargetsSpec::Sequences)
    } else {
        position_list(v).map(TargetsSpec::Single)
    }
}

/// `deserialize_with` for an optional position list (`agents_xy`, `possible_*_xy`).
pub fn optional_positions<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Xy>>, D::Error> {
    Option::<Value>::deserialize(d)?
        .map(|v| position_list(&v))
        .transpose()
        .map_err(D::Error::custom)
}

/// `deserialize_with` for the optional `targets_xy`.
pub fn optional_targets<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TargetsSpec>, D::Error> {
    Option::<Value>::deserialize(d)?
        .map(|v| targets(&v))
        .transpose()
        .map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn well_formed_lists_read_as_before() {
        assert_eq!(
            position_list(&json!([[1, 2], [3, 4]])),
            Ok(vec![[1, 2], [3, 4]])
        );
        assert_eq!(
            targets(&json!([[1, 2]])),
            Ok(TargetsSpec::Single(vec![[1, 2]]))
        );
        assert_eq!(
            targets(&json!([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])),
            Ok(TargetsSpec::Sequences(vec![
                vec![[1, 2], [3, 4]],
                vec![[5, 6], [7, 8]]
            ]))
        );
        assert_eq!(targets(&json!([])), Ok(TargetsSpec::Single(vec![])));
    }

    #[test]
    fn malformed_positions_get_pogemas_sentences() {
        let err = |v: Value| targets(&v).unwrap_err();
        assert!(
            err(json!([[[2, 2, 3], [4, 4]]]))
                .starts_with("Position must be a list/tuple of length 2")
        );
        assert!(
            err(json!([[[2.5, 2], [4, 4]]])).starts_with("Position coordinates must be integers")
        );
        assert!(err(json!([[2, "a"]])).starts_with("Position coordinates must be integers"));
        assert!(err(json!([2, 2])).starts_with("Position must be a list/tuple of length 2"));
        assert!(
            err(json!([[[2, 2], [3, 3]], [3, 3]])).starts_with("Position must be a list/tuple")
        );
        assert!(err(json!([[2, 2], [[3, 3], [4, 4]]])).starts_with("Position coordinates must be"));
        assert!(err(json!(5)).starts_with("Invalid targets_xy format"));
        assert!(
            position_list(&json!([[0, 0, 1]]))
                .unwrap_err()
                .contains("length 2")
        );
        assert!(
            position_list(&json!({"a": 1}))
                .unwrap_err()
                .contains("must be a list")
        );
    }
}
