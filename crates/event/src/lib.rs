//! The document model. Every event iotw emits is one JSON object whose field names follow
//! ECS where ECS has them (`@timestamp`, `event.*`, `source.*`, `network.*`, ...), Packetbeat
//! where Packetbeat users expect them (`flow.*`, `sip.*`), and iotw's own namespaces otherwise.
//! `docs/events.md` lists every field; [`field`] holds the names as constants.
//!
//! Every event has a deterministic id: the same input produces the same `_id`, so a retried
//! shipment never creates a duplicate.

pub mod bytes;
pub mod field;
pub mod json;
mod time;

pub use time::{format_rfc3339_micros, parse_duration, parse_time, wall_clock, write_rfc3339_micros, Dur, TimeError};

use base64::Engine;
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use std::borrow::Cow;
use std::sync::Arc;

/// Nanoseconds since the Unix epoch, UTC.
pub type Nanos = i64;

/// A member name. Names written in the source code (`&'static str`) are trusted to need no
/// JSON escaping; a name taken from traffic (a SIP header name, ...) is wrapped in [`Wire`]
/// and escaped.
pub trait Key: Copy {
    /// Writes `"name":`.
    fn write(self, out: &mut Vec<u8>);
    fn text(&self) -> &str;
}

impl Key for &'static str {
    #[inline(always)]
    fn write(self, out: &mut Vec<u8>) {
        debug_assert!(!self.bytes().any(|c| c < 0x20 || c == b'"' || c == b'\\'), "key {self:?} needs escaping");
        out.push(b'"');
        out.extend_from_slice(self.as_bytes());
        out.extend_from_slice(b"\":");
    }

    fn text(&self) -> &str {
        self
    }
}

/// A member name that came off the wire: escaped when written.
#[derive(Debug, Clone, Copy)]
pub struct Wire<'a>(pub &'a str);

impl Key for Wire<'_> {
    #[inline]
    fn write(self, out: &mut Vec<u8>) {
        json::write_str(out, self.0);
        out.push(b':');
    }

    fn text(&self) -> &str {
        self.0
    }
}

/// Document buffers kept per thread for reuse (see [`Spent`]).
const MAX_SPARE: usize = 4096;

/// A new document's buffer: a shipped document's when one was handed back.
pub const BODY_CAPACITY: usize = 2048;

/// A new buffer for a document whose maker writes only its first members and leaves the rest
/// to the rendering thread ([`Event::defer`]): the rendering thread grows it, so that the
/// fresh memory of a run's first documents is first touched there, not on the decoding
/// thread (each fresh page costs a fault and the kernel's zeroing of it).
pub const DEFERRED_CAPACITY: usize = 512;

/// A shipped document's buffers: its text, its containers' extents and its tags.
type Spare = (Vec<u8>, Vec<Extent>, Vec<Tag>);

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Spare>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Buffers documents were rendered in on this thread ([`Event::render`]), for the next.
    static RENDERED: std::cell::RefCell<Vec<(Vec<u8>, Vec<Tag>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The reusable memory of shipped documents, taken apart on the thread that wrote them
/// ([`Spent::gather`]) and handed to the thread that makes the next ones ([`Spent::reuse`]):
/// a steady stream of documents then costs no new memory (fresh pages from the system are
/// zeroed by the kernel, which costs more than building the document), and the thread that
/// makes documents does not read the shipped ones again to reuse them.
#[derive(Debug, Default)]
pub struct Spent {
    /// Emptied buffers, one per document.
    buffers: Vec<Spare>,
    /// What deferred parts were rendered from, when its maker wants it back ([`Render::recycle`]).
    renders: Vec<Arc<dyn Render>>,
    /// The list the documents came in, emptied.
    list: Vec<Event>,
}

impl Spent {
    /// Takes the documents of `batch` apart on this thread: their buffers emptied, their
    /// renderers that are worth keeping ([`Render::reusable`]); the rest is freed here. A
    /// buffer a document was rendered in on this thread stays here for the next rendering
    /// ([`Event::render`]); its maker gets back the buffer it wrote the first members in, which
    /// this thread only read: no buffer goes back and forth written by both threads (in this
    /// machine's phases where memory written on one core costs more to write on the other,
    /// that was the difference between two threads beating one core and not).
    pub fn gather(mut batch: Vec<Event>) -> Spent {
        let mut spent = Spent { buffers: Vec::with_capacity(batch.len()), renders: Vec::new(), list: Vec::new() };
        let here = this_thread();
        RENDERED.with(|rendered| {
            let mut rendered = rendered.borrow_mut();
            for e in batch.drain(..) {
                let rendered_here = e.rendered_on == here;
                if let Some(r) = e.spent.filter(|r| r.reusable()) {
                    spent.renders.push(r);
                }
                let (mut body, mut extents, mut tags) = (e.body, e.extents, e.tags);
                extents.clear();
                tags.clear();
                if let Some((made, made_tags)) = e.made {
                    // Rendered here in buffers of this thread's: those stay, the maker's go
                    // back.
                    body.clear();
                    if rendered.len() < MAX_SPARE {
                        rendered.push((body, tags));
                    }
                    (body, tags) = (made, made_tags);
                    tags.clear();
                } else if rendered_here && rendered.len() < MAX_SPARE {
                    // Rendered here in the maker's buffers (this thread had none of its own
                    // yet) or in new ones: they stay here, for the next documents rendered
                    // here. (One the maker rendered goes back to it: only it wrote there.)
                    body.clear();
                    rendered.push((body, tags));
                    continue;
                }
                if body.capacity() == 0 && extents.capacity() == 0 && tags.capacity() == 0 {
                    // Made by `Event::deferred` and never rendered: nothing to reuse.
                    continue;
                }
                body.clear();
                spent.buffers.push((body, extents, tags));
            }
        });
        spent.list = batch;
        spent
    }

    /// Hands the buffers to this thread's next documents (at most [`MAX_SPARE`] are kept) and
    /// the renderers to [`Render::recycle`]; returns the emptied list, for the next batch.
    pub fn reuse(self) -> Vec<Event> {
        let Spent { mut buffers, renders, list } = self;
        SPARE.with(|s| {
            let mut s = s.borrow_mut();
            if s.is_empty() {
                std::mem::swap(&mut *s, &mut buffers);
                s.truncate(MAX_SPARE);
            } else {
                let room = MAX_SPARE.saturating_sub(s.len());
                s.extend(buffers.drain(..).take(room));
            }
        });
        for r in renders {
            r.recycle();
        }
        list
    }
}

/// Hands the buffers of shipped documents to this thread, whose next documents reuse them
/// ([`Spent::gather`] and [`Spent::reuse`] on one thread).
pub fn recycle(events: impl IntoIterator<Item = Event>) {
    Spent::gather(events.into_iter().collect()).reuse();
}

/// A number that tells the calling thread from the other threads alive: the address of a
/// thread-local.
fn this_thread() -> usize {
    thread_local! {
        static HERE: u8 = const { 0 };
    }
    HERE.with(|h| std::ptr::from_ref(h) as usize)
}

/// Deepest nesting the builder tracks (objects and arrays).
const MAX_DEPTH: u32 = 32;

/// Where an object or array lies in a document's members: `start` is the offset of its
/// opening bracket, `end` one past its closing bracket (see [`Event::extents`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub start: u32,
    pub end: u32,
}

/// Top-level members written once and copied at the start of many documents (the endpoints
/// of a flow's direction), with the containers in them and the role they are tagged with
/// ([`Event::append_lead`]). Shared by `Arc` with the thread that renders documents: aligned
/// to a cache line so that the reference counts, which the maker's thread changes (the
/// rendering thread only when it frees a renderer), lie on a line of their own and what the
/// rendering thread reads stays in its cache.
#[derive(Debug)]
#[repr(align(64))]
pub struct Lead {
    members: Box<[u8]>,
    extents: Box<[Extent]>,
    role: Option<&'static str>,
}

impl Lead {
    /// The members `e` was given since `mark` ([`Event::mark`]), to be tagged `role` wherever
    /// they are copied.
    pub fn since(e: &Event, mark: usize, role: Option<&'static str>) -> Lead {
        Lead { members: e.members_since(mark).into(), extents: e.extents_since(mark).into(), role }
    }
}

/// [`Event::innermost`] when no recorded container is open.
const NO_EXTENT: u32 = u32::MAX;

/// Whether documents record their extents: see [`keep_extents`].
static KEEP_EXTENTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether documents made from now on record where their objects and arrays lie
/// ([`Event::extents`]). A process that runs rules over its documents turns it on (the walk
/// of a document then steps over what no rule reads); while it is off, writing a container
/// costs nothing more.
pub fn keep_extents(on: bool) {
    KEEP_EXTENTS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Extents are recorded in documents shorter than this; a longer one has none.
const EXTENT_LIMIT: usize = (u32::MAX / 2) as usize;

/// A place in a document being written (see [`Event::here`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Here {
    at: usize,
    depth: u32,
}

/// One document.
///
/// A document is its JSON text, written as it is built: decoders open objects and set
/// fields in place (`obj`, `str`, `u64`, ..., `end`), so producing a document costs one
/// buffer and no tree. Fields set later by dotted name (`set`, for enrichers and rules)
/// are kept aside and merged when the document is written; a name set again replaces its
/// value. `event.dataset` and `event.kind` are written into the `event` object.
///
/// A decoder may also leave the rest of a document to be written later ([`Event::defer`]):
/// the decode thread keeps going while another thread renders ([`Event::render`]). Reading
/// or writing a document renders a copy first if that has not happened yet.
#[derive(Debug)]
pub struct Event {
    /// Deterministic document id (`_id`).
    pub id: Id,
    /// When it happened; also `@timestamp` in the document.
    pub ts: Nanos,
    /// `event.dataset`, also used to pick the index.
    pub dataset: &'static str,
    kind: &'static str,
    /// The top-level object's members, without its braces.
    body: Vec<u8>,
    depth: u32,
    /// Bit n: the container at depth n has a member already.
    filled: u32,
    /// Bit n: the container at depth n is an array.
    arrays: u32,
    /// Whether the `event` object was written (with dataset and kind).
    event_written: bool,
    patches: Vec<json::Patch>,
    pending: Option<Arc<dyn Render>>,
    /// What `pending` held, once rendered: kept for [`recycle`] (never cloned).
    spent: Option<Arc<dyn Render>>,
    /// The buffers the document's maker wrote its first members and tags in, when the rest
    /// was rendered on another thread in buffers of that thread's ([`Event::render`]): they
    /// go back to the maker, the rendering thread keeps its own ([`Spent::gather`]).
    made: Option<(Vec<u8>, Vec<Tag>)>,
    /// The thread that rendered `pending` ([`this_thread`]), 0 before.
    rendered_on: usize,
    /// Values the producer pointed out by role ([`Event::tagged_str`]), as ranges of `body`.
    tags: Vec<Tag>,
    /// Whether the producer tagged every value of the roles it writes ([`Event::tags_complete`]).
    tags_complete: bool,
    /// The containers opened with `obj`, `arr` and `item_obj`, in the order opened (so by
    /// offset). While a container is open, its `end` holds the index of the container
    /// around it (or [`NO_EXTENT`]), which is closed next.
    extents: Vec<Extent>,
    /// The innermost open container's index in `extents`, or [`NO_EXTENT`].
    innermost: u32,
    /// False once `extents` may not match the text (a body past 4 GiB, nesting past
    /// [`MAX_DEPTH`]): they are not offered then.
    extents_valid: bool,
}

/// A value in a document that its producer pointed out by role (a phone number as the
/// caller, the attached data, ...), so that enrichers read it without searching the text.
/// `range` is where the value's JSON text lies among the document's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub role: &'static str,
    pub range: std::ops::Range<usize>,
}

impl Clone for Event {
    fn clone(&self) -> Self {
        Event {
            id: self.id.clone(),
            ts: self.ts,
            dataset: self.dataset,
            kind: self.kind,
            body: self.body.clone(),
            depth: self.depth,
            filled: self.filled,
            arrays: self.arrays,
            event_written: self.event_written,
            patches: self.patches.clone(),
            pending: self.pending.clone(),
            spent: None,
            made: None,
            rendered_on: 0,
            tags: self.tags.clone(),
            tags_complete: self.tags_complete,
            extents: self.extents.clone(),
            innermost: self.innermost,
            extents_valid: self.extents_valid,
        }
    }

    /// Reuses this document's buffers.
    fn clone_from(&mut self, o: &Self) {
        self.id.clone_from(&o.id);
        self.ts = o.ts;
        self.dataset = o.dataset;
        self.kind = o.kind;
        self.body.clone_from(&o.body);
        self.depth = o.depth;
        self.filled = o.filled;
        self.arrays = o.arrays;
        self.event_written = o.event_written;
        self.patches.clone_from(&o.patches);
        self.pending.clone_from(&o.pending);
        self.spent = None;
        self.made = None;
        self.rendered_on = 0;
        self.tags.clone_from(&o.tags);
        self.tags_complete = o.tags_complete;
        self.extents.clone_from(&o.extents);
        self.innermost = o.innermost;
        self.extents_valid = o.extents_valid;
    }
}

/// The rest of a document, written later (possibly on another thread) from what its decoder
/// kept.
pub trait Render: Send + Sync + std::fmt::Debug {
    /// Writes the remaining top-level members into `e`.
    fn render(&self, e: &mut Event);

    /// Whether this is worth handing back to its maker once its document is shipped
    /// ([`Spent::gather`] asks, on the shipping thread). No by default: it is freed there.
    fn reusable(&self) -> bool {
        false
    }

    /// Called, on the thread that reuses the document's memory ([`Spent::reuse`]), when
    /// [`Render::reusable`] said yes: a renderer that holds buffers can keep itself for the
    /// next document made on that thread. It should not read itself here (its memory was
    /// last touched on the other thread). Dropped by default.
    fn recycle(self: Arc<Self>) {}

    /// Asks for the memory [`Render::render`] will read first to be fetched ([`prefetch`]),
    /// shortly before it runs. Nothing by default.
    fn prefetch(&self) {}
}

/// Asks the processor to start fetching the cache line at `p` into its nearest cache,
/// without waiting for it: a hint, which never faults, whatever `p` points to (or not).
/// Memory another core wrote last takes hundreds of cycles to arrive; asking for it a few
/// documents ahead hides that wait.
#[inline(always)]
pub fn prefetch<T: ?Sized>(p: *const T) {
    fetch::<FOR_READING>(p.cast::<u8>());
}

/// [`prefetch`] for memory about to be written: fetched ready to be modified.
#[inline(always)]
pub fn prefetch_write<T: ?Sized>(p: *const T) {
    fetch::<FOR_WRITING>(p.cast::<u8>());
}

#[cfg(target_arch = "x86_64")]
const FOR_READING: i32 = std::arch::x86_64::_MM_HINT_T0;
#[cfg(target_arch = "x86_64")]
const FOR_WRITING: i32 = std::arch::x86_64::_MM_HINT_ET0;
#[cfg(not(target_arch = "x86_64"))]
const FOR_READING: i32 = 0;
#[cfg(not(target_arch = "x86_64"))]
const FOR_WRITING: i32 = 1;

#[inline(always)]
fn fetch<const HINT: i32>(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: a prefetch only hints: it reads nothing into the program and cannot fault,
    // even for an address that is not mapped.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<HINT>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        let pending_eq = match (&self.pending, &other.pending) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        pending_eq
            && self.id == other.id
            && self.ts == other.ts
            && self.dataset == other.dataset
            && self.kind == other.kind
            && self.body == other.body
            && (self.depth, self.filled, self.arrays, self.event_written)
                == (other.depth, other.filled, other.arrays, other.event_written)
            && self.patches == other.patches
    }
}

/// The deterministic id of a document of `dataset` made unique by `identity` (see
/// [`Event::new`]): 120 bits of [`identity_digest`], URL-safe base64.
pub fn id_of(dataset: &str, identity: &[&[u8]]) -> String {
    Id::new(dataset, identity).to_string()
}

/// Hands `put` the bytes [`identity_digest`] hashes, in order: the dataset, then each
/// identity part after its length (LEB128, so that no two lists of parts give the same
/// bytes). Stops at the first `None` from `put`.
fn identity_bytes(dataset: &str, identity: &[&[u8]], mut put: impl FnMut(&[u8]) -> Option<()>) -> Option<()> {
    let mut len = [0u8; 10];
    put(dataset.as_bytes())?;
    for part in identity {
        put(leb128(part.len(), &mut len))?;
        put(part)?;
    }
    Some(())
}

/// [`identity_bytes`] written into `out`: how many, or `None` when they do not fit.
fn identity_text(dataset: &str, identity: &[&[u8]], out: &mut [u8]) -> Option<usize> {
    let mut used = 0;
    identity_bytes(dataset, identity, |b| {
        out.get_mut(used..used + b.len())?.copy_from_slice(b);
        used += b.len();
        Some(())
    })?;
    Some(used)
}

fn leb128(mut n: usize, out: &mut [u8; 10]) -> &[u8] {
    let mut i = 0;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if let Some(slot) = out.get_mut(i) {
            *slot = if n == 0 { byte } else { byte | 0x80 };
        }
        i += 1;
        if n == 0 || i == out.len() {
            return out.get(..i).unwrap_or_default();
        }
    }
}

/// SHA-1 of [`identity_bytes`]. A short identity is hashed from one stack buffer: most fit one
/// SHA-1 block.
fn identity_digest(dataset: &str, identity: &[&[u8]]) -> [u8; 20] {
    let mut buf = [0u8; 128];
    if let Some(used) = identity_text(dataset, identity, &mut buf) {
        return Sha1::digest(buf.get(..used).unwrap_or_default()).into();
    }
    let mut h = Sha1::new();
    identity_bytes(dataset, identity, |b| {
        h.update(b);
        Some(())
    });
    h.finalize().into()
}

/// The first 120 bits of a digest: what an id is the base64 of.
fn id_bits(full: [u8; 20]) -> [u8; 15] {
    let mut d = [0u8; 15];
    d.copy_from_slice(full.get(..15).unwrap_or(&[0; 15]));
    d
}

/// How many bytes of identity text a document keeps to hash later (see [`Id`]).
const ID_TEXT: usize = 88;

/// A document's deterministic id (`_id`, see [`id_of`]), hashed only when asked for: a
/// document keeps the short text it is hashed from instead. Outputs without ids (NDJSON
/// without bulk lines) never hash; the others hash on the shipper's thread, not the decoder's.
/// Equal ids have equal texts.
#[derive(Clone, PartialEq, Eq)]
pub struct Id(IdSource);

#[derive(Clone, PartialEq, Eq)]
enum IdSource {
    /// [`identity_text`], when it is at most [`ID_TEXT`] bytes.
    Text { len: u8, text: [u8; ID_TEXT] },
    /// Otherwise the digest's first 15 bytes, hashed at once.
    Digest([u8; 15]),
}

impl Id {
    pub fn new(dataset: &str, identity: &[&[u8]]) -> Self {
        let mut text = [0u8; ID_TEXT];
        match identity_text(dataset, identity, &mut text) {
            Some(len) => Id(IdSource::Text { len: len as u8, text }),
            None => Id(IdSource::Digest(id_bits(identity_digest(dataset, identity)))),
        }
    }

    /// The 120 bits the id is the base64 of.
    pub fn digest(&self) -> [u8; 15] {
        match &self.0 {
            IdSource::Text { len, text } => {
                id_bits(Sha1::digest(text.get(..usize::from(*len)).unwrap_or_default()).into())
            }
            IdSource::Digest(d) => *d,
        }
    }

    /// Appends the id (20 URL-safe base64 characters) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut text = [0u8; 20];
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(self.digest(), &mut text).unwrap_or(0);
        out.extend_from_slice(text.get(..n).unwrap_or_default());
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = Vec::with_capacity(20);
        self.write(&mut text);
        f.write_str(std::str::from_utf8(&text).map_err(|_| std::fmt::Error)?)
    }
}

impl std::fmt::Debug for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Id({self})")
    }
}

/// Renders every deferred document in `events` (see [`Event::defer`]).
pub fn render_all(events: &mut [Event]) {
    for i in 0..events.len() {
        if let Some(r) = events.get(i + 4).and_then(|e| e.pending.as_ref()) {
            prefetch(Arc::as_ptr(r));
        }
        if let Some(e) = events.get(i + 2) {
            if let Some(r) = &e.pending {
                r.prefetch();
                if !e.body.is_empty() {
                    prefetch(e.body.as_ptr());
                }
            }
        }
        if let Some(e) = events.get_mut(i) {
            e.render();
        }
    }
}

impl Event {
    /// A new document with `@timestamp`, `event.dataset` and `event.kind`. `identity` is the
    /// input that makes this document unique (e.g. flow key + start time); the id is derived
    /// from it and the dataset alone.
    pub fn new(dataset: &'static str, kind: &'static str, ts: Nanos, identity: &[&[u8]]) -> Self {
        Self::with_capacity(dataset, kind, ts, identity, BODY_CAPACITY)
    }

    /// [`Event::new`] for a small document: when no shipped document's buffer is at hand,
    /// the new one holds `capacity` bytes (it grows as needed).
    pub fn with_capacity(
        dataset: &'static str,
        kind: &'static str,
        ts: Nanos,
        identity: &[&[u8]],
        capacity: usize,
    ) -> Self {
        let (body, extents, tags) = SPARE
            .with(|s| {
                let mut s = s.borrow_mut();
                let spare = s.pop();
                if let Some(next) = s.last() {
                    prefetch_write(next.0.as_ptr());
                }
                spare
            })
            .unwrap_or_else(|| (Vec::with_capacity(capacity), Vec::new(), Vec::new()));
        let mut e = Event::blank((dataset, kind), ts, identity, (body, extents, tags));
        e.write_timestamp();
        e
    }

    /// A document its maker writes nothing of: `r` writes all of it after `@timestamp` when
    /// [`Event::render`] runs, on the rendering thread, in a buffer of that thread's. The
    /// maker's thread then makes no buffer for it, and no text crosses from one thread to
    /// the other but what `r` holds.
    pub fn deferred(
        (dataset, kind): (&'static str, &'static str),
        ts: Nanos,
        identity: &[&[u8]],
        r: Arc<dyn Render>,
    ) -> Self {
        let mut e = Event::blank((dataset, kind), ts, identity, (Vec::new(), Vec::new(), Vec::new()));
        e.pending = Some(r);
        e
    }

    /// A document with nothing written, in these buffers.
    fn blank(
        (dataset, kind): (&'static str, &'static str),
        ts: Nanos,
        identity: &[&[u8]],
        (body, extents, tags): Spare,
    ) -> Self {
        Event {
            id: Id::new(dataset, identity),
            ts,
            dataset,
            kind,
            body,
            depth: 0,
            filled: 0,
            arrays: 0,
            event_written: false,
            patches: Vec::new(),
            pending: None,
            spent: None,
            made: None,
            rendered_on: 0,
            tags,
            tags_complete: false,
            extents,
            innermost: NO_EXTENT,
            extents_valid: KEEP_EXTENTS.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The first member, `@timestamp`.
    fn write_timestamp(&mut self) {
        debug_assert!(self.body.is_empty());
        self.body.extend_from_slice(b"\"@timestamp\":\"");
        write_rfc3339_micros(&mut self.body, self.ts);
        self.body.push(b'"');
        self.filled = 1;
    }

    #[inline(always)]
    fn in_array(&self) -> bool {
        self.arrays & (1 << self.depth) != 0
    }

    /// Writes the separator and the key of the next member of the open object.
    #[inline(always)]
    fn key(&mut self, key: impl Key) -> &mut Vec<u8> {
        debug_assert!(!self.in_array(), "a keyed field inside an array");
        self.sep();
        key.write(&mut self.body);
        &mut self.body
    }

    #[inline(always)]
    fn sep(&mut self) {
        let bit = 1 << self.depth;
        if self.filled & bit != 0 {
            self.body.push(b',');
        }
        self.filled |= bit;
    }

    #[inline]
    fn open(&mut self, bracket: u8) {
        if self.extents_valid {
            // Below EXTENT_LIMIT, offsets and indexes fit an Extent (each takes two bytes).
            let (start, i) = (self.body.len(), self.extents.len());
            if start < EXTENT_LIMIT && self.depth + 1 < MAX_DEPTH {
                self.extents.push(Extent { start: start as u32, end: self.innermost });
                self.innermost = i as u32;
            } else {
                self.extents_valid = false;
            }
        }
        self.body.push(bracket);
        debug_assert!(self.depth + 1 < MAX_DEPTH, "documents nest at most {MAX_DEPTH} deep");
        self.depth = (self.depth + 1).min(MAX_DEPTH - 1);
        let bit = 1 << self.depth;
        self.filled &= !bit;
        if bracket == b'[' {
            self.arrays |= bit;
        } else {
            self.arrays &= !bit;
        }
    }

    /// Opens an object member. The top-level `event` object gets `dataset` and `kind` first.
    #[inline(always)]
    pub fn obj(&mut self, key: impl Key) -> &mut Self {
        let top_event = self.depth == 0 && key.text() == "event";
        self.key(key);
        self.open(b'{');
        if top_event {
            self.event_written = true;
            let (dataset, kind) = (self.dataset, self.kind);
            self.str("dataset", dataset).str("kind", kind);
        }
        self
    }

    /// Opens an array member; fill it with the `item_*` methods.
    #[inline]
    pub fn arr(&mut self, key: impl Key) -> &mut Self {
        self.key(key);
        self.open(b'[');
        self
    }

    /// Opens an object as the next item of the open array.
    #[inline]
    pub fn item_obj(&mut self) -> &mut Self {
        debug_assert!(self.in_array(), "an array item outside an array");
        self.sep();
        self.open(b'{');
        self
    }

    #[inline]
    pub fn item_str(&mut self, v: &str) -> &mut Self {
        debug_assert!(self.in_array(), "an array item outside an array");
        self.sep();
        json::write_str(&mut self.body, v);
        self
    }

    /// Closes the innermost open object or array.
    #[inline(always)]
    pub fn end(&mut self) -> &mut Self {
        debug_assert!(self.depth > 0, "end() without an open object");
        if self.depth > 0 {
            self.body.push(if self.in_array() { b']' } else { b'}' });
            self.depth -= 1;
            self.close_extent();
        }
        self
    }

    /// Records where the innermost open container ends (just written).
    #[inline]
    fn close_extent(&mut self) {
        if !self.extents_valid {
            return;
        }
        let end = self.body.len();
        match self.extents.get_mut(self.innermost as usize) {
            Some(x) if end < EXTENT_LIMIT => {
                self.innermost = x.end;
                x.end = end as u32;
            }
            _ => self.extents_valid = false,
        }
    }

    /// Where the objects and arrays of a finished document lie in its members
    /// ([`Event::finished_members`]), ordered by where they start: to skip a container
    /// without reading it. Containers written as text ([`Event::raw`], [`Event::value`],
    /// [`Event::replay`] without its extents) are not among them. `None` when the document
    /// is not finished, was rewritten, or was made while extents were not kept
    /// ([`keep_extents`]).
    pub fn extents(&self) -> Option<&[Extent]> {
        self.finished_members()?;
        (self.extents_valid && self.innermost == NO_EXTENT).then_some(self.extents.as_slice())
    }

    #[inline(always)]
    pub fn str(&mut self, key: impl Key, v: &str) -> &mut Self {
        json::write_str(self.key(key), v);
        self
    }

    /// One text made of `parts`, without building it first.
    #[inline]
    pub fn str_parts(&mut self, key: impl Key, parts: &[&str]) -> &mut Self {
        let out = self.key(key);
        out.push(b'"');
        for p in parts {
            json::write_str_content(out, p);
        }
        out.push(b'"');
        self
    }

    /// Sets the field only when there is a value.
    #[inline(always)]
    pub fn opt_str(&mut self, key: impl Key, v: Option<&str>) -> &mut Self {
        if let Some(v) = v {
            self.str(key, v);
        }
        self
    }

    /// Writes a text field and tags its value with `role` (see [`Tag`]).
    #[inline]
    pub fn tagged_str(&mut self, key: impl Key, role: &'static str, v: &str) -> &mut Self {
        let at = self.key(key).len();
        json::write_str(&mut self.body, v);
        self.tags.push(Tag { role, range: at..self.body.len() });
        self
    }

    /// Writes a text item into the open array and tags it with `role`.
    #[inline]
    pub fn item_tagged_str(&mut self, role: &'static str, v: &str) -> &mut Self {
        let at = self.body.len() + usize::from(self.filled & (1 << self.depth) != 0);
        self.item_str(v);
        self.tags.push(Tag { role, range: at..self.body.len() });
        self
    }

    /// How many bytes of members are written: positions for [`Event::tag`].
    pub fn written_len(&self) -> usize {
        self.body.len()
    }

    /// Tags what lies at `range` of the members written (positions from
    /// [`Event::written_len`]) with `role`: for values copied in with [`Event::replay`].
    pub fn tag(&mut self, role: &'static str, range: std::ops::Range<usize>) {
        if range.start <= range.end && range.end <= self.body.len() {
            self.tags.push(Tag { role, range });
        }
    }

    /// Tags the value of the member written last, which began at `from` (with
    /// [`Event::written_len`]): for objects and other values written in several steps.
    pub fn tag_member_since(&mut self, role: &'static str, from: usize) {
        let Some(written) = self.body.get(from..) else { return };
        let written = written.strip_prefix(b",").unwrap_or(written);
        let Some(m) = json::Members::new(written).next() else { return };
        let start = m.value.as_ptr() as usize - self.body.as_ptr() as usize;
        self.tags.push(Tag { role, range: start..start + m.value.len() });
    }

    /// Tags the members written since `from` (a [`Event::mark`] or [`Event::written_len`]),
    /// keys included, without the comma before them: for a stretch of members such as
    /// [`crate::field::role::NO_PERSONAL_DATA`].
    pub fn tag_members_since(&mut self, role: &'static str, from: usize) {
        debug_assert!(self.depth == 0, "tag_members_since() inside an object");
        let Some(written) = self.body.get(from..) else { return };
        let start = from + usize::from(written.first() == Some(&b','));
        if start < self.body.len() {
            self.tags.push(Tag { role, range: start..self.body.len() });
        }
    }

    /// Where the tags of `role` lie in the members of a finished document
    /// ([`Event::finished_members`]), in the order they were tagged, whether or not its
    /// producer tagged all it knows. None when the document is not finished.
    pub fn tag_ranges(&self, role: &'static str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        let finished = self.finished_members().is_some();
        self.tags.iter().filter(move |t| finished && t.role == role).map(|t| t.range.clone())
    }

    /// The tags written since `from` (with [`Event::written_len`]): for a value written once
    /// and copied into later documents.
    pub fn tags_since(&self, from: usize) -> impl Iterator<Item = &Tag> {
        self.tags.iter().filter(move |t| t.range.start >= from)
    }

    /// Declares that every value of a role this document's producer knows is tagged, so an
    /// enricher may read the tags instead of searching the document.
    pub fn tags_complete(&mut self) -> &mut Self {
        self.tags_complete = true;
        self
    }

    /// The tagged values (role and JSON text) of a finished document whose producer tagged
    /// all it knows; `None` when the document was not tagged, is not finished, or was
    /// changed since (the caller then searches the text).
    pub fn tagged(&self) -> Option<impl Iterator<Item = (&'static str, &[u8])>> {
        let body = self.finished_members().filter(|_| self.tags_complete)?;
        Some(self.tags.iter().filter_map(|t| Some((t.role, body.get(t.range.clone())?))))
    }

    fn forget_extents(&mut self) {
        self.extents.clear();
        self.innermost = NO_EXTENT;
    }

    fn forget_tags(&mut self) {
        self.tags.clear();
        self.tags_complete = false;
    }

    #[inline(always)]
    pub fn u64(&mut self, key: impl Key, v: u64) -> &mut Self {
        json::write_u64(self.key(key), v);
        self
    }

    #[inline]
    pub fn i64(&mut self, key: impl Key, v: i64) -> &mut Self {
        json::write_i64(self.key(key), v);
        self
    }

    #[inline]
    pub fn bool(&mut self, key: impl Key, v: bool) -> &mut Self {
        self.key(key).extend_from_slice(if v { b"true" } else { b"false" });
        self
    }

    /// An IP address as text.
    #[inline]
    pub fn ip(&mut self, key: impl Key, ip: std::net::IpAddr) -> &mut Self {
        json::write_ip(self.key(key), ip);
        self
    }

    #[inline]
    pub fn item_ip(&mut self, ip: std::net::IpAddr) -> &mut Self {
        debug_assert!(self.in_array(), "an array item outside an array");
        self.sep();
        json::write_ip(&mut self.body, ip);
        self
    }

    /// A time as RFC 3339 text with microseconds.
    #[inline]
    pub fn time(&mut self, key: impl Key, ts: Nanos) -> &mut Self {
        let out = self.key(key);
        out.push(b'"');
        write_rfc3339_micros(out, ts);
        out.push(b'"');
        self
    }

    /// An array of strings.
    #[inline]
    pub fn strs<'s>(&mut self, key: impl Key, v: impl IntoIterator<Item = &'s str>) -> &mut Self {
        self.arr(key);
        for s in v {
            self.item_str(s);
        }
        self.end()
    }

    /// An array of texts written in the source code (`event.category`, `event.type`, ...):
    /// trusted to need no escaping, so written in one go.
    #[inline]
    pub fn consts(&mut self, key: &'static str, v: &[&'static str]) -> &mut Self {
        let start = self.key(key).len();
        let out = &mut self.body;
        out.push(b'[');
        for (i, s) in v.iter().enumerate() {
            debug_assert!(!json::needs_escaping(s), "constant {s:?} needs escaping");
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
        out.push(b']');
        let end = self.body.len();
        self.adopt_extents(start, &[Extent { start: 0, end: (end - start) as u32 }]);
        self
    }

    /// Any JSON value (for the rare field that is not text, a number or a flag).
    pub fn value(&mut self, key: impl Key, v: &Value) -> &mut Self {
        // The common scalars are written as serde_json writes them, without its machinery.
        match v {
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    return self.u64(key, u);
                }
                if let Some(i) = n.as_i64() {
                    return self.i64(key, i);
                }
            }
            Value::Bool(b) => return self.bool(key, *b),
            // (serde_json escapes a few control characters otherwise than `str` does)
            Value::String(t) if !json::needs_escaping(t) => return self.str(key, t),
            _ => {}
        }
        // Serialising a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(self.key(key), v);
        self
    }

    /// Leaves the rest of the document to `r`, which writes it when [`Event::render`] runs.
    pub fn defer(&mut self, r: Arc<dyn Render>) {
        debug_assert!(self.depth == 0 && self.pending.is_none(), "defer() with an open object or twice");
        self.pending = Some(r);
    }

    /// Writes the deferred part of the document, if any.
    pub fn render(&mut self) {
        if let Some(r) = self.pending.take() {
            // Go on in buffers this thread wrote last, when it has them: the maker's text and
            // tag list, which this thread only reads, go back to the maker (see `Spent`), so
            // that no buffer is written by both threads in turn.
            // A document made by `Event::deferred` has nothing written and no buffer of the
            // maker's to go back.
            let blank = self.body.is_empty();
            if let Some((mut body, mut tags)) = RENDERED.with(|s| s.borrow_mut().pop()) {
                body.extend_from_slice(&self.body);
                tags.extend_from_slice(&self.tags);
                let body = std::mem::replace(&mut self.body, body);
                let tags = std::mem::replace(&mut self.tags, tags);
                self.made = (!blank).then_some((body, tags));
            } else if blank {
                // This thread has no buffer of its own yet: a spare one of the maker's when
                // the maker renders it, else a new one.
                let (body, extents, tags) = SPARE
                    .with(|s| s.borrow_mut().pop())
                    .unwrap_or_else(|| (Vec::with_capacity(BODY_CAPACITY), Vec::new(), Vec::new()));
                (self.body, self.extents, self.tags) = (body, extents, tags);
            }
            if blank {
                self.write_timestamp();
            }
            r.render(self);
            self.spent = Some(r);
            self.rendered_on = this_thread();
        }
    }

    /// Where the next top-level member will be written, for [`Event::members_since`].
    pub fn mark(&self) -> usize {
        debug_assert!(self.depth == 0, "mark() inside an object");
        self.body.len()
    }

    /// The top-level members written since `mark` (with their leading comma), to copy into
    /// other documents with [`Event::append_members`].
    pub fn members_since(&self, mark: usize) -> &[u8] {
        self.body.get(mark..).unwrap_or_default()
    }

    /// Appends members taken from [`Event::members_since`] of a document built the same way.
    pub fn append_members(&mut self, members: &[u8]) {
        debug_assert!(self.depth == 0 && members.first() == Some(&b','), "members from members_since()");
        self.body.extend_from_slice(members);
    }

    /// [`Event::append_members`] with the containers in them, as [`Event::extents_since`]
    /// gave them for the same mark.
    pub fn append_members_with(&mut self, members: &[u8], extents: &[Extent]) {
        let at = self.body.len();
        self.append_members(members);
        self.adopt_extents(at, extents);
    }

    /// Appends `lead`'s members (see [`Lead`]), with their containers and tag.
    pub fn append_lead(&mut self, lead: &Lead) {
        let at = self.mark();
        self.append_members_with(&lead.members, &lead.extents);
        if let Some(role) = lead.role {
            self.tag_members_since(role, at);
        }
    }

    /// The containers written since `from` (a [`Event::mark`] or [`Event::written_len`]),
    /// with offsets from `from`: to copy with the text written since then. Empty when one
    /// of them is still open or the extents are not kept.
    pub fn extents_since(&self, from: usize) -> Vec<Extent> {
        let Ok(from) = u32::try_from(from) else { return Vec::new() };
        let first = self.extents.partition_point(|x| x.start < from);
        let open_after = self.innermost != NO_EXTENT && self.innermost as usize >= first;
        if !self.extents_valid || open_after {
            return Vec::new();
        }
        let since = self.extents.get(first..).unwrap_or_default();
        since.iter().map(|x| Extent { start: x.start - from, end: x.end - from }).collect()
    }

    /// Records containers copied in as text at offset `at` (offsets in `extents` from there).
    fn adopt_extents(&mut self, at: usize, extents: &[Extent]) {
        if !self.extents_valid {
            return;
        }
        let Ok(at) = u32::try_from(at) else {
            self.extents_valid = false;
            return;
        };
        for x in extents {
            match (at.checked_add(x.start), at.checked_add(x.end)) {
                (Some(start), Some(end)) if (end as usize) <= self.body.len() => {
                    self.extents.push(Extent { start, end })
                }
                _ => self.extents_valid = false,
            }
        }
    }

    /// Writes a member whose value is JSON text made elsewhere (trusted to be valid JSON).
    pub fn raw(&mut self, key: impl Key, json: &[u8]) -> &mut Self {
        self.key(key).extend_from_slice(json);
        self
    }

    /// Replaces the members of a finished document (see [`Event::finished_members`]) with
    /// what `f` makes of them; `f` returns `None` to leave them. False when the document is
    /// not finished (still being built, deferred or patched): nothing is called.
    pub fn replace_members(&mut self, f: impl FnOnce(&[u8]) -> Option<Vec<u8>>) -> bool {
        let Some(members) = self.finished_members() else { return false };
        if let Some(mut new) = f(members) {
            self.take_members(&mut new);
        }
        true
    }

    /// [`Event::replace_members`] for a caller that rewrites many documents with one buffer:
    /// `f` writes the new members into `buf` (empty when called) and says whether they replace
    /// the old ones, which are then left in `buf`.
    pub fn replace_members_in(&mut self, buf: &mut Vec<u8>, f: impl FnOnce(&[u8], &mut Vec<u8>) -> bool) -> bool {
        let Some(members) = self.finished_members() else { return false };
        buf.clear();
        if f(members, buf) {
            self.take_members(buf);
        }
        true
    }

    /// Makes `new` the members, leaving the old ones in it.
    fn take_members(&mut self, new: &mut Vec<u8>) {
        self.forget_tags();
        self.forget_extents();
        std::mem::swap(&mut self.body, new);
        self.filled = u32::from(!self.body.is_empty());
    }

    /// Adds members (`"k":v,...`, no leading comma) to the end of the top-level object
    /// `key` of a finished document, in place. False (nothing written) when the document is
    /// still being built or has no such object.
    pub fn insert_into(&mut self, key: &str, members: &[u8]) -> bool {
        if self.depth != 0 || self.pending.is_some() || members.is_empty() {
            return false;
        }
        let Some(m) = json::Members::new(&self.body).find(|m| m.key == key.as_bytes()) else { return false };
        let start = m.value.as_ptr() as usize - self.body.as_ptr() as usize;
        self.insert_into_value(start..start + m.value.len(), members)
    }

    /// Adds members to the end of the object value that lies at `value` of the members of
    /// a finished document, as a [`json::Members`] walk of [`Event::finished_members`] gives
    /// it: for a caller that has already found the object. False (nothing written) when the
    /// document is still being built or `value` is not an object.
    pub fn insert_into_value(&mut self, value: std::ops::Range<usize>, members: &[u8]) -> bool {
        self.insert_into_values(&[(value, members)])
    }

    /// [`Event::insert_into_value`] for several objects at once, in the order they lie in
    /// the document and none inside another: what follows them is moved once. False (nothing
    /// written) when the document is still being built, a value is not an object, the
    /// values are out of order or overlap, or one of `members` is empty.
    pub fn insert_into_values(&mut self, inserts: &[(std::ops::Range<usize>, &[u8])]) -> bool {
        const MAX: usize = 4;
        if self.depth != 0 || self.pending.is_some() || inserts.is_empty() || inserts.len() > MAX {
            return false;
        }
        // Each value's closing brace (an offset into the body) and how many bytes go there.
        let mut at = [(0usize, 0usize, false); MAX];
        let mut after = 0;
        for ((value, members), slot) in inserts.iter().zip(&mut at) {
            let Some(inner) = self.body.get(value.clone()).and_then(json::object_content) else { return false };
            if members.is_empty() || value.start < after {
                return false;
            }
            after = value.end;
            let empty = inner.iter().all(u8::is_ascii_whitespace);
            *slot = (value.end - 1, members.len() + usize::from(!empty), empty);
        }
        let at = &at[..inserts.len()];
        let total: usize = at.iter().map(|(_, add, _)| add).sum();
        // What lies after an insertion moves by its size; a value around it grows.
        for t in &mut self.tags {
            let start = t.range.start;
            let shift = |p: usize| {
                let moved = at.iter().filter(|(close, _, _)| p > *close || (p == *close && start >= *close));
                p + moved.map(|(_, add, _)| add).sum::<usize>()
            };
            t.range = shift(t.range.start)..shift(t.range.end);
        }
        // Containers after a brace move; those around it (it included) end later.
        match u32::try_from(self.body.len() + total) {
            Ok(_) if self.extents_valid => {
                let shift = |p: u32| -> u32 {
                    p + at
                        .iter()
                        .filter(|(close, _, _)| p as usize > *close)
                        .map(|(_, add, _)| *add as u32)
                        .sum::<u32>()
                };
                for x in &mut self.extents {
                    x.start = shift(x.start);
                    x.end = shift(x.end);
                }
            }
            Ok(_) => {}
            Err(_) => self.extents_valid = false,
        }
        // From the last insertion back: each stretch moves by what is inserted before its end.
        let old_len = self.body.len();
        self.body.resize(old_len + total, 0);
        let (mut end, mut shift) = (old_len, total);
        for ((close, add, empty), (_, members)) in at.iter().zip(inserts).rev() {
            self.body.copy_within(*close..end, close + shift);
            shift -= add;
            let gap = &mut self.body[close + shift..close + shift + add];
            let (comma, rest) = gap.split_at_mut(usize::from(!empty));
            if let Some(c) = comma.first_mut() {
                *c = b',';
            }
            rest.copy_from_slice(members);
            end = *close;
        }
        true
    }

    /// Where the next member of the open object goes, to take what is written from here on
    /// with [`Event::written_since`].
    pub fn here(&self) -> Here {
        Here { at: self.body.len(), depth: self.depth }
    }

    /// The members written into the open object since `from` (all closed), to write again
    /// into another document with [`Event::replay`]. Empty when `from` was taken elsewhere.
    pub fn written_since(&self, from: Here) -> &[u8] {
        if from.depth != self.depth || self.in_array() {
            return &[];
        }
        let b = self.body.get(from.at..).unwrap_or_default();
        b.strip_prefix(b",").unwrap_or(b)
    }

    /// Writes into the open object members taken with [`Event::written_since`], as they
    /// were written there.
    pub fn replay(&mut self, members: &[u8]) -> &mut Self {
        debug_assert!(!self.in_array(), "members replayed into an array");
        if !members.is_empty() {
            self.sep();
            self.body.extend_from_slice(members);
        }
        self
    }

    /// [`Event::replay`] with the containers in `members`, as [`Event::extents_since`] gave
    /// them for where `members` began.
    pub fn replay_with(&mut self, members: &[u8], extents: &[Extent]) -> &mut Self {
        if members.is_empty() {
            return self;
        }
        self.replay(members);
        self.adopt_extents(self.body.len() - members.len(), extents);
        self
    }

    /// Sets a field by its dotted name (`set("source.geo.name", ..)` is
    /// `{"source":{"geo":{"name":..}}}` in the document), over whatever was written before.
    /// For enrichers and rules; decoders write in place.
    pub fn set(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        let value: Value = value.into();
        // Serialising a Value into a Vec cannot fail.
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        self.patches.push(json::Patch { name: name.into(), value: bytes.into() });
        self
    }

    /// Rewrites the whole document: `f` reads its JSON text and writes the new text (an
    /// object) into the buffer it is given, returning false to leave the document as it was.
    /// For enrichers that must reach every value (masking); the id and timestamp are kept.
    pub fn rewrite(&mut self, f: impl FnOnce(&[u8], &mut Vec<u8>) -> bool) {
        self.render();
        let mut whole = Vec::with_capacity(self.body.len() + 64);
        self.write_json(&mut whole);
        let mut out = Vec::with_capacity(whole.len());
        if !f(&whole, &mut out) {
            return;
        }
        let Some(content) = json::object_content(&out) else { return };
        self.forget_tags();
        self.forget_extents();
        self.body.clear();
        self.body.extend_from_slice(content);
        self.patches.clear();
        self.depth = 0;
        self.filled = u32::from(!self.body.is_empty());
        self.arrays = 0;
        self.event_written = true;
    }

    /// The top-level object's content as written so far, with open containers closed and
    /// the `event` object added if it was never written (no patches).
    fn content(&self) -> Cow<'_, [u8]> {
        if self.pending.is_some() {
            let mut copy = self.clone();
            copy.render();
            return Cow::Owned(copy.content().into_owned());
        }
        if self.depth == 0 && self.event_written {
            return Cow::Borrowed(&self.body);
        }
        let mut b = self.body.clone();
        for d in (1..=self.depth).rev() {
            b.push(if self.arrays & (1 << d) != 0 { b']' } else { b'}' });
        }
        if !self.event_written {
            b.extend_from_slice(b",\"event\":{\"dataset\":");
            json::write_str(&mut b, self.dataset);
            b.extend_from_slice(b",\"kind\":");
            json::write_str(&mut b, self.kind);
            b.push(b'}');
        }
        Cow::Owned(b)
    }

    /// False when no member anywhere in the document is named `key`: a cheap test that
    /// spares a [`Event::get_raw`] that would find nothing. True when unsure (a deferred
    /// part not rendered yet, or a patch).
    pub fn may_have_member(&self, key: &str) -> bool {
        if self.pending.is_some() || !self.patches.is_empty() {
            return true;
        }
        // Member names from the source are written unescaped, as `"key":`; inside a string
        // value the quotes would be escaped, so only a member name matches.
        let mut pattern = Vec::with_capacity(key.len() + 3);
        pattern.push(b'"');
        pattern.extend_from_slice(key.as_bytes());
        pattern.extend_from_slice(b"\":");
        memchr::memmem::find(&self.body, &pattern).is_some()
    }

    /// The JSON text of a field by dotted name, looking inside objects.
    pub fn get_raw(&self, name: &str) -> Option<Cow<'_, [u8]>> {
        let touched = self.patches.iter().any(|p| {
            let n = p.name.as_ref();
            let under = |a: &str, b: &str| a.strip_prefix(b).is_some_and(|r| r.starts_with('.'));
            n == name || under(n, name) || under(name, n)
        });
        if touched {
            let mut whole = Vec::new();
            self.write_json(&mut whole);
            let content = json::object_content(&whole)?;
            return json::lookup(content, name).map(|v| Cow::Owned(v.to_vec()));
        }
        match self.content() {
            Cow::Borrowed(c) => json::lookup(c, name).map(Cow::Borrowed),
            Cow::Owned(c) => json::lookup(&c, name).map(|v| Cow::Owned(v.to_vec())),
        }
    }

    /// A field by dotted name, as a JSON value.
    pub fn get(&self, name: &str) -> Option<Value> {
        serde_json::from_slice(&self.get_raw(name)?).ok()
    }

    /// A text field by dotted name.
    pub fn get_str(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.get_raw(name)? {
            Cow::Borrowed(v) => json::str_value(v),
            Cow::Owned(v) => json::str_value(&v).map(|s| Cow::Owned(s.into_owned())),
        }
    }

    /// The document as a JSON object.
    pub fn doc(&self) -> Map<String, Value> {
        match serde_json::from_str(&self.to_json()) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    /// The document as one line of JSON.
    pub fn to_json(&self) -> String {
        let mut b = Vec::with_capacity(self.body.len() + 2);
        self.write_json(&mut b);
        String::from_utf8(b).unwrap_or_default()
    }

    /// The document's members as they will be written, when nothing is left to merge or
    /// render: the document is then `{`, these bytes, `}` (see [`Event::write_json`]).
    pub fn finished_members(&self) -> Option<&[u8]> {
        (self.pending.is_none() && self.patches.is_empty() && self.depth == 0 && self.event_written)
            .then_some(self.body.as_slice())
    }

    /// Writes the document as one JSON object into `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let content = self.content();
        if self.patches.is_empty() {
            out.reserve(content.len() + 2);
            out.push(b'{');
            out.extend_from_slice(&content);
            out.push(b'}');
            return;
        }
        let patches: Vec<(&str, &[u8])> = self.patches.iter().map(|p| (p.name.as_ref(), p.value.as_ref())).collect();
        json::merge(out, Some(&content), &patches);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts, per thread, the renderers handed back to it.
    #[derive(Debug)]
    struct Kept {
        reusable: bool,
    }

    thread_local! {
        static KEPT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    impl Render for Kept {
        fn render(&self, e: &mut Event) {
            e.str("rest", &"x".repeat(10_000)).tagged_str("callee", "callee", "0207").obj("event").end();
        }
        fn reusable(&self) -> bool {
            self.reusable
        }
        fn recycle(self: Arc<Self>) {
            KEPT.with(|k| k.set(k.get() + 1));
        }
    }

    #[test]
    fn shipped_documents_are_taken_apart_there_and_their_memory_reused_here() {
        let make = || -> Vec<Event> {
            [true, false, true]
                .into_iter()
                .enumerate()
                .map(|(i, reusable)| {
                    let mut e = Event::with_capacity("sip", "event", 0, &[b"k"], 512);
                    e.tags_complete().tagged_str("n", "caller", &i.to_string());
                    e.defer(Arc::new(Kept { reusable }));
                    e
                })
                .collect()
        };
        // A document's text and the values it tags.
        let seen = |e: &Event| {
            let tags = e.tagged().map(|t| t.map(|(r, v)| format!("{r}={}", String::from_utf8_lossy(v))));
            (e.to_json(), tags.map(Iterator::collect::<Vec<_>>))
        };
        let written_here: Vec<_> = make()
            .into_iter()
            .map(|mut e| {
                e.render();
                seen(&e)
            })
            .collect();
        assert_eq!(written_here[1].1.as_deref(), Some(&["caller=\"1\"".to_owned(), "callee=\"0207\"".to_owned()][..]));
        // Rendered, written and taken apart on another thread, as the shipper does.
        let (to_shipper, shipper_gets) = std::sync::mpsc::channel::<Vec<Event>>();
        let (to_maker, maker_gets) = std::sync::mpsc::channel::<(Vec<_>, Spent)>();
        let shipper = std::thread::spawn(move || {
            for mut batch in shipper_gets {
                render_all(&mut batch);
                let json = batch.iter().map(seen).collect();
                let spent = Spent::gather(batch);
                assert_eq!(KEPT.with(std::cell::Cell::get), 0, "nothing is handed back on the shipping thread");
                to_maker.send((json, spent)).unwrap();
            }
        });
        SPARE.with(|s| s.borrow_mut().clear());
        // The first batch: the shipper has no buffer of its own yet, renders in the maker's
        // and keeps them; the renderers that asked come back.
        to_shipper.send(make()).unwrap();
        let (json, spent) = maker_gets.recv().unwrap();
        assert_eq!(json, written_here);
        let list = spent.reuse();
        assert!(list.is_empty() && list.capacity() >= 3, "the batch's list comes back emptied");
        assert_eq!(KEPT.with(std::cell::Cell::get), 2, "the renderers that asked come back to this thread");
        assert_eq!(SPARE.with(|s| s.borrow().len()), 0, "the buffers stay with the shipper");
        // The second: rendered in the shipper's buffers, the same documents; the maker's
        // buffers come back to it, emptied, and are what its next documents are made in.
        let second = make();
        let made_in: Vec<*const u8> = second.iter().map(|e| e.body.as_ptr()).collect();
        let tagged_in: Vec<*const Tag> = second.iter().map(|e| e.tags.as_ptr()).collect();
        to_shipper.send(second).unwrap();
        let (json, spent) = maker_gets.recv().unwrap();
        assert_eq!(json, written_here);
        spent.reuse();
        assert_eq!(KEPT.with(std::cell::Cell::get), 4);
        for _ in 0..3 {
            let e = Event::new("sip", "event", 0, &[b"k"]);
            assert!(made_in.contains(&e.body.as_ptr()), "a buffer the maker wrote is reused");
            assert!(e.body.capacity() < 10_000, "not one the shipper rendered in");
            assert!(tagged_in.contains(&e.tags.as_ptr()), "and the maker's tag list, not the shipper's");
            assert!(e.tags.is_empty());
            assert!(e.to_json().len() < 200, "nothing of what it held shows: {}", e.to_json());
        }
        assert!(!made_in.contains(&Event::new("sip", "event", 0, &[b"k"]).body.as_ptr()), "three came back");
        drop(to_shipper);
        shipper.join().unwrap();
    }

    /// Writes a flow's endpoints and one member of its own.
    #[derive(Debug)]
    struct WithLead(Arc<Lead>);

    impl Render for WithLead {
        fn render(&self, e: &mut Event) {
            e.append_lead(&self.0);
            e.tags_complete().obj("sip").tagged_str("user", "caller", "0113").end().obj("event").end();
        }
    }

    #[test]
    fn a_document_its_maker_writes_nothing_of_is_the_one_written_at_once() {
        keep_extents(true);
        let mut scratch = Event::new("sip", "event", 0, &[]);
        let mark = scratch.mark();
        scratch.obj("source").str("ip", "192.0.2.1").end().obj("related").arr("ip").item_str("192.0.2.1").end().end();
        let lead = Arc::new(Lead::since(&scratch, mark, Some(field::role::NO_PERSONAL_DATA)));
        let ts = 1_700_000_000_123_456_789;
        let mut now = Event::new("sip", "event", ts, &[b"k"]);
        WithLead(lead.clone()).render(&mut now);
        let seen = |e: &Event| {
            let tags: Vec<(&str, Vec<u8>)> = e.tagged().unwrap().map(|(r, v)| (r, v.to_vec())).collect();
            (e.to_json(), tags, e.extents().map(<[Extent]>::to_vec), e.id.clone())
        };
        let want = seen(&now);
        assert_eq!(want.1.len(), 2, "the endpoints' tag and the member's");
        assert!(want.2.as_ref().is_some_and(|x| x.len() == 5), "the lead's containers and the member's");
        let make = || Event::deferred(("sip", "event"), ts, &[b"k"], Arc::new(WithLead(lead.clone())));
        let first = make();
        assert!(first.finished_members().is_none() && first.body.capacity() == 0, "the maker makes no buffer");
        // Rendered on another thread, as the shipper does: first in a buffer it makes, then
        // in the one it kept from the first.
        let batches = vec![vec![first], vec![make()]];
        let got = std::thread::spawn(move || {
            batches
                .into_iter()
                .map(|mut batch| {
                    render_all(&mut batch);
                    let seen: Vec<_> = batch.iter().map(seen).collect();
                    (seen, Spent::gather(batch).buffers.len())
                })
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        for (seen, handed_back) in got {
            assert_eq!(seen, vec![want.clone()]);
            assert_eq!(handed_back, 0, "no buffer of the maker's to hand back");
        }
        assert_eq!(Spent::gather(vec![make()]).buffers.len(), 0, "nor when it was never rendered");
        // Rendered by its maker (the shipper was behind): the buffer it was rendered in was
        // written there only, and goes back there.
        let mut here = make();
        here.render();
        assert_eq!(seen(&here), want);
        let back = std::thread::spawn(move || Spent::gather(vec![here]).buffers.len()).join().unwrap();
        assert_eq!(back, 1, "the maker's buffer goes back to it");
    }

    #[test]
    fn dotted_names_nest_and_read_back() {
        let mut e = Event::new("flow", "event", 1_700_000_000_123_456_789, &[b"k"]);
        e.set("source.ip", "10.0.0.1").set("source.port", 5060).set("network.vlan.id", "7");
        assert_eq!(e.get("source.port"), Some(Value::from(5060)));
        assert_eq!(e.get_str("@timestamp").as_deref(), Some("2023-11-14T22:13:20.123456Z"));
        let j: Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(j["network"]["vlan"]["id"], "7");
        assert_eq!(j["event"]["dataset"], "flow");
    }

    #[test]
    fn ids_hash_the_same_bytes_whichever_way_and_tell_part_lists_apart() {
        let stream = |dataset: &str, parts: &[&[u8]]| -> [u8; 20] {
            let mut bytes = dataset.as_bytes().to_vec();
            for p in parts {
                let mut n = p.len();
                loop {
                    let b = (n & 0x7f) as u8;
                    n >>= 7;
                    bytes.push(if n == 0 { b } else { b | 0x80 });
                    if n == 0 {
                        break;
                    }
                }
                bytes.extend_from_slice(p);
            }
            Sha1::digest(&bytes).into()
        };
        let long = vec![7u8; 300];
        let cases: [&[&[u8]]; 6] = [&[], &[b""], &[b"ab", b"c"], &[b"a", b"bc"], &[&long[..100]], &[&long, b"x"]];
        let mut seen = std::collections::HashSet::new();
        for parts in cases {
            assert_eq!(identity_digest("sip", parts), stream("sip", parts), "{parts:?}");
            assert!(seen.insert(identity_digest("sip", parts)), "{parts:?}");
        }
        assert_ne!(identity_digest("sip", &[b"x"]), identity_digest("flow", &[b"x"]));
    }

    #[test]
    fn members_written_once_replay_into_another_document() {
        let mut a = Event::new("sip", "event", 0, &[]);
        a.obj("from").str("first", "x");
        let from = a.here();
        a.obj("uri").u64("port", 5060).end().str("tag", "t");
        let members = a.written_since(from).to_vec();
        assert_eq!(members, br#""uri":{"port":5060},"tag":"t""#);
        a.end();
        let mut b = Event::new("sip", "event", 0, &[]);
        b.obj("from").replay(&members).end();
        b.obj("to").str("first", "y").replay(&members).replay(b"").end();
        let j: Value = serde_json::from_str(&b.to_json()).unwrap();
        assert_eq!(j["from"], serde_json::json!({"uri": {"port": 5060}, "tag": "t"}));
        assert_eq!(j["to"], serde_json::json!({"first": "y", "uri": {"port": 5060}, "tag": "t"}));
        let mut c = Event::new("sip", "event", 0, &[]);
        let top = c.here();
        c.obj("x").str("k", "v");
        assert!(c.written_since(top).is_empty(), "taken at another depth");
    }

    #[test]
    fn a_member_name_is_told_from_the_same_text_in_a_value() {
        let mut e = Event::new("call", "event", 0, &[]);
        e.obj("call").str("note", "\"uuid\": no").end();
        assert!(!e.may_have_member("uuid"), "a quoted value is not a member name");
        assert!(e.may_have_member("note"));
        e.obj("more").str("uuid", "x").end();
        assert!(e.may_have_member("uuid"));
        let mut p = Event::new("call", "event", 0, &[]);
        p.set("call.uuid", "y");
        assert!(p.may_have_member("anything"), "unsure with patches");
    }

    #[test]
    fn writing_nests_sorts_replaces_and_resolves_prefix_clashes() {
        let mut e = Event::new("flow", "event", 0, &[]);
        e.set("b.y", 2).set("a", "leaf").set("b.x.z", true).set("a.k", 1).set("b.y", 3).set("c-d", "x");
        e.set("o", serde_json::json!({"k": {"n": 5}}));
        let j: Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(j["b"], serde_json::json!({"x": {"z": true}, "y": 3}));
        assert_eq!(j["a"], serde_json::json!({"k": 1}), "the deeper field wins");
        assert_eq!(j["c-d"], "x");
        assert_eq!(e.get("o.k.n"), Some(Value::from(5)), "get looks inside object values");
        assert_eq!(e.doc().len(), 6);
    }

    #[test]
    fn any_value_is_written_as_serde_json_writes_it() {
        let values = serde_json::json!([
            0, 1, u64::MAX, -1, i64::MIN, 1.5, -0.25, 1e300, true, false, null, "", "plain", "é ∞",
            "a\"b", "back\\slash", "\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}", [1, "x"], {"k": [null, 2.5]}
        ]);
        for v in values.as_array().unwrap() {
            let mut e = Event::new("x", "event", 0, &[]);
            e.obj("event").end();
            e.value("v", v);
            let written = String::from_utf8(e.finished_members().unwrap().to_vec()).unwrap();
            let want = format!(",\"v\":{}", serde_json::to_string(v).unwrap());
            assert!(written.ends_with(&want), "{v}: {written}");
        }
    }

    #[test]
    fn built_documents_nest_in_place_and_take_patches() {
        let mut e = Event::new("sip", "event", 1_000, &[]);
        e.obj("event").strs("category", ["network"]).i64("duration", -5).end();
        e.obj("sip").str("method", "INVITE").u64("code", 200).bool("retransmission", false);
        e.obj("from").str("tag", "a\"b").end();
        e.arr("media").item_obj().u64("port", 4000).strs("formats", ["0", "8"]).end().item_str("x").end();
        e.time("when", 1_500).end();
        e.value("headers", &serde_json::json!({"x-a": ["1", "2"]}));
        let j: Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(
            j["event"],
            serde_json::json!({"dataset": "sip", "kind": "event", "category": ["network"], "duration": -5})
        );
        assert_eq!(j["sip"]["media"], serde_json::json!([{"port": 4000, "formats": ["0", "8"]}, "x"]));
        assert_eq!(j["sip"]["when"], "1970-01-01T00:00:00.000001Z");
        assert_eq!(e.get_str("sip.from.tag").as_deref(), Some("a\"b"));
        assert_eq!(e.get("sip.code"), Some(Value::from(200)));
        assert_eq!(e.get_str("event.dataset").as_deref(), Some("sip"));
        e.set("sip.from.geo.name", "Leeds").set("sip.code", 486);
        let j: Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(j["sip"]["from"], serde_json::json!({"tag": "a\"b", "geo": {"name": "Leeds"}}));
        assert_eq!(j["sip"]["code"], 486);
        assert_eq!(e.get("sip.code"), Some(Value::from(486)), "a patch wins over what was written");
        assert_eq!(e.get_str("sip.from.geo.name").as_deref(), Some("Leeds"));
    }

    #[test]
    fn tagged_values_are_found_where_they_were_written_and_forgotten_when_changed() {
        let mut e = Event::new("sip", "event", 0, &[]);
        let texts = |e: &Event| -> Option<Vec<(&str, String)>> {
            Some(e.tagged()?.map(|(r, v)| (r, String::from_utf8_lossy(v).into_owned())).collect())
        };
        e.tags_complete();
        e.obj("sip").obj("from").tagged_str("user", "caller", "01134960000").end();
        e.arr("div").item_str("x").item_tagged_str("diversion", "<tel:\"1\">").end();
        // Members written once and replayed elsewhere are tagged by position.
        let from = e.written_len();
        e.obj("to");
        let at = e.written_len();
        e.str("user", "0800").end();
        assert_eq!(e.tags_since(from).count(), 0, "str() tags nothing");
        e.tag("callee", at + 7..at + 13);
        e.end();
        assert!(texts(&e).is_none(), "an unfinished document offers no tags");
        e.obj("event").end();
        let want = vec![
            ("caller", "\"01134960000\"".to_string()),
            ("diversion", r#""<tel:\"1\">""#.to_string()),
            ("callee", "\"0800\"".to_string()),
        ];
        assert_eq!(texts(&e), Some(want.clone()));
        // Inserting before a value moves it; a patch or a rewrite makes the tags unusable.
        assert!(e.insert_into("sip", br#""k":1"#));
        assert_eq!(texts(&e), Some(want.clone()));
        e.obj("source").end();
        let mut moved = e.clone();
        assert!(moved.insert_into("source", br#""ip":"10.0.0.1""#));
        assert_eq!(texts(&moved), Some(want));
        let mut patched = e.clone();
        patched.set("sip.k", 2);
        assert!(texts(&patched).is_none());
        assert!(e.replace_members(|m| Some(m.to_vec())));
        assert!(texts(&e).is_none());
        let mut untagged = Event::new("sip", "event", 0, &[]);
        untagged.obj("event").end();
        assert!(texts(&untagged).is_none(), "a producer that did not say it tagged all offers none");
    }

    #[test]
    fn several_objects_take_members_at_once_as_they_would_one_by_one() {
        let make = || {
            let mut e = Event::new("sip", "event", 0, &[b"x"]);
            e.obj("source").str("ip", "10.0.0.1").u64("port", 5060).end();
            e.obj("destination").end();
            e.tags_complete().obj("sip").tagged_str("user", "caller", "0113").obj("to").end();
            e.tagged_str("callee", "callee", "0800").end();
            e.obj("event").end();
            e
        };
        let text = |e: &Event| String::from_utf8(e.finished_members().unwrap().to_vec()).unwrap();
        let tags = |e: &Event| e.tagged().unwrap().map(|(r, v)| (r, v.to_vec())).collect::<Vec<_>>();
        let base = make();
        let c = base.finished_members().unwrap();
        let mut objects = Vec::new();
        for key in ["source", "destination", "sip"] {
            let m = json::Members::new(c).find(|m| m.key == key.as_bytes()).unwrap();
            let at = m.value.as_ptr() as usize - c.as_ptr() as usize;
            objects.push(at..at + m.value.len());
        }
        let adds: [&[u8]; 3] = [br#""geo":{"name":"a"}"#, br#""geo":{"name":"b"}"#, br#""k":1"#];
        for pick in [&[0usize, 1][..], &[0, 2], &[1, 2], &[0, 1, 2], &[2]] {
            let mut one_by_one = make();
            for &k in pick.iter().rev() {
                assert!(one_by_one.insert_into_value(objects[k].clone(), adds[k]));
            }
            let mut at_once = make();
            let inserts: Vec<_> = pick.iter().map(|&k| (objects[k].clone(), adds[k])).collect();
            assert!(at_once.insert_into_values(&inserts));
            assert_eq!(text(&at_once), text(&one_by_one), "{pick:?}");
            assert_eq!(at_once.extents(), one_by_one.extents(), "{pick:?}");
            assert!(at_once.extents().is_some());
            assert_eq!(tags(&at_once), tags(&one_by_one), "{pick:?}");
            assert_eq!(tags(&at_once), tags(&base), "{pick:?}: tags still name the same values");
            let j: Value = serde_json::from_str(&at_once.to_json()).unwrap();
            assert_eq!(j["source"]["port"], 5060);
        }
        let mut e = make();
        let backwards = [(objects[1].clone(), adds[1]), (objects[0].clone(), adds[0])];
        assert!(!e.insert_into_values(&backwards), "out of order");
        assert!(!e.insert_into_values(&[(objects[0].clone(), &b""[..])]), "nothing to insert");
        assert!(!e.insert_into_values(&[(objects[0].start + 1..objects[0].end, adds[0])]), "not an object");
        assert_eq!(text(&e), text(&base), "nothing written when refused");
    }

    #[test]
    fn finished_documents_take_members_in_place() {
        let mut e = Event::new("flow", "event", 0, &[]);
        e.obj("source").str("ip", "10.0.0.1").end();
        e.obj("event").end();
        e.obj("empty").end();
        assert!(e.insert_into("source", br#""geo":{"name":"site"}"#));
        assert!(e.insert_into("empty", br#""k":1"#));
        assert!(!e.insert_into("missing", br#""k":1"#));
        e.raw("phone", br#"{"caller":{"class":"mobile"}}"#);
        let j: Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(j["source"], serde_json::json!({"ip": "10.0.0.1", "geo": {"name": "site"}}));
        assert_eq!(j["empty"], serde_json::json!({"k": 1}));
        assert_eq!(j["phone"]["caller"]["class"], "mobile");
        assert!(e.replace_members(|m| Some(m.to_vec())));
        let mut building = Event::new("flow", "event", 0, &[]);
        building.obj("source");
        assert!(!building.insert_into("source", br#""k":1"#), "an open object is not touched");
        assert!(!building.replace_members(|_| None));
    }

    #[test]
    fn members_replaced_through_a_buffer_leave_the_old_ones_in_it() {
        let mut e = Event::new("sip", "event", 0, &[b"x"]);
        e.obj("sip").str("method", "INVITE").end().obj("event").end();
        let old = e.finished_members().unwrap().to_vec();
        let mut buf = b"left over".to_vec();
        assert!(e.replace_members_in(&mut buf, |m, out| {
            assert!(out.is_empty(), "the buffer is handed over empty");
            out.extend_from_slice(String::from_utf8_lossy(m).replace("INVITE", "BYE").as_bytes());
            true
        }));
        assert_eq!(buf, old, "the old members are handed back");
        assert_eq!(e.get_str("sip.method").as_deref(), Some("BYE"), "{}", e.to_json());
        // Nothing replaced: the document stays as it was, whatever was written.
        let before = e.to_json();
        assert!(e.replace_members_in(&mut buf, |_, out| {
            out.extend_from_slice(b"junk");
            false
        }));
        assert_eq!(e.to_json(), before);
        let mut building = Event::new("sip", "event", 0, &[b"x"]);
        building.obj("sip");
        assert!(!building.replace_members_in(&mut buf, |_, _| unreachable!()));
    }

    #[test]
    fn unclosed_objects_are_closed_when_written() {
        let mut e = Event::new("x", "event", 0, &[]);
        e.obj("a").arr("b").item_obj().str("c", "d");
        let j: Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(j["a"], serde_json::json!({"b": [{"c": "d"}]}));
        assert_eq!(j["event"]["kind"], "event", "the event object is added when never written");
    }

    #[test]
    fn ids_are_deterministic_and_input_sensitive() {
        let a = Event::new("flow", "event", 1, &[b"x", b"y"]);
        let b = Event::new("flow", "event", 2, &[b"x", b"y"]);
        let c = Event::new("flow", "event", 1, &[b"xy"]);
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id, "parts are length-delimited");
        assert_eq!(a.id.to_string().len(), 20);
    }

    #[test]
    fn an_id_hashed_when_asked_is_the_id_hashed_at_once() {
        // Identities on both sides of what a document keeps as text.
        for n in 0..200usize {
            let part: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
            let parts: [&[u8]; 3] = [b"1:community=", &part, &n.to_be_bytes()];
            let id = Id::new("sip", &parts);
            let at_once = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(identity_digest("sip", &parts).get(..15).unwrap());
            assert_eq!(id.to_string(), at_once, "{n}");
            let mut written = b"x".to_vec();
            id.write(&mut written);
            assert_eq!(written, [b"x", at_once.as_bytes()].concat());
            assert_eq!(
                matches!(id.0, IdSource::Text { .. }),
                3 + 1 + 12 + 1 + usize::from(n >= 128) + n + 1 + 8 <= ID_TEXT,
                "{n}"
            );
        }
        // The documented recipe, worked apart (Python's hashlib): the first 15 bytes of
        // SHA-1("sip" 0x01 "a" 0x02 "bc"), URL-safe base64. Ids must not change between
        // versions, or shipping again after an upgrade would duplicate documents.
        assert_eq!(Event::new("sip", "event", 0, &[b"a", b"bc"]).id.to_string(), "0jME5lj31XC22okETUtL");
    }

    /// Every object and array in a document's members, by a plain scan of the text: where
    /// each opens and closes.
    fn containers(b: &[u8]) -> Vec<Extent> {
        let (mut open, mut all) = (Vec::new(), Vec::new());
        let (mut in_str, mut esc) = (false, false);
        for (i, &c) in b.iter().enumerate() {
            if in_str {
                (in_str, esc) = match (esc, c) {
                    (true, _) => (true, false),
                    (false, b'\\') => (true, true),
                    (false, b'"') => (false, false),
                    _ => (true, false),
                };
                continue;
            }
            match c {
                b'"' => in_str = true,
                b'{' | b'[' => {
                    open.push(all.len());
                    all.push(Extent { start: i as u32, end: 0 });
                }
                b'}' | b']' => {
                    let k = open.pop().unwrap();
                    all[k].end = i as u32 + 1;
                }
                _ => {}
            }
        }
        all
    }

    #[test]
    fn extents_are_where_the_containers_are() {
        keep_extents(true);
        // A value written once and copied, as the SIP and endpoint caches do.
        let mut first = Event::new("sip", "event", 1, &[b"a"]);
        first.obj("sip");
        let from = first.here();
        let at_before = first.written_len();
        first.obj("from").str("display_info", "A \"quoted\" {name}").obj("uri").str("user", "[x]").end().end();
        let copied = first.written_since(from).to_vec();
        let at = first.written_len() - copied.len();
        assert!(at >= at_before);
        let copied_extents = first.extents_since(at);
        first.end();
        let mark = first.mark();
        first.obj("source").str("ip", "10.0.0.1").end().obj("related").arr("ip").item_str("10.0.0.1").end().end();
        let members = first.members_since(mark).to_vec();
        let member_extents = first.extents_since(mark);
        first.obj("event").consts("category", &["network"]).end();
        assert_eq!(first.extents(), Some(containers(first.finished_members().unwrap()).as_slice()));

        let mut e = Event::new("sip", "event", 2, &[b"b"]);
        e.obj("event").consts("type", &["protocol", "start"]).end();
        e.obj("sip").str("method", "INVITE");
        e.replay_with(&copied, &copied_extents);
        e.obj("to").replay_with(&copied, &copied_extents).end();
        e.arr("via").item_obj().str("branch", "z9").end().item_str("x").end();
        e.end();
        e.append_members_with(&members, &member_extents);
        let want = containers(e.finished_members().unwrap());
        assert_eq!(e.extents(), Some(want.as_slice()));
        assert_eq!(want.len(), 13);

        // Inserting into an object moves what follows it and stretches what holds it.
        assert!(e.insert_into("sip", br#""geo":{"name":"x"}"#));
        let got = e.extents().unwrap().to_vec();
        let now = containers(e.finished_members().unwrap());
        assert!(got.iter().all(|x| now.contains(x)), "{got:?} not all in {now:?}");
        assert_eq!(got.len() + 1, now.len(), "only the inserted object is not recorded");

        // Not finished, or rewritten: none offered.
        let mut open = Event::new("sip", "event", 3, &[b"c"]);
        open.obj("event").end().obj("sip");
        assert_eq!(open.extents(), None);
        e.set("sip.x", 1);
        assert_eq!(e.extents(), None);
        let mut r = first.clone();
        r.rewrite(|whole, out| {
            out.extend_from_slice(whole);
            true
        });
        assert_eq!(r.extents(), Some(&[][..]));
    }

    #[test]
    fn members_read_the_same_with_and_without_extents() {
        keep_extents(true);
        let mut e = Event::new("sip", "event", 1, &[b"a"]);
        e.obj("event").consts("category", &["network"]).end();
        e.obj("sip").str("a", "\\\"").obj("b").arr("c").item_obj().str("d", "}").end().end().end();
        e.str("long", &"x\"".repeat(40)).u64("n", 7).end();
        let body = e.finished_members().unwrap();
        let extents = e.extents().unwrap();
        let plain: Vec<_> = json::Members::new(body).map(|m| m.whole).collect();
        let fast: Vec<_> = json::Members::with_extents(body, 0, extents).map(|m| m.whole).collect();
        assert_eq!(plain, fast);
        let sip = json::object_content(json::Members::new(body).find(|m| m.key == b"sip").unwrap().value).unwrap();
        let at = sip.as_ptr() as usize - body.as_ptr() as usize;
        let plain: Vec<_> = json::Members::new(sip).map(|m| m.whole).collect();
        let fast: Vec<_> = json::Members::with_extents(sip, at, extents).map(|m| m.whole).collect();
        assert_eq!(plain, fast);
        assert_eq!(plain.len(), 4);
        // A wrong extent is not believed: the member is read through instead.
        let wrong: Vec<Extent> = extents.iter().map(|x| Extent { start: x.start, end: x.end - 1 }).collect();
        let checked: Vec<_> = json::Members::with_extents(body, 0, &wrong).map(|m| m.whole).collect();
        let plain: Vec<_> = json::Members::new(body).map(|m| m.whole).collect();
        assert_eq!(checked, plain);
    }

    /// Every member, depth first, by [`json::Members::with_quotes`] (with `extents`) or read
    /// through.
    fn members_deep<'a>(
        body: &'a [u8],
        content: &'a [u8],
        fast: Option<(&'a [Extent], &'a json::Quotes)>,
        out: &mut Vec<&'a [u8]>,
    ) {
        members_from(body, content, fast, None, out)
    }

    /// [`members_deep`]; with `seed`, the object's containers are looked for from that
    /// extent on, and those of a nested object from after the extent of its container.
    fn members_from<'a>(
        body: &'a [u8],
        content: &'a [u8],
        fast: Option<(&'a [Extent], &'a json::Quotes)>,
        seed: Option<usize>,
        out: &mut Vec<&'a [u8]>,
    ) {
        let at = content.as_ptr() as usize - body.as_ptr() as usize;
        let mut members = match fast {
            Some((x, q)) => json::Members::with_quotes(content, at, x, q).from_extent(seed.unwrap_or(0)),
            None => json::Members::new(content),
        };
        while let Some(m) = members.next() {
            out.push(m.whole);
            if let Some(inner) = json::object_content(m.value) {
                members_from(body, inner, fast, seed.map(|_| members.next_extent()), out);
            }
        }
    }

    #[test]
    fn members_find_each_container_past_those_nested_before_it() {
        keep_extents(true);
        let mut e = Event::new("sip", "event", 1, &[b"a"]);
        e.obj("event").consts("category", &["network"]).end();
        // Sibling containers with more nested in them than the few looked at one by one.
        e.obj("s1");
        for k in ["n1", "n2", "n3", "n4", "n5", "n6"] {
            e.obj(k).arr("l").item_str("\\").end().end();
        }
        e.end();
        e.obj("s2").str("k", "\"}").obj("o").end().obj("p").u64("q", 1).end().end();
        e.arr("s3").item_obj().str("r", "]").end().end();
        e.obj("s4").obj("x").end().end();
        e.u64("n", 7);
        let body = e.finished_members().unwrap();
        let extents = e.extents().unwrap();
        let quotes = {
            let mut q = json::Quotes::default();
            q.find(body);
            q
        };
        let (mut plain, mut fast) = (Vec::new(), Vec::new());
        members_deep(body, body, None, &mut plain);
        members_deep(body, body, Some((extents, &quotes)), &mut fast);
        assert_eq!(fast, plain);
        // The last container is found by its extent: one that ends early (on the bracket of
        // the object nested in it) is believed.
        let s4 = extents.iter().position(|x| body[x.start as usize..].starts_with(br#"{"x":{}}"#)).unwrap();
        let mut lying = extents.to_vec();
        lying[s4].end -= 1;
        let mut told = Vec::new();
        members_deep(body, body, Some((&lying, &quotes)), &mut told);
        fn s4_member<'a>(v: &[&'a [u8]]) -> &'a [u8] {
            v.iter().find(|m| m.starts_with(br#""s4""#)).copied().unwrap()
        }
        assert_eq!(s4_member(&told), &br#""s4":{"x":{}"#[..]);
        assert_eq!(s4_member(&plain), &br#""s4":{"x":{}}"#[..]);
        // Each nested object's containers looked for from after its own container's extent:
        // the same members.
        let mut seeded = Vec::new();
        members_from(body, body, Some((extents, &quotes)), Some(0), &mut seeded);
        assert_eq!(seeded, plain);
        // The search starts where it is told: from `s4`'s extent on (or before it) the lie
        // about it is believed; past it, `s4` is read through.
        let s4_from = |from: usize| {
            let mut out = Vec::new();
            members_from(body, body, Some((&lying, &quotes)), Some(from), &mut out);
            s4_member(&out)
        };
        assert_eq!(s4_from(s4), &br#""s4":{"x":{}"#[..]);
        assert_eq!(s4_from(0), &br#""s4":{"x":{}"#[..]);
        assert_eq!(s4_from(s4 + 1), &br#""s4":{"x":{}}"#[..]);
    }

    /// A stretch of members tagged whole grows with what is inserted into its objects, is
    /// offered only while the document is finished, and is gone once the text is rewritten.
    #[test]
    fn a_tagged_stretch_of_members_follows_insertions() {
        const ROLE: &str = crate::field::role::NO_PERSONAL_DATA;
        let mut e = Event::new("t", "event", 0, &[b"x"]);
        let at = e.mark();
        e.obj("source").str("ip", "10.0.0.1").end().obj("destination").str("ip", "10.0.0.2").end();
        e.tag_members_since(ROLE, at);
        assert_eq!(e.tag_ranges(ROLE).count(), 0, "offered before the document is finished");
        e.obj("event").end().str("message", "m");
        let stretch = |e: &Event| {
            let r: Vec<_> = e.tag_ranges(ROLE).collect();
            assert_eq!(r.len(), 1);
            String::from_utf8_lossy(&e.finished_members().unwrap()[r[0].clone()]).into_owned()
        };
        assert_eq!(stretch(&e), r#""source":{"ip":"10.0.0.1"},"destination":{"ip":"10.0.0.2"}"#);
        let members = e.finished_members().unwrap();
        let value = |key: &str| {
            let m = json::Members::new(members).find(|m| m.key == key.as_bytes()).unwrap();
            let start = m.value.as_ptr() as usize - members.as_ptr() as usize;
            start..start + m.value.len()
        };
        let (s, d) = (value("source"), value("destination"));
        assert!(e.insert_into_values(&[(s, b"\"a\":1"), (d, b"\"b\":2")]));
        assert_eq!(stretch(&e), r#""source":{"ip":"10.0.0.1","a":1},"destination":{"ip":"10.0.0.2","b":2}"#);
        e.rewrite(|doc, out| {
            out.extend_from_slice(doc);
            true
        });
        assert_eq!(e.tag_ranges(ROLE).count(), 0);
    }
}
