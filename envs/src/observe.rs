//! Observation windows (`Pogema._obs`): `R × R` crops of the padded grids and the target channel.

use crate::grid::{Cell, Geometry};

/// Copies the `R × R` window of `src` centred on `center` into `out` (`[R, R]`, row-major).
/// The grid is padded by `r`, so the window is always in bounds.
pub fn write_window(src: &[u8], geo: &Geometry, center: Cell, out: &mut [u8]) {
    let r = geo.radius;
    let side = 2 * r + 1;
    let top_left = center as usize - r * geo.stride - r;
    for (dx, row) in out.chunks_exact_mut(side).enumerate() {
        let from = top_left + dx * geo.stride;
        row.copy_from_slice(&src[from..from + side]);
    }
}

/// `Grid.get_square_target`: a one-hot `[R, R]` with the goal, clamped per axis onto the window
/// border when out of view.
pub fn write_target(geo: &Geometry, position: Cell, goal: Cell, out: &mut [u8]) {
    let r = geo.radius as i64;
    let side = 2 * r + 1;
    let [x, y] = geo.padded_xy(position);
    let [fx, fy] = geo.padded_xy(goal);
    let dx = (x - fx).clamp(-r, r);
    let dy = (y - fy).clamp(-r, r);
    out.fill(0);
    out[((r - dx) * side + (r - dy)) as usize] = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

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
