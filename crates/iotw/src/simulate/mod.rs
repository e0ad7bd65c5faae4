//! `iotw simulate`: a synthetic contact centre on the wire, for tests, demos and calibration.
//!
//! It writes a pcapng of a SIP Server with a SIP trunk and agent phones (real SIP with
//! X-Genesys-CallUUID) and its T-Library clients (URS, Stat Server, one desktop per agent)
//! speaking the active wire profile; inbound calls are routed, answered or abandoned along
//! the public call models (genesys_wire.md §11.2-§11.3). Next to it: the ground truth (NDJSON,
//! every message put on the wire) and a T-Server log in the public text format (§11.4).
//! Everything it makes is labelled synthetic; phone numbers come from Ofcom's ranges kept
//! for drama, postcodes are public district examples.

mod agents;
mod net;
mod record;
mod sip;
mod site;

pub use site::{simulate, SimConfig, SimReport, SERVER_VERSION};
