//! The simulated site: who is where, the calls, and the messages they cause.

use super::agents::{hang_up, outbound, ready, ring_agent, AgentLeg, Party};
use super::net::{Conn, Net, Wire};
use super::record::{attributes_json, write_log};
use super::sip::{sdp, Dialog};
use iotw_decode::genesys::kvlist::{KvList, KvValue};
use iotw_decode::genesys::tables::{AttributeId as A, MessageType as M};
use iotw_decode::genesys::tlib::{self, TlibMessage, Value};
use iotw_decode::genesys::WireProfile;
use iotw_event::{format_rfc3339_micros, Nanos};
use serde_json::json;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};

pub(super) const MS: Nanos = 1_000_000;
pub(super) const SEC: Nanos = 1_000_000_000;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub agents: usize,
    pub calls_per_hour: u32,
    pub duration: Nanos,
    pub seed: u64,
    /// Wall-clock time of the first packet.
    pub start: Nanos,
    /// Percent of callers who hang up if they wait at all.
    pub abandon_percent: u32,
    /// Outbound preview records per hour (the OCS desktop protocol over T-Lib).
    pub previews_per_hour: u32,
    /// The version the SIP Server announces (EventServerInfo).
    pub server_version: String,
    /// More T-Lib client applications (name, address) that register and stay connected.
    pub extra_clients: Vec<(String, Ipv4Addr)>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            agents: 20,
            calls_per_hour: 300,
            duration: 600 * SEC,
            seed: 1,
            // 2026-01-05T09:00:00Z
            start: 1_767_603_600 * SEC,
            abandon_percent: 30,
            previews_per_hour: 60,
            server_version: SERVER_VERSION.to_owned(),
            extra_clients: Vec::new(),
        }
    }
}

/// What was simulated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SimReport {
    pub packets: u64,
    pub bytes: u64,
    pub tlib_messages: u64,
    pub sip_messages: u64,
    pub keepalives: u64,
    pub calls: u64,
    pub answered: u64,
    pub abandoned: u64,
}

/// xorshift64*: small, fast, and the same everywhere for the same seed.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(super) fn range(&mut self, lo: Nanos, hi: Nanos) -> Nanos {
        lo + self.below((hi - lo).max(1) as u64) as Nanos
    }
    pub(super) fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

/// Ofcom numbers kept for drama (never allocated to real subscribers), by area: each prefix
/// and three more digits is a whole 11-digit number (0113 496 0000-0999, 020 7946 0000-0999).
pub(super) const CALLER_PREFIXES: [&str; 12] = [
    "01134960", "01144960", "01154960", "01164960", "01174960", "01184960", "01214960", "01314960", "01414960",
    "01514960", "01614960", "02079460",
];
const POSTCODES: [&str; 10] =
    ["LS1 4AP", "S1 2HE", "NG1 5FS", "LE1 5WW", "BS1 4ST", "RG1 1JX", "B2 4QA", "EH1 1YZ", "G2 1DY", "M2 5DB"];
const SEGMENTS: [&str; 3] = ["Gold", "Silver", "Bronze"];

pub(super) const SIP_SERVER: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 10);
pub(super) const TLIB_PORT: u16 = 3000;
pub(super) const ROUTE_POINT: &str = "8000";
pub(super) const DNIS: &str = "08081570123";
/// The SIP Server version announced unless another is asked for.
pub const SERVER_VERSION: &str = "8.1.103.17";
/// OCS's communication DN for the desktop protocol.
pub(super) const OCS_DN: &str = "OCS_Comm";

/// One thing the site does at a time.
#[derive(Debug, Clone)]
pub(super) enum Step {
    Open(usize),
    Close(usize),
    Tlib { conn: usize, from_client: bool, msg: TlibMessage },
    KeepAlive { conn: usize },
    Sip { src: SocketAddrV4, dst: SocketAddrV4, text: String },
}

pub(super) struct Client {
    pub(super) name: String,
    pub(super) handle: u32,
}

pub(super) struct Site<'p> {
    pub(super) profile: &'p WireProfile,
    /// What the SIP Server says its version is.
    pub(super) server_version: &'p str,
    pub(super) rng: Rng,
    pub(super) steps: Vec<(Nanos, u64, Step)>,
    pub(super) order: u64,
    pub(super) reference: i64,
    pub(super) sequence: i64,
    pub(super) clients: Vec<Client>,
    pub(super) conns: Vec<Conn>,
}

pub(super) fn s(v: &str) -> Value {
    Value::Str(v.to_owned())
}

fn kv(pairs: &[(&str, &str)]) -> KvList {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), KvValue::Str((*v).to_owned()))).collect()
}

impl Site<'_> {
    pub(super) fn at(&mut self, ts: Nanos, step: Step) {
        self.order += 1;
        self.steps.push((ts, self.order, step));
    }

    pub(super) fn reference(&mut self) -> i64 {
        self.reference += 1;
        self.reference
    }

    /// A request from a client and the server's answer `delay` later.
    pub(super) fn exchange(&mut self, ts: Nanos, conn: usize, req: TlibMessage, answer: TlibMessage, delay: Nanos) {
        self.at(ts, Step::Tlib { conn, from_client: true, msg: req });
        self.event(ts + delay, conn, answer);
    }

    /// An event from the server, stamped with the server's time and sequence number.
    pub(super) fn event(&mut self, ts: Nanos, conn: usize, mut msg: TlibMessage) {
        self.sequence += 1;
        msg.attrs.push((A::EVENT_SEQUENCE_NUMBER, Value::Long(self.sequence)));
        msg.attrs.push((A::TIMEIN_SECS, Value::Int(ts / SEC)));
        msg.attrs.push((A::TIMEINU_SECS, Value::Int(ts % SEC / 1000)));
        self.at(ts, Step::Tlib { conn, from_client: false, msg });
    }

    pub(super) fn connect(&mut self, ts: Nanos, name: &str, ip: Ipv4Addr, dns: &[String]) -> usize {
        let conn = self.conns.len();
        let port = 40_000 + conn as u16;
        self.conns.push(Conn::new(
            SocketAddrV4::new(ip, port),
            SocketAddrV4::new(SIP_SERVER, TLIB_PORT),
            1000 + conn as u32,
        ));
        self.clients.push(Client { name: name.to_owned(), handle: 0x0e80 + conn as u32 });
        self.at(ts, Step::Open(conn));
        let r = self.reference();
        let register = TlibMessage {
            mtype: M::REQUEST_REGISTER_CLIENT,
            attrs: vec![
                (A::REFERENCE_ID, Value::Int(r)),
                (A::PROTOCOL_VERSION, s("tserver protocol 4.2")),
                (A::APPLICATION_NAME, s(name)),
                (A::APPLICATION_PASSWORD, s("Resources/not-a-real-password")),
            ],
        };
        let info = TlibMessage {
            mtype: M::EVENT_SERVER_INFO,
            attrs: vec![
                (A::REFERENCE_ID, Value::Int(r)),
                (A::SERVER_VERSION, s(self.server_version)),
                (A::SERVER_ROLE, Value::Int(0)),
            ],
        };
        self.exchange(ts + 3 * MS, conn, register, info, 2 * MS);
        let mut t = ts + 10 * MS;
        for dn in dns {
            let r = self.reference();
            let req = TlibMessage {
                mtype: M::REQUEST_REGISTER_ADDRESS,
                attrs: vec![
                    (A::REFERENCE_ID, Value::Int(r)),
                    (A::THIS_DN, s(dn)),
                    (A::REGISTER_MODE, Value::Int(0)),
                    (A::CONTROL_MODE, Value::Int(0)),
                    (A::ADDRESS_TYPE, Value::Int(if dn == ROUTE_POINT { 4 } else { 1 })),
                ],
            };
            let ev = TlibMessage {
                mtype: M::EVENT_REGISTERED,
                attrs: vec![(A::REFERENCE_ID, Value::Int(r)), (A::THIS_DN, s(dn))],
            };
            self.exchange(t, conn, req, ev, MS);
            t += 5 * MS;
        }
        conn
    }

    pub(super) fn sip(&mut self, ts: Nanos, src: SocketAddrV4, dst: SocketAddrV4, text: String) {
        self.at(ts, Step::Sip { src, dst, text });
    }
}

fn uuid(rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..32).map(|_| CHARS[rng.below(CHARS.len() as u64) as usize] as char).collect()
}

/// Simulates the site and writes the capture, and the ground truth and T-Server log when
/// given somewhere to write them.
pub fn simulate<W: Write, T: Write, L: Write>(
    cfg: &SimConfig,
    profile: &WireProfile,
    pcap: W,
    mut truth: Option<T>,
    mut log: Option<L>,
) -> std::io::Result<SimReport> {
    let mut site = Site {
        profile,
        server_version: &cfg.server_version,
        rng: Rng(cfg.seed.max(1) ^ 0x9e37_79b9_7f4a_7c15),
        steps: Vec::new(),
        order: 0,
        reference: 0,
        sequence: 0,
        clients: Vec::new(),
        conns: Vec::new(),
    };
    let mut report = SimReport::default();
    let t0 = cfg.start;
    let agents = cfg.agents.max(1);
    let agent_dns: Vec<String> = (0..agents).map(|i| format!("{}", 5001 + i)).collect();
    let urs = site.connect(t0, "URS_1", Ipv4Addr::new(10, 10, 0, 20), &[ROUTE_POINT.to_owned()]);
    let mut stat_dns = vec![ROUTE_POINT.to_owned()];
    stat_dns.extend(agent_dns.iter().cloned());
    let stat = site.connect(t0 + 100 * MS, "StatServer_1", Ipv4Addr::new(10, 10, 0, 30), &stat_dns);
    let mut desktops = Vec::new();
    for (i, dn) in agent_dns.iter().enumerate() {
        let ts = t0 + SEC + i as Nanos * 50 * MS;
        let ip = Ipv4Addr::new(10, 10, 1, 10 + i as u8);
        let conn = site.connect(ts, &format!("WDE_agent{:03}", i + 1), ip, std::slice::from_ref(dn));
        for (req, ev, wm) in [
            (M::REQUEST_AGENT_LOGIN, M::EVENT_AGENT_LOGIN, Some(1)),
            (M::REQUEST_AGENT_READY, M::EVENT_AGENT_READY, None),
        ] {
            let r = site.reference();
            let mut attrs = vec![
                (A::REFERENCE_ID, Value::Int(r)),
                (A::THIS_DN, s(dn)),
                (A::AGENT_ID, s(&format!("agent{:03}", i + 1))),
            ];
            if let Some(w) = wm {
                attrs.push((A::AGENT_WORK_MODE, Value::Int(w)));
            }
            let evm = TlibMessage { mtype: ev, attrs: attrs.clone() };
            site.exchange(
                ts + 30 * MS + if wm.is_some() { 0 } else { 10 * MS },
                conn,
                TlibMessage { mtype: req, attrs },
                evm,
                MS,
            );
        }
        desktops.push(conn);
    }
    let ocs = site.connect(t0 + 200 * MS, "OCS_1", Ipv4Addr::new(10, 10, 0, 40), &[OCS_DN.to_owned()]);
    // Last, so that the connections above keep their ports whether or not there are any.
    for (i, (name, ip)) in cfg.extra_clients.iter().enumerate() {
        site.connect(t0 + 300 * MS + i as Nanos * 20 * MS, name, *ip, &[]);
    }
    outbound(&mut site, cfg, t0 + 10 * SEC, ocs, &desktops, &agent_dns);
    let trunk = SocketAddrV4::new(Ipv4Addr::new(10, 10, 0, 5), 5060);
    let sips = SocketAddrV4::new(SIP_SERVER, 5060);
    let mut agent_free = vec![t0 + 5 * SEC; agents];
    let end = t0 + cfg.duration;
    let mean_gap = 3600 * SEC / Nanos::from(cfg.calls_per_hour.max(1));
    let mut t = t0 + 5 * SEC;
    let mut k: u64 = 0;
    loop {
        // Exponential gaps between arrivals.
        let u = (site.rng.below(1_000_000) as f64 + 0.5) / 1_000_000.0;
        t += (-(u.ln()) * mean_gap as f64) as Nanos + MS;
        if t >= end {
            break;
        }
        k += 1;
        report.calls += 1;
        let rng = &mut site.rng;
        let ani = format!("{}{:03}", rng.pick(&CALLER_PREFIXES), rng.below(1000));
        let uuid = uuid(rng);
        let conn_id = (0x006c_0000_0000_0000u64 | (k << 8) | 0x04).to_be_bytes();
        let patience = rng.range(10 * SEC, 90 * SEC);
        let ring = rng.range(2 * SEC, 8 * SEC);
        let talk = rng.range(20 * SEC, 240 * SEC);
        let wrap = rng.range(5 * SEC, 20 * SEC);
        let segment = rng.pick(&SEGMENTS);
        let postcode = rng.pick(&POSTCODES);
        let account = format!("ACC{:08}", rng.below(100_000_000));
        let callback = format!("07700900{:03}", rng.below(1000));
        let abandon_roll = rng.below(100);
        // How much of the wait (or of their patience) a caller who gives up sits through.
        let give_up_permille = rng.range(300, 900);
        let user_data = kv(&[
            ("CustomerSegment", segment),
            ("PostCode", postcode),
            ("AccountNumber", account.as_str()),
            ("CallbackNumber", callback.as_str()),
            ("Language", "en-GB"),
        ]);
        let call = |extra: Vec<(A, Value)>| {
            let mut a = vec![(A::CONN_ID, Value::ConnId(conn_id)), (A::CALL_UUID, s(&uuid))];
            a.extend(extra);
            a
        };
        // SIP: the trunk offers the call to SIP Server.
        let trunk_leg = Dialog {
            a: trunk,
            b: sips,
            from: format!("<sip:{ani}@10.10.0.5>;tag=tr{k}"),
            to: format!("<sip:{DNIS}@10.10.0.10>"),
            call_id: format!("trunk-{k}@10.10.0.5"),
            uuid: uuid.clone(),
        };
        let invite = trunk_leg.request(
            "INVITE",
            &format!("sip:{DNIS}@10.10.0.10"),
            1,
            true,
            &[],
            &sdp(*trunk.ip(), 20_000 + (k % 10_000) as u16 * 2),
        );
        let inv_branch = trunk_leg.branch("INVITE", 1, true);
        site.sip(t, invite.0, invite.1, invite.2);
        let (a, b, x) = trunk_leg.response("100 Trying", "1 INVITE", true, &inv_branch, &[], "");
        site.sip(t + MS, a, b, x);
        // Ringback while queued: SIP Server's first message of this leg carries the CallUUID.
        let progress = [format!("X-Genesys-CallUUID: {}", trunk_leg.uuid)];
        let (a, b, x) = trunk_leg.response("183 Session Progress", "1 INVITE", true, &inv_branch, &progress, "");
        site.sip(t + 2 * MS, a, b, x);
        // T-Lib: the route request goes to URS and Stat Server sees the call queue.
        let rr = call(vec![
            (A::THIS_DN, s(ROUTE_POINT)),
            (A::THIS_QUEUE, s(ROUTE_POINT)),
            (A::ANI, s(&ani)),
            (A::DNIS, s(DNIS)),
            (A::CALL_TYPE, Value::Int(2)),
            (A::CALL_ID, Value::Int(1000 + k as i64)),
            (A::USER_DATA, Value::KvList(user_data.clone())),
        ]);
        site.event(t + 5 * MS, urs, TlibMessage { mtype: M::EVENT_ROUTE_REQUEST, attrs: rr.clone() });
        site.event(t + 6 * MS, stat, TlibMessage { mtype: M::EVENT_QUEUED, attrs: rr });
        // The agent who is free first takes it.
        let (agent, free_at) =
            agent_free.iter().enumerate().min_by_key(|(_, f)| **f).map(|(i, f)| (i, *f)).unwrap_or((0, t));
        let route_at = (t + 30 * MS).max(free_at);
        let waited = route_at - (t + 30 * MS);
        if waited > 0 && (waited > patience || abandon_roll < u64::from(cfg.abandon_percent)) {
            // The caller gives up while queued.
            report.abandoned += 1;
            let gone = t + 30 * MS + patience.min(waited) * give_up_permille / 1000;
            let (a, b, x) = trunk_leg.request("CANCEL", &format!("sip:{DNIS}@10.10.0.10"), 1, true, &[], "");
            site.sip(gone, a, b, x);
            let (a, b, x) = trunk_leg.response("200 OK", "1 CANCEL", true, &inv_branch, &[], "");
            site.sip(gone + MS, a, b, x);
            let (a, b, x) = trunk_leg.response("487 Request Terminated", "1 INVITE", true, &inv_branch, &[], "");
            site.sip(gone + 2 * MS, a, b, x);
            let ab = call(vec![(A::THIS_DN, s(ROUTE_POINT)), (A::CALL_STATE, Value::Int(21))]);
            site.event(gone + 3 * MS, urs, TlibMessage { mtype: M::EVENT_ABANDONED, attrs: ab.clone() });
            site.event(gone + 4 * MS, stat, TlibMessage { mtype: M::EVENT_ABANDONED, attrs: ab });
            continue;
        }
        report.answered += 1;
        let dn = agent_dns[agent].clone();
        // URS attaches its data and routes the call to the agent.
        let r = site.reference();
        let upd = TlibMessage {
            mtype: M::REQUEST_UPDATE_USER_DATA,
            attrs: vec![
                (A::REFERENCE_ID, Value::Int(r)),
                (A::CONN_ID, Value::ConnId(conn_id)),
                (A::THIS_DN, s(ROUTE_POINT)),
                (A::USER_DATA, Value::KvList(kv(&[("RVQID", &uuid), ("RStrategyName", "Inbound_Main")]))),
            ],
        };
        let changed = TlibMessage {
            mtype: M::EVENT_ATTACHED_DATA_CHANGED,
            attrs: call(vec![(A::REFERENCE_ID, Value::Int(r)), (A::THIS_DN, s(ROUTE_POINT))]),
        };
        site.exchange(route_at - 20 * MS, urs, upd, changed, 2 * MS);
        let r = site.reference();
        let route = TlibMessage {
            mtype: M::REQUEST_ROUTE_CALL,
            attrs: vec![
                (A::REFERENCE_ID, Value::Int(r)),
                (A::CONN_ID, Value::ConnId(conn_id)),
                (A::THIS_DN, s(ROUTE_POINT)),
                (A::OTHER_DN, s(&dn)),
                (A::ROUTE_TYPE, Value::Int(1)),
            ],
        };
        let used = TlibMessage {
            mtype: M::EVENT_ROUTE_USED,
            attrs: call(vec![(A::REFERENCE_ID, Value::Int(r)), (A::THIS_DN, s(ROUTE_POINT)), (A::OTHER_DN, s(&dn))]),
        };
        site.exchange(route_at, urs, route, used, 8 * MS);
        site.event(
            route_at + 9 * MS,
            stat,
            TlibMessage {
                mtype: M::EVENT_DIVERTED,
                attrs: call(vec![(A::THIS_DN, s(ROUTE_POINT)), (A::OTHER_DN, s(&dn))]),
            },
        );
        // SIP Server calls the agent's phone; the agent answers.
        let base = Party {
            call_base: call(vec![]),
            ani: ani.clone(),
            uuid: uuid.clone(),
            k,
            stat,
            user_data: user_data.clone(),
        };
        let ring_at = route_at + 10 * MS;
        let first = ring_agent(&mut site, &base, agent, &agent_dns[agent], desktops[agent], 0, ring_at, ring, None);
        let genesys = vec![format!("X-Genesys-CallUUID: {uuid}")];
        let (a, b, x) = trunk_leg.response("180 Ringing", "1 INVITE", true, &inv_branch, &genesys, "");
        site.sip(ring_at + 23 * MS, a, b, x);
        let answer_at = first.answered;
        let (a, b, x) = trunk_leg.response("200 OK", "1 INVITE", true, &inv_branch, &genesys, &sdp(SIP_SERVER, 30_001));
        site.sip(answer_at + 2 * MS, a, b, x);
        let (a, b, x) = trunk_leg.request("ACK", &format!("sip:{DNIS}@10.10.0.10"), 1, true, &[], "");
        site.sip(answer_at + 3 * MS, a, b, x);
        // Some calls are handed on to a second agent who is free: a single-step transfer
        // (10 %) or conference (5 %) halfway through the talk.
        let roll = site.rng.below(100);
        let handoff_at = answer_at + talk / 2;
        let second = (0..agents).filter(|&b| b != agent && agent_free[b] <= handoff_at).min_by_key(|&b| agent_free[b]);
        let mut bye_at = answer_at + talk;
        let mut released: Vec<(AgentLeg, Nanos)> = Vec::new();
        match (roll, second) {
            (0..=14, Some(b)) => {
                let transfer = roll < 10;
                let r = site.reference();
                let mtype = if transfer { M::REQUEST_SINGLE_STEP_TRANSFER } else { M::REQUEST_SINGLE_STEP_CONFERENCE };
                let req = TlibMessage {
                    mtype,
                    attrs: vec![
                        (A::REFERENCE_ID, Value::Int(r)),
                        (A::CONN_ID, Value::ConnId(conn_id)),
                        (A::THIS_DN, s(&dn)),
                        (A::OTHER_DN, s(&agent_dns[b])),
                    ],
                };
                let answer = if transfer {
                    // The first agent leaves the call.
                    TlibMessage {
                        mtype: M::EVENT_RELEASED,
                        attrs: call(vec![
                            (A::REFERENCE_ID, Value::Int(r)),
                            (A::THIS_DN, s(&dn)),
                            (A::OTHER_DN, s(&ani)),
                            (A::THIRD_PARTY_DN, s(&agent_dns[b])),
                            (A::CALL_STATE, Value::Int(1)),
                        ]),
                    }
                } else {
                    TlibMessage {
                        mtype: M::EVENT_PARTY_ADDED,
                        attrs: call(vec![
                            (A::REFERENCE_ID, Value::Int(r)),
                            (A::THIS_DN, s(&dn)),
                            (A::OTHER_DN, s(&agent_dns[b])),
                            (A::THIRD_PARTY_DN, s(&agent_dns[b])),
                        ]),
                    }
                };
                site.exchange(handoff_at, desktops[agent], req, answer, 3 * MS);
                let ring_b = site.rng.range(2 * SEC, 6 * SEC);
                let leg_b = ring_agent(
                    &mut site,
                    &base,
                    b,
                    &agent_dns[b],
                    desktops[b],
                    1,
                    handoff_at + 10 * MS,
                    ring_b,
                    Some(&dn),
                );
                bye_at = bye_at.max(leg_b.answered + 10 * SEC);
                if transfer {
                    hang_up(&mut site, &base, &first, handoff_at + 5 * MS, 1);
                    agent_free[agent] = handoff_at + wrap + 10 * MS;
                    ready(&mut site, agent, &dn, desktops[agent], handoff_at + wrap);
                } else {
                    released.push((first, bye_at));
                }
                released.push((leg_b, bye_at));
            }
            _ => released.push((first, bye_at)),
        }
        // The caller hangs up; every agent still on the call is released.
        let (a, b, x) = trunk_leg.request("BYE", &format!("sip:{DNIS}@10.10.0.10"), 2, true, &[], "");
        let bb = trunk_leg.branch("BYE", 2, true);
        site.sip(bye_at, a, b, x);
        let (a, b, x) = trunk_leg.response("200 OK", "2 BYE", true, &bb, &[], "");
        site.sip(bye_at + MS, a, b, x);
        for (i, (leg, at)) in released.into_iter().enumerate() {
            let at = at + i as Nanos * 20 * MS;
            hang_up(&mut site, &base, &leg, at + 2 * MS, 0);
            ready(&mut site, leg.agent, &leg.dn, leg.desk, at + wrap);
            agent_free[leg.agent] = at + wrap + 10 * MS;
        }
    }
    // Keep-alives on every T-Lib connection every 30 s, then everyone disconnects.
    let last = site.steps.iter().map(|(ts, _, _)| *ts).max().unwrap_or(end).max(end);
    if profile.packet.empty_is_keepalive {
        for conn in 0..site.conns.len() {
            let mut ka = t0 + 30 * SEC + conn as Nanos * 7 * MS;
            while ka < last {
                site.at(ka, Step::KeepAlive { conn });
                ka += 30 * SEC;
            }
        }
    }
    for conn in 0..site.conns.len() {
        site.at(last + SEC + conn as Nanos * MS, Step::Close(conn));
    }
    // Out in time order.
    site.steps.sort_by_key(|(ts, order, _)| (*ts, *order));
    let mut net = Net::new(pcap)?;
    net.conns = site.conns.clone();
    let mut client_no = std::collections::HashMap::new();
    for (ts, _, step) in &site.steps {
        match step {
            Step::Open(c) => net.write(*ts, &Wire::Open { conn: *c })?,
            Step::Close(c) => net.write(*ts, &Wire::Close { conn: *c })?,
            Step::KeepAlive { conn } => {
                report.keepalives += 1;
                let mut bytes = Vec::new();
                profile.put_uint(&mut bytes, 0, profile.packet.length_bytes);
                net.write(*ts, &Wire::Data { conn: *conn, from_client: true, bytes })?;
            }
            Step::Sip { src, dst, text } => {
                report.sip_messages += 1;
                net.write(*ts, &Wire::Udp { src: *src, dst: *dst, bytes: text.clone().into_bytes() })?;
                if let Some(out) = truth.as_mut() {
                    let line = json!({
                        "@timestamp": format_rfc3339_micros(*ts), "synthetic": true, "protocol": "sip",
                        "source": src.to_string(), "destination": dst.to_string(),
                        "start_line": text.lines().next().unwrap_or(""),
                    });
                    writeln!(out, "{line}")?;
                }
            }
            Step::Tlib { conn, from_client, msg } => {
                report.tlib_messages += 1;
                let bytes = tlib::encode(msg, site.profile).ok_or_else(|| {
                    std::io::Error::other(format!("{} does not fit the wire profile {}", msg.mtype, site.profile.name))
                })?;
                net.write(*ts, &Wire::Data { conn: *conn, from_client: *from_client, bytes })?;
                let c = &site.conns[*conn];
                let (src, dst) = if *from_client { (c.client, c.server) } else { (c.server, c.client) };
                if let Some(out) = truth.as_mut() {
                    let line = json!({
                        "@timestamp": format_rfc3339_micros(*ts), "synthetic": true, "protocol": "tlib",
                        "source": src.to_string(), "destination": dst.to_string(),
                        "message": msg.mtype.to_string(), "id": msg.mtype.0,
                        "attributes": attributes_json(msg),
                    });
                    writeln!(out, "{line}")?;
                }
                if let Some(out) = log.as_mut() {
                    let n = client_no.len() as u32 + 1;
                    let no = *client_no.entry(*conn).or_insert(n);
                    let who = &site.clients[*conn];
                    write_log(out, *ts, msg, *from_client, no, who, c.client, site.profile, site.server_version)?;
                }
            }
        }
    }
    report.packets = net.packets;
    report.bytes = net.bytes;
    net.finish()?;
    Ok(report)
}
