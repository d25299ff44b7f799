//! Breadth-first distance fields: the one BFS behind the follower observation's shortest paths
//! ([`crate::episode::FollowerView`]) and the planners' cached fields in `rmapf-agents`.

/// The cell type of a distance field: its "no path" marker and a step that saturates below it.
pub trait Distance: Copy + Eq {
    /// The distance of a cell that cannot reach the goal.
    const UNREACHABLE: Self;
    /// The goal's own distance.
    const ZERO: Self;
    /// One step further, saturating one below [`Distance::UNREACHABLE`].
    fn plus_one(self) -> Self;
}

impl Distance for u16 {
    const UNREACHABLE: Self = u16::MAX;
    const ZERO: Self = 0;
    fn plus_one(self) -> Self {
        self.saturating_add(1).min(u16::MAX - 1)
    }
}

impl Distance for u32 {
    const UNREACHABLE: Self = u32::MAX;
    const ZERO: Self = 0;
    fn plus_one(self) -> Self {
        self.saturating_add(1).min(u32::MAX - 1)
    }
}

/// Steps from every cell to `goal` into `dist` ([`Distance::UNREACHABLE`] where no path exists),
/// on the graph in which `neighbours(c)` yields the free neighbours of cell `c`. `queue` is
/// scratch; afterwards it holds the reached cells in the order BFS reached them. Allocates
/// nothing once `queue` can hold every cell. A `goal` outside `dist` reaches nothing.
pub fn distances_into<D: Distance, I: IntoIterator<Item = u32>>(
    goal: u32,
    dist: &mut [D],
    queue: &mut Vec<u32>,
    neighbours: impl Fn(u32) -> I,
) {
    dist.fill(D::UNREACHABLE);
    queue.clear();
    if goal as usize >= dist.len() {
        return;
    }
    dist[goal as usize] = D::ZERO;
    queue.push(goal);
    let mut head = 0;
    while head < queue.len() {
        let c = queue[head];
        head += 1;
        let next = dist[c as usize].plus_one();
        for n in neighbours(c) {
            if dist[n as usize] == D::UNREACHABLE {
                dist[n as usize] = next;
                queue.push(n);
            }
        }
    }
}

/// The free 4-neighbours of `cell` in a padded row-major grid (`stride` cells a row, non-zero a
/// wall): padding guarantees that every free cell's neighbours exist.
pub fn padded_free_neighbours(
    obstacles: &[u8],
    stride: u32,
    cell: u32,
) -> impl Iterator<Item = u32> + '_ {
    [cell + 1, cell + stride, cell - stride, cell - 1]
        .into_iter()
        .filter(move |&n| obstacles[n as usize] == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3-wide padded grid around a 1×3 corridor with a wall in the middle column of a second
    /// row: distances count steps, walls and cut-off cells stay unreachable.
    #[test]
    fn distances_count_steps_and_leave_cut_off_cells_unreachable() {
        #[rustfmt::skip]
        let obstacles: Vec<u8> = vec![
            1, 1, 1, 1, 1,
            1, 0, 0, 0, 1,
            1, 1, 1, 0, 1,
            1, 0, 1, 0, 1,
            1, 1, 1, 1, 1,
        ];
        let mut dist = vec![0u32; obstacles.len()];
        let mut queue = Vec::new();
        distances_into(6, &mut dist, &mut queue, |c| {
            padded_free_neighbours(&obstacles, 5, c)
        });
        assert_eq!(
            [dist[6], dist[7], dist[8], dist[13], dist[18]],
            [0, 1, 2, 3, 4]
        );
        assert_eq!(dist[16], u32::UNREACHABLE, "walled in");
        assert_eq!(dist[0], u32::UNREACHABLE, "a wall");
        assert_eq!(queue, [6, 7, 8, 13, 18]);
        let mut short = vec![0u16; obstacles.len()];
        distances_into(18, &mut short, &mut queue, |c| {
            padded_free_neighbours(&obstacles, 5, c)
        });
        assert_eq!(short[6], 4);
        distances_into(99, &mut short, &mut queue, |c| {
            padded_free_neighbours(&obstacles, 5, c)
        });
        assert!(short.iter().all(|&d| d == u16::UNREACHABLE) && queue.is_empty());
    }

    #[test]
    fn steps_saturate_below_the_unreachable_marker() {
        assert_eq!((u16::MAX - 2).plus_one(), u16::MAX - 1);
        assert_eq!((u16::MAX - 1).plus_one(), u16::MAX - 1);
        assert_eq!((u32::MAX - 1).plus_one(), u32::MAX - 1);
    }
}
