//! Subcommands, one file each, wiring the pipeline stages together; [`read`] is what every
//! command that reads an archive shares.

pub(crate) mod completions;
pub(crate) mod connections;
pub(crate) mod findings;
mod read;
pub(crate) mod report;
pub(crate) mod scan;

use crate::Outcome;

/// What a run that wrote its output found, for [`outcome`] to judge.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    /// Objects that could not be read.
    pub(crate) unreadable: usize,
    /// Objects in archive storage classes, not read.
    pub(crate) archived: usize,
    /// Problems `--verify` found.
    pub(crate) problems: usize,
    /// `--fail-on SEVERITY` was given and an unsuppressed finding at or above it was found (with
    /// `--state`: one new since the last report).
    pub(crate) findings: bool,
    /// `--fail-on-change` was given and something changed since the last report.
    pub(crate) changed: bool,
}

/// The outcome of every command that wrote its output, decided here once: anything unread or
/// unverified makes the run incomplete, which comes before a finding to act on, which comes before
/// a change (the README's exit status table); a new exit status is a new arm here and a variant
/// of [`Outcome`].
pub(crate) fn outcome(found: Found) -> Outcome {
    if found.unreadable > 0 || found.archived > 0 || found.problems > 0 {
        Outcome::Incomplete
    } else if found.findings {
        Outcome::Findings
    } else if found.changed {
        Outcome::Changed
    } else {
        Outcome::Complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anything_unread_or_unverified_comes_before_a_finding_which_comes_before_a_change() {
        let changed = Found { changed: true, ..Found::default() };
        let both = Found { findings: true, ..changed };
        assert_eq!(outcome(Found::default()), Outcome::Complete);
        assert_eq!(outcome(changed), Outcome::Changed);
        assert_eq!(outcome(Found { findings: true, ..Found::default() }), Outcome::Findings);
        assert_eq!(outcome(both), Outcome::Findings);
        for found in
            [Found { unreadable: 1, ..both }, Found { archived: 1, ..both }, Found { problems: 1, ..both }]
        {
            assert_eq!(outcome(found), Outcome::Incomplete, "{found:?}");
        }
    }
}
