//! Subcommands, one file each, wiring the pipeline stages together; [`read`] is what every
//! command that reads an archive shares.

pub(crate) mod completions;
pub(crate) mod connections;
mod read;
pub(crate) mod report;
pub(crate) mod scan;
mod verify;

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
    /// `--fail-on-change` was given and something changed since the last report.
    pub(crate) changed: bool,
}

/// The outcome of every command that wrote its output, decided here once: anything unread or
/// unverified makes the run incomplete, which comes before a change (the README's exit status
/// table); a new exit status is a new arm here and a variant of [`Outcome`].
pub(crate) fn outcome(found: Found) -> Outcome {
    if found.unreadable > 0 || found.archived > 0 || found.problems > 0 {
        Outcome::Incomplete
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
    fn anything_unread_or_unverified_comes_before_a_change() {
        let changed = Found { changed: true, ..Found::default() };
        assert_eq!(outcome(Found::default()), Outcome::Complete);
        assert_eq!(outcome(changed), Outcome::Changed);
        for found in [
            Found { unreadable: 1, ..changed },
            Found { archived: 1, ..changed },
            Found { problems: 1, ..changed },
        ] {
            assert_eq!(outcome(found), Outcome::Incomplete, "{found:?}");
        }
    }
}
