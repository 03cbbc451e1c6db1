//! The exit statuses a run can end with, each once, with what it means. The README's "Exit
//! status" table is these rows (a test compares the two), so a script can rely on either.

/// Declares [`ExitStatus`], its list and its meanings from one line per status, so a status is
/// added in one place.
macro_rules! exit_statuses {
    ($($(#[$doc:meta])* $name:ident = $code:literal => $meaning:literal,)+) => {
        /// How a run ended, as the process's exit status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub enum ExitStatus {
            $($(#[$doc])* $name = $code,)+
        }

        impl ExitStatus {
            /// Every status, in the order the README lists them.
            pub const ALL: &'static [ExitStatus] = &[$(ExitStatus::$name,)+];

            /// What the status means, as the README's table says it.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(ExitStatus::$name => $meaning,)+
                }
            }
        }
    };
}

exit_statuses! {
    /// Every object was read (and, with `--verify`, verified).
    Success = 0 => "every object was read (with `--verify`: and no integrity problem was found)",
    /// A fatal error: one line on stderr, no output.
    Error = 1 => "fatal: no such SOURCE, a bucket that cannot be listed, no readable object, the first objects all refused with one access error (early stop), `--strict` with an unreadable or archived object or an integrity problem, output not writable, a `--state` DIR refused (in use, other sources or options or version, damaged); one line on stderr, no output",
    /// The command line is wrong: clap's message and the usage on stderr.
    Usage = 2 => "usage error (unknown option, missing SOURCE, a value out of range, options that contradict each other)",
    /// The output was written, but it does not cover everything.
    Incomplete = 3 => "the report (or the connections list, or the partial) was written, but some objects were unreadable or archived, or `--verify` found integrity problems (listed on stderr, and in the report)",
    /// `--fail-on-change`: the run was whole, and the report differs from the last one kept.
    Changed = 4 => "`report --fail-on-change --state DIR`: every object was read, and something changed since the last report (`changes` not empty)",
    /// `--fail-on SEVERITY`: the run was whole, and a finding of that severity or higher was found.
    Findings = 5 => "`report` or `findings` with `--fail-on SEVERITY`: every object was read, and a finding of SEVERITY or higher was found that no `--suppress` entry accepts (with `--state`: one new since the last report); 3 wins over 5, and 5 over 4",
}

impl ExitStatus {
    /// The process's status.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl ExitStatus {
    /// The status of a command line clap did not accept: [`ExitStatus::Usage`], or
    /// [`ExitStatus::Success`] for `--help` and `--version`, as clap's own `exit` decides.
    pub fn from_clap(error: &clap::Error) -> ExitStatus {
        if error.use_stderr() {
            ExitStatus::Usage
        } else {
            ExitStatus::Success
        }
    }
}

impl From<ExitStatus> for u8 {
    fn from(status: ExitStatus) -> u8 {
        status.code()
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> std::process::ExitCode {
        std::process::ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_distinct_and_listed_in_order() {
        let codes: Vec<u8> = ExitStatus::ALL.iter().map(|s| s.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
        assert_eq!(u8::from(ExitStatus::Usage), 2, "clap's own usage errors exit 2");
    }
}
