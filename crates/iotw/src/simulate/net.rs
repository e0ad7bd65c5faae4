//! Turning the simulated site's messages into packets: TCP connections with consistent
//! sequence numbers (handshake, data in segments of at most one MSS, close) and UDP
//! datagrams, as raw IPv4 frames in a pcapng file.

use iotw_capture::write::PcapngWriter;
use iotw_wire::{Ipv4Header, LinkType, TcpFlags, TcpHeader, UdpHeader};
use std::io::Write;
use std::net::SocketAddrV4;

/// Largest TCP payload per segment.
const MSS: usize = 1460;

/// One thing that happens on the wire, before it is turned into packets.
#[derive(Debug, Clone)]
pub enum Wire {
    /// TCP handshake of connection `conn`.
    Open {
        conn: usize,
    },
    /// Bytes on connection `conn`, from the client when `from_client`.
    Data {
        conn: usize,
        from_client: bool,
        bytes: Vec<u8>,
    },
    /// Both sides close connection `conn`.
    Close {
        conn: usize,
    },
    Udp {
        src: SocketAddrV4,
        dst: SocketAddrV4,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub struct Conn {
    pub client: SocketAddrV4,
    pub server: SocketAddrV4,
    seq: [u32; 2],
}

impl Conn {
    pub fn new(client: SocketAddrV4, server: SocketAddrV4, isn: u32) -> Self {
        Conn { client, server, seq: [isn, isn.wrapping_mul(2_654_435_761)] }
    }
}

/// Writes wire events, in time order, as packets.
#[derive(Debug)]
pub struct Net<W: Write> {
    out: PcapngWriter<W>,
    pub conns: Vec<Conn>,
    pub packets: u64,
    pub bytes: u64,
    frame: Vec<u8>,
}

impl<W: Write> Net<W> {
    pub fn new(out: W) -> std::io::Result<Self> {
        let out =
            PcapngWriter::new(out, LinkType::RAW, "iotw simulate: SYNTHETIC traffic of a simulated contact centre")?;
        Ok(Net { out, conns: Vec::new(), packets: 0, bytes: 0, frame: Vec::with_capacity(2048) })
    }

    fn ip(&mut self, ts: i64, src: SocketAddrV4, dst: SocketAddrV4, proto: u8, l4: &[u8]) -> std::io::Result<()> {
        self.frame.clear();
        let h = Ipv4Header {
            src: *src.ip(),
            dst: *dst.ip(),
            protocol: proto,
            ttl: 64,
            header_len: 20,
            total_len: 20 + l4.len(),
            fragment: None,
        };
        h.emit(l4.len(), &mut self.frame);
        self.frame.extend_from_slice(l4);
        self.packets += 1;
        self.bytes += self.frame.len() as u64;
        self.out.packet(ts, &self.frame)
    }

    fn tcp(&mut self, ts: i64, conn: usize, from_client: bool, flags: u16, data: &[u8]) -> std::io::Result<()> {
        let c = &mut self.conns[conn];
        let (i, j) = if from_client { (0, 1) } else { (1, 0) };
        let (src, dst) = if from_client { (c.client, c.server) } else { (c.server, c.client) };
        let header = TcpHeader {
            src_port: src.port(),
            dst_port: dst.port(),
            seq: c.seq[i],
            ack: if flags & TcpFlags::ACK != 0 { c.seq[j] } else { 0 },
            header_len: 20,
            flags: TcpFlags(flags),
            window: 65_535,
        };
        let advance = data.len() as u32 + u32::from(flags & (TcpFlags::SYN | TcpFlags::FIN) != 0);
        c.seq[i] = c.seq[i].wrapping_add(advance);
        let mut l4 = Vec::with_capacity(20 + data.len());
        header.emit(&mut l4);
        l4.extend_from_slice(data);
        self.ip(ts, src, dst, 6, &l4)
    }

    /// Writes one wire event at `ts`; its packets are 1 µs apart.
    pub fn write(&mut self, ts: i64, w: &Wire) -> std::io::Result<()> {
        const A: u16 = TcpFlags::ACK;
        match w {
            Wire::Open { conn } => {
                self.tcp(ts, *conn, true, TcpFlags::SYN, &[])?;
                self.tcp(ts + 1_000, *conn, false, TcpFlags::SYN | A, &[])?;
                self.tcp(ts + 2_000, *conn, true, A, &[])
            }
            Wire::Data { conn, from_client, bytes } => {
                for (k, seg) in bytes.chunks(MSS).enumerate() {
                    self.tcp(ts + k as i64 * 1_000, *conn, *from_client, A | TcpFlags::PSH, seg)?;
                }
                Ok(())
            }
            Wire::Close { conn } => {
                self.tcp(ts, *conn, true, TcpFlags::FIN | A, &[])?;
                self.tcp(ts + 1_000, *conn, false, TcpFlags::FIN | A, &[])?;
                self.tcp(ts + 2_000, *conn, true, A, &[])
            }
            Wire::Udp { src, dst, bytes } => {
                let mut l4 = Vec::with_capacity(8 + bytes.len());
                UdpHeader { src_port: src.port(), dst_port: dst.port(), length: (8 + bytes.len()) as u16 }
                    .emit(&mut l4);
                l4.extend_from_slice(bytes);
                self.ip(ts, *src, *dst, 17, &l4)
            }
        }
    }

    pub fn finish(self) -> std::io::Result<W> {
        self.out.finish()
    }
}
