//! Where alerts go besides the alert documents: ElastAlert 2's alerters `post` (an HTTP
//! webhook), `slack`, `ms_teams`, `email` (SMTP) and `command`, plus `debug` (standard error),
//! configured with ElastAlert 2's option names in the rule file (docs/fireman.md).
//!
//! Delivery runs on a thread of its own behind a bounded queue ([`Dispatcher`]), so a slow
//! webhook never holds up the stream: when the queue is full an alert is counted as dropped
//! (it is still a document). HTTP deliveries are retried on transport errors, 429 and 5xx;
//! every outcome is counted per alerter.

use crate::engine::{Alert, State};
use crate::rule::{OneOrMany, RuleError, RuleFile};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Alerts waiting for delivery, at most; more are dropped (and counted).
pub const QUEUE: usize = 1024;
/// Tries of one HTTP delivery (the first and the retries).
pub const HTTP_TRIES: u32 = 3;
/// Longest body sent by a webhook, and longest text read back.
pub const MAX_BODY: usize = 1 << 20;
/// Longest `smtp_auth_file`.
const MAX_AUTH_FILE: u64 = 64 * 1024;

/// One alerter of a rule, its options checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Alerter {
    Post(Post),
    Slack(Slack),
    Teams(Teams),
    Email(Email),
    Command(Command),
    Debug,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    pub urls: Vec<String>,
    /// Name in the body -> field of the alert document.
    pub payload: BTreeMap<String, String>,
    pub static_payload: Map<String, Value>,
    /// Whether the whole alert document is sent (ElastAlert: the whole match).
    pub all_values: bool,
    pub headers: BTreeMap<String, String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Slack {
    pub urls: Vec<String>,
    pub username: String,
    pub channel: Option<String>,
    pub emoji: String,
    pub icon_url: Option<String>,
    /// The colour of a firing alert (a resolved one is `good`).
    pub color: String,
    pub title_link: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Teams {
    pub urls: Vec<String>,
    pub summary: String,
    pub theme_color: Option<String>,
    pub fixed_width: bool,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub from: String,
    pub reply_to: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// TLS from the first byte (`smtp_ssl`); otherwise STARTTLS when the server offers it.
    pub ssl: bool,
    /// (user, password) from `smtp_auth_file`.
    pub auth: Option<(String, String)>,
    /// Certificates to trust besides the system's (`smtp_ca_certs`).
    pub ca_certs: Option<PathBuf>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// argv; a single string is run by the shell, as ElastAlert does.
    pub argv: Vec<String>,
    pub shell: bool,
    pub pipe_match_json: bool,
    pub pipe_alert_text: bool,
    pub fail_on_non_zero_exit: bool,
}

impl Alerter {
    pub fn name(&self) -> &'static str {
        match self {
            Alerter::Post(_) => "post",
            Alerter::Slack(_) => "slack",
            Alerter::Teams(_) => "ms_teams",
            Alerter::Email(_) => "email",
            Alerter::Command(_) => "command",
            Alerter::Debug => "debug",
        }
    }
}

fn seconds(v: Option<f64>, default: u64) -> Duration {
    v.filter(|s| s.is_finite() && *s > 0.0).map_or(Duration::from_secs(default), Duration::from_secs_f64)
}

/// The values of a one-or-several option (URLs, addresses); none when it is absent.
fn list(v: &Option<OneOrMany>) -> Vec<String> {
    v.as_ref().map(OneOrMany::fields).unwrap_or_default()
}

/// The alerters a rule file asks for (`alert:`), checked: an unknown name, a missing or
/// malformed option is an error naming the key.
pub fn from_file(f: &RuleFile, path: &Path) -> Result<Vec<Alerter>, RuleError> {
    let invalid = |key: &'static str, message: String| RuleError::Invalid { path: path.into(), key, message };
    let check_urls = |key: &'static str, list: &[String]| -> Result<(), RuleError> {
        if list.is_empty() {
            return Err(invalid(key, "required by this alerter".into()));
        }
        match list.iter().find(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
            Some(u) => Err(invalid(key, format!("{u:?} is not an http:// or https:// URL"))),
            None => Ok(()),
        }
    };
    let mut out = Vec::new();
    for name in f.alert.as_ref().map(OneOrMany::fields).unwrap_or_default() {
        let a = match name.as_str() {
            "post" => {
                let urls = list(&f.http_post_url);
                check_urls("http_post_url", &urls)?;
                Alerter::Post(Post {
                    urls,
                    payload: f.http_post_payload.clone().unwrap_or_default(),
                    static_payload: f.http_post_static_payload.clone().unwrap_or_default(),
                    all_values: f.http_post_all_values.unwrap_or(f.http_post_payload.is_none()),
                    headers: f.http_post_headers.clone().unwrap_or_default(),
                    timeout: seconds(f.http_post_timeout, 10),
                })
            }
            "slack" => {
                let urls = list(&f.slack_webhook_url);
                check_urls("slack_webhook_url", &urls)?;
                Alerter::Slack(Slack {
                    urls,
                    username: f.slack_username_override.clone().unwrap_or_else(|| "elastalert".into()),
                    channel: f.slack_channel_override.clone(),
                    emoji: f.slack_emoji_override.clone().unwrap_or_else(|| ":ghost:".into()),
                    icon_url: f.slack_icon_url_override.clone(),
                    color: f.slack_msg_color.clone().unwrap_or_else(|| "danger".into()),
                    title_link: f.slack_title_link.clone(),
                    timeout: seconds(f.slack_timeout, 10),
                })
            }
            "ms_teams" => {
                let urls = list(&f.ms_teams_webhook_url);
                check_urls("ms_teams_webhook_url", &urls)?;
                Alerter::Teams(Teams {
                    urls,
                    summary: f.ms_teams_alert_summary.clone().unwrap_or_else(|| "ElastAlert Message".into()),
                    theme_color: f.ms_teams_theme_color.clone(),
                    fixed_width: f.ms_teams_alert_fixed_width.unwrap_or(false),
                    timeout: seconds(f.ms_teams_timeout, 10),
                })
            }
            "email" => {
                let to = list(&f.email);
                if to.is_empty() {
                    return Err(invalid("email", "required by the email alerter: one address or a list".into()));
                }
                let auth = match &f.smtp_auth_file {
                    Some(p) => Some(auth_file(&crate::rule::beside(path, p), path)?),
                    None => None,
                };
                let ca_certs = f.smtp_ca_certs.as_ref().map(|p| crate::rule::beside(path, p));
                Alerter::Email(Email {
                    to,
                    cc: list(&f.cc),
                    bcc: list(&f.bcc),
                    from: f.from_addr.clone().unwrap_or_else(|| "ElastAlert".into()),
                    reply_to: f.email_reply_to.clone(),
                    host: f.smtp_host.clone().unwrap_or_else(|| "localhost".into()),
                    port: f.smtp_port,
                    ssl: f.smtp_ssl.unwrap_or(false),
                    auth,
                    ca_certs,
                    timeout: seconds(f.smtp_timeout, 30),
                })
            }
            "command" => {
                let (argv, shell) = match &f.command {
                    Some(OneOrMany::One(s)) => (vec![s.clone()], true),
                    Some(OneOrMany::Many(v)) => (v.clone(), false),
                    None => (Vec::new(), false),
                };
                if argv.is_empty() || argv[0].is_empty() {
                    return Err(invalid("command", "required by the command alerter: argv as a list".into()));
                }
                Alerter::Command(Command {
                    argv,
                    shell,
                    pipe_match_json: f.pipe_match_json.unwrap_or(false),
                    pipe_alert_text: f.pipe_alert_text.unwrap_or(false),
                    fail_on_non_zero_exit: f.fail_on_non_zero_exit.unwrap_or(false),
                })
            }
            "debug" => Alerter::Debug,
            other => {
                return Err(invalid(
                    "alert",
                    format!("unknown alerter {other:?} (known: post, slack, ms_teams, email, command, debug)"),
                ))
            }
        };
        out.push(a);
    }
    Ok(out)
}

/// `smtp_auth_file`: YAML with `user` and `password`, as ElastAlert reads it.
fn auth_file(file: &Path, rule: &Path) -> Result<(String, String), RuleError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Auth {
        user: String,
        password: String,
    }
    let text = crate::rule::read_capped(file, MAX_AUTH_FILE).map_err(|e| RuleError::Invalid {
        path: rule.into(),
        key: "smtp_auth_file",
        message: e.to_string(),
    })?;
    let a: Auth = serde_norway::from_str(&text).map_err(|e| RuleError::Invalid {
        path: rule.into(),
        key: "smtp_auth_file",
        message: format!("{}: {e}", file.display()),
    })?;
    Ok((a.user, a.password))
}

/// What an alert says, for every alerter: the subject, and a body of the text followed by
/// the alert's facts.
pub fn body(a: &Alert) -> String {
    let mut s = a.text.clone();
    s.push_str("\n\n");
    s.push_str(&format!(
        "rule: {}\nstate: {}\nat: {}\n",
        a.rule,
        a.state.as_str(),
        iotw_event::format_rfc3339_micros(a.at)
    ));
    if let Some(k) = &a.key {
        s.push_str(&format!("key: {k}\n"));
    }
    for (k, v) in &a.figures {
        if !v.is_null() {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            s.push_str(&format!("{k}: {v}\n"));
        }
    }
    for (field, top) in &a.top_counts {
        let list: Vec<String> = top.iter().map(|(v, n)| format!("{v}: {n}")).collect();
        s.push_str(&format!("top {field}: {}\n", list.join(", ")));
    }
    s
}

/// The value at a dotted path of a JSON document.
fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = doc.get(path) {
        return Some(v);
    }
    let (head, rest) = path.split_once('.')?;
    lookup(doc.get(head)?, rest)
}

/// The JSON a `post` alerter sends: the alert document (when `all_values`), the static
/// payload, then each payload name with its field's value.
pub fn post_body(p: &Post, doc: &Value) -> Value {
    let mut out = match (p.all_values, doc) {
        (true, Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    out.extend(p.static_payload.clone());
    for (name, field) in &p.payload {
        out.insert(name.clone(), lookup(doc, field).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// Slack's incoming-webhook message, as ElastAlert's Slack alerter builds it.
pub fn slack_body(s: &Slack, a: &Alert) -> Value {
    let color = if a.state == State::Resolved { "good" } else { s.color.as_str() };
    let mut attachment = serde_json::json!({
        "color": color,
        "title": a.subject,
        "text": body(a),
        "mrkdwn_in": ["text", "pretext"],
        "fields": [],
    });
    if let Some(l) = &s.title_link {
        attachment["title_link"] = l.clone().into();
    }
    let mut m = serde_json::json!({
        "username": s.username,
        "parse": "none",
        "text": "",
        "attachments": [attachment],
    });
    match &s.icon_url {
        Some(u) => m["icon_url"] = u.clone().into(),
        None => m["icon_emoji"] = s.emoji.clone().into(),
    }
    if let Some(c) = &s.channel {
        m["channel"] = c.clone().into();
    }
    m
}

/// A Microsoft Teams connector card, as ElastAlert's Teams alerter builds it.
pub fn teams_body(t: &Teams, a: &Alert) -> Value {
    let text = if t.fixed_width { format!("```{}```", body(a)) } else { body(a) };
    let mut m = serde_json::json!({
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "summary": t.summary,
        "title": a.subject,
        "text": text,
    });
    if let Some(c) = &t.theme_color {
        m["themeColor"] = c.clone().into();
    }
    m
}

/// How each alerter fared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Alerter name -> deliveries that succeeded.
    pub sent: BTreeMap<&'static str, u64>,
    /// Alerter name -> deliveries that failed (after their retries).
    pub failed: BTreeMap<&'static str, u64>,
    /// HTTP tries repeated.
    pub retries: u64,
    /// Alerts not queued because the queue was full, or not sent before the end of the run.
    pub dropped: u64,
    pub last_error: Option<String>,
}

impl Report {
    pub fn sent_total(&self) -> u64 {
        self.sent.values().sum()
    }

    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }
}

struct Job {
    alerters: Arc<[Alerter]>,
    alert: Alert,
    doc: Value,
}

/// Delivers alerts on a thread of its own.
pub struct Dispatcher {
    tx: Option<crossbeam_channel::Sender<Job>>,
    worker: Option<std::thread::JoinHandle<()>>,
    report: Arc<Mutex<Report>>,
    /// Past it, the worker sends nothing more (set when the run ends).
    deadline: Arc<Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").field("report", &self.report()).finish()
    }
}

impl Dispatcher {
    pub fn start() -> std::io::Result<Dispatcher> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(QUEUE);
        let report = Arc::new(Mutex::new(Report::default()));
        let deadline: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let (r, d) = (report.clone(), deadline.clone());
        let worker = std::thread::Builder::new().name("iotw-alert".into()).spawn(move || {
            let mut sender = Sender::default();
            for job in rx {
                for a in job.alerters.iter() {
                    let past = lock(&d).is_some_and(|t| Instant::now() >= t);
                    if past {
                        lock(&r).dropped += 1;
                        continue;
                    }
                    let outcome = sender.deliver(a, &job.alert, &job.doc, &d);
                    let mut rep = lock(&r);
                    rep.retries += u64::from(outcome.retries);
                    match outcome.result {
                        Ok(()) => *rep.sent.entry(a.name()).or_default() += 1,
                        Err(e) => {
                            *rep.failed.entry(a.name()).or_default() += 1;
                            rep.last_error = Some(format!("{} alerter of rule {}: {e}", a.name(), job.alert.rule));
                        }
                    }
                }
            }
        })?;
        Ok(Dispatcher { tx: Some(tx), worker: Some(worker), report, deadline })
    }

    /// Queues an alert for `alerters`, with its document (as shipped); never waits.
    pub fn send(&self, alerters: Arc<[Alerter]>, alert: Alert, doc: Value) {
        if alerters.is_empty() {
            return;
        }
        if let Some(tx) = &self.tx {
            if tx.try_send(Job { alerters, alert, doc }).is_err() {
                lock(&self.report).dropped += 1;
            }
        }
    }

    pub fn report(&self) -> Report {
        lock(&self.report).clone()
    }

    /// Delivers what is queued, for at most `grace` (then what is left is dropped and counted;
    /// a delivery under way finishes within its own timeout), and reports.
    pub fn finish(&mut self, grace: Duration) -> Report {
        *lock(&self.deadline) = Some(Instant::now() + grace);
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        self.report()
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        if self.worker.is_some() {
            self.finish(Duration::from_secs(5));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Outcome {
    result: Result<(), String>,
    retries: u32,
}

/// The HTTP agents of the worker, by timeout.
#[derive(Default)]
struct Sender {
    agents: Vec<(Duration, ureq::Agent)>,
}

impl Sender {
    fn agent(&mut self, timeout: Duration) -> ureq::Agent {
        if let Some((_, a)) = self.agents.iter().find(|(t, _)| *t == timeout) {
            return a.clone();
        }
        let a: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("iotw-fireman/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        self.agents.push((timeout, a.clone()));
        a
    }

    fn deliver(&mut self, a: &Alerter, alert: &Alert, doc: &Value, deadline: &Mutex<Option<Instant>>) -> Outcome {
        let once = |result| Outcome { result, retries: 0 };
        match a {
            Alerter::Post(p) => {
                let body = post_body(p, doc);
                self.post_all(&p.urls, &p.headers, &body, p.timeout, deadline)
            }
            Alerter::Slack(s) => self.post_all(&s.urls, &BTreeMap::new(), &slack_body(s, alert), s.timeout, deadline),
            Alerter::Teams(t) => self.post_all(&t.urls, &BTreeMap::new(), &teams_body(t, alert), t.timeout, deadline),
            Alerter::Email(e) => once(send_email(e, alert)),
            Alerter::Command(c) => once(run_command(c, alert, doc)),
            Alerter::Debug => {
                eprintln!("iotw: alert: {}\n{}", alert.subject, body(alert));
                once(Ok(()))
            }
        }
    }

    /// POSTs `body` to every URL; the outcome is the last failure, if any.
    fn post_all(
        &mut self,
        urls: &[String],
        headers: &BTreeMap<String, String>,
        body: &Value,
        timeout: Duration,
        deadline: &Mutex<Option<Instant>>,
    ) -> Outcome {
        let agent = self.agent(timeout);
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let mut out = Outcome { result: Ok(()), retries: 0 };
        if bytes.len() > MAX_BODY {
            out.result = Err(format!("body of {} bytes is over {MAX_BODY}", bytes.len()));
            return out;
        }
        for url in urls {
            for attempt in 0..HTTP_TRIES {
                if attempt > 0 {
                    out.retries += 1;
                    let wait = Duration::from_millis(500 << attempt);
                    if lock(deadline).is_some_and(|t| Instant::now() + wait >= t) {
                        break;
                    }
                    std::thread::sleep(wait);
                }
                let mut req = agent.post(url).header("Content-Type", "application/json");
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                match req.send(&bytes[..]) {
                    Ok(r) if r.status().is_success() => {
                        out.result = Ok(());
                        break;
                    }
                    Ok(r) => {
                        let status = r.status().as_u16();
                        out.result = Err(format!("{url}: HTTP {status}"));
                        if !(status == 429 || status >= 500) {
                            break;
                        }
                    }
                    Err(e) => out.result = Err(format!("{url}: {e}")),
                }
            }
        }
        out
    }
}

fn send_email(e: &Email, a: &Alert) -> Result<(), String> {
    use lettre::message::{header::ContentType, Mailbox};
    use lettre::transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
    };
    use lettre::{Message, SmtpTransport, Transport};
    let mailbox = |s: &str| -> Result<Mailbox, String> {
        // ElastAlert's default sender is a bare name; an address without a domain gets the
        // SMTP host's, as a local MTA would.
        let s = if s.contains('@') { s.to_string() } else { format!("{s}@{}", e.host) };
        s.parse::<Mailbox>().map_err(|err| format!("address {s:?}: {err}"))
    };
    let mut m = Message::builder().from(mailbox(&e.from)?).subject(a.subject.replace(['\r', '\n'], " "));
    for t in &e.to {
        m = m.to(mailbox(t)?);
    }
    for t in &e.cc {
        m = m.cc(mailbox(t)?);
    }
    for t in &e.bcc {
        m = m.bcc(mailbox(t)?);
    }
    if let Some(r) = &e.reply_to {
        m = m.reply_to(mailbox(r)?);
    }
    let msg = m.header(ContentType::TEXT_PLAIN).body(body(a)).map_err(|err| err.to_string())?;
    let mut tls = TlsParameters::builder(e.host.clone());
    if let Some(p) = &e.ca_certs {
        let pem = std::fs::read(p).map_err(|err| format!("smtp_ca_certs {}: {err}", p.display()))?;
        let cert = Certificate::from_pem(&pem).map_err(|err| format!("smtp_ca_certs {}: {err}", p.display()))?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls.build_rustls().map_err(|err| err.to_string())?;
    let mut t = SmtpTransport::builder_dangerous(&e.host)
        .port(e.port.unwrap_or(if e.ssl { 465 } else { 25 }))
        .timeout(Some(e.timeout))
        .tls(if e.ssl { Tls::Wrapper(tls) } else { Tls::Opportunistic(tls) });
    if let Some((user, pass)) = &e.auth {
        t = t.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    t.build().send(&msg).map(|_| ()).map_err(|err| format!("SMTP {}: {err}", e.host))
}

fn run_command(c: &Command, a: &Alert, doc: &Value) -> Result<(), String> {
    use std::io::Write;
    use std::process::Stdio;
    let mut cmd = if c.shell {
        let mut cmd = if cfg!(windows) { std::process::Command::new("cmd") } else { std::process::Command::new("sh") };
        cmd.arg(if cfg!(windows) { "/C" } else { "-c" }).arg(&c.argv[0]);
        cmd
    } else {
        let mut cmd = std::process::Command::new(&c.argv[0]);
        cmd.args(&c.argv[1..]);
        cmd
    };
    cmd.env("IOTW_RULE", &a.rule).env("IOTW_STATE", a.state.as_str()).env("IOTW_SUBJECT", &a.subject);
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::null()).spawn().map_err(|err| format!("{}: {err}", c.argv[0]))?;
    if let Some(mut stdin) = child.stdin.take() {
        let mut input = Vec::new();
        if c.pipe_match_json {
            input.extend(serde_json::to_vec(doc).unwrap_or_default());
            input.push(b'\n');
        }
        if c.pipe_alert_text {
            input.extend(body(a).into_bytes());
        }
        // A command that does not read its input is not a failure.
        let _ = stdin.write_all(&input);
    }
    let status = child.wait().map_err(|err| format!("{}: {err}", c.argv[0]))?;
    if c.fail_on_non_zero_exit && !status.success() {
        return Err(format!("{} exited with {status}", c.argv[0]));
    }
    Ok(())
}
