//! pcapng (draft-ietf-opsawg-pcapng): sections, interfaces, packets and the metadata blocks.

use super::{read_exact_or, CaptureFile, InterfaceInfo, NameRecord, Secrets, Step};
use crate::{CaptureError, Nanos};
use iotw_wire::LinkType;
use std::net::IpAddr;

impl CaptureFile {
    /// Reads the rest of a Section Header Block whose type (4 bytes) was already consumed.
    pub(super) fn read_section_header(&mut self) -> Result<(), CaptureError> {
        if !self.fill(8, "section header")? {
            return Err(self.truncated("section header"));
        }
        self.big_endian = match [self.buf[4], self.buf[5], self.buf[6], self.buf[7]] {
            [0x1a, 0x2b, 0x3c, 0x4d] => true,
            [0x4d, 0x3c, 0x2b, 0x1a] => false,
            _ => return Err(self.malformed("section header byte-order magic is wrong")),
        };
        let total = self.u32_at(0, self.big_endian) as usize;
        let body = self.block_body_len(total)?;
        // Skip version, section length and options; trailing length is part of `body`.
        if !self.fill(body - 4, "section header")? && body > 4 {
            return Err(self.truncated("section header"));
        }
        self.section_base = self.interfaces.len();
        Ok(())
    }

    /// Validates a block's total length and returns the bytes left after type and length.
    fn block_body_len(&self, total: usize) -> Result<usize, CaptureError> {
        if total < 12 || !total.is_multiple_of(4) {
            return Err(self.malformed(format!("block length {total} is not a multiple of 4 of at least 12")));
        }
        if total > self.limits.max_block {
            return Err(self.malformed(format!("block length {total} is above the {} limit", self.limits.max_block)));
        }
        Ok(total - 8)
    }

    pub(super) fn next_pcapng(&mut self) -> Result<Step, CaptureError> {
        if !self.fill(8, "block header")? {
            return Ok(Step::Eof);
        }
        let be = self.big_endian;
        let kind = self.u32_at(0, be);
        if kind == 0x0a0d_0d0a {
            // A new section: byte order may change, interface ids restart.
            let len_bytes = [self.buf[4], self.buf[5], self.buf[6], self.buf[7]];
            self.offset -= 4;
            self.buf.clear();
            self.buf.extend_from_slice(&len_bytes);
            // Re-read: the total length must be decoded with the new section's byte order.
            let mut rest = [0u8; 4];
            read_exact_or(&mut self.input, &mut rest, &self.path, self.offset, "section header")?;
            self.offset += 4;
            self.big_endian = match rest {
                [0x1a, 0x2b, 0x3c, 0x4d] => true,
                [0x4d, 0x3c, 0x2b, 0x1a] => false,
                _ => return Err(self.malformed("section header byte-order magic is wrong")),
            };
            let total = if self.big_endian { u32::from_be_bytes(len_bytes) } else { u32::from_le_bytes(len_bytes) };
            let body = self.block_body_len(total as usize)?;
            if !self.fill(body - 4, "section header")? && body > 4 {
                return Err(self.truncated("section header"));
            }
            self.section_base = self.interfaces.len();
            return Ok(Step::Again);
        }
        let total = self.u32_at(4, be) as usize;
        let body = self.block_body_len(total)?;
        if !self.fill(body, "block body")? {
            return Err(self.truncated("block body"));
        }
        let trailer = self.u32_at(body - 4, be) as usize;
        if trailer != total {
            return Err(self.malformed(format!("block trailer length {trailer} differs from header {total}")));
        }
        let body = body - 4;
        match kind {
            1 => self.interface_description(body)?,
            2 | 6 => return self.enhanced_packet(kind, body),
            3 => return self.simple_packet(body),
            4 => self.name_resolution(body),
            5 => self.interface_statistics(body)?,
            0x0000_000a => self.decryption_secrets(body)?,
            _ => self.skipped_blocks += 1,
        }
        Ok(Step::Again)
    }

    fn interface_description(&mut self, body: usize) -> Result<(), CaptureError> {
        if body < 8 {
            return Err(self.malformed("interface description block too short"));
        }
        let be = self.big_endian;
        let mut info = InterfaceInfo {
            link: LinkType(u32::from(self.u16_at(0, be))),
            snaplen: self.u32_at(4, be),
            name: None,
            tsresol: (10, 6),
            tsoffset: 0,
            received: None,
            dropped: None,
        };
        for (code, v) in options(&self.buf[8..body], be) {
            match code {
                2 => info.name = Some(String::from_utf8_lossy(v).trim_end_matches('\0').to_owned()),
                9 if v.len() == 1 => {
                    info.tsresol = if v[0] & 0x80 != 0 { (2, v[0] & 0x7f) } else { (10, v[0]) };
                }
                14 if v.len() == 8 => {
                    let b: [u8; 8] = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
                    info.tsoffset = if be { i64::from_be_bytes(b) } else { i64::from_le_bytes(b) };
                }
                _ => {}
            }
        }
        // 2^-64 or 10^-20 and finer cannot be represented; treat as malformed, not as a panic.
        if (info.tsresol.0 == 10 && info.tsresol.1 > 19) || (info.tsresol.0 == 2 && info.tsresol.1 > 63) {
            return Err(self.malformed("if_tsresol finer than the reader supports"));
        }
        self.interfaces.push(info);
        Ok(())
    }

    fn enhanced_packet(&mut self, kind: u32, body: usize) -> Result<Step, CaptureError> {
        if body < 20 {
            return Err(self.malformed("packet block too short"));
        }
        let be = self.big_endian;
        let iface = if kind == 2 { u32::from(self.u16_at(0, be)) } else { self.u32_at(0, be) };
        let ts_units = (u64::from(self.u32_at(4, be)) << 32) | u64::from(self.u32_at(8, be));
        let caplen = self.u32_at(12, be) as usize;
        let orig = self.u32_at(16, be);
        if caplen > body - 20 {
            return Err(self.malformed(format!("captured length {caplen} exceeds its block")));
        }
        let global = self.section_base + iface as usize;
        let Some(info) = self.interfaces.get(global) else {
            return Err(self.malformed(format!("packet names interface {iface}, which was never described")));
        };
        let ts = to_nanos(ts_units, info.tsresol).saturating_add(info.tsoffset.saturating_mul(1_000_000_000));
        self.cur = Some((ts, global as u32, orig, 20..20 + caplen));
        Ok(Step::Frame)
    }

    fn simple_packet(&mut self, body: usize) -> Result<Step, CaptureError> {
        if body < 4 {
            return Err(self.malformed("simple packet block too short"));
        }
        let orig = self.u32_at(0, self.big_endian);
        let Some(info) = self.interfaces.get(self.section_base) else {
            return Err(self.malformed("simple packet before any interface description"));
        };
        let mut caplen = (orig as usize).min(body - 4);
        if info.snaplen != 0 {
            caplen = caplen.min(info.snaplen as usize);
        }
        // Simple Packet Blocks carry no timestamp: they inherit the epoch, as tshark shows them.
        self.cur = Some((0, self.section_base as u32, orig, 4..4 + caplen));
        Ok(Step::Frame)
    }

    fn name_resolution(&mut self, body: usize) {
        let be = self.big_endian;
        let mut at = 0usize;
        while at + 4 <= body {
            let rtype = self.u16_at(at, be);
            let rlen = usize::from(self.u16_at(at + 2, be));
            let start = at + 4;
            let end = start + rlen;
            if rtype == 0 || end > body {
                break;
            }
            let v = &self.buf[start..end];
            let rec = match (rtype, rlen) {
                (1, n) if n >= 4 => Some((IpAddr::from([v[0], v[1], v[2], v[3]]), &v[4..])),
                (2, n) if n >= 16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&v[..16]);
                    Some((IpAddr::from(a), &v[16..]))
                }
                _ => None,
            };
            if let Some((addr, names)) = rec {
                let names = names
                    .split(|b| *b == 0)
                    .filter(|n| !n.is_empty())
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .collect();
                self.names.push(NameRecord { addr, names });
            }
            at = start + rlen.div_ceil(4) * 4;
        }
    }

    fn interface_statistics(&mut self, body: usize) -> Result<(), CaptureError> {
        if body < 12 {
            return Err(self.malformed("interface statistics block too short"));
        }
        let be = self.big_endian;
        let global = self.section_base + self.u32_at(0, be) as usize;
        let mut recv = None;
        let mut drop = None;
        for (code, v) in options(&self.buf[12..body], be) {
            if v.len() == 8 {
                let b: [u8; 8] = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
                let n = if be { u64::from_be_bytes(b) } else { u64::from_le_bytes(b) };
                match code {
                    4 => recv = Some(n),
                    5 => drop = Some(n),
                    _ => {}
                }
            }
        }
        if let Some(info) = self.interfaces.get_mut(global) {
            info.received = recv.or(info.received);
            info.dropped = drop.or(info.dropped);
        }
        Ok(())
    }

    fn decryption_secrets(&mut self, body: usize) -> Result<(), CaptureError> {
        if body < 8 {
            return Err(self.malformed("decryption secrets block too short"));
        }
        let be = self.big_endian;
        let kind = self.u32_at(0, be);
        let len = self.u32_at(4, be) as usize;
        if len > body - 8 {
            return Err(self.malformed(format!("secrets length {len} exceeds its block")));
        }
        self.secrets.push(Secrets { kind, data: self.buf[8..8 + len].to_vec() });
        Ok(())
    }
}

/// Iterates pcapng options `(code, value)` until opt_endofopt or the end of the bytes.
fn options(mut b: &[u8], be: bool) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let rd = |x: [u8; 2]| {
            if be {
                u16::from_be_bytes(x)
            } else {
                u16::from_le_bytes(x)
            }
        };
        let code = rd([b[0], b[1]]);
        let len = usize::from(rd([b[2], b[3]]));
        if code == 0 || 4 + len > b.len() {
            return None;
        }
        let v = &b[4..4 + len];
        let step = (4 + len.div_ceil(4) * 4).min(b.len());
        b = &b[step..];
        Some((code, v))
    })
}

/// Converts a timestamp in units of base^-exp seconds to nanoseconds, saturating.
fn to_nanos(units: u64, (base, exp): (u8, u8)) -> Nanos {
    let n: u128 = if base == 2 {
        (u128::from(units) * 1_000_000_000) >> exp
    } else if exp <= 9 {
        u128::from(units) * 10u128.pow(u32::from(9 - exp))
    } else {
        u128::from(units) / 10u128.pow(u32::from(exp - 9))
    };
    i64::try_from(n).unwrap_or(i64::MAX)
}
