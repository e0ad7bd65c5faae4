//! TCP connection state as an observer sees it: Zeek's `history` letters and `conn_state`
//! (Zeek `base/protocols/conn/main.zeek`), computed from the packets of both directions.

use iotw_wire::TcpFlags;

/// Per-direction observations that the connection state is derived from.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirSeen {
    pub syn: bool,
    pub syn_ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub data: bool,
}

/// History letters, each recorded once per direction, upper case for the originator.
#[derive(Debug, Clone, Default)]
pub struct History {
    letters: String,
    seen_orig: u32,
    seen_resp: u32,
}

/// Zeek history letters. `^` (flipped) is recorded by the flow table.
pub mod letter {
    pub const SYN: char = 'S';
    pub const SYN_ACK: char = 'H';
    pub const ACK: char = 'A';
    pub const DATA: char = 'D';
    pub const FIN: char = 'F';
    pub const RST: char = 'R';
    pub const RETRANSMIT: char = 'T';
    pub const GAP: char = 'G';
    pub const INCONSISTENT: char = 'I';
    pub const MULTI_FLAG: char = 'Q';
    pub const ZERO_WINDOW: char = 'W';
    pub const FLIPPED: char = '^';
}

impl History {
    /// Records `c` for the originator (`orig == true`) or responder, once per direction.
    pub fn add(&mut self, orig: bool, c: char) {
        let bit = 1u32 << (c.to_ascii_uppercase() as u32 % 32);
        let seen = if orig { &mut self.seen_orig } else { &mut self.seen_resp };
        if *seen & bit != 0 {
            return;
        }
        *seen |= bit;
        self.letters.push(if orig { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() });
    }

    /// Records `^` (the originator was inferred from a SYN-ACK or mid-stream pickup).
    pub fn flip(&mut self) {
        if !self.letters.contains('^') {
            self.letters.insert(0, '^');
        }
    }

    pub fn as_str(&self) -> &str {
        &self.letters
    }
}

/// Records the letters a segment's flags and payload warrant.
pub fn observe(h: &mut History, seen: &mut DirSeen, orig: bool, flags: TcpFlags, window: u16, payload_len: usize) {
    let (syn, ack, fin, rst) = (flags.syn(), flags.ack(), flags.fin(), flags.rst());
    if syn && (fin || rst) {
        h.add(orig, letter::MULTI_FLAG);
    } else if fin && rst {
        h.add(orig, letter::INCONSISTENT);
    }
    if syn && ack {
        seen.syn_ack = true;
        h.add(orig, letter::SYN_ACK);
    } else if syn {
        seen.syn = true;
        h.add(orig, letter::SYN);
    }
    if fin {
        seen.fin = true;
        h.add(orig, letter::FIN);
    }
    if rst {
        seen.rst = true;
        h.add(orig, letter::RST);
    }
    if payload_len > 0 {
        seen.data = true;
        h.add(orig, letter::DATA);
    } else if ack && !syn && !fin && !rst {
        h.add(orig, letter::ACK);
    }
    if window == 0 && !syn && !rst {
        h.add(orig, letter::ZERO_WINDOW);
    }
}

/// Zeek's `conn_state` summary of a TCP connection.
pub fn conn_state(o: &DirSeen, r: &DirSeen) -> &'static str {
    let established = o.syn && r.syn_ack;
    match () {
        _ if o.syn && !r.syn_ack && r.rst => "REJ",
        _ if o.syn && !r.syn_ack && o.rst => "RSTOS0",
        _ if r.syn_ack && !o.syn && r.rst => "RSTRH",
        _ if established && o.rst => "RSTO",
        _ if established && r.rst => "RSTR",
        _ if established && o.fin && r.fin => "SF",
        _ if established && o.fin => "S2",
        _ if established && r.fin => "S3",
        _ if established => "S1",
        _ if o.syn && o.fin && !r.syn_ack => "SH",
        _ if r.syn_ack && r.fin && !o.syn => "SHR",
        _ if o.syn && !r.syn_ack && !r.data && !r.fin => "S0",
        _ => "OTH",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u16 = TcpFlags::SYN;
    const A: u16 = TcpFlags::ACK;
    const F: u16 = TcpFlags::FIN;
    const R: u16 = TcpFlags::RST;

    fn run(pkts: &[(bool, u16, usize)]) -> (String, &'static str) {
        let mut h = History::default();
        let (mut o, mut r) = (DirSeen::default(), DirSeen::default());
        for &(orig, fl, len) in pkts {
            let seen = if orig { &mut o } else { &mut r };
            observe(&mut h, seen, orig, TcpFlags(fl), 100, len);
        }
        (h.as_str().to_owned(), conn_state(&o, &r))
    }

    #[test]
    fn a_whole_connection_is_sf_with_zeek_history() {
        let got = run(&[
            (true, S, 0),
            (false, S | A, 0),
            (true, A, 0),
            (true, A, 10),
            (false, A, 20),
            (true, F | A, 0),
            (false, F | A, 0),
            (true, A, 0),
        ]);
        assert_eq!(got, ("ShADdFf".to_owned(), "SF"));
    }

    #[test]
    fn refused_connection_is_rej() {
        assert_eq!(run(&[(true, S, 0), (false, R | A, 0)]), ("Sr".to_owned(), "REJ"));
    }

    #[test]
    fn unanswered_syn_is_s0() {
        assert_eq!(run(&[(true, S, 0), (true, S, 0)]).1, "S0");
    }

    #[test]
    fn mid_stream_pickup_is_oth() {
        assert_eq!(run(&[(true, A, 5), (false, A, 0)]).1, "OTH");
    }

    #[test]
    fn syn_with_fin_is_a_multi_flag_packet() {
        assert!(run(&[(true, S | F, 0)]).0.contains('Q'));
    }
}
