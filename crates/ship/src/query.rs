//! The search language of `iotw search`, a small subset of Lucene/Kibana query syntax:
//!
//! ```text
//! source.ip:10.0.0.1            exact value (case-insensitive)
//! sip.method:INV*               wildcards * and ?
//! message:"two words"           quoted: literal, spaces allowed, no wildcards
//! source.port:>=5060            numeric (or text) comparison: > >= < <=
//! flow.history:*                the field exists
//! 5060                          any field containing the text
//! a AND b, a OR b, NOT a        also && || ! and -a; a b means a AND b; parentheses group
//! ```
//!
//! A query compiles to an SQL condition over the store's `events.doc` JSON column.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Glob,
    Exists,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// `field` is `None` for a bare term (any field).
    Term {
        field: Option<String>,
        op: Op,
        value: String,
    },
    /// The empty query: everything.
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Word { text: String, quoted_at: Option<usize> },
}

/// Nesting deeper than this is refused (a query is typed by a person, not a stack bomb).
const MAX_DEPTH: usize = 32;

fn tokenize(q: &str) -> Result<Vec<Tok>, QueryError> {
    let mut toks = Vec::new();
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                toks.push(Tok::LParen);
                i += 1;
                continue;
            }
            ')' => {
                toks.push(Tok::RParen);
                i += 1;
                continue;
            }
            // At the start of a token, `!x` and `-x` negate.
            '!' | '-' if chars.get(i + 1).is_some_and(|n| !n.is_whitespace()) => {
                toks.push(Tok::Not);
                i += 1;
                continue;
            }
            _ => {}
        }
        let mut text = String::new();
        let mut quoted_at = None;
        let mut in_quote = false;
        while i < chars.len() {
            let c = chars[i];
            if in_quote {
                match c {
                    '"' => in_quote = false,
                    '\\' if i + 1 < chars.len() => {
                        i += 1;
                        text.push(chars[i]);
                    }
                    _ => text.push(c),
                }
            } else if c == '"' {
                in_quote = true;
                quoted_at.get_or_insert(text.len());
            } else if c.is_whitespace() || c == '(' || c == ')' {
                break;
            } else {
                text.push(c);
            }
            i += 1;
        }
        if in_quote {
            return Err(QueryError("unterminated quote".into()));
        }
        toks.push(match (text.as_str(), quoted_at) {
            ("AND" | "&&", None) => Tok::And,
            ("OR" | "||", None) => Tok::Or,
            ("NOT", None) => Tok::Not,
            _ => Tok::Word { text, quoted_at },
        });
    }
    Ok(toks)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

/// Parses a query. The empty string matches everything.
pub fn parse(q: &str) -> Result<Node, QueryError> {
    let toks = tokenize(q)?;
    if toks.is_empty() {
        return Ok(Node::All);
    }
    let mut p = Parser { toks, pos: 0, depth: 0 };
    let n = p.or()?;
    if p.pos < p.toks.len() {
        return Err(QueryError(format!("unexpected {:?} at token {}", p.toks[p.pos], p.pos + 1)));
    }
    Ok(n)
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn or(&mut self) -> Result<Node, QueryError> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Node::Or(parts) })
    }

    fn and(&mut self) -> Result<Node, QueryError> {
        let mut parts = vec![self.not()?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    parts.push(self.not()?);
                }
                Some(Tok::Word { .. } | Tok::Not | Tok::LParen) => parts.push(self.not()?),
                _ => break,
            }
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Node::And(parts) })
    }

    fn not(&mut self) -> Result<Node, QueryError> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(QueryError("query nests too deeply".into()));
            }
            let n = self.not()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(n)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Node, QueryError> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(QueryError("query nests too deeply".into()));
                }
                let n = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(QueryError("missing closing parenthesis".into()));
                }
                self.pos += 1;
                Ok(n)
            }
            Some(Tok::Word { text, quoted_at }) => {
                self.pos += 1;
                term(&text, quoted_at)
            }
            Some(t) => Err(QueryError(format!("expected a term, found {t:?}"))),
            None => Err(QueryError("query ends where a term was expected".into())),
        }
    }
}

fn term(text: &str, quoted_at: Option<usize>) -> Result<Node, QueryError> {
    // The field ends at the first ':' before any quote.
    let colon = text.find(':').filter(|&c| quoted_at.is_none_or(|q| c < q));
    let (field, value, value_quoted) = match colon {
        Some(c) if c > 0 => (Some(&text[..c]), &text[c + 1..], quoted_at.is_some_and(|q| q > c)),
        _ => (None, text, quoted_at.is_some()),
    };
    if let Some(f) = field {
        if !f.chars().all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c)) {
            return Err(QueryError(format!("`{f}` is not a field name")));
        }
    }
    if value.is_empty() && !value_quoted {
        return Err(QueryError(format!("`{text}` has no value after the colon")));
    }
    let field = field.map(str::to_owned);
    let (op, value) = if value_quoted {
        (Op::Eq, value.to_owned())
    } else if value == "*" && field.is_some() {
        (Op::Exists, String::new())
    } else if let Some(v) = value.strip_prefix(">=") {
        (Op::Ge, v.to_owned())
    } else if let Some(v) = value.strip_prefix("<=") {
        (Op::Le, v.to_owned())
    } else if let Some(v) = value.strip_prefix('>') {
        (Op::Gt, v.to_owned())
    } else if let Some(v) = value.strip_prefix('<') {
        (Op::Lt, v.to_owned())
    } else if value.contains(['*', '?']) {
        (Op::Glob, value.to_owned())
    } else {
        (Op::Eq, value.to_owned())
    };
    Ok(Node::Term { field, op, value })
}

/// An SQL parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Real(f64),
}

/// The SQL text of one leaf value of `json_tree`, booleans as `true`/`false`.
const LEAF: &str = "(CASE type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(atom AS TEXT) END)";

/// Compiles `node` to an SQL condition over `events.doc`, pushing its parameters.
pub fn to_sql(node: &Node, params: &mut Vec<Param>) -> String {
    match node {
        Node::All => "1".into(),
        Node::And(v) => format!("({})", v.iter().map(|n| to_sql(n, params)).collect::<Vec<_>>().join(" AND ")),
        Node::Or(v) => format!("({})", v.iter().map(|n| to_sql(n, params)).collect::<Vec<_>>().join(" OR ")),
        Node::Not(n) => format!("(NOT {})", to_sql(n, params)),
        Node::Term { field, op, value } => {
            let from = match field {
                Some(f) => {
                    params.push(Param::Text(json_path(f)));
                    "json_tree(events.doc, ?)"
                }
                None => "json_tree(events.doc)",
            };
            let cond = match op {
                Op::Exists => "type != 'null'".to_owned(),
                Op::Eq if field.is_some() => {
                    params.push(Param::Text(value.to_lowercase()));
                    format!("lower({LEAF}) = ?")
                }
                Op::Eq | Op::Glob => {
                    let mut pat = glob_escape(&value.to_lowercase(), *op == Op::Glob);
                    if field.is_none() && *op == Op::Eq {
                        pat = format!("*{pat}*");
                    }
                    params.push(Param::Text(pat));
                    format!("lower({LEAF}) GLOB ?")
                }
                Op::Gt | Op::Ge | Op::Lt | Op::Le => {
                    let sym = match op {
                        Op::Gt => ">",
                        Op::Ge => ">=",
                        Op::Lt => "<",
                        _ => "<=",
                    };
                    match value.parse::<f64>() {
                        Ok(n) => {
                            params.push(Param::Real(n));
                            format!("type IN ('integer','real') AND atom {sym} ?")
                        }
                        Err(_) => {
                            params.push(Param::Text(value.clone()));
                            format!("type = 'text' AND atom {sym} ?")
                        }
                    }
                }
            };
            format!("EXISTS (SELECT 1 FROM {from} WHERE type NOT IN ('object','array') AND {cond})")
        }
    }
}

/// `source.ip` -> `$."source"."ip"`.
fn json_path(field: &str) -> String {
    let mut p = String::from("$");
    for part in field.split('.') {
        p.push_str(".\"");
        p.push_str(part);
        p.push('"');
    }
    p
}

/// Escapes GLOB's `[` (and `*`/`?` unless they are the user's wildcards).
fn glob_escape(s: &str, keep_wildcards: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '[' => out.push_str("[[]"),
            '*' | '?' if !keep_wildcards => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(f: &str, op: Op, v: &str) -> Node {
        Node::Term { field: Some(f.into()), op, value: v.into() }
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let n = parse("a:1 b:2 OR NOT c:3").unwrap();
        assert_eq!(
            n,
            Node::Or(vec![
                Node::And(vec![t("a", Op::Eq, "1"), t("b", Op::Eq, "2")]),
                Node::Not(Box::new(t("c", Op::Eq, "3")))
            ])
        );
    }

    #[test]
    fn quotes_wildcards_ranges_and_exists() {
        assert_eq!(parse(r#"message:"a b*""#).unwrap(), t("message", Op::Eq, "a b*"));
        assert_eq!(parse("sip.method:INV*").unwrap(), t("sip.method", Op::Glob, "INV*"));
        assert_eq!(parse("source.port:>=5060").unwrap(), t("source.port", Op::Ge, "5060"));
        assert_eq!(parse("flow.history:*").unwrap(), t("flow.history", Op::Exists, ""));
        assert_eq!(parse("source.ip:::1").unwrap(), t("source.ip", Op::Eq, "::1"));
        assert_eq!(parse("-a:1").unwrap(), Node::Not(Box::new(t("a", Op::Eq, "1"))));
        assert_eq!(parse("(a:1 || b:2) && !c:3").unwrap(), parse("(a:1 OR b:2) AND NOT c:3").unwrap());
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse("(a:1").unwrap_err().0.contains("parenthesis"));
        assert!(parse("a:\"x").unwrap_err().0.contains("quote"));
        assert!(parse("a b OR").is_err());
        assert!(parse("bad field!:1").is_err());
        assert!(parse(&"(".repeat(100)).is_err());
    }
}
