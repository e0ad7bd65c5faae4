//! Lucene query syntax, the subset rule filters use in `query_string`: `field:value`,
//! `field:"a phrase"`, `field:val*` (wildcards), `field:[a TO b]` and `{a TO b}`,
//! `field:>=5`, `field:(a OR b)`, bare words and phrases (searched in every text value),
//! `_exists_:field`, AND/OR/NOT (also `&&`, `||`, `!`), `+`/`-` prefixes and parentheses.
//! Words joined without an operator follow `default_operator` (OR unless the rule says AND).

use crate::filter::{words, Cmp, FilterError, Query, MAX_DEPTH};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    And,
    Or,
    Not,
    Plus,
    Minus,
    /// A word, with the field prefix still attached (`sip.code:>=500`).
    Word(String),
    Phrase(String),
    /// `[a TO b]` or `{a TO b}`: (low, high, low inclusive, high inclusive).
    Range(String, String, bool, bool),
    /// `field:` followed by something that is not a plain word (a phrase, range or group).
    Field(String),
}

fn err(m: impl Into<String>) -> FilterError {
    FilterError::QueryString(m.into())
}

fn lex(q: &str) -> Result<Vec<Tok>, FilterError> {
    let b: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            '+' => {
                out.push(Tok::Plus);
                i += 1;
            }
            '-' | '!' => {
                out.push(if c == '-' { Tok::Minus } else { Tok::Not });
                i += 1;
            }
            '&' | '|' if b.get(i + 1) == Some(&c) => {
                out.push(if c == '&' { Tok::And } else { Tok::Or });
                i += 2;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                while i < b.len() && b[i] != '"' {
                    if b[i] == '\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    s.push(b[i]);
                    i += 1;
                }
                if i >= b.len() {
                    return Err(err("unclosed quote"));
                }
                i += 1;
                out.push(Tok::Phrase(s));
            }
            '[' | '{' => {
                let end = b[i..]
                    .iter()
                    .position(|&x| x == ']' || x == '}')
                    .map(|p| p + i)
                    .ok_or_else(|| err("unclosed range"))?;
                let inner: String = b[i + 1..end].iter().collect();
                let (lo, hi) = inner.split_once(" TO ").ok_or_else(|| err("a range is [low TO high]"))?;
                let strip = |s: &str| s.trim().trim_matches('"').to_string();
                out.push(Tok::Range(strip(lo), strip(hi), c == '[', b[end] == ']'));
                i = end + 1;
            }
            _ => {
                let mut s = String::new();
                while i < b.len() && !matches!(b[i], ' ' | '\t' | '\n' | '\r' | '(' | ')' | '"' | '[' | '{') {
                    if b[i] == '\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    s.push(b[i]);
                    i += 1;
                    if s.ends_with(':') && !s.ends_with("\\:") && i < b.len() && matches!(b[i], '(' | '"' | '[' | '{') {
                        break;
                    }
                }
                match s.as_str() {
                    "AND" => out.push(Tok::And),
                    "OR" => out.push(Tok::Or),
                    "NOT" => out.push(Tok::Not),
                    _ if s.ends_with(':') => out.push(Tok::Field(s.trim_end_matches(':').to_string())),
                    _ => out.push(Tok::Word(s)),
                }
            }
        }
        if out.len() > 4096 {
            return Err(err("too many terms"));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
    and_default: bool,
}

/// Parses a query string into a query.
pub fn parse(q: &str, and_default: bool) -> Result<Query, FilterError> {
    let mut p = Parser { toks: lex(q)?, at: 0, and_default };
    if p.toks.is_empty() {
        return Ok(Query::All);
    }
    let query = p.or(0, None)?;
    if p.at != p.toks.len() {
        return Err(err(format!("unexpected {:?}", p.toks[p.at])));
    }
    Ok(query)
}

fn any(qs: Vec<Query>) -> Query {
    Query::Bool { must: Vec::new(), should: qs, must_not: Vec::new(), min_should: 1 }
}
fn not(q: Query) -> Query {
    Query::Bool { must: vec![Query::All], should: Vec::new(), must_not: vec![q], min_should: 0 }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    /// Clauses joined by OR (or by nothing, under the OR default).
    fn or(&mut self, depth: usize, field: Option<&str>) -> Result<Query, FilterError> {
        if depth > MAX_DEPTH {
            return Err(FilterError::TooDeep);
        }
        // Lucene's rule: `+x` is required, `-x` is excluded, the rest are optional (at least
        // one must hold when nothing is required); AND makes both sides required.
        let (mut must, mut should, mut must_not) = (Vec::new(), Vec::new(), Vec::new());
        let mut pending_and = false;
        loop {
            match self.peek() {
                None | Some(Tok::Close) => break,
                Some(Tok::Or) => {
                    self.at += 1;
                    continue;
                }
                Some(Tok::And) => {
                    self.at += 1;
                    // The clause before AND is required too.
                    if let Some(q) = should.pop() {
                        must.push(q);
                    }
                    pending_and = true;
                    continue;
                }
                _ => {}
            }
            let (sign, q) = self.unary(depth, field)?;
            let and_next = matches!(self.peek(), Some(Tok::And));
            match sign {
                Some(true) => must.push(q),
                Some(false) => must_not.push(q),
                None if pending_and || and_next || self.and_default => must.push(q),
                None => should.push(q),
            }
            pending_and = false;
        }
        if must.is_empty() && must_not.is_empty() && should.len() == 1 {
            return Ok(should.pop().unwrap_or(Query::All));
        }
        let min_should = usize::from(must.is_empty() && !should.is_empty());
        if must.is_empty() && should.is_empty() {
            must.push(Query::All);
        }
        Ok(Query::Bool { must, should, must_not, min_should })
    }

    /// One clause with its sign: `Some(true)` required, `Some(false)` excluded.
    fn unary(&mut self, depth: usize, field: Option<&str>) -> Result<(Option<bool>, Query), FilterError> {
        match self.peek() {
            Some(Tok::Plus) => {
                self.at += 1;
                Ok((Some(true), self.primary(depth, field)?))
            }
            Some(Tok::Minus) => {
                self.at += 1;
                Ok((Some(false), self.primary(depth, field)?))
            }
            Some(Tok::Not) => {
                self.at += 1;
                let (_, q) = self.unary(depth + 1, field)?;
                Ok((Some(true), not(q)))
            }
            _ => Ok((None, self.primary(depth, field)?)),
        }
    }

    fn primary(&mut self, depth: usize, field: Option<&str>) -> Result<Query, FilterError> {
        let tok = self.toks.get(self.at).cloned().ok_or_else(|| err("a query ends too soon"))?;
        self.at += 1;
        Ok(match tok {
            Tok::Open => {
                let q = self.or(depth + 1, field)?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(err("unclosed parenthesis"));
                }
                self.at += 1;
                q
            }
            Tok::Field(f) => self.primary(depth + 1, Some(&f))?,
            Tok::Phrase(p) => match field {
                Some(f) => Query::Phrase { field: f.into(), words: words(&p) },
                None => Query::Anywhere { words: words(&p), pattern: None },
            },
            Tok::Range(lo, hi, lo_in, hi_in) => {
                let f = field.ok_or_else(|| err("a range needs a field"))?;
                let mut bounds = Vec::new();
                if lo != "*" {
                    bounds.push((if lo_in { Cmp::Gte } else { Cmp::Gt }, lo));
                }
                if hi != "*" {
                    bounds.push((if hi_in { Cmp::Lte } else { Cmp::Lt }, hi));
                }
                Query::Range { field: f.into(), bounds }
            }
            Tok::Word(w) => {
                // `field:value` written as one word.
                let (f, v) = match (field, split_field(&w)) {
                    (Some(f), _) => (Some(f.to_string()), w),
                    (None, Some((f, v))) => (Some(f), v),
                    (None, None) => (None, w),
                };
                leaf(f, v)?
            }
            Tok::Close | Tok::And | Tok::Or | Tok::Not | Tok::Plus | Tok::Minus => {
                return Err(err(format!("unexpected {tok:?}")));
            }
        })
    }
}

/// `a.b:value` → (`a.b`, `value`); a colon escaped with `\` is part of the text.
fn split_field(w: &str) -> Option<(String, String)> {
    let at = w.find(':')?;
    let (f, v) = (&w[..at], &w[at + 1..]);
    (!f.is_empty()).then(|| (f.to_string(), v.to_string()))
}

fn leaf(field: Option<String>, v: String) -> Result<Query, FilterError> {
    if v.is_empty() {
        return Err(err("a field without a value"));
    }
    let Some(f) = field else {
        let wild = v.contains(['*', '?']);
        return Ok(Query::Anywhere {
            words: if wild { Vec::new() } else { words(&v) },
            pattern: wild.then(|| v.to_lowercase()),
        });
    };
    if f == "_exists_" {
        return Ok(Query::Exists { field: v.into() });
    }
    for (prefix, cmp) in [(">=", Cmp::Gte), ("<=", Cmp::Lte), (">", Cmp::Gt), ("<", Cmp::Lt)] {
        if let Some(x) = v.strip_prefix(prefix) {
            return Ok(Query::Range { field: f.into(), bounds: vec![(cmp, x.to_string())] });
        }
    }
    if v == "*" {
        return Ok(Query::Exists { field: f.into() });
    }
    if v.contains(['*', '?']) {
        return Ok(Query::Wildcard { field: f.into(), pattern: v, fold: false });
    }
    // On a keyword field a value is matched whole; on text, by its words. Either holds.
    Ok(any(vec![
        Query::Term { field: f.as_str().into(), values: vec![v.clone()] },
        Query::Phrase { field: f.into(), words: words(&v) },
    ]))
}
