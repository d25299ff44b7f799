//! Observation windows (`Pogema._obs`): `R × R` crops of the padded grids and the target channel.

use crate::grid::{Cell, Geometry};

/// Copies the `R × R` window of `src` centred on `center` into `out` (`[R, R]`, row-major).
/// The grid is padded by `r`, so the window is always in bounds. Radii 1–8 use fixed-size row
/// copies (inlined moves instead of `memcpy` calls: the observation is the hot loop).
pub fn write_window(src: &[u8], geo: &Geometry, center: Cell, out: &mut [u8]) {
    let top_left = top_left(geo, center);
    match 2 * geo.radius + 1 {
        3 => window::<3>(src, geo.stride, top_left, out),
        5 => window::<5>(src, geo.stride, top_left, out),
        7 => window::<7>(src, geo.stride, top_left, out),
        9 => window::<9>(src, geo.stride, top_left, out),
        11 => window::<11>(src, geo.stride, top_left, out),
        13 => window::<13>(src, geo.stride, top_left, out),
        15 => window::<15>(src, geo.stride, top_left, out),
        17 => window::<17>(src, geo.stride, top_left, out),
        side => window_any(src, geo.stride, top_left, side, out),
    }
}

/// The obstacle and agent windows of every agent of one episode, and with `goals` the target
/// plane (`Pogema._obs` for the `default`, `POMAPF` and `MAPF` observation types).
///
/// Shapes (n agents): `positions [n]`, `goals [n]`, `out [n, C, R, R]` with C = 3 when `goals`
/// is given (obstacles, agents, target) and 2 otherwise. One dispatch on the window side per
/// episode, so each agent's rows are fixed-size moves inlined into one loop.
pub fn write_grid_observations(
    obstacles: &[u8],
    occupancy: &[u8],
    geo: &Geometry,
    positions: &[Cell],
    goals: Option<&[Cell]>,
    out: &mut [u8],
) {
    let planes = GridPlanes {
        obstacles,
        occupancy,
        geo,
    };
    match 2 * geo.radius + 1 {
        3 => planes.write::<3>(positions, goals, out),
        5 => planes.write::<5>(positions, goals, out),
        7 => planes.write::<7>(positions, goals, out),
        9 => planes.write::<9>(positions, goals, out),
        11 => planes.write::<11>(positions, goals, out),
        13 => planes.write::<13>(positions, goals, out),
        15 => planes.write::<15>(positions, goals, out),
        17 => planes.write::<17>(positions, goals, out),
        side => {
            let area = side * side;
            let channels = if goals.is_some() { 3 } else { 2 };
            for (i, o) in out.chunks_exact_mut(channels * area).enumerate() {
                let top_left = top_left(geo, positions[i]);
                let (obstacle_plane, rest) = o.split_at_mut(area);
                let (agents_plane, target) = rest.split_at_mut(area);
                window_any(obstacles, geo.stride, top_left, side, obstacle_plane);
                window_any(occupancy, geo.stride, top_left, side, agents_plane);
                if let Some(goals) = goals {
                    write_target(geo, positions[i], goals[i], target);
                }
            }
        }
    }
}

/// The two grids an observation is cropped from.
struct GridPlanes<'a> {
    obstacles: &'a [u8],
    occupancy: &'a [u8],
    geo: &'a Geometry,
}

impl GridPlanes<'_> {
    /// [`write_grid_observations`] for windows of side `S`.
    #[inline(always)]
    fn write<const S: usize>(&self, positions: &[Cell], goals: Option<&[Cell]>, out: &mut [u8]) {
        let area = S * S;
        let stride = self.geo.stride;
        match goals {
            Some(goals) => {
                for ((o, &pos), &goal) in out.chunks_exact_mut(3 * area).zip(positions).zip(goals) {
                    let top_left = top_left(self.geo, pos);
                    let (obstacle_plane, rest) = o.split_at_mut(area);
                    let (agents_plane, target) = rest.split_at_mut(area);
                    window::<S>(self.obstacles, stride, top_left, obstacle_plane);
                    window::<S>(self.occupancy, stride, top_left, agents_plane);
                    let hot = target_index(
                        self.geo.radius,
                        self.geo.padded_xy(pos),
                        self.geo.padded_xy(goal),
                    );
                    target.fill(0);
                    target[hot] = 1;
                }
            }
            None => {
                for (o, &pos) in out.chunks_exact_mut(2 * area).zip(positions) {
                    let top_left = top_left(self.geo, pos);
                    let (obstacle_plane, agents_plane) = o.split_at_mut(area);
                    window::<S>(self.obstacles, stride, top_left, obstacle_plane);
                    window::<S>(self.occupancy, stride, top_left, agents_plane);
                }
            }
        }
    }
}

/// The padded cell at the top left corner of the window centred on `center`.
#[inline(always)]
fn top_left(geo: &Geometry, center: Cell) -> usize {
    center as usize - geo.radius * geo.stride - geo.radius
}

/// A window of any side, row by row.
fn window_any(src: &[u8], stride: usize, top_left: usize, side: usize, out: &mut [u8]) {
    for (dx, row) in out.chunks_exact_mut(side).enumerate() {
        let from = top_left + dx * stride;
        row.copy_from_slice(&src[from..from + side]);
    }
}

/// The number of non-zero cells in the `R × R` window of `src` centred on `center` (numpy's
/// `count_nonzero` of the window [`write_window`] would write).
pub fn window_nonzero(src: &[u8], geo: &Geometry, center: Cell) -> usize {
    let r = geo.radius;
    let side = 2 * r + 1;
    let top_left = center as usize - r * geo.stride - r;
    (0..side)
        .map(|dx| {
            let from = top_left + dx * geo.stride;
            src[from..from + side].iter().filter(|&&v| v != 0).count()
        })
        .sum()
}

/// pogema's `AgentsDensityWrapper` for one observation: the agents in the window (the observer
/// included) ÷ the window's cells that are not obstacles (the ring counts as obstacles, the
/// padding beyond it as free, as in pogema's obstacle channel).
pub fn agents_density(obstacles: &[u8], occupancy: &[u8], geo: &Geometry, center: Cell) -> f64 {
    let side = 2 * geo.radius + 1;
    let free = side * side - window_nonzero(obstacles, geo, center);
    window_nonzero(occupancy, geo, center) as f64 / free as f64
}

#[inline(always)]
fn window<const S: usize>(src: &[u8], stride: usize, top_left: usize, out: &mut [u8]) {
    // Rows of 8–16 cells are copied as 16-byte moves, each spilling into the next row's start,
    // which the next move overwrites; the last row, and a window whose 16-byte reads would run
    // past the grid, are copied exactly.
    const WIDE: usize = 16;
    let wide = (8..=WIDE).contains(&S) && top_left + (S - 1) * stride + WIDE <= src.len();
    if wide {
        for dx in 0..S - 1 {
            let from = top_left + dx * stride;
            let dst: &mut [u8; WIDE] = (&mut out[dx * S..dx * S + WIDE])
                .try_into()
                .expect("slice is WIDE long");
            *dst = src[from..from + WIDE]
                .try_into()
                .expect("slice is WIDE long");
        }
        let from = top_left + (S - 1) * stride;
        let dst: &mut [u8; S] = (&mut out[(S - 1) * S..S * S])
            .try_into()
            .expect("slice is S long");
        *dst = src[from..from + S].try_into().expect("slice is S long");
        return;
    }
    for (dx, row) in out.chunks_exact_mut(S).enumerate() {
        let from = top_left + dx * stride;
        let dst: &mut [u8; S] = row.try_into().expect("chunks are S long");
        let line: &[u8; S] = src[from..from + S].try_into().expect("slice is S long");
        *dst = *line;
    }
}

/// `Grid.get_square_target`: a one-hot `[R, R]` with the goal, clamped per axis onto the window
/// border when out of view.
pub fn write_target(geo: &Geometry, position: Cell, goal: Cell, out: &mut [u8]) {
    write_target_xy(
        geo.radius,
        geo.padded_xy(position),
        geo.padded_xy(goal),
        out,
    );
}

/// [`write_target`] from padded `(row, col)` pairs already at hand.
pub fn write_target_xy(radius: usize, position: [i64; 2], goal: [i64; 2], out: &mut [u8]) {
    match 2 * radius + 1 {
        3 => out[..9].fill(0),
        5 => out[..25].fill(0),
        7 => out[..49].fill(0),
        9 => out[..81].fill(0),
        11 => out[..121].fill(0),
        13 => out[..169].fill(0),
        _ => out.fill(0),
    }
    out[target_index(radius, position, goal)] = 1;
}

/// The target plane's hot cell in a window of radius `radius` at padded `position`: the goal's
/// offset, clamped per axis onto the window border (row-major index into `[R, R]`).
#[inline(always)]
fn target_index(radius: usize, [x, y]: [i64; 2], [gx, gy]: [i64; 2]) -> usize {
    let r = radius as i64;
    let dx = (x - gx).clamp(-r, r);
    let dy = (y - gy).clamp(-r, r);
    ((r - dx) * (2 * r + 1) + (r - dy)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_equal_a_plain_crop_for_every_radius_and_corner() {
        for r in 1..=9 {
            let geo = Geometry::new(13, 17, r);
            let src: Vec<u8> = (0..geo.padded_area())
                .map(|c| (c * 7 % 251) as u8)
                .collect();
            let side = 2 * r + 1;
            let mut out = vec![0u8; side * side];
            for [x, y] in [[0, 0], [12, 16], [6, 8], [12, 0], [0, 16]] {
                let center = geo.cell([x, y]);
                write_window(&src, &geo, center, &mut out);
                let [px, py] = geo.padded_xy(center);
                let expected: Vec<u8> = (0..side)
                    .flat_map(|dx| (0..side).map(move |dy| (dx, dy)))
                    .map(|(dx, dy)| {
                        let c = (px as usize + dx - r) * geo.stride + py as usize + dy - r;
                        src[c]
                    })
                    .collect();
                assert_eq!(out, expected, "radius {r}, centre {x},{y}");
            }
        }
    }

    #[test]
    fn far_goals_clamp_per_axis() {
        let geo = Geometry::new(20, 20, 2);
        let mut out = [0u8; 25];
        write_target(&geo, geo.cell([10, 10]), geo.cell([0, 11]), &mut out);
        // Goal 10 rows up and 1 column right: top row, one right of centre.
        assert_eq!(out.iter().position(|&v| v == 1), Some(3));
        write_target(&geo, geo.cell([10, 10]), geo.cell([19, 0]), &mut out);
        assert_eq!(out.iter().position(|&v| v == 1), Some(20));
    }
}
