//! Map files: MovingAI `.map` files and POGEMA benchmark YAML map sets (`"name": |-` blocks of
//! string maps), read with typed errors that carry line numbers, and written back.

use thiserror::Error;

use crate::map::parse_str_map;

/// A map file that cannot be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MapFileError {
    /// A header line is missing or malformed.
    #[error("line {line}: {reason}")]
    Header {
        /// 1-based line.
        line: usize,
        /// What was expected.
        reason: String,
    },
    /// A cell character is not a known terrain.
    #[error("line {line}, column {col}: unknown terrain {symbol:?}")]
    Terrain {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// The character.
        symbol: char,
    },
    /// The YAML itself does not parse, or holds something other than name → string map.
    #[error("YAML map set: {0}")]
    Yaml(String),
    /// A map inside a map set is not a valid POGEMA string map.
    #[error("map {name:?} (line {line}): {reason}")]
    BadMap {
        /// Map name.
        name: String,
        /// 1-based line of its key.
        line: usize,
        /// The string-map error.
        reason: String,
    },
}

/// Parses a MovingAI `.map` file (`type`, `height`, `width`, `map`, then the rows) into POGEMA
/// rows: `.`, `G`, `S` are free; `@`, `O`, `T`, `W` are obstacles.
pub fn parse_movingai(text: &str) -> Result<Vec<String>, MapFileError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let mut header = |key: &str| -> Result<String, MapFileError> {
        let (line, l) = lines.next().ok_or(MapFileError::Header {
            line: 0,
            reason: format!("missing `{key}` line"),
        })?;
        let mut parts = l.split_whitespace();
        if parts.next() != Some(key) {
            return Err(MapFileError::Header {
                line,
                reason: format!("expected `{key}`, found {l:?}"),
            });
        }
        Ok(parts.collect::<Vec<_>>().join(" "))
    };
    header("type")?;
    let h = header("height")?;
    let w = header("width")?;
    let height: usize = h.parse().map_err(|_| MapFileError::Header {
        line: 2,
        reason: format!("height {h:?} is not a number"),
    })?;
    let width: usize = w.parse().map_err(|_| MapFileError::Header {
        line: 3,
        reason: format!("width {w:?} is not a number"),
    })?;
    if height == 0 || width == 0 || height > 65_536 || width > 65_536 {
        return Err(MapFileError::Header {
            line: 2,
            reason: format!("unsupported size {height}x{width}"),
        });
    }
    header("map")?;
    let mut rows = Vec::with_capacity(height);
    for (line, l) in lines.by_ref().take(height) {
        if l.chars().count() != width {
            return Err(MapFileError::Header {
                line,
                reason: format!("row has {} cells, expected {width}", l.chars().count()),
            });
        }
        let mut row = String::with_capacity(width);
        for (col, ch) in l.chars().enumerate() {
            row.push(match ch {
                '.' | 'G' | 'S' => '.',
                '@' | 'O' | 'T' | 'W' => '#',
                _ => {
                    return Err(MapFileError::Terrain {
                        line,
                        col: col + 1,
                        symbol: ch,
                    });
                }
            });
        }
        rows.push(row);
    }
    if rows.len() != height {
        return Err(MapFileError::Header {
            line: 5 + rows.len(),
            reason: format!("{} rows, expected {height}", rows.len()),
        });
    }
    Ok(rows)
}

/// Parses a POGEMA YAML map set into `(name, string map)` pairs, in file order, checking that
/// every map is a valid POGEMA string map.
pub fn parse_map_set(text: &str) -> Result<Vec<(String, String)>, MapFileError> {
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| MapFileError::Yaml(e.to_string()))?;
    let serde_yaml_ng::Value::Mapping(mapping) = value else {
        return Err(MapFileError::Yaml(
            "the top level must be a mapping of map names to string maps".into(),
        ));
    };
    let mut out = Vec::with_capacity(mapping.len());
    for (k, v) in mapping {
        let name = match k {
            serde_yaml_ng::Value::String(s) => s,
            other => {
                return Err(MapFileError::Yaml(format!(
                    "map name {other:?} is not a string"
                )));
            }
        };
        let line = text
            .lines()
            .position(|l| {
                l.starts_with(&format!("{name}:")) || l.starts_with(&format!("\"{name}\":"))
            })
            .map_or(0, |i| i + 1);
        let serde_yaml_ng::Value::String(map) = v else {
            return Err(MapFileError::BadMap {
                name,
                line,
                reason: "the value is not a string map".into(),
            });
        };
        parse_str_map(&map).map_err(|e| MapFileError::BadMap {
            name: name.clone(),
            line,
            reason: e.to_string(),
        })?;
        out.push((name, map));
    }
    Ok(out)
}

/// Writes `(name, string map)` pairs in the POGEMA benchmark's layout (`"name": |-` blocks).
pub fn write_map_set<'a>(maps: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, map) in maps {
        out.push_str(&format!("\"{name}\": |-\n"));
        for row in map.split_whitespace() {
            out.push_str("  ");
            out.push_str(row);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn movingai_round_trip_and_errors() {
        let rows = parse_movingai("type octile\nheight 2\nwidth 3\nmap\n.@T\nGS.\n").unwrap();
        assert_eq!(rows, [".##", "..."]);
        assert_eq!(
            parse_movingai("type octile\nheight 1\nwidth 2\nmap\n.x\n").unwrap_err(),
            MapFileError::Terrain {
                line: 5,
                col: 2,
                symbol: 'x'
            }
        );
        assert!(matches!(
            parse_movingai("type octile\nheight two\n"),
            Err(MapFileError::Header { .. })
        ));
        assert!(matches!(
            parse_movingai("type octile\nheight 3\nwidth 1\nmap\n.\n"),
            Err(MapFileError::Header { .. })
        ));
    }

    #[test]
    fn map_sets_round_trip_and_name_bad_maps() {
        let text = write_map_set([("a", "..#\n#.."), ("b", "...")]);
        let parsed = parse_map_set(&text).unwrap();
        assert_eq!(
            parsed,
            [
                ("a".to_string(), "..#\n#..".to_string()),
                ("b".to_string(), "...".to_string())
            ]
        );
        let bad = "\"ok\": |-\n  ..\n\"broken\": |-\n  .?\n";
        match parse_map_set(bad).unwrap_err() {
            MapFileError::BadMap { name, line, .. } => {
                assert_eq!((name.as_str(), line), ("broken", 3))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_map_set("- a\n- b\n"),
            Err(MapFileError::Yaml(_))
        ));
    }
}
