//! A request field's value in an event, read as the rules need it: compared by the hash the event
//! keeps of it, and its text read back from the spool once per distinct value, not once per event
//! (a port or an OS user takes few values across millions of events).

use crate::error::Reason;
use crate::event::tables::{FastMap, ShapeId};
use crate::event::{unquote, Event, Kept};

/// Reads the values of a few paths of many events.
pub(super) struct Values<'k> {
    kept: &'k Kept,
    /// Where each path is in a shape's values, if the shape has it; keyed by where the path's
    /// text is and its length (the rules' constants), which are hashed faster than the text.
    at: FastMap<(ShapeId, usize, usize), Option<usize>>,
    /// The text of a value, by path and hash.
    texts: FastMap<(&'static str, u64), Option<String>>,
}

/// What an event holds at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    /// The record has no such path.
    Absent,
    /// The value's hash: equal values, equal hashes.
    Hash(u64),
    /// The event keeps no hashes (its name's fields are not analyzed): read it to know.
    Unknown,
}

impl<'k> Values<'k> {
    pub(super) fn new(kept: &'k Kept) -> Self {
        Values { kept, at: FastMap::default(), texts: FastMap::default() }
    }

    /// What `event` holds at `path`, without reading it.
    pub(super) fn held(&mut self, event: &Event, path: &'static str) -> Held {
        let vocabulary = &self.kept.vocabulary;
        let at = *self.at.entry((event.shape, path.as_ptr() as usize, path.len())).or_insert_with(|| {
            vocabulary.shape(event.shape).iter().position(|&p| vocabulary.path(p) == path)
        });
        match at {
            None => Held::Absent,
            Some(i) => event.values.get(i).map_or(Held::Unknown, |&hash| Held::Hash(hash)),
        }
    }

    /// Whether the value of `path` in `event` is one `flagged` says yes to (given its text, as
    /// [`text`](Values::text) gives it), asked once per distinct value: the text when it is.
    pub(super) fn flagged(
        &mut self,
        event: &Event,
        path: &'static str,
        verdicts: &mut FastMap<u64, bool>,
        flagged: impl Fn(&str) -> bool,
    ) -> Result<Option<String>, Reason> {
        let hash = match self.held(event, path) {
            Held::Absent => return Ok(None),
            Held::Unknown => return Ok(self.text(event, path)?.filter(|text| flagged(text))),
            Held::Hash(hash) => hash,
        };
        match verdicts.get(&hash) {
            Some(false) => return Ok(None),
            Some(true) => return self.text(event, path),
            None => {}
        }
        let text = self.text(event, path)?;
        let verdict = text.as_deref().is_some_and(&flagged);
        verdicts.insert(hash, verdict);
        Ok(text.filter(|_| verdict))
    }

    /// The value of `path` in `event`: a string as itself, a number or `true` as its JSON text;
    /// `None` where the record has no such path.
    pub(super) fn text(&mut self, event: &Event, path: &'static str) -> Result<Option<String>, Reason> {
        match self.held(event, path) {
            Held::Absent => Ok(None),
            Held::Unknown => read(self.kept, event, path),
            Held::Hash(hash) => {
                if let Some(text) = self.texts.get(&(path, hash)) {
                    return Ok(text.clone());
                }
                let text = read(self.kept, event, path)?;
                self.texts.insert((path, hash), text.clone());
                Ok(text)
            }
        }
    }
}

/// `path` of `event`'s record, read back from the spool.
fn read(kept: &Kept, event: &Event, path: &str) -> Result<Option<String>, Reason> {
    Ok(kept.texts(event)?.remove(path).map(|json| unquote(&json)))
}
