//! The vocabulary events are written in: every account, region, principal, endpoint, error code
//! and event name is stored once and named by a number; so is every field path, and every set of
//! paths a record can have (its shape). Workers intern through these shared tables, each with a
//! cache of its own in front, so the lock is taken only for what a worker has not seen before.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;

/// A fast hash for tables keyed by text the archive chose: the tables only ever hold distinct
/// keys, so a collision costs a comparison, never a wrong answer.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;
pub(crate) type FastSet<T> = std::collections::HashSet<T, foldhash::fast::FixedState>;

/// A string of the vocabulary (never zero, so `Option<Sym>` is as small as `Sym`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Sym(NonZeroU32);

/// A field path (`requestParameters.instanceConnectEndpointId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct PathId(pub(crate) u32);

/// The sorted paths of a record: records made from one template share one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ShapeId(pub(crate) u32);

#[derive(Default)]
struct Interner {
    ids: FastMap<Box<str>, u32>,
}

impl Interner {
    fn id(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = u32::try_from(self.ids.len()).expect("fewer than 2^32 distinct strings");
        self.ids.insert(text.into(), id);
        id
    }

    /// The strings by id.
    fn into_vec(self) -> Vec<Box<str>> {
        let mut texts: Vec<(u32, Box<str>)> = self.ids.into_iter().map(|(text, id)| (id, text)).collect();
        texts.sort_unstable_by_key(|(id, _)| *id);
        texts.into_iter().map(|(_, text)| text).collect()
    }
}

/// The tables while workers fill them.
#[derive(Default)]
pub(crate) struct Tables {
    symbols: Mutex<Interner>,
    paths: Mutex<Interner>,
    shapes: Mutex<FastMap<Box<[PathId]>, u32>>,
}

impl Tables {
    pub(crate) fn symbol(&self, text: &str) -> Sym {
        let id = lock(&self.symbols).id(text);
        Sym(NonZeroU32::new(id + 1).expect("id + 1 is not zero"))
    }

    pub(crate) fn path(&self, path: &str) -> PathId {
        PathId(lock(&self.paths).id(path))
    }

    pub(crate) fn shape(&self, paths: &[PathId]) -> ShapeId {
        let mut shapes = lock(&self.shapes);
        if let Some(&id) = shapes.get(paths) {
            return ShapeId(id);
        }
        let id = u32::try_from(shapes.len()).expect("fewer than 2^32 shapes");
        shapes.insert(paths.into(), id);
        ShapeId(id)
    }

    /// The finished vocabulary, once every worker is done.
    pub(crate) fn freeze(self) -> Vocabulary {
        let into = |m: Mutex<Interner>| m.into_inner().unwrap_or_else(|e| e.into_inner()).into_vec();
        let mut shapes: Vec<(u32, Box<[PathId]>)> = self
            .shapes
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(|(paths, id)| (id, paths))
            .collect();
        shapes.sort_unstable_by_key(|(id, _)| *id);
        Vocabulary {
            symbols: into(self.symbols),
            paths: into(self.paths),
            shapes: shapes.into_iter().map(|(_, paths)| paths).collect(),
        }
    }
}

/// A poisoned lock only means another worker panicked; the table itself is consistent (every
/// insertion is one map operation), so it stays usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The vocabulary, read-only, for the analysis.
#[derive(Debug, Default)]
pub(crate) struct Vocabulary {
    symbols: Vec<Box<str>>,
    paths: Vec<Box<str>>,
    shapes: Vec<Box<[PathId]>>,
}

impl Vocabulary {
    pub(crate) fn text(&self, sym: Sym) -> &str {
        &self.symbols[sym.0.get() as usize - 1]
    }

    pub(crate) fn path(&self, path: PathId) -> &str {
        &self.paths[path.0 as usize]
    }

    pub(crate) fn shape(&self, shape: ShapeId) -> &[PathId] {
        &self.shapes[shape.0 as usize]
    }

    /// The symbol of `text`, if any event used it.
    pub(crate) fn find(&self, text: &str) -> Option<Sym> {
        let i = self.symbols.iter().position(|s| &**s == text)?;
        Some(Sym(NonZeroU32::new(i as u32 + 1)?))
    }
}

/// A worker's cache in front of the shared tables, keyed by a hash of each text the caller already
/// has (the text's leaf hash), so that a text the worker has seen is not hashed again. The text is
/// kept beside its symbol and compared: a hash two texts share costs a lookup, never a wrong
/// symbol.
#[derive(Default)]
pub(crate) struct Cache {
    symbols: FastMap<u64, (Box<str>, Sym)>,
}

impl Cache {
    /// The symbol of `text`, whose hash is `hash` (equal texts must have equal hashes). `text`
    /// is UTF-8, as bytes: a text seen before is compared, not validated again; a new one is
    /// made a `str` (lossily, were it ever not UTF-8).
    pub(crate) fn symbol(&mut self, tables: &Tables, hash: u64, text: &[u8]) -> Sym {
        let entry = match self.symbols.entry(hash) {
            Entry::Occupied(cached) if cached.get().0.as_bytes() == text => return cached.get().1,
            entry => entry,
        };
        let text = String::from_utf8_lossy(text);
        let sym = tables.symbol(&text);
        // Another text of the same hash is asked of the tables, not cached.
        if let Entry::Vacant(slot) = entry {
            slot.insert((text.into(), sym));
        }
        sym
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_get_equal_symbols_and_read_back() {
        let tables = Tables::default();
        let mut cache = Cache::default();
        let a = cache.symbol(&tables, 1, b"eu-west-1");
        let b = tables.symbol("us-east-1");
        assert_eq!(cache.symbol(&tables, 1, b"eu-west-1"), a);
        assert_eq!(cache.symbol(&tables, 1, b"us-east-1"), b, "a hash two texts share is not trusted");
        assert_eq!(tables.symbol("us-east-1"), b);
        let shape = tables.shape(&[tables.path("a"), tables.path("b")]);
        assert_eq!(tables.shape(&[PathId(0), PathId(1)]), shape);
        let vocabulary = tables.freeze();
        assert_eq!((vocabulary.text(a), vocabulary.text(b)), ("eu-west-1", "us-east-1"));
        assert_eq!(vocabulary.path(vocabulary.shape(shape)[1]), "b");
        assert_eq!(vocabulary.find("us-east-1"), Some(b));
    }
}
