//! Pairs each `SendSSHPublicKey` with the `OpenTunnel` it prepared: same account, region and
//! principal, tunnel time within the window around the key, nearest first, one key per tunnel.

use std::collections::BTreeMap;

use crate::event::tables::Sym;
use crate::event::Event;

/// Where a tunnel may lie relative to its key, in milliseconds. The pushed key lives 60 s, and
/// the console's tunnel call can land a few seconds before the key's in the log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) before_ms: i64,
    pub(crate) after_ms: i64,
}

impl Window {
    pub(crate) fn after_seconds(seconds: u32) -> Self {
        Window { before_ms: 5_000, after_ms: i64::from(seconds) * 1_000 }
    }

    /// The seconds after a key that [`Window::after_seconds`] was given (`--pair-window`).
    pub(crate) fn seconds(self) -> u32 {
        u32::try_from(self.after_ms / 1_000).unwrap_or(u32::MAX)
    }
}

/// For each key, the index of the tunnel it pairs with. Keys or tunnels without a readable
/// `eventTime` pair with nothing. Ties in distance go to the earlier key, then the earlier tunnel
/// (by origin), so the result does not depend on input order.
pub(crate) fn pair(keys: &[&Event], tunnels: &[&Event], window: Window) -> Vec<Option<usize>> {
    type Group = (Sym, Sym, Sym);
    fn group(e: &Event) -> Group {
        (e.account, e.region, e.principal)
    }

    let mut groups: BTreeMap<Group, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (i, key) in keys.iter().enumerate().filter(|(_, k)| k.time.is_some()) {
        groups.entry(group(key)).or_default().0.push(i);
    }
    for (j, tunnel) in tunnels.iter().enumerate().filter(|(_, t)| t.time.is_some()) {
        groups.entry(group(tunnel)).or_default().1.push(j);
    }

    let millis = |e: &Event| e.time.map_or(0, |t| t.millis());
    let mut paired = vec![None; keys.len()];
    let mut taken = vec![false; tunnels.len()];
    for (group_keys, mut group_tunnels) in groups.into_values() {
        if group_keys.is_empty() || group_tunnels.is_empty() {
            continue;
        }
        group_tunnels.sort_by_key(|&j| (millis(tunnels[j]), tunnels[j].origin));
        let times: Vec<i64> = group_tunnels.iter().map(|&j| millis(tunnels[j])).collect();
        // (distance, key origin, tunnel origin) orders candidates totally: nearest first.
        let mut candidates = Vec::new();
        for &i in &group_keys {
            let at = millis(keys[i]);
            let first = times.partition_point(|&t| t < at - window.before_ms);
            for (p, &t) in times.iter().enumerate().skip(first) {
                if t > at + window.after_ms {
                    break;
                }
                let j = group_tunnels[p];
                candidates.push(((t - at).abs(), keys[i].origin, tunnels[j].origin, i, j));
            }
        }
        candidates.sort_unstable();
        for (_, _, _, i, j) in candidates {
            if paired[i].is_none() && !taken[j] {
                paired[i] = Some(j);
                taken[j] = true;
            }
        }
    }
    paired
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::Builder;

    fn run(b: &Builder, keys: &[usize], tunnels: &[usize], after: u32) -> Vec<Option<usize>> {
        let events = b.events_unsorted();
        let keys: Vec<&Event> = keys.iter().map(|&i| &events[i]).collect();
        let tunnels: Vec<&Event> = tunnels.iter().map(|&i| &events[i]).collect();
        pair(&keys, &tunnels, Window::after_seconds(after))
    }

    #[test]
    fn key_pairs_with_tunnel_in_the_same_second_or_just_after() {
        let mut b = Builder::new();
        let keys = [b.key(100, "alice"), b.key(500, "alice")];
        let tunnels = [b.tunnel(101, "alice", None, None), b.tunnel(500, "alice", None, None)];
        assert_eq!(run(&b, &keys, &tunnels, 60), [Some(0), Some(1)]);
    }

    #[test]
    fn window_is_five_seconds_before_to_sixty_after() {
        let mut b = Builder::new();
        let keys = [b.key(1_000, "a"), b.key(2_000, "b"), b.key(3_000, "c"), b.key(4_000, "d")];
        let tunnels = [
            b.tunnel(995, "a", None, None),   // 5 s before: in
            b.tunnel(1_994, "b", None, None), // 6 s before: out
            b.tunnel(3_060, "c", None, None), // 60 s after: in
            b.tunnel(4_061, "d", None, None), // 61 s after: out
        ];
        assert_eq!(run(&b, &keys, &tunnels, 60), [Some(0), None, Some(2), None]);
        assert_eq!(run(&b, &keys, &tunnels, 61)[3], Some(3), "--pair-window widens the window");
    }

    #[test]
    fn key_of_another_principal_or_account_does_not_pair() {
        let mut b = Builder::new();
        let keys = [b.key(100, "alice")];
        let bob = b.tunnel(100, "bob", None, None);
        let other_account = b.tunnel(100, "alice", None, None);
        b.move_to_account(other_account, "444455556666");
        assert_eq!(run(&b, &keys, &[bob, other_account], 60), [None]);
    }

    #[test]
    fn nearest_pair_wins_and_each_tunnel_takes_one_key() {
        // Two keys before one tunnel: the nearer key gets it, the other is left unpaired.
        let mut b = Builder::new();
        let keys = [b.key(100, "a"), b.key(130, "a")];
        let tunnels = [b.tunnel(131, "a", None, None)];
        assert_eq!(run(&b, &keys, &tunnels, 60), [None, Some(0)]);
        // Greedy by distance, not by key order: key 0 would take tunnel 1 if it went first.
        let mut b = Builder::new();
        let keys = [b.key(100, "a"), b.key(110, "a")];
        let tunnels = [b.tunnel(109, "a", None, None), b.tunnel(150, "a", None, None)];
        assert_eq!(run(&b, &keys, &tunnels, 60), [Some(1), Some(0)]);
    }

    #[test]
    fn equal_distances_break_by_origin_whatever_the_input_order() {
        let mut b = Builder::new();
        let key = b.key(100, "a");
        let (late, early) = (b.tunnel(101, "a", None, None), b.tunnel(99, "a", None, None));
        // The tunnel read first (lower origin) wins the tie.
        assert_eq!(run(&b, &[key], &[late, early], 60), [Some(0)]);
        assert_eq!(run(&b, &[key], &[early, late], 60), [Some(1)]);
    }

    #[test]
    fn events_without_a_time_pair_with_nothing() {
        let mut b = Builder::new();
        let key = b.key(100, "a");
        b.untimed(key);
        let tunnel = b.tunnel(100, "a", None, None);
        assert_eq!(run(&b, &[key], &[tunnel], 60), [None]);
    }
}
