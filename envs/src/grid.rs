//! The padded grid: the map surrounded by the observation radius, with pogema's one-cell obstacle
//! ring, stored flat with a row stride so that an observation window is `R` row copies.

use strength_reduce::StrengthReducedU32;

/// A cell index into the padded, row-major grid.
pub type Cell = u32;

/// An unpadded `[row, col]` coordinate.
pub type Xy = [i64; 2];

/// Cell codes, as pogema's `FREE`/`OBSTACLE`.
pub const FREE: u8 = 0;
/// An obstacle cell (also the ring around the map).
pub const OBSTACLE: u8 = 1;

/// Action deltas in pogema's order: stay, up (row − 1), down (row + 1), left (col − 1), right (col + 1).
pub const MOVES: [[i64; 2]; 5] = [[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]];

/// Number of actions.
pub const NUM_ACTIONS: u8 = 5;

/// Geometry of one padded grid.
#[derive(Clone, Debug)]
pub struct Geometry {
    /// Map rows (unpadded).
    pub height: usize,
    /// Map columns (unpadded).
    pub width: usize,
    /// Padding = observation radius `r`.
    pub radius: usize,
    /// Padded row length, `width + 2r`.
    pub stride: usize,
    /// Padded row count, `height + 2r`.
    pub padded_height: usize,
    /// `stride` as a multiply-and-shift divisor: cells are turned into `(row, col)` for every
    /// agent on every step, where a hardware divide is the slow part.
    divisor: StrengthReducedU32,
}

impl PartialEq for Geometry {
    fn eq(&self, other: &Self) -> bool {
        // `divisor` is derived from `stride`.
        (self.height, self.width, self.radius) == (other.height, other.width, other.radius)
    }
}

impl Eq for Geometry {}

impl Geometry {
    /// Geometry of an `height × width` map padded by `radius`.
    pub fn new(height: usize, width: usize, radius: usize) -> Self {
        Self {
            height,
            width,
            radius,
            stride: width + 2 * radius,
            padded_height: height + 2 * radius,
            divisor: StrengthReducedU32::new((width + 2 * radius) as u32),
        }
    }

    /// Number of padded cells.
    pub fn padded_area(&self) -> usize {
        self.stride * self.padded_height
    }

    /// Padded cell of an unpadded `[row, col]`.
    pub fn cell(&self, xy: Xy) -> Cell {
        ((xy[0] as usize + self.radius) * self.stride + xy[1] as usize + self.radius) as Cell
    }

    /// Padded `(row, col)` of a cell.
    pub fn padded_xy(&self, cell: Cell) -> [i64; 2] {
        let (row, col) = StrengthReducedU32::div_rem(cell, self.divisor);
        [i64::from(row), i64::from(col)]
    }

    /// Unpadded `[row, col]` of a cell.
    pub fn xy(&self, cell: Cell) -> Xy {
        let [x, y] = self.padded_xy(cell);
        [x - self.radius as i64, y - self.radius as i64]
    }

    /// Cell offset of each action.
    pub fn action_offsets(&self) -> [isize; 5] {
        let s = self.stride as isize;
        [0, -s, s, -1, 1]
    }
}

/// Builds pogema's padded obstacle array (`Grid.add_artificial_border`): `padding` outside (all
/// free unless given), a one-cell obstacle ring, and the map inside.
pub fn pad_obstacles(geo: &Geometry, map: &[u8], padding: Option<&[u8]>) -> Vec<u8> {
    let mut cells = match padding {
        Some(p) => p.to_vec(),
        None => vec![FREE; geo.padded_area()],
    };
    let r = geo.radius;
    let (ph, pw) = (geo.padded_height, geo.stride);
    for y in r - 1..=pw - r {
        cells[(r - 1) * pw + y] = OBSTACLE;
        cells[(ph - r) * pw + y] = OBSTACLE;
    }
    for x in r - 1..=ph - r {
        cells[x * pw + r - 1] = OBSTACLE;
        cells[x * pw + pw - r] = OBSTACLE;
    }
    for x in 0..geo.height {
        let row = &map[x * geo.width..(x + 1) * geo.width];
        cells[(x + r) * pw + r..(x + r) * pw + r + geo.width].copy_from_slice(row);
    }
    cells
}

/// Connected free components of an unpadded map, labelled as pogema's `bfs` does (row-major scan,
/// 4-neighbourhood).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Components {
    /// Per map cell: 0 for obstacles, else the component id (1-based, in discovery order).
    pub label: Vec<u32>,
    /// `size[id]` = number of cells of component `id` (`size[0]` unused).
    pub size: Vec<u32>,
}

impl Components {
    /// Labels the free cells of a `height × width` row-major map.
    pub fn label(map: &[u8], height: usize, width: usize) -> Self {
        let mut label = vec![0u32; map.len()];
        let mut size = vec![0u32];
        let mut queue = std::collections::VecDeque::new();
        for start in 0..map.len() {
            if map[start] != FREE || label[start] != 0 {
                continue;
            }
            let id = size.len() as u32;
            size.push(1);
            label[start] = id;
            queue.push_back(start);
            while let Some(c) = queue.pop_front() {
                let (x, y) = ((c / width) as i64, (c % width) as i64);
                for [dx, dy] in MOVES {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= height as i64 || ny >= width as i64 {
                        continue;
                    }
                    let n = nx as usize * width + ny as usize;
                    if map[n] == FREE && label[n] == 0 {
                        label[n] = id;
                        size[id as usize] += 1;
                        queue.push_back(n);
                    }
                }
            }
        }
        Self { label, size }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_has_a_one_cell_ring_and_free_outside() {
        let geo = Geometry::new(2, 3, 2);
        let cells = pad_obstacles(&geo, &[0, 1, 0, 0, 0, 0], None);
        let rows: Vec<String> = cells
            .chunks(geo.stride)
            .map(|r| r.iter().map(|&v| if v == 1 { '#' } else { '.' }).collect())
            .collect();
        assert_eq!(
            rows,
            [
                ".......", ".#####.", ".#.#.#.", ".#...#.", ".#####.", "......."
            ]
        );
        assert_eq!(geo.xy(geo.cell([1, 2])), [1, 2]);
    }

    #[test]
    fn components_are_labelled_in_scan_order() {
        let c = Components::label(&[0, 1, 0, 0, 1, 0, 1, 1, 0], 3, 3);
        assert_eq!(c.label, [1, 0, 2, 1, 0, 2, 0, 0, 2]);
        assert_eq!(c.size, [0, 2, 3]);
    }
}
