//! Flows: from packets to conversations and ordered byte streams.
//!
//! - [`key`]: the bidirectional flow key (5-tuple + VLAN) and Community ID v1.
//! - [`defrag`]: IPv4/IPv6 fragment reassembly with timeouts and caps.
//! - [`reassembly`]: one direction of a TCP stream in order, gaps handed on as gaps.
//! - [`tcp`]: TCP state as Zeek summarises it (`history` letters, `conn_state`).
//! - [`table`]: the flow table tying them together, driven by packet time.
//!
//! Not in scope: checksum validation, TCP window tracking, SCTP/QUIC streams, tunnels.

pub mod defrag;
pub mod key;
pub mod reassembly;
pub mod table;
pub mod tcp;

pub use key::{community_id, Endpoint, FlowKey};
pub use table::{
    Counts, Dir, EndReason, FlowAnomaly, FlowConfig, FlowHandler, FlowMeta, FlowStats, FlowTable, Nanos, Payload,
};
