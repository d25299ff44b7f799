//! Map generators: pogema-toolbox 0.1.1's random maps and mazes (numpy-exact, so the POGEMA
//! benchmark's validation maps are regenerated rather than shipped), the SRMT Bottleneck, and a
//! warehouse generator.

use crate::grid::Xy;
use crate::rng::NumpyRng;

/// A map as POGEMA string rows (`.` free, `#` obstacle, optionally `@ $ !`).
pub type MapRows = Vec<String>;

/// Joins rows into a POGEMA string map.
pub fn to_text(rows: &[String]) -> String {
    rows.join("\n")
}

/// `MapRangeSettings().sample(seed)`: width, height and density of a random map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomMapSettings {
    /// Columns.
    pub width: i64,
    /// Rows.
    pub height: i64,
    /// Fraction of cells to block.
    pub obstacle_density: f64,
    /// Seed of the placement stream.
    pub seed: u64,
}

impl RandomMapSettings {
    /// pogema-toolbox's default ranges: width and height 17–21, density 0.1–0.3.
    pub fn sample(seed: u64) -> Self {
        let mut g = NumpyRng::new(seed);
        let width = g.integers(17, 22);
        let height = g.integers(17, 22);
        let obstacle_density = g.uniform(0.1, 0.3);
        Self {
            width,
            height,
            obstacle_density,
            seed,
        }
    }

    /// `generate_map`: blocks `int(w·h·density)` distinct cells drawn column then row.
    pub fn generate(&self) -> MapRows {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut cells = vec![vec![b'.'; w]; h];
        let total = ((w * h) as f64 * self.obstacle_density) as usize;
        let mut g = NumpyRng::new(self.seed);
        let mut placed = 0;
        while placed < total {
            let x = g.integers(0, w as i64) as usize;
            let y = g.integers(0, h as i64) as usize;
            if cells[y][x] == b'.' {
                cells[y][x] = b'#';
                placed += 1;
            }
        }
        cells
            .into_iter()
            .map(|r| String::from_utf8(r).expect("ASCII"))
            .collect()
    }
}

/// `MazeRangeSettings` ranges; `sample` draws one maze's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MazeRanges {
    /// Width range (inclusive).
    pub width: (i64, i64),
    /// Height range (inclusive).
    pub height: (i64, i64),
    /// Obstacle density range.
    pub density: (f64, f64),
    /// Wall components range (inclusive).
    pub wall_components: (i64, i64),
    /// Go-straight probability range.
    pub go_straight: (f64, f64),
}

impl Default for MazeRanges {
    /// pogema-toolbox's defaults (which reproduce no benchmark maze).
    fn default() -> Self {
        Self {
            width: (5, 9),
            height: (5, 9),
            density: (0.0, 1.0),
            wall_components: (1, 8),
            go_straight: (0.75, 0.85),
        }
    }
}

impl MazeRanges {
    /// The ranges behind the benchmark's 128 `validation-mazes-seed-NNN` maps (17–21 per side).
    pub fn benchmark_validation() -> Self {
        Self {
            width: (17, 21),
            height: (17, 21),
            ..Self::default()
        }
    }

    /// Draws maze parameters for `seed`.
    pub fn sample(&self, seed: u64) -> MazeSettings {
        let mut g = NumpyRng::new(seed);
        let width = g.integers(self.width.0, self.width.1 + 1);
        let height = g.integers(self.height.0, self.height.1 + 1);
        let obstacle_density = g.uniform(self.density.0, self.density.1);
        let wall_components = g.integers(self.wall_components.0, self.wall_components.1 + 1);
        let go_straight = g.uniform(self.go_straight.0, self.go_straight.1);
        MazeSettings {
            width,
            height,
            obstacle_density,
            wall_components,
            go_straight,
            seed,
        }
    }
}

/// Parameters of `generate_maze`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MazeSettings {
    /// Requested width (the maze is `width/2*2+1` wide).
    pub width: i64,
    /// Requested height.
    pub height: i64,
    /// Wall density.
    pub obstacle_density: f64,
    /// Wall segments per wall.
    pub wall_components: i64,
    /// Probability of continuing straight.
    pub go_straight: f64,
    /// Seed of the wall stream.
    pub seed: u64,
}

impl MazeSettings {
    /// The PRIMAL2-style maze of pogema-toolbox's `generate_maze`.
    pub fn generate(&self) -> MapRows {
        let rows = (self.height / 2 * 2 + 3) as usize;
        let cols = (self.width / 2 * 2 + 3) as usize;
        let mut grid = vec![vec![0u8; cols]; rows];
        for (y, row) in grid.iter_mut().enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                if y == 0 || x == 0 || y == rows - 1 || x == cols - 1 {
                    *v = 1;
                }
            }
        }
        let mut g = NumpyRng::new(self.seed);
        let walls = if self.wall_components == 0 {
            0
        } else {
            py_floordiv(
                (rows * cols) as f64 * self.obstacle_density,
                self.wall_components as f64,
            ) as usize
        };
        let (r, c) = (rows as i64, cols as i64);
        for _ in 0..walls {
            let mut x = g.integers(0, c / 2) * 2;
            let mut y = g.integers(0, r / 2) * 2;
            grid[y as usize][x as usize] = 1;
            let mut last = (0i64, 0i64);
            for _ in 0..self.wall_components {
                let mut cands: Vec<(i64, i64)> = Vec::with_capacity(4);
                if x > 1 {
                    cands.push((y, x - 2));
                }
                if x < c - 2 {
                    cands.push((y, x + 2));
                }
                if y > 1 {
                    cands.push((y - 2, x));
                }
                if y < r - 2 {
                    cands.push((y + 2, x));
                }
                if cands.is_empty() {
                    continue;
                }
                let probs: Vec<f64> = cands
                    .iter()
                    .map(|&(cy, cx)| {
                        if (cy, cx) == (y + last.0, x + last.1) {
                            self.go_straight
                        } else {
                            1.0 - self.go_straight
                        }
                    })
                    .collect();
                let probs: Vec<f64> = if probs.iter().all(|&p| p == self.go_straight) {
                    vec![1.0 / cands.len() as f64; cands.len()]
                } else {
                    let total: f64 = probs.iter().sum();
                    probs.iter().map(|p| p / total).collect()
                };
                let (ny, nx) = cands[g.choice_weighted(&probs)];
                last = (ny - y, nx - x);
                if grid[ny as usize][nx as usize] == 0 {
                    grid[ny as usize][nx as usize] = 1;
                    grid[((y + ny) / 2) as usize][((x + nx) / 2) as usize] = 1;
                    (y, x) = (ny, nx);
                }
            }
        }
        grid[1..rows - 1]
            .iter()
            .map(|row| {
                row[1..cols - 1]
                    .iter()
                    .map(|&v| if v == 1 { '#' } else { '.' })
                    .collect()
            })
            .collect()
    }
}

/// Python's float `a // b` (`float_floor_div`), which can differ from `(a / b).floor()` by one.
fn py_floordiv(a: f64, b: f64) -> f64 {
    let mut m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        m += b;
        div -= 1.0;
    }
    let _ = m;
    let mut floor = div.floor();
    if div - floor > 0.5 {
        floor += 1.0;
    }
    floor
}

/// The longest Bottleneck corridor whose map fits pogema's 4096-row limit (two rooms of two rows).
pub const MAX_CORRIDOR: usize = 4096 - 4;

/// The SRMT Bottleneck map: 9 columns × (4 + L) rows, two 2×9 rooms joined by a one-cell corridor
/// of length `corridor` at column 4.
pub fn bottleneck(corridor: usize) -> MapRows {
    let room = ".".repeat(9);
    let mut rows = vec![room.clone(), room.clone()];
    rows.extend(std::iter::repeat_n("####.####".to_string(), corridor));
    rows.extend([room.clone(), room]);
    rows
}

/// Bottleneck starts and goals for `seed`, drawn as the SRMT reference's `MultiMapWrapper` draws
/// them (row then column, `choice(range(..), 1)` each): agent 0 starts in the top room with its
/// goal in the bottom room, agent 1 the mirror. The reference shares one stream over its sorted
/// map list; here each (map, seed) pair has its own fresh stream, so a seed names one task per
/// corridor length.
pub fn bottleneck_task(corridor: usize, seed: u64) -> (Vec<Xy>, Vec<Xy>) {
    let mut g = NumpyRng::new(seed);
    let (top, bottom) = (0i64, 2 + corridor as i64);
    let mut cell = |row0: i64| -> Xy {
        let row = row0 + g.choice_index(2) as i64;
        [row, g.choice_index(9) as i64]
    };
    let start0 = cell(top);
    let start1 = cell(bottom);
    let goal0 = cell(bottom);
    let goal1 = cell(top);
    (vec![start0, start1], vec![goal0, goal1])
}

/// Parameters of a warehouse map: shelf blocks in a grid with aisles, goals (`$`) beside the
/// shelves and starts (`@`) along the left and right margins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WarehouseSettings {
    /// Shelf blocks per row of blocks.
    pub blocks_x: usize,
    /// Rows of shelf blocks.
    pub blocks_y: usize,
    /// Shelf block width (cells).
    pub block_width: usize,
    /// Shelf block height (cells).
    pub block_height: usize,
    /// Aisle width between blocks.
    pub aisle: usize,
    /// Free margin on the left and right where agents start.
    pub margin: usize,
}

impl Default for WarehouseSettings {
    fn default() -> Self {
        Self {
            blocks_x: 4,
            blocks_y: 5,
            block_width: 8,
            block_height: 1,
            aisle: 2,
            margin: 4,
        }
    }
}

impl WarehouseSettings {
    /// Builds the map: `#` shelves, `$` goal cells above and below each shelf, `@` start cells in
    /// the margins, `.` aisles (pool maps: starts and goals come from the `@`/`$` pools).
    pub fn generate(&self) -> MapRows {
        let s = self;
        let width = 2 * s.margin + s.blocks_x * s.block_width + (s.blocks_x + 1) * s.aisle;
        let height = s.blocks_y * (s.block_height + 2) + (s.blocks_y + 1) * s.aisle;
        let mut grid = vec![vec![b'.'; width]; height];
        for row in grid.iter_mut() {
            for x in (0..s.margin).chain(width - s.margin..width) {
                row[x] = b'@';
            }
        }
        for by in 0..s.blocks_y {
            let top = s.aisle + by * (s.block_height + 2 + s.aisle);
            for bx in 0..s.blocks_x {
                let left = s.margin + s.aisle + bx * (s.block_width + s.aisle);
                let columns = left..left + s.block_width;
                grid[top][columns.clone()].fill(b'$');
                for row in &mut grid[top + 1..=top + s.block_height] {
                    row[columns.clone()].fill(b'#');
                }
                grid[top + s.block_height + 1][columns].fill(b'$');
            }
        }
        grid.into_iter()
            .map(|r| String::from_utf8(r).expect("ASCII"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bottleneck_shape_and_task() {
        let rows = bottleneck(3);
        assert_eq!(rows.len(), 7);
        assert_eq!(rows[2], "####.####");
        let (starts, goals) = bottleneck_task(3, 0);
        assert!(starts[0][0] < 2 && goals[0][0] >= 5);
        assert!(starts[1][0] >= 5 && goals[1][0] < 2);
    }

    #[test]
    fn warehouse_has_pools_and_shelves() {
        let rows = WarehouseSettings::default().generate();
        let text = to_text(&rows);
        assert!(text.contains('@') && text.contains('$') && text.contains('#'));
        assert!(rows.iter().all(|r| r.len() == rows[0].len()));
    }
}
