//! Small graphs embedded as data, for examples, tests and the tour.

use crate::edges::Edges;

#[rustfmt::skip]
/// The 78 friendships of Zachary's karate club, members numbered 0–33.
pub const KARATE_EDGES: [(usize, usize); 78] = [
    (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (0, 7), (0, 8), (0, 10), (0, 11),
    (0, 12), (0, 13), (0, 17), (0, 19), (0, 21), (0, 31), (1, 2), (1, 3), (1, 7), (1, 13),
    (1, 17), (1, 19), (1, 21), (1, 30), (2, 3), (2, 7), (2, 8), (2, 9), (2, 13), (2, 27),
    (2, 28), (2, 32), (3, 7), (3, 12), (3, 13), (4, 6), (4, 10), (5, 6), (5, 10), (5, 16),
    (6, 16), (8, 30), (8, 32), (8, 33), (9, 33), (13, 33), (14, 32), (14, 33), (15, 32),
    (15, 33), (18, 32), (18, 33), (19, 33), (20, 32), (20, 33), (22, 32), (22, 33), (23, 25),
    (23, 27), (23, 29), (23, 32), (23, 33), (24, 25), (24, 27), (24, 31), (25, 31), (26, 29),
    (26, 33), (27, 33), (28, 31), (28, 33), (29, 32), (29, 33), (30, 32), (30, 33), (31, 32),
    (31, 33), (32, 33),
];

#[rustfmt::skip]
/// The side each member joined: 0 the instructor's, 1 the administrator's.
pub const KARATE_CLUB: [usize; 34] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1,
];

/// Zachary's karate club (Zachary 1977): 34 members, 78 friendships
/// observed in 1970–72, and the side of the split each member joined (0 the
/// instructor's, member 0; 1 the administrator's, member 33), as the
/// `club` attribute of networkx's `karate_club_graph`. Undirected: every
/// friendship is listed in both directions.
///
/// ```
/// let (edges, club) = nn_graph::datasets::karate_club();
/// assert_eq!((edges.num_nodes(), edges.num_edges()), (34, 2 * 78));
/// assert_eq!(club.iter().filter(|&&c| c == 1).count(), 17);
/// ```
pub fn karate_club() -> (Edges, Vec<usize>) {
    let edges = Edges::undirected(34, &KARATE_EDGES).expect("member ids are below 34");
    (edges, KARATE_CLUB.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn karate_club_is_a_simple_connected_graph() {
        let (edges, _) = karate_club();
        let mut seen = std::collections::HashSet::new();
        for &(a, b) in &KARATE_EDGES {
            assert!(a < b && seen.insert((a, b)), "({a}, {b})");
        }
        // Connected: a walk from member 0 reaches everyone.
        let mut reached = [false; 34];
        let mut stack = vec![0];
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut reached[n], true) {
                for (s, t) in edges.sources().iter().zip(edges.targets()) {
                    if *s == n {
                        stack.push(*t);
                    }
                }
            }
        }
        assert!(reached.iter().all(|&r| r));
        assert_eq!(edges.in_degrees()[33], 17);
        assert_eq!(edges.in_degrees()[0], 16);
    }
}
