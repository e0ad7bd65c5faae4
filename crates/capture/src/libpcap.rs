//! Live capture through libpcap (Linux, macOS) or Npcap (Windows), behind the `libpcap`
//! feature. The filter text is compiled by libpcap itself (same tcpdump syntax). Same shape
//! as [`crate::live::LiveCapture`] so the binary drives either.

use crate::{CaptureError, Frame, LiveConfig, LiveSource};
use iotw_wire::LinkType;
use std::io;

/// An open libpcap capture on one interface.
pub struct PcapCapture {
    cap: pcap::Capture<pcap::Active>,
    link: LinkType,
    source: u16,
    interface: String,
    /// Frames delivered to the caller.
    pub delivered: u64,
}

impl std::fmt::Debug for PcapCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapCapture").field("interface", &self.interface).finish()
    }
}

fn err(interface: &str, what: &'static str, e: pcap::Error) -> CaptureError {
    CaptureError::Live { interface: interface.to_owned(), what, source: io::Error::other(e.to_string()) }
}

impl PcapCapture {
    pub fn open(cfg: &LiveConfig, source: u16) -> Result<Self, CaptureError> {
        let name = cfg.interface.as_str();
        let cap = pcap::Capture::from_device(name)
            .map_err(|e| err(name, "no such interface", e))?
            .promisc(true)
            .snaplen(cfg.snaplen as i32)
            .buffer_size(cfg.block_size.saturating_mul(cfg.blocks).min(i32::MAX as u32) as i32)
            .immediate_mode(true)
            .open()
            .map_err(|e| err(name, "cannot open the interface (needs administrator rights)", e))?;
        let mut cap = cap.setnonblock().map_err(|e| err(name, "cannot set non-blocking mode", e))?;
        if !cfg.filter.is_empty() {
            cap.filter(&cfg.filter.text, true).map_err(|e| err(name, "libpcap refused the filter", e))?;
        }
        let link = LinkType(cap.get_datalink().0 as u32);
        Ok(PcapCapture { cap, link, source, interface: name.to_owned(), delivered: 0 })
    }

    pub fn link(&self) -> LinkType {
        self.link
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Hands up to one ring's worth of waiting frames to `f`; sleeps briefly when idle.
    pub fn poll_block(&mut self, timeout_ms: i32, f: &mut dyn FnMut(Frame<'_>)) -> Result<usize, CaptureError> {
        let mut n = 0;
        while n < 4096 {
            match self.cap.next_packet() {
                Ok(p) => {
                    // timeval fields are i64 on Linux and macOS but c_long (i32) on Windows.
                    #[allow(clippy::unnecessary_cast)]
                    let ts = p.header.ts.tv_sec as i64 * 1_000_000_000 + p.header.ts.tv_usec as i64 * 1000;
                    f(Frame {
                        ts,
                        link: self.link,
                        source: self.source,
                        interface: 0,
                        data: p.data,
                        orig_len: p.header.len,
                    });
                    n += 1;
                }
                Err(pcap::Error::TimeoutExpired) => break,
                Err(e) => return Err(err(&self.interface, "capture failed", e)),
            }
        }
        if n == 0 {
            std::thread::sleep(std::time::Duration::from_millis(timeout_ms.clamp(1, 10) as u64));
        }
        self.delivered += n as u64;
        Ok(n)
    }

    /// libpcap's counters: (received, dropped by the buffer, dropped by the interface).
    pub fn stats(&mut self) -> (u64, u64, u64) {
        match self.cap.stats() {
            Ok(s) => (u64::from(s.received), u64::from(s.dropped), u64::from(s.if_dropped)),
            Err(_) => (0, 0, 0),
        }
    }
}

impl LiveSource for PcapCapture {
    fn interface(&self) -> &str {
        &self.interface
    }
    fn poll_block(&mut self, timeout_ms: i32, f: &mut dyn FnMut(Frame<'_>)) -> Result<usize, CaptureError> {
        PcapCapture::poll_block(self, timeout_ms, f)
    }
    fn counters(&mut self) -> (u64, u64) {
        let (recv, drop, if_drop) = self.stats();
        (recv, drop + if_drop)
    }
    fn delivered(&self) -> u64 {
        self.delivered
    }
}
