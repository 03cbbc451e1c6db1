//! A read-only view of one value in a simd-json tape, so records are inspected where they were
//! parsed: no DOM, no allocation to look up a field or walk an array.

use simd_json::{Buffers, Node, StaticNode, Tape};

/// Parses `input` (modified in place) into the tape kept in `slot` and runs `f` on its nodes. The
/// tape's allocation goes back into `slot` afterwards, whatever happened, so the next record
/// reuses it.
pub(crate) fn with_tape<R>(
    slot: &mut Tape<'static>,
    buffers: &mut Buffers,
    input: &mut [u8],
    f: impl FnOnce(&[Node<'_>]) -> R,
) -> Result<R, simd_json::Error> {
    let mut tape = std::mem::replace(slot, Tape(Vec::new())).reset();
    let result = simd_json::fill_tape(input, buffers, &mut tape).map(|()| f(&tape.0));
    *slot = tape.reset();
    result
}

/// One JSON value: its first tape node and every node nested in it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Json<'t, 'i>(&'t [Node<'i>]);

/// How many tape nodes a value starting with `node` occupies.
fn span(node: &Node<'_>) -> usize {
    match node {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

impl<'t, 'i> Json<'t, 'i> {
    /// The document's root value, or `None` for an empty tape.
    pub(crate) fn root(tape: &'t [Node<'i>]) -> Option<Self> {
        let first = tape.first()?;
        tape.get(..span(first)).map(Json)
    }

    pub(crate) fn node(self) -> Node<'i> {
        self.0[0]
    }

    pub(crate) fn as_str(self) -> Option<&'i str> {
        match self.node() {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether `other` is this very value of the same tape, not only an equal one.
    pub(crate) fn is(self, other: Json<'_, '_>) -> bool {
        std::ptr::eq(self.0.as_ptr().cast::<()>(), other.0.as_ptr().cast::<()>())
    }

    pub(crate) fn is_object(self) -> bool {
        matches!(self.node(), Node::Object { .. })
    }

    /// The member named `key`, if this is an object that has one (the first, if repeated).
    pub(crate) fn get(self, key: &str) -> Option<Json<'t, 'i>> {
        self.entries().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// An object's members in document order; nothing for other values.
    pub(crate) fn entries(self) -> Entries<'t, 'i> {
        let len = match self.node() {
            Node::Object { len, .. } => len,
            _ => 0,
        };
        Entries { rest: &self.0[1.min(self.0.len())..], len }
    }

    /// An array's elements in order; nothing for other values.
    pub(crate) fn elements(self) -> Elements<'t, 'i> {
        let len = match self.node() {
            Node::Array { len, .. } => len,
            _ => 0,
        };
        Elements { rest: &self.0[1.min(self.0.len())..], len }
    }

    /// Appends the value's compact JSON text. Used for leaves, which is all the analysis compares,
    /// but correct for any value.
    pub(crate) fn write_text(self, out: &mut String) {
        match self.node() {
            Node::String(s) => push_json_string(s, out),
            Node::Static(StaticNode::Null) => out.push_str("null"),
            Node::Static(StaticNode::Bool(b)) => out.push_str(if b { "true" } else { "false" }),
            Node::Static(StaticNode::I64(n)) => out.push_str(&n.to_string()),
            Node::Static(StaticNode::U64(n)) => out.push_str(&n.to_string()),
            Node::Static(StaticNode::F64(x)) => match serde_json::Number::from_f64(x) {
                Some(n) => out.push_str(&n.to_string()),
                None => out.push_str("null"),
            },
            Node::Object { .. } => {
                out.push('{');
                for (i, (key, value)) in self.entries().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_string(key, out);
                    out.push(':');
                    value.write_text(out);
                }
                out.push('}');
            }
            Node::Array { .. } => {
                out.push('[');
                for (i, value) in self.elements().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    value.write_text(out);
                }
                out.push(']');
            }
        }
    }
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_string(s: &str, out: &mut String) {
    // serde_json's escaping is the reference; writing into a String cannot fail.
    if let Ok(quoted) = serde_json::to_string(s) {
        out.push_str(&quoted);
    }
}

pub(crate) struct Entries<'t, 'i> {
    rest: &'t [Node<'i>],
    len: usize,
}

impl<'t, 'i> Iterator for Entries<'t, 'i> {
    type Item = (&'i str, Json<'t, 'i>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let (key, rest) = self.rest.split_first()?;
        let Node::String(key) = key else {
            return None;
        };
        let (value, rest) = rest.split_at_checked(span(rest.first()?))?;
        self.rest = rest;
        Some((key, Json(value)))
    }
}

pub(crate) struct Elements<'t, 'i> {
    rest: &'t [Node<'i>],
    len: usize,
}

impl<'t, 'i> Iterator for Elements<'t, 'i> {
    type Item = Json<'t, 'i>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let (value, rest) = self.rest.split_at_checked(span(self.rest.first()?))?;
        self.rest = rest;
        Some(Json(value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_root(text: &str, f: impl FnOnce(Json<'_, '_>)) {
        let mut bytes = text.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).expect("valid JSON");
        f(Json::root(&tape.0).expect("a root value"));
    }

    #[test]
    fn get_finds_members_after_nested_values() {
        with_root(r#"{"a":{"x":[1,{"y":2}]},"b":"two","c":[]}"#, |root| {
            assert_eq!(root.get("b").and_then(Json::as_str), Some("two"));
            let mut text = String::new();
            root.get("a").expect("a").write_text(&mut text);
            assert_eq!(text, r#"{"x":[1,{"y":2}]}"#);
            assert!(root.get("missing").is_none());
            assert_eq!(root.get("c").expect("c").elements().count(), 0);
        });
    }

    #[test]
    fn write_text_keeps_types_apart_and_escapes() {
        with_root(r#"["22",22,2.5,-1,true,null,"a\"b\u00e9",{}]"#, |root| {
            let texts: Vec<String> = root
                .elements()
                .map(|v| {
                    let mut s = String::new();
                    v.write_text(&mut s);
                    s
                })
                .collect();
            assert_eq!(texts, ["\"22\"", "22", "2.5", "-1", "true", "null", "\"a\\\"bé\"", "{}"]);
        });
    }
}
