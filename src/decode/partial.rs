//! What the decoder knows of partials (`trailscope scan`): how to recognise one, and its record
//! lines. The header is handed on as it is; what it says is `crate::partial`'s business.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::Reason;

/// The first member name of a partial's header line.
pub(crate) const MARKER: &[u8] = b"trailscope_partial";

/// The only member of a residue line (`scan --verify`): `{"v":<fact>}`.
pub(crate) const RESIDUE: &[u8] = b"v";

/// One record line of a partial: `{"o":"<object name>","i":<record index>,"r":<record>}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Line<'a> {
    #[serde(rename = "o", borrow)]
    pub(crate) object: &'a str,
    #[serde(rename = "i")]
    pub(crate) index: u32,
    #[serde(rename = "r", borrow)]
    pub(crate) record: &'a RawValue,
}

impl<'a> Line<'a> {
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Line<'a>, Reason> {
        serde_json::from_slice(bytes).map_err(|e| Reason::Json { at: None, detail: e.to_string() })
    }
}

/// One line of a `--verify` partial's residue: `{"v":<fact>}`, the fact being
/// `crate::verify::residue`'s business.
#[derive(Debug, Deserialize)]
pub(crate) struct Residue<'a> {
    #[serde(rename = "v", borrow)]
    pub(crate) fact: &'a RawValue,
}

impl<'a> Residue<'a> {
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Residue<'a>, Reason> {
        serde_json::from_slice(bytes).map_err(|e| Reason::Json { at: None, detail: e.to_string() })
    }
}
