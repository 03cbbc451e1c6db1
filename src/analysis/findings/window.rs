//! The windows of the window rules (`key-to-many-instances`, `denied-burst`): where one
//! principal's qualifying events cross a threshold within a span of time, overlapping windows
//! merged into one.

use std::ops::Range;

use crate::event::tables::FastMap;

/// The runs of `times` (sorted, in milliseconds) that hold `threshold` or more distinct `keys`
/// within `within_ms`, as index ranges. Each event opens a window that runs to the last event at
/// most `within_ms` after it; a window over the threshold covers its events from first to last,
/// and windows that share an event merge. An event outside every such window is in no range:
/// a principal's ordinary activity before or after a burst is not evidence of it.
pub(super) fn over_threshold(
    times: &[i64],
    keys: &[u64],
    threshold: usize,
    within_ms: i64,
) -> Vec<Range<usize>> {
    debug_assert_eq!(times.len(), keys.len());
    let threshold = threshold.max(1);
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut counts: FastMap<u64, u32> = FastMap::default();
    let mut end = 0;
    for start in 0..times.len() {
        while end < times.len() && times[end] - times[start] <= within_ms {
            *counts.entry(keys[end]).or_default() += 1;
            end += 1;
        }
        if counts.len() >= threshold {
            match ranges.last_mut() {
                Some(last) if start < last.end => last.end = end,
                _ => ranges.push(start..end),
            }
        }
        // The window of the next event no longer holds this one.
        if let Some(count) = counts.get_mut(&keys[start]) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&keys[start]);
            }
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;

    fn minutes(m: &[i64]) -> Vec<i64> {
        m.iter().map(|m| m * MINUTE).collect()
    }

    #[test]
    fn a_window_at_the_threshold_is_one_range_and_what_lies_outside_is_not_in_it() {
        // Five distinct keys in 40 minutes; one key an hour and a half before, one two hours after.
        let times = minutes(&[0, 90, 100, 110, 120, 130, 250]);
        let keys = [1, 2, 3, 4, 5, 6, 7];
        assert_eq!(over_threshold(&times, &keys, 5, 60 * MINUTE), vec![1..6]);
        assert_eq!(over_threshold(&times, &keys, 6, 60 * MINUTE), Vec::<Range<usize>>::new());
    }

    #[test]
    fn below_the_threshold_nothing_and_repeats_of_one_key_count_once() {
        let times = minutes(&[0, 1, 2, 3, 4, 5]);
        assert!(over_threshold(&times, &[1, 1, 2, 2, 3, 4], 5, 60 * MINUTE).is_empty());
        assert_eq!(over_threshold(&times, &[1, 1, 2, 2, 3, 5], 4, 60 * MINUTE), vec![0..6]);
    }

    #[test]
    fn overlapping_windows_merge_and_separate_ones_do_not() {
        // Windows of 3 within 10 minutes open at 0, 2, 4 and 9 minutes and overlap: one range;
        // the burst at 100 minutes is another.
        let times = minutes(&[0, 2, 4, 9, 11, 13, 100, 101, 102]);
        let keys = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(over_threshold(&times, &keys, 3, 10 * MINUTE), vec![0..6, 6..9]);
        // Exactly the span apart is within it; a millisecond more is not.
        assert_eq!(over_threshold(&[0, 10 * MINUTE], &[1, 2], 2, 10 * MINUTE), vec![0..2]);
        assert!(over_threshold(&[0, 10 * MINUTE + 1], &[1, 2], 2, 10 * MINUTE).is_empty());
    }
}
