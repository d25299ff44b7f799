//! POGEMA map formats: string maps (`. # @ $ !` and letters) and lists of 0/1 rows.

use crate::error::EnvError;
use crate::grid::Xy;

/// A parsed map: obstacles plus what the symbols say about agents, goals and pools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedMap {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Row-major, 1 = obstacle.
    pub obstacles: Vec<u8>,
    /// Starts from lower-case letters, sorted by letter (`a` is agent 0).
    pub agents_xy: Vec<Xy>,
    /// Goals from upper-case letters, sorted by letter.
    pub targets_xy: Vec<Xy>,
    /// Possible starts (`.`, `@`, letters), kept only if the map has `@`, `$` or `!`.
    pub possible_agents_xy: Option<Vec<Xy>>,
    /// Possible goals (`.`, `$`, letters), kept only if the map has `@`, `$` or `!`.
    pub possible_targets_xy: Option<Vec<Xy>>,
}

/// Parses a POGEMA string map exactly as `GridConfig.str_map_to_list` does: whitespace separates
/// rows (blank lines and indentation vanish), row = x, column = y.
pub fn parse_str_map(text: &str) -> Result<ParsedMap, EnvError> {
    let mut obstacles = Vec::new();
    let mut agents: [Option<Xy>; 26] = [None; 26];
    let mut targets: [Option<Xy>; 26] = [None; 26];
    let mut possible_agents = Vec::new();
    let mut possible_targets = Vec::new();
    let mut width = 0usize;
    let mut height = 0usize;
    for (row, line) in text.split_whitespace().enumerate() {
        let mut len = 0usize;
        for (col, ch) in line.chars().enumerate() {
            let pos = [row as i64, col as i64];
            len += 1;
            let blocked = match ch {
                '.' => {
                    possible_agents.push(pos);
                    possible_targets.push(pos);
                    0
                }
                '#' => 1,
                '@' => {
                    possible_agents.push(pos);
                    0
                }
                '$' => {
                    possible_targets.push(pos);
                    0
                }
                '!' => 0,
                'A'..='Z' => {
                    targets[(ch as u8 - b'A') as usize] = Some(pos);
                    possible_agents.push(pos);
                    possible_targets.push(pos);
                    0
                }
                'a'..='z' => {
                    agents[(ch as u8 - b'a') as usize] = Some(pos);
                    possible_agents.push(pos);
                    possible_targets.push(pos);
                    0
                }
                _ => {
                    return Err(EnvError::UnknownSymbol {
                        symbol: ch,
                        row,
                        col,
                    });
                }
            };
            obstacles.push(blocked);
        }
        if row > 0 && len != width {
            return Err(EnvError::UnequalRows {
                row,
                expected: width,
                found: len,
            });
        }
        width = len;
        height += 1;
    }
    if height == 0 {
        return Err(EnvError::MalformedMap("the map has no rows".into()));
    }
    let agents_xy: Vec<Xy> = agents.iter().flatten().copied().collect();
    let targets_xy: Vec<Xy> = targets.iter().flatten().copied().collect();
    if agents_xy.len() != targets_xy.len() {
        return Err(EnvError::MalformedMap(format!(
            "{} agents (a-z) but {} goals (A-Z); every agent letter needs its upper-case goal",
            agents_xy.len(),
            targets_xy.len()
        )));
    }
    let has_pools = text.chars().any(|c| matches!(c, '@' | '$' | '!'));
    Ok(ParsedMap {
        height,
        width,
        obstacles,
        agents_xy,
        targets_xy,
        possible_agents_xy: has_pools.then_some(possible_agents),
        possible_targets_xy: has_pools.then_some(possible_targets),
    })
}

/// Parses a list of rows of 0 (free) and 1 (obstacle).
pub fn parse_list_map(rows: &[Vec<i64>]) -> Result<ParsedMap, EnvError> {
    let Some(first) = rows.first() else {
        return Err(EnvError::MalformedMap("the map has no rows".into()));
    };
    let width = first.len();
    if width == 0 {
        return Err(EnvError::MalformedMap(
            "the map's first row is empty".into(),
        ));
    }
    let mut obstacles = Vec::with_capacity(width * rows.len());
    for (row, cells) in rows.iter().enumerate() {
        if cells.len() != width {
            return Err(EnvError::UnequalRows {
                row,
                expected: width,
                found: cells.len(),
            });
        }
        for (col, &v) in cells.iter().enumerate() {
            match v {
                0 | 1 => obstacles.push(v as u8),
                _ => {
                    return Err(EnvError::MalformedMap(format!(
                        "cell ({row}, {col}) is {v}; list maps hold 0 (free) or 1 (obstacle)"
                    )));
                }
            }
        }
    }
    Ok(ParsedMap {
        height: rows.len(),
        width,
        obstacles,
        agents_xy: Vec::new(),
        targets_xy: Vec::new(),
        possible_agents_xy: None,
        possible_targets_xy: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_sort_by_letter_and_pools_need_specials() {
        let m = parse_str_map("  b.a\n  B#A\n").unwrap();
        assert_eq!(m.agents_xy, vec![[0, 2], [0, 0]]);
        assert_eq!(m.targets_xy, vec![[1, 2], [1, 0]]);
        assert_eq!(m.obstacles, vec![0, 0, 0, 0, 1, 0]);
        assert!(m.possible_agents_xy.is_none());
        let p = parse_str_map("@.$\n!#.").unwrap();
        assert_eq!(p.possible_agents_xy.unwrap(), vec![[0, 0], [0, 1], [1, 2]]);
        assert_eq!(p.possible_targets_xy.unwrap(), vec![[0, 1], [0, 2], [1, 2]]);
    }

    #[test]
    fn bad_maps_give_typed_errors() {
        assert_eq!(
            parse_str_map("..\n.x?").unwrap_err(),
            EnvError::UnknownSymbol {
                symbol: '?',
                row: 1,
                col: 2
            }
        );
        assert_eq!(
            parse_str_map("...\n..").unwrap_err(),
            EnvError::UnequalRows {
                row: 1,
                expected: 3,
                found: 2
            }
        );
        assert!(matches!(
            parse_str_map("a..\n..."),
            Err(EnvError::MalformedMap(_))
        ));
        assert!(matches!(
            parse_str_map("   \n "),
            Err(EnvError::MalformedMap(_))
        ));
        assert!(matches!(
            parse_list_map(&[vec![0, 2]]),
            Err(EnvError::MalformedMap(_))
        ));
        assert!(matches!(
            parse_list_map(&[vec![0, 1], vec![0]]),
            Err(EnvError::UnequalRows { row: 1, .. })
        ));
        assert!(matches!(
            parse_str_map("..é"),
            Err(EnvError::UnknownSymbol { symbol: 'é', .. })
        ));
    }
}
