//! Pairs each `SendSSHPublicKey` with the `OpenTunnel` it prepared: same account, region and
//! principal, tunnel time within the window around the key, nearest first, one key per tunnel.

use std::collections::BTreeMap;

use crate::event::IcEvent;

/// Where a tunnel may lie relative to its key, in milliseconds. The pushed key lives 60 s, and
/// the console's tunnel call can land a few seconds before the key's in the log.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub before_ms: i64,
    pub after_ms: i64,
}

impl Window {
    pub fn after_seconds(seconds: u32) -> Self {
        Window { before_ms: 5_000, after_ms: i64::from(seconds) * 1_000 }
    }
}

/// For each key, the index of the tunnel it pairs with. Keys or tunnels without a readable
/// `eventTime` pair with nothing. Ties in distance go to the earlier key, then the earlier tunnel
/// (by origin), so the result does not depend on input order.
pub fn pair(keys: &[&IcEvent], tunnels: &[&IcEvent], window: Window) -> Vec<Option<usize>> {
    type Group<'a> = (&'a str, &'a str, &'a str);
    fn group(e: &IcEvent) -> Group<'_> {
        (&e.account, &e.region, &e.principal)
    }

    let mut groups: BTreeMap<Group<'_>, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (i, key) in keys.iter().enumerate().filter(|(_, k)| k.time.is_some()) {
        groups.entry(group(key)).or_default().0.push(i);
    }
    for (j, tunnel) in tunnels.iter().enumerate().filter(|(_, t)| t.time.is_some()) {
        groups.entry(group(tunnel)).or_default().1.push(j);
    }

    let millis = |e: &IcEvent| e.time.map_or(0, |t| t.millis());
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
    use crate::event::Origin;
    use crate::time::Timestamp;

    fn event(name: &str, record: u32, second: i64, principal: &str) -> IcEvent {
        IcEvent {
            origin: Origin { object: 0, record },
            name: name.into(),
            time: Some(Timestamp(second * 1_000)),
            account: "111122223333".into(),
            region: "us-east-1".into(),
            principal: principal.into(),
            error_code: None,
            endpoint: None,
            fields: Vec::new(),
        }
    }

    fn run(keys: &[IcEvent], tunnels: &[IcEvent], after: u32) -> Vec<Option<usize>> {
        let keys: Vec<&IcEvent> = keys.iter().collect();
        let tunnels: Vec<&IcEvent> = tunnels.iter().collect();
        pair(&keys, &tunnels, Window::after_seconds(after))
    }

    #[test]
    fn key_pairs_with_tunnel_in_the_same_second_or_just_after() {
        let keys = [event("SendSSHPublicKey", 0, 100, "alice"), event("SendSSHPublicKey", 1, 500, "alice")];
        let tunnels = [event("OpenTunnel", 2, 101, "alice"), event("OpenTunnel", 3, 500, "alice")];
        assert_eq!(run(&keys, &tunnels, 60), [Some(0), Some(1)]);
    }

    #[test]
    fn window_is_five_seconds_before_to_sixty_after() {
        let keys = [
            event("SendSSHPublicKey", 0, 1_000, "a"),
            event("SendSSHPublicKey", 1, 2_000, "b"),
            event("SendSSHPublicKey", 2, 3_000, "c"),
            event("SendSSHPublicKey", 3, 4_000, "d"),
        ];
        let tunnels = [
            event("OpenTunnel", 4, 995, "a"),   // 5 s before: in
            event("OpenTunnel", 5, 1_994, "b"), // 6 s before: out
            event("OpenTunnel", 6, 3_060, "c"), // 60 s after: in
            event("OpenTunnel", 7, 4_061, "d"), // 61 s after: out
        ];
        assert_eq!(run(&keys, &tunnels, 60), [Some(0), None, Some(2), None]);
        assert_eq!(run(&keys, &tunnels, 61)[3], Some(3), "--pair-window widens the window");
    }

    #[test]
    fn key_of_another_principal_or_account_does_not_pair() {
        let keys = [event("SendSSHPublicKey", 0, 100, "alice")];
        let mut other_account = event("OpenTunnel", 2, 100, "alice");
        other_account.account = "444455556666".into();
        let tunnels = [event("OpenTunnel", 1, 100, "bob"), other_account];
        assert_eq!(run(&keys, &tunnels, 60), [None]);
    }

    #[test]
    fn nearest_pair_wins_and_each_tunnel_takes_one_key() {
        // Two keys before one tunnel: the nearer key gets it, the other is left unpaired.
        let keys = [event("SendSSHPublicKey", 0, 100, "a"), event("SendSSHPublicKey", 1, 130, "a")];
        let tunnels = [event("OpenTunnel", 2, 131, "a")];
        assert_eq!(run(&keys, &tunnels, 60), [None, Some(0)]);
        // Greedy by distance, not by key order: key 0 would take tunnel 1 if it went first.
        let keys = [event("SendSSHPublicKey", 0, 100, "a"), event("SendSSHPublicKey", 1, 110, "a")];
        let tunnels = [event("OpenTunnel", 2, 109, "a"), event("OpenTunnel", 3, 150, "a")];
        assert_eq!(run(&keys, &tunnels, 60), [Some(1), Some(0)]);
    }

    #[test]
    fn equal_distances_break_by_origin_whatever_the_input_order() {
        let keys = [event("SendSSHPublicKey", 5, 100, "a")];
        let tunnels = [event("OpenTunnel", 9, 101, "a"), event("OpenTunnel", 1, 99, "a")];
        assert_eq!(run(&keys, &tunnels, 60), [Some(1)]);
        let reversed = [tunnels[1].clone(), tunnels[0].clone()];
        assert_eq!(run(&keys, &reversed, 60), [Some(0)]);
    }

    #[test]
    fn events_without_a_time_pair_with_nothing() {
        let mut key = event("SendSSHPublicKey", 0, 100, "a");
        key.time = None;
        assert_eq!(run(&[key], &[event("OpenTunnel", 1, 100, "a")], 60), [None]);
    }
}
