//! The people at the simulated site: agents ringing, answering, handing calls on and
//! getting ready again, and OCS serving them outbound preview records.

use super::sip::{sdp, Dialog};
use super::site::{s, SimConfig, Site, CALLER_PREFIXES, DNIS, MS, OCS_DN, SEC, SIP_SERVER};
use iotw_decode::genesys::kvlist::{KvList, KvValue};
use iotw_decode::genesys::tables::{AttributeId as A, MessageType as M};
use iotw_decode::genesys::tlib::{TlibMessage, Value};
use iotw_event::Nanos;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Outbound preview records (Outbound Contact Reference, "Communication Protocols"): a desktop
/// asks OCS for a record, OCS sends it, the agent reports the result, OCS acknowledges; all
/// GSW_* keys in UserData of RequestDistributeUserEvent / EventUserEvent through SIP Server.
pub(super) fn outbound(
    site: &mut Site<'_>,
    cfg: &SimConfig,
    from: Nanos,
    ocs: usize,
    desktops: &[usize],
    dns: &[String],
) {
    if cfg.previews_per_hour == 0 || desktops.is_empty() {
        return;
    }
    let gap = 3600 * SEC / Nanos::from(cfg.previews_per_hour);
    let end = cfg.start + cfg.duration;
    let mut t = from;
    let mut handle = 1000;
    while t < end {
        let agent = site.rng.below(desktops.len() as u64) as usize;
        let (desk, dn) = (desktops[agent], dns[agent].clone());
        handle += 1;
        let phone = format!("{}{:03}", site.rng.pick(&CALLER_PREFIXES), site.rng.below(1000));
        let result = if site.rng.below(3) == 0 { 7 } else { 33 }; // NoAnswer, Answer
        let think = site.rng.range(10 * SEC, 60 * SEC);
        let common = |extra: &[(&str, KvValue)]| -> KvList {
            let mut l: KvList = vec![
                ("GSW_APPLICATION_ID".into(), KvValue::Int(120)),
                ("GSW_CAMPAIGN_NAME".into(), KvValue::Str("Renewals_Q1".into())),
            ];
            l.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
            l
        };
        let s_ = |v: &str| KvValue::Str(v.to_owned());
        let record = [
            ("GSW_RECORD_HANDLE", KvValue::Int(handle)),
            ("GSW_CALLING_LIST", s_("Renewals_List")),
            ("GSW_PHONE", s_(&phone)),
        ];
        let steps: [(Nanos, usize, &str, KvList); 4] = [
            (t, desk, "GSW_AGENT_REQ_TYPE", common(&[("GSW_AGENT_REQ_TYPE", s_("PreviewRecordRequest"))])),
            (t + 40 * MS, ocs, "GSW_USER_EVENT", {
                let mut l = common(&[("GSW_USER_EVENT", s_("PreviewRecord"))]);
                l.extend(record.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
                l.push(("GSW_ATTEMPTS".into(), KvValue::Int(1)));
                l
            }),
            (t + think, desk, "GSW_AGENT_REQ_TYPE", {
                let mut l = common(&[("GSW_AGENT_REQ_TYPE", s_("RecordProcessed"))]);
                l.push(("GSW_RECORD_HANDLE".into(), KvValue::Int(handle)));
                l.push(("GSW_CALL_RESULT".into(), KvValue::Int(result)));
                l
            }),
            (t + think + 30 * MS, ocs, "GSW_USER_EVENT", {
                let mut l = common(&[("GSW_USER_EVENT", s_("RecordProcessedAcknowledge"))]);
                l.push(("GSW_RECORD_HANDLE".into(), KvValue::Int(handle)));
                l
            }),
        ];
        for (ts, conn, _, data) in steps {
            // The sender's request, acknowledged; the other side gets the EventUserEvent.
            let (this_dn, to) = if conn == ocs { (OCS_DN.to_owned(), desk) } else { (dn.clone(), ocs) };
            let r = site.reference();
            let req = TlibMessage {
                mtype: M::REQUEST_DISTRIBUTE_USER_EVENT,
                attrs: vec![
                    (A::REFERENCE_ID, Value::Int(r)),
                    (A::THIS_DN, s(&this_dn)),
                    (A::COMMUNICATION_DN, s(if conn == ocs { &dn } else { OCS_DN })),
                    (A::USER_DATA, Value::KvList(data.clone())),
                ],
            };
            let ack = TlibMessage {
                mtype: M::EVENT_ACK,
                attrs: vec![(A::REFERENCE_ID, Value::Int(r)), (A::THIS_DN, s(&this_dn))],
            };
            site.exchange(ts, conn, req, ack, 2 * MS);
            let ev = TlibMessage {
                mtype: M::EVENT_USER_EVENT,
                attrs: vec![
                    (A::THIS_DN, s(if conn == ocs { &dn } else { OCS_DN })),
                    (A::USER_DATA, Value::KvList(data)),
                ],
            };
            site.event(ts + 3 * MS, to, ev);
        }
        t += gap;
    }
}

/// What every party of one call shares.
pub(super) struct Party {
    /// ConnID and CallUUID attributes.
    pub(super) call_base: Vec<(A, Value)>,
    pub(super) ani: String,
    pub(super) uuid: String,
    pub(super) k: u64,
    pub(super) stat: usize,
    pub(super) user_data: KvList,
}

impl Party {
    fn attrs(&self, extra: Vec<(A, Value)>) -> Vec<(A, Value)> {
        let mut a = self.call_base.clone();
        a.extend(extra);
        a
    }
}

/// One agent's part in a call: their SIP leg and T-Lib connection.
pub(super) struct AgentLeg {
    pub(super) agent: usize,
    pub(super) dn: String,
    pub(super) desk: usize,
    pub(super) leg: Dialog,
    pub(super) answered: Nanos,
}

/// SIP Server calls an agent's phone (leg `n` of the call) and tells the desktop and Stat
/// Server; the agent answers `ring` later. `from_agent`: the DN handing the call on.
#[allow(clippy::too_many_arguments)]
pub(super) fn ring_agent(
    site: &mut Site<'_>,
    p: &Party,
    agent: usize,
    dn: &str,
    desk: usize,
    n: u64,
    at: Nanos,
    ring: Nanos,
    from_agent: Option<&str>,
) -> AgentLeg {
    let k = p.k;
    let phone = SocketAddrV4::new(Ipv4Addr::new(10, 10, 2, 10 + agent as u8), 5060);
    let leg = Dialog {
        a: SocketAddrV4::new(SIP_SERVER, 5060),
        b: phone,
        from: format!("<sip:{}@10.10.0.10>;tag=ss{k}x{n}", p.ani),
        to: format!("<sip:{dn}@10.10.2.{}>", 10 + agent),
        call_id: format!("{:08X}-{k}-{n}@10.10.0.10", k.wrapping_mul(2_654_435_761) as u32),
        uuid: p.uuid.clone(),
    };
    let genesys = vec![format!("X-Genesys-CallUUID: {}", p.uuid)];
    let uri = format!("sip:{dn}@10.10.2.{}", 10 + agent);
    let invite =
        leg.request("INVITE", &uri, 1, true, &genesys, &sdp(SIP_SERVER, 30_000 + ((k * 2 + n) % 10_000) as u16 * 2));
    let br = leg.branch("INVITE", 1, true);
    site.sip(at, invite.0, invite.1, invite.2);
    let (a, b, x) = leg.response("180 Ringing", "1 INVITE", true, &br, &[], "");
    site.sip(at + 20 * MS, a, b, x);
    let mut ringing = vec![
        (A::THIS_DN, s(dn)),
        (A::OTHER_DN, s(&p.ani)),
        (A::THIS_DN_ROLE, Value::Int(2)),
        (A::OTHER_DN_ROLE, Value::Int(1)),
        (A::ANI, s(&p.ani)),
        (A::DNIS, s(DNIS)),
        (A::CALL_TYPE, Value::Int(2)),
        (A::USER_DATA, Value::KvList(p.user_data.clone())),
    ];
    if let Some(from) = from_agent {
        ringing.push((A::THIRD_PARTY_DN, s(from)));
    }
    let ringing = p.attrs(ringing);
    site.event(at + 21 * MS, desk, TlibMessage { mtype: M::EVENT_RINGING, attrs: ringing.clone() });
    site.event(at + 22 * MS, p.stat, TlibMessage { mtype: M::EVENT_RINGING, attrs: ringing });
    let answered = at + ring;
    let (a, b, x) = leg.response("200 OK", "1 INVITE", true, &br, &genesys, &sdp(*phone.ip(), 40_000));
    site.sip(answered, a, b, x);
    let (a, b, x) = leg.request("ACK", &uri, 1, true, &[], "");
    site.sip(answered + MS, a, b, x);
    let est = p.attrs(vec![
        (A::THIS_DN, s(dn)),
        (A::OTHER_DN, s(&p.ani)),
        (A::THIS_DN_ROLE, Value::Int(2)),
        (A::OTHER_DN_ROLE, Value::Int(1)),
    ]);
    site.event(answered + 4 * MS, desk, TlibMessage { mtype: M::EVENT_ESTABLISHED, attrs: est.clone() });
    site.event(answered + 5 * MS, p.stat, TlibMessage { mtype: M::EVENT_ESTABLISHED, attrs: est });
    AgentLeg { agent, dn: dn.to_owned(), desk, leg, answered }
}

/// SIP Server ends an agent's leg; with `transferred` set (1), the desktop already had its
/// EventReleased (it answered the transfer request).
pub(super) fn hang_up(site: &mut Site<'_>, p: &Party, l: &AgentLeg, at: Nanos, transferred: i64) {
    let uri = format!("sip:{}@10.10.2.{}", l.dn, 10 + l.agent);
    let (a, b, x) = l.leg.request("BYE", &uri, 2, true, &[], "");
    let br = l.leg.branch("BYE", 2, true);
    site.sip(at, a, b, x);
    let (a, b, x) = l.leg.response("200 OK", "2 BYE", true, &br, &[], "");
    site.sip(at + 10 * MS, a, b, x);
    let rel = p.attrs(vec![(A::THIS_DN, s(&l.dn)), (A::OTHER_DN, s(&p.ani)), (A::CALL_STATE, Value::Int(transferred))]);
    if transferred == 0 {
        site.event(at + 11 * MS, l.desk, TlibMessage { mtype: M::EVENT_RELEASED, attrs: rel.clone() });
    }
    site.event(at + 12 * MS, p.stat, TlibMessage { mtype: M::EVENT_RELEASED, attrs: rel });
}

/// After-call work done: the agent is ready again.
pub(super) fn ready(site: &mut Site<'_>, agent: usize, dn: &str, desk: usize, at: Nanos) {
    let r = site.reference();
    let attrs = vec![
        (A::REFERENCE_ID, Value::Int(r)),
        (A::THIS_DN, s(dn)),
        (A::AGENT_ID, s(&format!("agent{:03}", agent + 1))),
    ];
    site.exchange(
        at,
        desk,
        TlibMessage { mtype: M::REQUEST_AGENT_READY, attrs: attrs.clone() },
        TlibMessage { mtype: M::EVENT_AGENT_READY, attrs },
        MS,
    );
}
