//! Field names, one constant each, so a typo is a compile error. docs/events.md is the
//! user-facing list; keep the two in step.

pub const TIMESTAMP: &str = "@timestamp";
pub const MESSAGE: &str = "message";

pub const EVENT_KIND: &str = "event.kind";
pub const EVENT_DATASET: &str = "event.dataset";
pub const EVENT_CATEGORY: &str = "event.category";
pub const EVENT_TYPE: &str = "event.type";
pub const EVENT_START: &str = "event.start";
pub const EVENT_END: &str = "event.end";
pub const EVENT_DURATION: &str = "event.duration";
pub const EVENT_REASON: &str = "event.reason";

pub const SOURCE_IP: &str = "source.ip";
pub const SOURCE_PORT: &str = "source.port";
pub const SOURCE_PACKETS: &str = "source.packets";
pub const SOURCE_BYTES: &str = "source.bytes";
pub const DESTINATION_IP: &str = "destination.ip";
pub const DESTINATION_PORT: &str = "destination.port";
pub const DESTINATION_PACKETS: &str = "destination.packets";
pub const DESTINATION_BYTES: &str = "destination.bytes";

pub const NETWORK_TRANSPORT: &str = "network.transport";
pub const NETWORK_TYPE: &str = "network.type";
pub const NETWORK_IANA_NUMBER: &str = "network.iana_number";
pub const NETWORK_COMMUNITY_ID: &str = "network.community_id";
pub const NETWORK_BYTES: &str = "network.bytes";
pub const NETWORK_PACKETS: &str = "network.packets";
pub const NETWORK_VLAN_ID: &str = "network.vlan.id";
pub const RELATED_IP: &str = "related.ip";

pub const FLOW_ID: &str = "flow.id";
pub const FLOW_FINAL: &str = "flow.final";
pub const FLOW_STATE: &str = "flow.state";
pub const FLOW_HISTORY: &str = "flow.history";
pub const FLOW_END_REASON: &str = "flow.end_reason";
pub const FLOW_SOURCE_PAYLOAD_BYTES: &str = "flow.source_payload_bytes";
pub const FLOW_DESTINATION_PAYLOAD_BYTES: &str = "flow.destination_payload_bytes";
pub const FLOW_RETRANSMITTED_BYTES: &str = "flow.retransmitted_bytes";
pub const FLOW_MISSING_BYTES: &str = "flow.missing_bytes";
pub const FLOW_PROTOCOL: &str = "flow.protocol";

pub const OBSERVER_TYPE: &str = "observer.type";
pub const OBSERVER_VERSION: &str = "observer.version";
pub const IOTW_CAPTURE_SOURCE: &str = "iotw.capture.source";
pub const IOTW_FRAME: &str = "iotw.frame";

/// The roles of tagged values ([`crate::Tag`]): a phone number in each of these roles becomes
/// `phone.<role>.*` when geotagged (docs/events.md), except [`role::NO_PERSONAL_DATA`].
pub mod role {
    /// Not a value but a stretch of whole members, keys included, that iotw writes from packet
    /// headers and its configuration alone (addresses, ports, transport, protocol, and what IP
    /// geolocation adds to them): it holds no personal data, and masking passes over it.
    pub const NO_PERSONAL_DATA: &str = "no_personal_data";
    /// The calling party: SIP From, a call's caller, T-Library ANI.
    pub const CALLER: &str = "caller";
    /// The called party: SIP To, a call's callee, T-Library DNIS.
    pub const CALLEE: &str = "callee";
    /// The SIP Request-URI's user.
    pub const TARGET: &str = "target";
    /// The first P-Asserted-Identity header (a header value, not a bare number).
    pub const ASSERTED: &str = "asserted";
    /// The first Diversion header (a header value).
    pub const DIVERSION: &str = "diversion";
    /// T-Library OtherDN.
    pub const OTHER: &str = "other";
    /// T-Library ThisDN.
    pub const THIS: &str = "this";
    /// An outbound record's phone number.
    pub const OUTBOUND: &str = "outbound";
    /// The attached data (an object): searched for a phone number and a postcode.
    pub const USER_DATA: &str = "user_data";
}
