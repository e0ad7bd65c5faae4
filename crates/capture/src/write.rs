//! Writing pcapng files (for the site simulator and tests): one section, one interface,
//! nanosecond timestamps, Enhanced Packet Blocks.

use crate::Nanos;
use iotw_wire::LinkType;
use std::io::{self, Write};

/// A pcapng file being written.
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    out: W,
}

fn block(out: &mut impl Write, kind: u32, body: &[u8]) -> io::Result<()> {
    let pad = (4 - body.len() % 4) % 4;
    let total = u32::try_from(12 + body.len() + pad).map_err(|_| io::Error::other("pcapng block too large"))?;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&[0; 3][..pad])?;
    out.write_all(&total.to_le_bytes())
}

fn option(body: &mut Vec<u8>, code: u16, value: &[u8]) {
    body.extend_from_slice(&code.to_le_bytes());
    body.extend_from_slice(&(value.len() as u16).to_le_bytes());
    body.extend_from_slice(value);
    body.resize(body.len() + (4 - value.len() % 4) % 4, 0);
}

impl<W: Write> PcapngWriter<W> {
    /// Starts the file: a section header (with `comment`) and one interface of `link`.
    pub fn new(mut out: W, link: LinkType, comment: &str) -> io::Result<Self> {
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        option(&mut shb, 1, comment.as_bytes()); // opt_comment
        option(&mut shb, 4, b"iotw"); // shb_userappl
        option(&mut shb, 0, &[]);
        block(&mut out, 0x0a0d_0d0a, &shb)?;
        let mut idb = Vec::new();
        idb.extend_from_slice(&(link.0 as u16).to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes()); // no snap length
        option(&mut idb, 2, b"sim0"); // if_name
        option(&mut idb, 9, &[9]); // if_tsresol: nanoseconds
        option(&mut idb, 0, &[]);
        block(&mut out, 1, &idb)?;
        Ok(PcapngWriter { out })
    }

    /// One packet captured at `ts` (nanoseconds since the epoch).
    pub fn packet(&mut self, ts: Nanos, data: &[u8]) -> io::Result<()> {
        let ts = ts.max(0) as u64;
        let len = u32::try_from(data.len()).map_err(|_| io::Error::other("packet too large"))?;
        let mut epb = Vec::with_capacity(20 + data.len());
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(ts as u32).to_le_bytes());
        epb.extend_from_slice(&len.to_le_bytes());
        epb.extend_from_slice(&len.to_le_bytes());
        epb.extend_from_slice(data);
        block(&mut self.out, 6, &epb)
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CaptureFile, FileLimits};

    #[test]
    fn written_files_read_back_frame_for_frame() {
        let mut w = PcapngWriter::new(Vec::new(), LinkType::RAW, "synthetic").unwrap();
        let frames: Vec<(i64, Vec<u8>)> =
            (0..5).map(|i| (1_700_000_000_123_456_789 + i, vec![0x45; 20 + i as usize])).collect();
        for (ts, d) in &frames {
            w.packet(*ts, d).unwrap();
        }
        let bytes = w.finish().unwrap();
        let len = bytes.len() as u64;
        let mut f = CaptureFile::from_reader(
            std::path::Path::new("mem"),
            Box::new(std::io::Cursor::new(bytes)),
            len,
            0,
            FileLimits::default(),
        )
        .unwrap();
        for (ts, d) in &frames {
            let fr = f.next_frame().unwrap().unwrap();
            assert_eq!((fr.ts, fr.link, fr.data), (*ts, LinkType::RAW, &d[..]));
        }
        assert!(f.next_frame().unwrap().is_none());
    }
}
