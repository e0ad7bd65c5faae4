//! The part of the Elasticsearch query DSL that rule `filter`s are written in: `term`,
//! `terms`, `match`, `match_phrase`, `range`, `exists`, `wildcard`, `prefix`, `bool` and
//! `query_string` (Lucene syntax: `field:value`, phrases, wildcards, ranges, AND/OR/NOT,
//! `+`/`-`, groups, `_exists_`), evaluated on one document. A filter is a list of clauses
//! that must all hold, as in ElastAlert.
//!
//! Text matching is an approximation of Elasticsearch's analysis, stated here: `match` and
//! bare `query_string` words compare lowercased words (split at anything that is not a
//! letter or digit); `term`, `terms`, `wildcard` and `prefix` compare the stored value
//! exactly, as on a `keyword` field.

use iotw_event::json::{object_content, Members, Quotes};
use iotw_event::Event;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// Nesting depth of `bool` clauses and query-string groups.
pub const MAX_DEPTH: usize = 32;
/// Longest query string read.
pub const MAX_QUERY_STRING: usize = 8192;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FilterError {
    #[error("unsupported query {0:?} (supported: term, terms, match, match_phrase, range, exists, wildcard, prefix, bool, query_string, match_all)")]
    Unsupported(String),
    #[error("{query}: {message}")]
    Bad { query: &'static str, message: String },
    #[error("nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("query_string: {0}")]
    QueryString(String),
}

/// A whole rule filter: every clause must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub clauses: Vec<Query>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    All,
    Term {
        field: Field,
        values: Vec<String>,
    },
    Match {
        field: Field,
        words: Vec<String>,
        all: bool,
    },
    Phrase {
        field: Field,
        words: Vec<String>,
    },
    Range {
        field: Field,
        bounds: Vec<(Cmp, String)>,
    },
    Exists {
        field: Field,
    },
    Wildcard {
        field: Field,
        /// Lowercased when `fold`.
        pattern: String,
        /// Case-insensitive: the text is lowercased before the pattern is matched.
        fold: bool,
    },
    /// Any text value of the document holds these words (a bare query-string word).
    Anywhere {
        words: Vec<String>,
        pattern: Option<String>,
    },
    Bool {
        must: Vec<Query>,
        should: Vec<Query>,
        must_not: Vec<Query>,
        min_should: usize,
    },
}

/// A field a query reads: its dotted name and, once the rule is bound to the fields of its
/// run ([`FieldSet`]), where the run's documents keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// (the set's serial number, the field's index in it)
    id: Option<(u64, usize)>,
}

impl From<String> for Field {
    fn from(name: String) -> Self {
        Field { name, id: None }
    }
}

impl From<&str> for Field {
    fn from(name: &str) -> Self {
        Field { name: name.to_string(), id: None }
    }
}

impl Field {
    pub fn bind(&mut self, set: &FieldSet) {
        self.id = set.id(&self.name).map(|i| (set.serial, i));
    }

    /// Its index in `set`, if bound to it.
    pub fn id_in(&self, set: &FieldSet) -> Option<usize> {
        self.id.filter(|&(serial, _)| serial == set.serial).map(|(_, i)| i)
    }

    /// Its index in the set it was last bound to, if any (as [`Gate`]s name fields).
    pub(crate) fn bound(&self) -> Option<usize> {
        self.id.map(|(_, i)| i)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Filter {
    pub fn parse(clauses: &[Value]) -> Result<Self, FilterError> {
        let clauses = clauses.iter().map(|c| query(c, 0)).collect::<Result<_, _>>()?;
        Ok(Filter { clauses })
    }

    pub fn matches(&self, e: &Event) -> bool {
        self.matches_in(&mut Doc::new(e))
    }

    /// Whether a document holds, its fields read through `doc` (shared by several rules).
    pub fn matches_in(&self, doc: &mut Doc<'_>) -> bool {
        self.clauses.iter().all(|q| q.eval(doc))
    }

    /// Every field the filter reads.
    pub fn fields(&self, out: &mut Vec<String>) {
        self.clauses.iter().for_each(|q| q.fields(out));
    }

    /// Points every field the filter reads at its place in `set`.
    pub fn bind(&mut self, set: &FieldSet) {
        self.clauses.iter_mut().for_each(|q| q.bind(set));
    }

    /// A condition that every document the (bound) filter holds for meets, cheap to test
    /// for many rules at once; `None` when there is none to tell.
    pub fn gate(&self) -> Option<Gate> {
        best(self.clauses.iter().filter_map(Query::gate))
    }
}

/// What a document must have for a filter to hold (see [`Filter::gate`]): a value in the
/// field at this index of the run's [`FieldSet`], or one of these values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Exists(usize),
    OneOf(usize, Vec<String>),
}

/// The narrower of several conditions that must all hold.
pub(crate) fn best(gates: impl Iterator<Item = Gate>) -> Option<Gate> {
    gates.max_by_key(|g| matches!(g, Gate::OneOf(..)))
}

fn bad(query: &'static str, message: impl Into<String>) -> FilterError {
    FilterError::Bad { query, message: message.into() }
}

/// The one `{field: body}` pair of a leaf query.
fn single<'a>(name: &'static str, v: &'a Value) -> Result<(&'a str, &'a Value), FilterError> {
    let m = v.as_object().filter(|m| m.len() == 1).ok_or_else(|| bad(name, "expects {field: ...}"))?;
    m.iter().next().map(|(k, v)| (k.as_str(), v)).ok_or_else(|| bad(name, "expects {field: ...}"))
}

/// The text of a scalar, as a field's value is compared.
pub fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => i.to_string(),
            None => n.as_f64().map(crate::rule::number_text).unwrap_or_else(|| n.to_string()),
        }),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn query(v: &Value, depth: usize) -> Result<Query, FilterError> {
    if depth > MAX_DEPTH {
        return Err(FilterError::TooDeep);
    }
    let m = v.as_object().filter(|m| m.len() == 1).ok_or_else(|| bad("filter", "each clause is {query: {...}}"))?;
    let Some((kind, body)) = m.iter().next() else { return Err(bad("filter", "empty clause")) };
    Ok(match kind.as_str() {
        // ElastAlert's legacy wrapper: `- query: {query_string: {...}}`.
        "query" => query(body, depth + 1)?,
        "match_all" => Query::All,
        "term" => {
            let (field, b) = single("term", body)?;
            let value = b.get("value").unwrap_or(b);
            let t = text_of(value).ok_or_else(|| bad("term", "the value must be a string, number or boolean"))?;
            Query::Term { field: field.into(), values: vec![t] }
        }
        "terms" => {
            let (field, b) = single("terms", body)?;
            let list = b.as_array().ok_or_else(|| bad("terms", "expects {field: [values]}"))?;
            let values = list.iter().filter_map(text_of).collect();
            Query::Term { field: field.into(), values }
        }
        "match" | "match_phrase" => {
            let (field, b) = single("match", body)?;
            let text = b.get("query").unwrap_or(b);
            let text = text_of(text).ok_or_else(|| bad("match", "the query must be text"))?;
            let all = b.get("operator").and_then(Value::as_str).is_some_and(|o| o.eq_ignore_ascii_case("and"));
            if kind == "match" {
                Query::Match { field: field.into(), words: words(&text), all }
            } else {
                Query::Phrase { field: field.into(), words: words(&text) }
            }
        }
        "range" => {
            let (field, b) = single("range", body)?;
            let m = b.as_object().ok_or_else(|| bad("range", "expects {field: {gte: ..}}"))?;
            let mut bounds = Vec::new();
            for (k, v) in m {
                let cmp = match k.as_str() {
                    "gt" => Cmp::Gt,
                    "gte" | "from" => Cmp::Gte,
                    "lt" => Cmp::Lt,
                    "lte" | "to" => Cmp::Lte,
                    "format" | "time_zone" => continue,
                    other => return Err(bad("range", format!("unknown bound {other:?}"))),
                };
                let t = text_of(v).ok_or_else(|| bad("range", "bounds are numbers or text"))?;
                bounds.push((cmp, t));
            }
            Query::Range { field: field.into(), bounds }
        }
        "exists" => {
            let field =
                body.get("field").and_then(Value::as_str).ok_or_else(|| bad("exists", "expects {field: name}"))?;
            Query::Exists { field: field.into() }
        }
        "wildcard" | "prefix" => {
            let (field, b) = single("wildcard", body)?;
            let value = b.get("value").or_else(|| b.get("wildcard")).unwrap_or(b);
            let mut pattern = text_of(value).ok_or_else(|| bad("wildcard", "the pattern must be text"))?;
            if kind == "prefix" {
                pattern = pattern.replace(['*', '?'], "") + "*";
            }
            let fold = b.get("case_insensitive").and_then(Value::as_bool).unwrap_or(false);
            if fold {
                pattern = pattern.to_lowercase();
            }
            Query::Wildcard { field: field.into(), pattern, fold }
        }
        "bool" => {
            let b = body.as_object().ok_or_else(|| bad("bool", "expects an object"))?;
            let list = |key: &str| -> Result<Vec<Query>, FilterError> {
                match b.get(key) {
                    None => Ok(Vec::new()),
                    Some(Value::Array(a)) => a.iter().map(|q| query(q, depth + 1)).collect(),
                    Some(q) => Ok(vec![query(q, depth + 1)?]),
                }
            };
            for k in b.keys() {
                if !matches!(k.as_str(), "must" | "filter" | "should" | "must_not" | "minimum_should_match" | "boost") {
                    return Err(bad("bool", format!("unknown key {k:?}")));
                }
            }
            let mut must = list("must")?;
            must.extend(list("filter")?);
            let should = list("should")?;
            let min_should = match b.get("minimum_should_match") {
                Some(v) => v.as_u64().ok_or_else(|| bad("bool", "minimum_should_match must be a count"))? as usize,
                None if must.is_empty() && !should.is_empty() => 1,
                None => 0,
            };
            Query::Bool { must, should, must_not: list("must_not")?, min_should }
        }
        "query_string" => {
            let q = body
                .get("query")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("query_string", "expects {query: text}"))?;
            if q.len() > MAX_QUERY_STRING {
                return Err(FilterError::QueryString(format!("longer than {MAX_QUERY_STRING} bytes")));
            }
            let and =
                body.get("default_operator").and_then(Value::as_str).is_some_and(|o| o.eq_ignore_ascii_case("and"));
            crate::lucene::parse(q, and)?
        }
        other => return Err(FilterError::Unsupported(other.into())),
    })
}

/// Lowercased words: runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Whether `text` matches a `*`/`?` pattern.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matching with one backtrack point: linear in practice, no recursion.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// The fields a set of rules reads, so that each document is walked once for all of them:
/// their names as a tree of dotted segments.
#[derive(Debug, Clone)]
pub struct FieldSet {
    /// Tells sets apart, so that a field bound to one is never read by its index in another.
    serial: u64,
    ids: HashMap<String, usize, foldhash::fast::RandomState>,
    /// `nodes[0]` is the document itself.
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    children: Vec<(Box<[u8]>, usize)>,
    /// The index of the field that ends here.
    id: Option<usize>,
    /// The first bytes of the children's names, a bit each: a member whose key starts
    /// otherwise leads to none of them, dots or not, and is passed over unread. An empty
    /// name starts with no byte: all bits are set for it.
    firsts: [u64; 4],
}

impl Node {
    fn add_child(&mut self, name: &[u8], n: usize) {
        match name.first() {
            Some(&c) => self.firsts[usize::from(c / 64)] |= 1 << (c % 64),
            None => self.firsts = [u64::MAX; 4],
        }
        self.children.push((name.into(), n));
    }

    /// Whether a member key starting as `key` may lead to a child.
    #[inline]
    fn may_lead(&self, key: &[u8]) -> bool {
        match key.first() {
            Some(&c) => self.firsts[usize::from(c / 64)] >> (c % 64) & 1 == 1,
            // An empty key matches an empty name only.
            None => self.firsts == [u64::MAX; 4],
        }
    }
}

impl Default for FieldSet {
    fn default() -> Self {
        static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        FieldSet { serial, ids: HashMap::default(), nodes: vec![Node::default()] }
    }
}

impl FieldSet {
    pub fn new(fields: impl IntoIterator<Item = String>) -> Self {
        let mut set = FieldSet::default();
        for f in fields {
            if set.ids.contains_key(&f) {
                continue;
            }
            let id = set.ids.len();
            let mut node = 0;
            for seg in f.split('.') {
                node = match set.child(node, seg.as_bytes()) {
                    Some(n) => n,
                    None => {
                        set.nodes.push(Node::default());
                        let n = set.nodes.len() - 1;
                        set.nodes[node].add_child(seg.as_bytes(), n);
                        n
                    }
                };
            }
            set.nodes[node].id = Some(id);
            set.ids.insert(f, id);
        }
        set
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn id(&self, field: &str) -> Option<usize> {
        self.ids.get(field).copied()
    }

    fn child(&self, node: usize, seg: &[u8]) -> Option<usize> {
        self.nodes.get(node)?.children.iter().find(|(k, _)| **k == *seg).map(|&(_, n)| n)
    }

    /// The node a member key leads to from `node`; a key written with dots in it (`"a.b"`)
    /// reaches what `a` then `b` would.
    fn step(&self, node: usize, key: &[u8]) -> Option<usize> {
        if !key.contains(&b'.') {
            return self.child(node, key);
        }
        key.split(|&c| c == b'.').try_fold(node, |n, seg| self.child(n, seg))
    }

    /// The JSON text of every field of the set in a document's members, by index, into
    /// `out` (emptied first). `extents` are the members' containers ([`Event::extents`];
    /// empty when not known), so that the walk skips what the set does not name without
    /// reading it. `quotes` are where the strings of `content` end ([`Quotes::find`] over it).
    fn index<'a>(
        &self,
        content: &'a [u8],
        extents: &'a [iotw_event::Extent],
        quotes: &'a Quotes,
        out: &mut Vec<Slot<'a>>,
    ) {
        out.clear();
        out.resize_with(self.len(), Slot::default);
        self.walk(Within { content, extents, quotes }, content, 0, out, 0, 0);
    }

    /// `first_extent`: where among the extents this object's containers start
    /// ([`Members::from_extent`]).
    fn walk<'a>(
        &self,
        doc: Within<'a>,
        object: &'a [u8],
        node: usize,
        out: &mut [Slot<'a>],
        depth: usize,
        first_extent: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        // `object` lies inside `doc.content`: where, is the distance between their starts.
        let at = object.as_ptr() as usize - doc.content.as_ptr() as usize;
        let Some(here) = self.nodes.get(node) else { return };
        let children = &here.children;
        // Once every name the set wants here has been met, the rest of the object is not read
        // (a document names each member once).
        let all = match children.len() {
            0 => return,
            n @ 1..=63 => (1u64 << n) - 1,
            _ => u64::MAX,
        };
        let mut met = 0u64;
        let mut members = Members::with_quotes(object, at, doc.extents, doc.quotes).from_extent(first_extent);
        while let Some(m) = members.next() {
            if !here.may_lead(m.key) {
                continue;
            }
            // A segment has no dot in it: only a key no child has is read for one.
            // Lengths and first bytes tell most names apart before the bytes are compared.
            let n = match children
                .iter()
                .position(|(k, _)| k.len() == m.key.len() && k.first() == m.key.first() && **k == *m.key)
            {
                Some(p) => {
                    met |= 1u64.checked_shl(p as u32).unwrap_or(0);
                    children[p].1
                }
                None if m.key.contains(&b'.') => match self.step(node, m.key) {
                    Some(n) => n,
                    None => continue,
                },
                None => continue,
            };
            let Some(found) = self.nodes.get(n) else { continue };
            if let Some(slot) = found.id.and_then(|i| out.get_mut(i)) {
                slot.raw.get_or_insert(m.value);
            }
            if !found.children.is_empty() {
                if let Some(inner) = object_content(m.value) {
                    // Its containers come right after its own extent.
                    self.walk(doc, inner, n, out, depth + 1, members.next_extent());
                }
            }
            if met == all && children.len() <= 63 {
                break;
            }
        }
    }
}

/// The members of a document being walked, and their containers.
#[derive(Debug, Clone, Copy)]
struct Within<'a> {
    content: &'a [u8],
    extents: &'a [iotw_event::Extent],
    quotes: &'a Quotes,
}

/// A document's fields, each read once however many rules ask.
#[derive(Debug)]
pub struct Doc<'e> {
    e: &'e Event,
    /// With a [`FieldSet`]: each of its fields, by index, found in one walk.
    indexed: Option<(&'e FieldSet, Vec<Slot<'e>>)>,
    /// Fields of the set read as values, by index (few documents have any).
    values: Vec<(usize, Vec<Value>)>,
    /// Values read of fields outside the set, by name.
    cache: Vec<(String, Vec<Value>)>,
    all_text: Option<Vec<String>>,
}

/// One field of a [`FieldSet`] in a document: its JSON text, and its texts once read.
#[derive(Debug, Default)]
struct Slot<'e> {
    raw: Option<&'e [u8]>,
    texts: Option<Texts<'e>>,
}

/// The memory of a walked document's slots, handed from one document to the next so that a
/// stream of them costs no new memory ([`Doc::indexed`], [`Doc::recycle`]).
#[derive(Debug, Default)]
pub struct Slots(Vec<Slot<'static>>);

/// An emptied vector of slots, its memory taken over for slots of another lifetime.
// Not `filter`: the items' type changes (their lifetime), which only a map can do.
#[allow(clippy::unnecessary_filter_map)]
fn relabel<'b>(mut v: Vec<Slot<'_>>) -> Vec<Slot<'b>> {
    v.clear();
    // No slot is left to convert: collecting in place keeps the allocation.
    v.into_iter().filter_map(|_| None).collect()
}

/// A field's text values. Most fields hold one, which is kept without a vector.
#[derive(Debug)]
enum Texts<'e> {
    One(Cow<'e, str>),
    Many(Vec<Cow<'e, str>>),
}

impl<'e> Texts<'e> {
    fn as_slice(&self) -> &[Cow<'e, str>] {
        match self {
            Texts::One(t) => std::slice::from_ref(t),
            Texts::Many(v) => v,
        }
    }
}

/// The value at a dotted path in an object's content, a key with dots in it standing for
/// the objects it names (as Elasticsearch reads `{"a.b": 1}` as field `a.b`); the first
/// found, depth first, in the order written.
fn lookup_dotted<'a>(content: &'a [u8], path: &str, depth: usize) -> Option<&'a [u8]> {
    if depth > MAX_DEPTH {
        return None;
    }
    for m in Members::new(content) {
        let Ok(key) = std::str::from_utf8(m.key) else { continue };
        if key == path {
            return Some(m.value);
        }
        if let Some(rest) = path.strip_prefix(key).and_then(|r| r.strip_prefix('.')) {
            if let Some(v) = object_content(m.value).and_then(|inner| lookup_dotted(inner, rest, depth + 1)) {
                return Some(v);
            }
        }
    }
    None
}

/// A field's JSON text as the values it holds: an array's items, nothing for null.
fn values_of(v: Option<Value>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.into_iter().filter(|v| !v.is_null()).collect(),
        Some(v) => vec![v],
    }
}

/// A field's JSON text as its text values ([`text_of`] of each of [`values_of`]), borrowed
/// from the document where they are written as they compare.
fn texts_of(raw: &[u8]) -> Texts<'_> {
    match iotw_event::json::array_content(raw) {
        Some(items) => Texts::Many(iotw_event::json::Elements::new(items).filter_map(scalar_text).collect()),
        None => match scalar_text(raw) {
            Some(t) => Texts::One(t),
            None => Texts::Many(Vec::new()),
        },
    }
}

fn scalar_text(v: &[u8]) -> Option<Cow<'_, str>> {
    match v.first()? {
        b'"' => iotw_event::json::str_value(v),
        b'{' | b'[' | b'n' => None,
        b't' | b'f' => std::str::from_utf8(v).ok().map(Cow::Borrowed),
        _ => {
            let s = std::str::from_utf8(v).ok()?;
            // An integer is compared as written; other numbers as `text_of` prints them.
            if s != "-0" && s.parse::<i64>().is_ok() {
                return Some(Cow::Borrowed(s));
            }
            serde_json::from_str::<Value>(s).ok().as_ref().and_then(text_of).map(Cow::Owned)
        }
    }
}

impl<'e> Doc<'e> {
    pub fn new(e: &'e Event) -> Self {
        Doc { e, indexed: None, values: Vec::new(), cache: Vec::new(), all_text: None }
    }

    /// A document whose fields in `set` are found by one walk of `content` (its members,
    /// [`Event::finished_members`] with their [`Event::extents`], or the inside of
    /// [`Event::to_json`] with no extents). `quotes` is a buffer for where the strings of
    /// `content` end, and `slots` the memory for its fields ([`Doc::recycle`] gives it back),
    /// both kept from document to document.
    pub fn indexed(
        e: &'e Event,
        content: &'e [u8],
        extents: &'e [iotw_event::Extent],
        set: &'e FieldSet,
        quotes: &'e mut Quotes,
        slots: Slots,
    ) -> Self {
        let mut slots = relabel(slots.0);
        set.index(content, extents, quotes.find(content), &mut slots);
        Doc { e, indexed: Some((set, slots)), values: Vec::new(), cache: Vec::new(), all_text: None }
    }

    /// The memory of the document's slots, for the next document ([`Doc::indexed`]).
    pub fn recycle(self) -> Slots {
        Slots(self.indexed.map(|(_, s)| relabel(s)).unwrap_or_default())
    }

    /// The values of a field (an array's items each), empty when absent or null.
    pub fn values(&mut self, field: &str) -> &[Value] {
        if let Some((set, slots)) = &self.indexed {
            if let Some(id) = set.id(field) {
                let at = match self.values.iter().position(|(i, _)| *i == id) {
                    Some(at) => at,
                    None => {
                        let raw = slots.get(id).and_then(|s| s.raw);
                        self.values.push((id, values_of(raw.and_then(|r| serde_json::from_slice(r).ok()))));
                        self.values.len() - 1
                    }
                };
                return self.values.get(at).map(|(_, v)| v.as_slice()).unwrap_or_default();
            }
        }
        if let Some(i) = self.cache.iter().position(|(f, _)| f == field) {
            return &self.cache[i].1;
        }
        let json = self.e.to_json();
        let found = object_content(json.as_bytes())
            .and_then(|c| lookup_dotted(c, field, 0))
            .and_then(|v| serde_json::from_slice(v).ok());
        self.cache.push((field.to_string(), values_of(found)));
        self.cache.last().map(|(_, v)| v.as_slice()).unwrap_or_default()
    }

    /// The text values of a field (see [`text_of`]).
    pub fn texts(&mut self, field: &Field) -> Cow<'_, [Cow<'e, str>]> {
        match self.indexed_id(field) {
            Some(id) => Cow::Borrowed(self.texts_at(id)),
            None => Cow::Owned(self.values(&field.name).iter().filter_map(text_of).map(Cow::Owned).collect()),
        }
    }

    /// The text ([`text_of`]) of the field's first value (an array's first item that is not
    /// null), `None` when it has none or it is not text. A field of the set that holds one
    /// scalar is read as its text, without parsing it as a value.
    pub fn first_text(&mut self, field: &Field) -> Option<Cow<'e, str>> {
        if let Some(id) = self.indexed_id(field) {
            let raw = self.indexed.as_ref().and_then(|(_, slots)| slots.get(id)?.raw);
            match raw.and_then(|r| r.first()) {
                None => return None,
                Some(b'[' | b'{') => {}
                // Borrowed from the document unless the text had escapes.
                Some(_) => return self.texts_at(id).first().cloned(),
            }
        }
        self.values(&field.name).first().and_then(text_of).map(Cow::Owned)
    }

    /// Whether some text value of the field satisfies `f`.
    fn any_text(&mut self, field: &Field, mut f: impl FnMut(&str) -> bool) -> bool {
        match self.indexed_id(field) {
            Some(id) => self.texts_at(id).iter().map(|t| &**t).any(f),
            None => self.values(&field.name).iter().filter_map(text_of).any(|t| (f)(&t)),
        }
    }

    fn exists(&mut self, field: &Field) -> bool {
        match self.indexed_id(field) {
            Some(id) => self.exists_at(id),
            None => !self.values(&field.name).is_empty(),
        }
    }

    /// The field's index when this document was walked for the set the field is bound to
    /// (otherwise it is looked up by name).
    fn indexed_id(&self, field: &Field) -> Option<usize> {
        let (set, _) = self.indexed.as_ref()?;
        field.id_in(set)
    }

    /// Whether the field at `id` of the set holds a value (not null, not an empty array).
    pub fn exists_at(&mut self, id: usize) -> bool {
        let Some(raw) = self.indexed.as_ref().and_then(|(_, slots)| slots.get(id)?.raw) else { return false };
        match iotw_event::json::array_content(raw) {
            Some(items) => iotw_event::json::Elements::new(items).any(|v| v != b"null"),
            None => raw != b"null",
        }
    }

    /// When the field at `id` of the set holds one string without escapes: its bytes, which
    /// are its text (its only one, [`Doc::texts_at`]) when they are UTF-8.
    pub fn plain_string_at(&self, id: usize) -> Option<&'e [u8]> {
        let raw = self.indexed.as_ref().and_then(|(_, slots)| slots.get(id)?.raw)?;
        iotw_event::json::unescaped_string(raw)
    }

    /// The text values of the field at `id` of the set.
    pub fn texts_at(&mut self, id: usize) -> &[Cow<'e, str>] {
        let Some(slot) = self.indexed.as_mut().and_then(|(_, slots)| slots.get_mut(id)) else { return &[] };
        let raw = slot.raw;
        slot.texts.get_or_insert_with(|| raw.map_or(Texts::Many(Vec::new()), texts_of)).as_slice()
    }

    fn all_text(&mut self) -> &[String] {
        if self.all_text.is_none() {
            let mut out = Vec::new();
            fn walk(v: &Value, out: &mut Vec<String>) {
                match v {
                    Value::Object(m) => m.values().for_each(|v| walk(v, out)),
                    Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                    other => out.extend(text_of(other)),
                }
            }
            walk(&Value::Object(self.e.doc()), &mut out);
            self.all_text = Some(out);
        }
        self.all_text.as_deref().unwrap_or_default()
    }
}

fn as_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn in_range(v: &str, bounds: &[(Cmp, String)]) -> bool {
    bounds.iter().all(|(cmp, b)| {
        let ord = match (as_number(v), as_number(b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => Some(v.cmp(b.as_str())),
        };
        let Some(ord) = ord else { return false };
        match cmp {
            Cmp::Gt => ord.is_gt(),
            Cmp::Gte => ord.is_ge(),
            Cmp::Lt => ord.is_lt(),
            Cmp::Lte => ord.is_le(),
        }
    })
}

/// The words of `text` as [`words`] finds them, but as written (not lowercased) and without
/// allocating: matching runs for every document, so it compares in place.
fn word_spans(text: &str) -> WordSpans<'_> {
    WordSpans { text, at: 0 }
}

/// See [`word_spans`]. ASCII is read a byte at a time; only other characters are decoded.
#[derive(Debug, Clone)]
struct WordSpans<'a> {
    text: &'a str,
    /// Always on a character boundary.
    at: usize,
}

impl WordSpans<'_> {
    /// Whether the character at `at` is a letter or digit, and its length.
    fn word_char(&self) -> Option<(bool, usize)> {
        match *self.text.as_bytes().get(self.at)? {
            c if c.is_ascii() => Some((c.is_ascii_alphanumeric(), 1)),
            _ => self.text.get(self.at..)?.chars().next().map(|c| (c.is_alphanumeric(), c.len_utf8())),
        }
    }
}

impl<'a> Iterator for WordSpans<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let (word, len) = self.word_char()?;
            if word {
                break;
            }
            self.at += len;
        }
        let start = self.at;
        while let Some((true, len)) = self.word_char() {
            self.at += len;
        }
        self.text.get(start..self.at)
    }
}

/// Whether the word `have` lowercases to `want`.
fn word_is(have: &str, want: &str) -> bool {
    if have.is_ascii() {
        // `want` is lowercase, so no ASCII capital is in it.
        have.eq_ignore_ascii_case(want)
    } else {
        have.to_lowercase() == want
    }
}

/// Whether `text` holds all (or any) of the words `want` (made by [`words`]).
fn has_words(text: &str, want: &[String], all: bool) -> bool {
    let holds = |w: &String| word_spans(text).any(|h| word_is(h, w));
    if all {
        want.iter().all(holds)
    } else {
        want.iter().any(holds)
    }
}

/// Whether `text` holds the words `want` (made by [`words`]) one after the other.
fn has_phrase(text: &str, want: &[String]) -> bool {
    let [first, ..] = want else { return true };
    if want.len() == 1 {
        // The usual phrase (`field:value` in a query string): one word, read once.
        return word_spans(text).any(|h| word_is(h, first));
    }
    let mut from = word_spans(text);
    loop {
        let mut run = from.clone().zip(want);
        let matched = run.by_ref().take_while(|(h, w)| word_is(h, w)).count();
        if matched == want.len() {
            return true;
        }
        if from.next().is_none() {
            return false;
        }
    }
}

impl Query {
    /// Every field the query reads.
    pub fn fields(&self, out: &mut Vec<String>) {
        match self {
            Query::Term { field, .. }
            | Query::Match { field, .. }
            | Query::Phrase { field, .. }
            | Query::Range { field, .. }
            | Query::Exists { field }
            | Query::Wildcard { field, .. } => out.push(field.name.clone()),
            Query::Bool { must, should, must_not, .. } => {
                must.iter().chain(should).chain(must_not).for_each(|q| q.fields(out))
            }
            Query::All | Query::Anywhere { .. } => {}
        }
    }

    pub fn eval(&self, d: &mut Doc<'_>) -> bool {
        match self {
            Query::All => true,
            Query::Term { field, values } => d.any_text(field, |t| values.iter().any(|v| v == t)),
            Query::Match { field, words, all } => d.any_text(field, |t| has_words(t, words, *all)),
            Query::Phrase { field, words } => d.any_text(field, |t| has_phrase(t, words)),
            Query::Range { field, bounds } => d.any_text(field, |t| in_range(t, bounds)),
            Query::Exists { field } => d.exists(field),
            Query::Wildcard { field, pattern, fold } => d.any_text(field, |t| {
                if *fold {
                    glob(pattern.as_bytes(), t.to_lowercase().as_bytes())
                } else {
                    glob(pattern.as_bytes(), t.as_bytes())
                }
            }),
            Query::Anywhere { words: want, pattern } => d.all_text().iter().any(|t| match pattern {
                Some(p) => words(t).iter().any(|w| glob(p.as_bytes(), w.as_bytes())),
                None => has_phrase(t, want),
            }),
            Query::Bool { must, should, must_not, min_should } => {
                must.iter().all(|q| q.eval(d))
                    && !must_not.iter().any(|q| q.eval(d))
                    // Counting stops at the `min_should`th clause that holds.
                    && should.iter().filter(|q| q.eval(d)).take(*min_should).count() == *min_should
            }
        }
    }

    fn bind(&mut self, set: &FieldSet) {
        match self {
            Query::Term { field, .. }
            | Query::Match { field, .. }
            | Query::Phrase { field, .. }
            | Query::Range { field, .. }
            | Query::Exists { field }
            | Query::Wildcard { field, .. } => field.bind(set),
            Query::Bool { must, should, must_not, .. } => {
                must.iter_mut().chain(should).chain(must_not).for_each(|q| q.bind(set))
            }
            Query::All | Query::Anywhere { .. } => {}
        }
    }

    /// See [`Filter::gate`]. Every leaf query looks only at its field's values, so it needs
    /// one; a term needs one of its values.
    fn gate(&self) -> Option<Gate> {
        match self {
            Query::Term { field, values } => field.id.map(|(_, id)| Gate::OneOf(id, values.clone())),
            Query::Match { field, .. }
            | Query::Phrase { field, .. }
            | Query::Range { field, .. }
            | Query::Exists { field }
            | Query::Wildcard { field, .. } => field.id.map(|(_, id)| Gate::Exists(id)),
            Query::All | Query::Anywhere { .. } => None,
            Query::Bool { must, should, min_should, .. } => {
                if let Some(g) = best(must.iter().filter_map(Query::gate)) {
                    return Some(g);
                }
                if *min_should == 0 || should.is_empty() {
                    return None;
                }
                // At least one of the should clauses holds: what all of them need, on one field.
                let mut gates = should.iter().map(Query::gate);
                let mut acc = gates.next()??;
                for g in gates {
                    acc = match (acc, g?) {
                        (Gate::OneOf(a, mut x), Gate::OneOf(b, y)) if a == b => {
                            x.extend(y);
                            Gate::OneOf(a, x)
                        }
                        (Gate::OneOf(a, _) | Gate::Exists(a), Gate::OneOf(b, _) | Gate::Exists(b)) if a == b => {
                            Gate::Exists(a)
                        }
                        _ => return None,
                    };
                }
                Some(acc)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Event {
        let mut e = Event::new("sip", "event", 0, &[b"x"]);
        e.obj("sip").str("method", "INVITE").u64("code", 503).str("status", "Service Unavailable");
        e.obj("user_agent").str("original", "Acme SBC 4.2").end();
        e.arr("tags").item_str("trunk-a").item_str("uk").end().end();
        e
    }

    #[test]
    fn a_document_s_slots_take_over_the_memory_of_the_one_before() {
        let text = String::from("x");
        let mut slots: Vec<Slot<'_>> = Vec::with_capacity(13);
        slots
            .resize_with(13, || Slot { raw: Some(text.as_bytes()), texts: Some(Texts::One(Cow::Owned(text.clone()))) });
        let at = slots.as_ptr() as usize;
        let kept: Vec<Slot<'static>> = relabel(slots);
        assert!(kept.is_empty());
        assert_eq!((kept.as_ptr() as usize, kept.capacity()), (at, 13));
    }

    #[test]
    fn a_key_is_passed_over_only_when_it_can_lead_to_no_field() {
        let set =
            FieldSet::new(["sip.method", "sip.from.uri", "call", "a..b", "z.", "\u{e9}t\u{e9}"].map(String::from));
        let keys: [&[u8]; 16] = [
            b"sip",
            b"sip.method",
            b"sip.from",
            b"call",
            b"calls",
            b"a",
            b"a.",
            b"a..b",
            b"z",
            b"z.",
            b"event",
            b"",
            b".sip",
            b"Sip",
            "\u{e9}t\u{e9}".as_bytes(),
            b"\xc3",
        ];
        let mut led = 0;
        for node in 0..set.nodes.len() {
            for k in keys {
                // What the walk skips by the first byte, neither a name nor a dotted key reaches.
                if !set.nodes[node].may_lead(k) {
                    assert_eq!(set.step(node, k), None, "node {node}, key {:?}", String::from_utf8_lossy(k));
                } else if set.step(node, k).is_some() {
                    led += 1;
                }
            }
        }
        assert!(led >= 8, "{led}");
        let root = &set.nodes[0];
        assert!(!root.may_lead(b"event") && !root.may_lead(b"") && !root.may_lead(b".sip") && !root.may_lead(b"Sip"));
        // `a` has a child with an empty name (field `a..b`): an empty key or one starting with
        // a dot may reach it.
        let a = set.child(0, b"a").unwrap();
        assert!(set.nodes[a].may_lead(b"") && set.nodes[a].may_lead(b".b"));
        assert!(set.step(a, b".b").is_some());
        assert_eq!(set.step(a, b".b"), set.step(0, b"a..b"));
    }

    #[test]
    fn a_first_text_read_in_place_is_the_first_value_s_text() {
        let values = [
            r#""plain""#,
            r#""esc\"aped\\ \u00e9""#,
            "7",
            "-12",
            "0",
            "-0",
            "1.5",
            "1e2",
            "1.0",
            "12345678901234567890",
            "true",
            "false",
            "null",
            "[]",
            "[null, 3]",
            r#"["a", "b"]"#,
            "[[1], 2]",
            r#"{"x": 1}"#,
            "[{}, 1]",
        ];
        let mut fields: Vec<Field> = vec!["a.v".into(), "a.missing".into(), "b".into()];
        let set = FieldSet::new(fields.iter().map(|f| f.name.clone()));
        fields.iter_mut().for_each(|f| f.bind(&set));
        for v in values {
            let raw = format!(r#"{{"v": {v}}}"#);
            let mut e = Event::new("sip", "event", 0, &[b"x"]);
            e.raw("a", raw.as_bytes()).u64("b", 1);
            let whole = e.to_json();
            let content = object_content(whole.as_bytes()).unwrap();
            let mut quotes = Quotes::default();
            let mut walked = Doc::indexed(&e, content, &[], &set, &mut quotes, Slots::default());
            let mut by_name = Doc::new(&e);
            for f in &fields {
                let want = by_name.values(&f.name).first().and_then(text_of);
                assert_eq!(walked.first_text(f).map(String::from), want, "{} in {whole}", f.name);
            }
        }
    }

    #[test]
    fn words_match_in_place_as_they_do_lowercased_and_collected() {
        // The reference: every word lowercased into a list, then compared.
        fn has_words_ref(text: &str, want: &[String], all: bool) -> bool {
            let have = words(text);
            if all {
                want.iter().all(|w| have.contains(w))
            } else {
                want.iter().any(|w| have.contains(w))
            }
        }
        fn has_phrase_ref(text: &str, want: &[String]) -> bool {
            let have = words(text);
            want.is_empty() || have.windows(want.len()).any(|w| w == want)
        }
        let pieces = [
            "INVITE", "invite", "Invite", "bye", "BYE", " ", "-", ".", "503", "Ärger", "ärger", "ÉTÉ", "été", "İ", "i̇",
            "ß", "SS", "",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut agreed = (0, 0);
        for _ in 0..20_000 {
            let text: String = (0..next(9)).map(|_| pieces[next(pieces.len())]).collect();
            let phrase: String = (0..next(4)).map(|_| [pieces[next(pieces.len())], " "].concat()).collect();
            let want = words(&phrase);
            let all = next(2) == 0;
            let (a, b) = (has_words(&text, &want, all), has_words_ref(&text, &want, all));
            assert_eq!(a, b, "match {want:?} in {text:?} (all: {all})");
            let (c, d) = (has_phrase(&text, &want), has_phrase_ref(&text, &want));
            assert_eq!(c, d, "phrase {want:?} in {text:?}");
            agreed.0 += usize::from(a);
            agreed.1 += usize::from(c);
        }
        // Both outcomes occur, so the comparison says something.
        assert!(agreed.0 > 1000 && agreed.1 > 1000 && agreed.1 < 19_000, "{agreed:?}");
    }

    fn check(clauses: serde_json::Value) -> bool {
        let f = Filter::parse(clauses.as_array().unwrap()).unwrap();
        f.matches(&doc())
    }

    #[test]
    fn each_query_kind_holds_or_not_as_elasticsearch_would() {
        use serde_json::json;
        assert!(check(json!([{"term": {"sip.method": "INVITE"}}])));
        assert!(!check(json!([{"term": {"sip.method": "invite"}}])), "term is exact");
        assert!(check(json!([{"term": {"sip.code": 503}}])));
        assert!(check(json!([{"terms": {"sip.tags": ["x", "uk"]}}])), "an array matches by any item");
        assert!(check(json!([{"match": {"sip.status": "unavailable"}}])));
        assert!(!check(json!([{"match_phrase": {"sip.status": "unavailable service"}}])));
        assert!(check(json!([{"range": {"sip.code": {"gte": 500, "lt": 600}}}])));
        assert!(!check(json!([{"range": {"sip.code": {"gt": 503}}}])));
        assert!(check(json!([{"exists": {"field": "sip.user_agent.original"}}])));
        assert!(!check(json!([{"exists": {"field": "sip.reason"}}])));
        assert!(check(json!([{"wildcard": {"sip.user_agent.original": "Acme*4.?"}}])));
        assert!(check(json!([{"prefix": {"sip.method": "INV"}}])));
        assert!(check(json!([{"bool": {"must_not": [{"term": {"sip.method": "BYE"}}],
            "should": [{"term": {"sip.code": 500}}, {"term": {"sip.code": 503}}]}}])));
        assert!(!check(json!([{"bool": {"should": [{"term": {"sip.code": 500}}]}}])));
        assert!(check(json!([{"query": {"query_string": {"query": "sip.code:[500 TO 599] AND NOT sip.method:BYE"}}}])));
        assert!(check(json!([{"query_string": {"query": "sip.method:INVITE && (sip.code:>=500 || sip.code:404)"}}])));
        assert!(!check(json!([{"query_string": {"query": "+sip.method:INVITE -sip.code:503"}}])));
        assert!(check(json!([{"query_string": {"query": "\"service unavailable\" AND _exists_:sip.status"}}])));
        assert!(check(json!([{"query_string": {"query": "sip.user_agent.original:Acme*"}}])));
        assert!(!check(json!([{"query_string": {"query": "sip.method:(BYE OR CANCEL)"}}])));
        assert!(check(json!([{"term": {"sip.method": "INVITE"}}, {"match_all": {}}])));
        assert!(check(json!([{"wildcard": {"sip.method": {"value": "InV*E", "case_insensitive": true}}}])));
        assert!(!check(json!([{"wildcard": {"sip.method": {"value": "InV*E"}}}])), "case counts by default");
        // Two of the three should clauses hold.
        let should =
            json!([{"term": {"sip.code": 503}}, {"term": {"sip.method": "BYE"}}, {"prefix": {"sip.method": "IN"}}]);
        for (min, holds) in [(0, true), (1, true), (2, true), (3, false), (4, false)] {
            let q = json!([{"bool": {"should": should, "minimum_should_match": min}}]);
            assert_eq!(check(q), holds, "minimum_should_match {min}");
        }
    }

    #[test]
    fn mistakes_are_errors_that_say_what_is_wrong() {
        use serde_json::json;
        let err = |v: serde_json::Value| Filter::parse(v.as_array().unwrap()).unwrap_err().to_string();
        assert!(err(json!([{"geo_distance": {}}])).contains("unsupported query \"geo_distance\""));
        assert!(err(json!([{"range": {"x": {"above": 1}}}])).contains("unknown bound"));
        assert!(err(json!([{"bool": {"mustnt": []}}])).contains("unknown key"));
        assert!(err(json!([{"query_string": {"query": "a:(b OR"}}])).contains("query_string"));
        let mut deep = json!({"match_all": {}});
        for _ in 0..40 {
            deep = json!({"bool": {"must": [deep]}});
        }
        assert_eq!(Filter::parse(&[deep]).unwrap_err(), FilterError::TooDeep);
    }

    #[test]
    fn globs_match_without_backtracking_blowup() {
        assert!(glob(b"a*b?c", b"axxbyc"));
        assert!(!glob(b"a*b?c", b"axxbc"));
        assert!(glob(b"*", b""));
        let long = vec![b'a'; 5000];
        assert!(!glob(b"*a*a*a*a*b", &long));
    }
}
