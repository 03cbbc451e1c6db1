//! The row of `trailscope connections`: one [`Row`] per connection, denied attempt and key pushed
//! without a tunnel, as [`report`](crate::report) is the report's schema. Every list format
//! renders this type, and `--format jsonl` serializes it, so the JSON Lines keys are its fields,
//! in this order. [`analysis::rows`](crate::analysis::rows) picks and reads the rows,
//! [`output::rows`](crate::output::rows) writes them.

use std::fmt;

use clap::ValueEnum;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A successful `OpenTunnel`, with the key paired with it if any.
    Connected,
    /// An `OpenTunnel` refused with an error code, with the key paired with it if any.
    Denied,
    /// A `SendSSHPublicKey` that no tunnel followed: Instance Connect without an endpoint.
    Direct,
    /// A `SendSerialConsoleSSHPublicKey`.
    SerialConsole,
}

impl Outcome {
    /// The word the command line and every format use.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Connected => "connected",
            Outcome::Denied => "denied",
            Outcome::Direct => "direct",
            Outcome::SerialConsole => "serial-console",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row. Strings are the archive's own, unchanged (only `--redact` replaces some); `None`
/// where the record lacks the field or the row has no such record (a tunnel without a key has
/// no instance): an empty cell, `null` in JSON Lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// `eventTime` of the tunnel (of the key, for a row without one), as CloudTrail writes it;
    /// `None` when it could not be read as a time.
    pub time: Option<String>,
    pub outcome: Outcome,
    /// The tunnel's `errorCode`, for a denied attempt.
    pub error_code: Option<String>,
    /// `recipientAccountId`, else `userIdentity.accountId`.
    pub account: Option<String>,
    pub region: Option<String>,
    /// The endpoint the tunnel named; keys name none.
    pub endpoint: Option<String>,
    /// `userIdentity.arn`.
    pub principal: Option<String>,
    /// `sourceIPAddress` of the tunnel (of the key, for a row without one).
    pub source_ip: Option<String>,
    /// `requestParameters.instanceId` of the key.
    pub instance_id: Option<String>,
    /// `requestParameters.instanceOSUser` of the key.
    pub os_user: Option<String>,
    /// `requestParameters.privateIpAddress` of the tunnel.
    pub private_ip: Option<String>,
    /// `requestParameters.remotePort` of the tunnel, as text (records write it as a string).
    pub port: Option<String>,
    /// The pushed key's fingerprint as `ssh-keygen -l` prints it: `SHA256:` and the unpadded
    /// base64 of the SHA-256 of the key blob.
    pub key_fingerprint: Option<String>,
    /// Seconds from the key to the tunnel (negative when the tunnel was logged first).
    pub key_to_tunnel_seconds: Option<Seconds>,
    /// `userAgent` of the tunnel (of the key, for a row without one).
    pub user_agent: Option<String>,
    /// The endpoint's name (its `Name` tag, as the lifecycle calls read leave it): last, so that
    /// readers of the columns before it keep them.
    pub endpoint_name: Option<String>,
}

/// A time difference kept in milliseconds, shown in seconds: whole seconds as an integer, else
/// with the milliseconds (`1`, `-2`, `0.25`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub i64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1_000 == 0 {
            write!(f, "{}", self.0 / 1_000)
        } else {
            write!(f, "{}", self.0 as f64 / 1_000.0)
        }
    }
}

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1_000 == 0 {
            serializer.serialize_i64(self.0 / 1_000)
        } else {
            serializer.serialize_f64(self.0 as f64 / 1_000.0)
        }
    }
}

/// Read back as it is written (a report's `changes` goes through `--redact` as JSON).
impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Ok(Seconds((seconds * 1_000.0).round() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_whole_when_they_can_be() {
        let shown: Vec<String> = [0, 1_000, -2_000, 250, -1_500].map(|ms| Seconds(ms).to_string()).into();
        assert_eq!(shown, ["0", "1", "-2", "0.25", "-1.5"]);
        assert_eq!(serde_json::to_string(&Seconds(60_000)).expect("json"), "60");
        assert_eq!(serde_json::to_string(&Seconds(1_250)).expect("json"), "1.25");
        for ms in [0, 60_000, -2_000, 1_250, -1_500, 1] {
            let text = serde_json::to_string(&Seconds(ms)).expect("json");
            assert_eq!(serde_json::from_str::<Seconds>(&text).expect("read back"), Seconds(ms), "{text}");
        }
    }

    #[test]
    fn outcome_words_are_the_command_line_values() {
        for outcome in Outcome::value_variants() {
            let value = outcome.to_possible_value().expect("a value");
            assert_eq!(value.get_name(), outcome.as_str());
            assert_eq!(serde_json::to_value(outcome).expect("json"), outcome.as_str());
        }
    }
}
