//! Per-flow HTTP/1.x state: each direction's framing (head, then a body by length, by chunks,
//! or until the connection closes), requests waiting for their responses in order
//! (pipelining), and one transaction document once a response is complete.

use super::event::{transaction_document, Message};
use super::parser::{self, Framing, Parsed, StartLine};
use super::HttpOptions;
use crate::{Anomaly, Ctx, DecodeLimits, Decoder, Progress, Resync};
use iotw_flow::Dir;
use std::collections::VecDeque;
use std::sync::Arc;

/// Where a direction is in its current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Body {
    /// Waiting for (or reading) a head.
    #[default]
    Head,
    Length(u64),
    /// Chunked: a chunk-size line next.
    ChunkSize,
    /// Chunked: this many data bytes of the chunk left, then its line end.
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    UntilClose,
}

#[derive(Debug, Default)]
struct Side {
    body: Body,
    /// When the first byte of the head being read arrived.
    started: Option<iotw_event::Nanos>,
    /// The request whose body is being read (its `seq`), on the requesting side.
    feeding: Option<u64>,
    /// The response whose body is being read, on the answering side.
    response: Option<Message>,
}

/// Open requests per flow are capped by `max_transactions`; past it the oldest is reported
/// unanswered.
pub struct HttpDecoder {
    limits: DecodeLimits,
    opts: Arc<HttpOptions>,
    sides: [Side; 2],
    /// Requests (head read, body perhaps still coming) waiting for their responses, in order.
    pending: VecDeque<Message>,
    /// The request the response being read answers.
    answering: Option<Message>,
    /// Messages seen, for `seq`.
    seq: u64,
    /// The connection switched protocols (101, CONNECT): nothing more is parsed.
    tunnel: bool,
}

impl std::fmt::Debug for HttpDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpDecoder").field("pending", &self.pending.len()).field("seq", &self.seq).finish()
    }
}

impl HttpDecoder {
    pub fn new(limits: DecodeLimits, opts: Arc<HttpOptions>) -> Self {
        HttpDecoder {
            limits,
            opts,
            sides: Default::default(),
            pending: VecDeque::new(),
            answering: None,
            seq: 0,
            tunnel: false,
        }
    }

    fn max_head(&self) -> usize {
        self.opts.max_head.min(self.limits.max_message).max(64)
    }

    /// A head was read in `ctx.dir`: starts its message.
    fn on_head(&mut self, ctx: &mut Ctx<'_>, head: &parser::Head<'_>) -> Result<(), Anomaly> {
        let dir = ctx.dir;
        let started = self.sides[dir.index()].started.take().unwrap_or(ctx.ts);
        if head.dropped_headers > 0 {
            ctx.anomaly(&Anomaly::new("http_header_limit", format!("{} fields past the limit", head.dropped_headers)));
        }
        self.seq += 1;
        let method = match head.start {
            StartLine::Request { .. } => None,
            StartLine::Response { .. } => self.pending.front().and_then(|r| r.method()),
        };
        let framing = parser::framing(head, method)?;
        let msg = Message::of(head, self.seq, started, ctx.ts, dir, &self.opts, self.limits.max_decompressed);
        match head.start {
            StartLine::Request { .. } => {
                if self.pending.len() >= self.limits.max_transactions {
                    ctx.anomaly(&Anomaly::new(
                        "http_transaction_limit",
                        format!("more than {} requests waiting for responses", self.limits.max_transactions),
                    ));
                    if let Some(oldest) = self.pending.pop_front() {
                        emit(ctx, &self.opts, Some(oldest), None);
                    }
                }
                let seq = msg.seq;
                self.pending.push_back(msg);
                let side = &mut self.sides[dir.index()];
                side.feeding = Some(seq);
                side.body = body_state(framing);
                if framing == Framing::Tunnel {
                    self.tunnel = true;
                }
            }
            StartLine::Response { code, .. } => {
                if (100..200).contains(&code) && code != 101 {
                    // Interim: noted on the request it answers; the final response follows.
                    if let Some(req) = self.pending.front_mut() {
                        req.interim.push(code);
                    }
                    return Ok(());
                }
                self.answering = self.pending.pop_front();
                if framing == Framing::Tunnel {
                    self.tunnel = true;
                }
                let side = &mut self.sides[dir.index()];
                side.body = body_state(framing);
                side.response = Some(msg);
                if side.body == Body::Head {
                    self.response_done(ctx, dir);
                }
            }
        }
        Ok(())
    }

    /// Body bytes of the message being read in `dir`.
    fn body_bytes(&mut self, dir: Dir, ts: iotw_event::Nanos, bytes: &[u8]) {
        let side = &mut self.sides[dir.index()];
        let target = match (side.response.as_mut(), side.feeding) {
            (Some(r), _) => Some(r),
            (None, Some(seq)) => self.pending.iter_mut().rev().chain(self.answering.as_mut()).find(|m| m.seq == seq),
            (None, None) => None,
        };
        if let Some(m) = target {
            m.add_body(bytes, ts);
        }
    }

    /// The body being read in `dir` is complete: a response makes its transaction's document.
    fn body_done(&mut self, ctx: &mut Ctx<'_>, dir: Dir) {
        let side = &mut self.sides[dir.index()];
        side.body = Body::Head;
        side.feeding = None;
        if side.response.is_some() {
            self.response_done(ctx, dir);
        }
    }

    fn response_done(&mut self, ctx: &mut Ctx<'_>, dir: Dir) {
        let side = &mut self.sides[dir.index()];
        if side.body != Body::UntilClose {
            side.body = Body::Head;
        }
        let resp = side.response.take();
        let req = self.answering.take();
        if let Some(r) = &req {
            // A request still sending its body when answered: the rest is not its any more.
            let other = &mut self.sides[r.dir.index()];
            if other.feeding == Some(r.seq) {
                other.feeding = None;
            }
        }
        emit(ctx, &self.opts, req, resp);
    }

    /// Reads whatever `input` holds in `ctx.dir`: heads and bodies, several messages.
    fn run(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> Progress {
        let di = ctx.dir.index();
        let mut at = 0;
        while at < input.len() {
            if self.tunnel {
                return Progress::Done;
            }
            let rest = &input[at..];
            match self.sides[di].body {
                Body::Head => {
                    // Line ends between messages are tolerated (RFC 9112 §2.2).
                    if matches!(rest[0], b'\r' | b'\n') {
                        at += 1;
                        continue;
                    }
                    if self.sides[di].started.is_none() {
                        self.sides[di].started = Some(ctx.ts);
                    }
                    match parser::parse_head(rest, self.max_head(), self.limits.max_headers) {
                        Ok(Parsed::Head(h)) => {
                            if let Err(a) = self.on_head(ctx, &h) {
                                if at > 0 {
                                    // Report it on the next call, for these bytes alone.
                                    self.sides[di].started = None;
                                    return Progress::NeedMore { consumed: at, needed: rest.len() + 1 };
                                }
                                self.sides[di] = Side::default();
                                return Progress::Invalid(a);
                            }
                            at += h.len;
                        }
                        Ok(Parsed::Incomplete) => {
                            return Progress::NeedMore { consumed: at, needed: rest.len() + 1 };
                        }
                        Err(e) => {
                            if at > 0 {
                                return Progress::NeedMore { consumed: at, needed: rest.len() + 1 };
                            }
                            self.sides[di] = Side::default();
                            return Progress::Invalid(e);
                        }
                    }
                }
                Body::Length(left) => {
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.body_bytes(ctx.dir, ctx.ts, &rest[..take]);
                    at += take;
                    let left = left - take as u64;
                    if left == 0 {
                        self.body_done(ctx, ctx.dir);
                    } else {
                        self.sides[di].body = Body::Length(left);
                    }
                }
                Body::ChunkSize => match parser::chunk_size(rest) {
                    Ok(Some((0, len))) => {
                        at += len;
                        self.sides[di].body = Body::Trailers;
                    }
                    Ok(Some((size, len))) => {
                        at += len;
                        self.sides[di].body = Body::ChunkData(size);
                    }
                    Ok(None) => return Progress::NeedMore { consumed: at, needed: rest.len() + 1 },
                    Err(e) => return self.bad_body(ctx, at, rest.len(), e),
                },
                Body::ChunkData(left) => {
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.body_bytes(ctx.dir, ctx.ts, &rest[..take]);
                    at += take;
                    let left = left - take as u64;
                    self.sides[di].body = if left == 0 { Body::ChunkEnd } else { Body::ChunkData(left) };
                }
                Body::ChunkEnd => match rest {
                    [b'\n', ..] => {
                        at += 1;
                        self.sides[di].body = Body::ChunkSize;
                    }
                    [b'\r', b'\n', ..] => {
                        at += 2;
                        self.sides[di].body = Body::ChunkSize;
                    }
                    [b'\r'] => return Progress::NeedMore { consumed: at, needed: 2 },
                    _ => {
                        let a = Anomaly::new("http_bad_chunk", "chunk data not followed by CRLF");
                        return self.bad_body(ctx, at, rest.len(), a);
                    }
                },
                Body::Trailers => match parser::trailer_end(&rest[..rest.len().min(self.max_head())]) {
                    Some(len) => {
                        at += len;
                        self.body_done(ctx, ctx.dir);
                    }
                    None if rest.len() >= self.max_head() => {
                        let a = Anomaly::new("http_bad_chunk", "trailer section too large");
                        return self.bad_body(ctx, at, rest.len(), a);
                    }
                    None => return Progress::NeedMore { consumed: at, needed: rest.len() + 1 },
                },
                Body::UntilClose => {
                    self.body_bytes(ctx.dir, ctx.ts, rest);
                    at = input.len();
                }
            }
        }
        Progress::Done
    }

    /// A body that breaks its framing: the message ends here (marked incomplete) and the
    /// direction looks for the next head.
    fn bad_body(&mut self, ctx: &mut Ctx<'_>, at: usize, rest: usize, a: Anomaly) -> Progress {
        if at > 0 {
            // Report it on the next call, for these bytes alone.
            return Progress::NeedMore { consumed: at, needed: rest + 1 };
        }
        let dir = ctx.dir;
        self.mark_incomplete(dir);
        self.body_done(ctx, dir);
        Progress::Invalid(a)
    }

    fn mark_incomplete(&mut self, dir: Dir) {
        let side = &mut self.sides[dir.index()];
        if let Some(r) = side.response.as_mut() {
            r.incomplete = true;
        } else if let Some(seq) = side.feeding {
            if let Some(m) = self.pending.iter_mut().chain(self.answering.as_mut()).find(|m| m.seq == seq) {
                m.incomplete = true;
            }
        }
    }
}

fn body_state(f: Framing) -> Body {
    match f {
        Framing::None | Framing::Tunnel => Body::Head,
        Framing::Length(n) => Body::Length(n),
        Framing::Chunked => Body::ChunkSize,
        Framing::UntilClose => Body::UntilClose,
    }
}

fn emit(ctx: &mut Ctx<'_>, opts: &HttpOptions, req: Option<Message>, resp: Option<Message>) {
    let doc = transaction_document(ctx, opts, req, resp);
    ctx.emit(doc);
}

impl Decoder for HttpDecoder {
    fn parse(&mut self, ctx: &mut Ctx<'_>, input: &[u8]) -> Progress {
        self.run(ctx, input)
    }

    fn gap(&mut self, ctx: &mut Ctx<'_>, len: u64) {
        let di = ctx.dir.index();
        match self.sides[di].body {
            // Bytes lost inside a body of known length: the framing still holds.
            Body::Length(left) if len < left => {
                self.sides[di].body = Body::Length(left - len);
                self.mark_incomplete(ctx.dir);
            }
            Body::UntilClose => self.mark_incomplete(ctx.dir),
            Body::Head => self.sides[di].started = None,
            _ => {
                // Framing lost: the message ends here and the next head is looked for.
                let dir = ctx.dir;
                self.mark_incomplete(dir);
                self.body_done(ctx, dir);
            }
        }
    }

    fn resync(&self, dir: Dir, input: &[u8], from: Resync) -> Option<usize> {
        if self.tunnel || matches!(self.sides[dir.index()].body, Body::Length(_) | Body::UntilClose) {
            return Some(0);
        }
        // The next line that starts a request or a status line (after bytes found invalid,
        // not the rest of their own line).
        let mut i = 0;
        if from == Resync::InsideInvalid {
            i = memchr::memchr(b'\n', input)? + 1;
        }
        while i < input.len() {
            if parser::looks_like_http(&input[i..]) == Some(true) {
                return Some(i);
            }
            i += memchr::memchr(b'\n', &input[i..])? + 1;
        }
        None
    }

    fn finish(&mut self, ctx: &mut Ctx<'_>) {
        for dir in [Dir::Orig, Dir::Resp] {
            let side = &mut self.sides[dir.index()];
            if side.response.is_some() {
                if side.body != Body::UntilClose {
                    if let Some(r) = side.response.as_mut() {
                        r.incomplete = true;
                    }
                }
                self.response_done(ctx, dir);
            }
        }
        if let Some(req) = self.answering.take() {
            emit(ctx, &self.opts, Some(req), None);
        }
        while let Some(req) = self.pending.pop_front() {
            emit(ctx, &self.opts, Some(req), None);
        }
    }
}
