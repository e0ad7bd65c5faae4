//! Live capture on Linux: an AF_PACKET socket with a TPACKET_V3 memory-mapped receive ring
//! (packet(7), Documentation/networking/packet_mmap.rst). No libpcap.
//!
//! - The filter is compiled to classic BPF and attached before the socket is bound, so the
//!   kernel drops unwanted packets before they reach the ring.
//! - On loopback the kernel delivers every packet twice (outgoing and incoming); the program
//!   rejects the outgoing copy (`SKF_AD_PKTTYPE == PACKET_OUTGOING`), so each is seen once.
//! - VLAN tags that the kernel stripped into packet metadata are put back into the frame, so
//!   the wire layer sees what was on the wire.
//! - Kernel counters (`PACKET_STATISTICS`) are read and accumulated: packets and drops.

#![allow(unsafe_code)]

use crate::filter::bpf::{self, Insn, Layout};
use crate::{CaptureError, Frame, LiveConfig, LiveSource};
use iotw_wire::LinkType;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Kernel counters since the socket was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets the filter accepted (including those then dropped).
    pub packets: u64,
    /// Packets dropped because the ring was full.
    pub drops: u64,
    pub freeze_count: u64,
}

/// An open capture on one interface.
#[derive(Debug)]
pub struct LiveCapture {
    fd: OwnedFd,
    ring: *mut u8,
    ring_len: usize,
    block_size: usize,
    blocks: usize,
    next: usize,
    link: LinkType,
    source: u16,
    stats: KernelStats,
    interface: String,
    /// Frames delivered to the caller.
    pub delivered: u64,
}

// The ring is owned by this value alone; nothing else maps it.
unsafe impl Send for LiveCapture {}

const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const PACKET_OUTGOING: u32 = 4;
const SKF_AD_PKTTYPE: u32 = 4;
const ARPHRD_ETHER: u32 = 1;
const ARPHRD_LOOPBACK: u32 = 772;
const ARPHRD_NONE: u32 = 65534;

#[repr(C)]
struct TpacketReq3 {
    tp_block_size: u32,
    tp_block_nr: u32,
    tp_frame_size: u32,
    tp_frame_nr: u32,
    tp_retire_blk_tov: u32,
    tp_sizeof_priv: u32,
    tp_feature_req_word: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const Insn,
}

#[repr(C)]
struct TpacketStatsV3 {
    tp_packets: u32,
    tp_drops: u32,
    tp_freeze_q_cnt: u32,
}

fn last_err(interface: &str, what: &'static str) -> CaptureError {
    CaptureError::Live { interface: interface.to_owned(), what, source: io::Error::last_os_error() }
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` points to a live value of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl LiveCapture {
    /// Opens the interface, attaches the filter and maps the ring. Needs CAP_NET_RAW.
    pub fn open(cfg: &LiveConfig, source: u16) -> Result<Self, CaptureError> {
        let name = cfg.interface.as_str();
        let hw_type = std::fs::read_to_string(format!("/sys/class/net/{name}/type"))
            .map_err(|source| CaptureError::Live { interface: name.into(), what: "no such interface", source })?;
        let hw_type: u32 = hw_type.trim().parse().unwrap_or(u32::MAX);
        let (link, layout) = match hw_type {
            ARPHRD_ETHER | ARPHRD_LOOPBACK => (LinkType::ETHERNET, Layout::Ethernet),
            ARPHRD_NONE => (LinkType::RAW, Layout::RawIp),
            other => {
                return Err(CaptureError::Live {
                    interface: name.into(),
                    what: "unsupported interface hardware type",
                    source: io::Error::other(format!("ARPHRD {other}")),
                })
            }
        };
        let loopback = hw_type == ARPHRD_LOOPBACK;
        let cname = std::ffi::CString::new(name).map_err(|_| CaptureError::Live {
            interface: name.into(),
            what: "bad interface name",
            source: io::Error::from(io::ErrorKind::InvalidInput),
        })?;
        // SAFETY: plain libc calls with valid arguments; results are checked.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(last_err(name, "no such interface"));
        }
        let proto_all = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: socket(2); the descriptor is owned right away.
        let raw =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::c_int::from(proto_all)) };
        if raw < 0 {
            return Err(last_err(name, "cannot open an AF_PACKET socket (needs root or CAP_NET_RAW)"));
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        // Filter first: nothing unfiltered may enter the ring once bound.
        let mut prog = Vec::new();
        if loopback {
            prog.push(Insn { code: 0x20, jt: 0, jf: 0, k: 0xffff_f000 + SKF_AD_PKTTYPE });
            prog.push(Insn { code: 0x15, jt: 0, jf: 1, k: PACKET_OUTGOING });
            prog.push(Insn { code: 0x06, jt: 0, jf: 0, k: 0 });
        }
        let body = bpf::compile(&cfg.filter, layout, cfg.snaplen).map_err(|e| CaptureError::Live {
            interface: name.into(),
            what: "filter cannot be compiled",
            source: io::Error::other(e),
        })?;
        prog.extend(body);
        let fprog = SockFprog { len: prog.len() as u16, filter: prog.as_ptr() };
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog).map_err(|source| CaptureError::Live {
            interface: name.into(),
            what: "kernel refused the filter",
            source,
        })?;

        setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_VERSION, &TPACKET_V3).map_err(|source| CaptureError::Live {
            interface: name.into(),
            what: "TPACKET_V3 not supported",
            source,
        })?;
        let frame_size = 2048u32;
        let req = TpacketReq3 {
            tp_block_size: cfg.block_size,
            tp_block_nr: cfg.blocks,
            tp_frame_size: frame_size,
            tp_frame_nr: cfg.block_size / frame_size * cfg.blocks,
            tp_retire_blk_tov: 50,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req).map_err(|source| CaptureError::Live {
            interface: name.into(),
            what: "cannot set up the receive ring",
            source,
        })?;
        let ring_len = cfg.block_size as usize * cfg.blocks as usize;
        // SAFETY: mapping the ring the kernel just allocated for this socket.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(last_err(name, "cannot map the receive ring"));
        }
        let mut cap = LiveCapture {
            fd,
            ring: ring.cast(),
            ring_len,
            block_size: cfg.block_size as usize,
            blocks: cfg.blocks as usize,
            next: 0,
            link,
            source,
            stats: KernelStats::default(),
            interface: name.into(),
            delivered: 0,
        };
        // SAFETY: zeroed sockaddr_ll with the fields bind(2) needs.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto_all;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
        let r = unsafe {
            libc::bind(
                cap.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(last_err(name, "cannot bind to the interface"));
        }
        // Counters start now: reading them resets them.
        cap.read_stats();
        cap.stats = KernelStats::default();
        Ok(cap)
    }

    pub fn link(&self) -> LinkType {
        self.link
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    fn read_u32(&self, at: usize) -> u32 {
        debug_assert!(at + 4 <= self.ring_len);
        // SAFETY: `at` lies inside the mapped ring; the kernel writes these words, so volatile.
        unsafe { std::ptr::read_volatile(self.ring.add(at).cast::<u32>()) }
    }

    fn read_u16(&self, at: usize) -> u16 {
        // SAFETY: as `read_u32`.
        unsafe { std::ptr::read_volatile(self.ring.add(at).cast::<u16>()) }
    }

    /// Waits up to `timeout_ms` for a filled block and hands each of its frames to `f`.
    /// Returns the number of frames delivered (0 on timeout).
    pub fn poll_block(&mut self, timeout_ms: i32, f: &mut dyn FnMut(Frame<'_>)) -> Result<usize, CaptureError> {
        let base = self.next * self.block_size;
        let status_at = base + 8;
        if self.read_u32(status_at) & TP_STATUS_USER == 0 {
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN | libc::POLLERR, revents: 0 };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    return Ok(0);
                }
                return Err(CaptureError::Live { interface: self.interface.clone(), what: "poll failed", source: e });
            }
            if self.read_u32(status_at) & TP_STATUS_USER == 0 {
                return Ok(0);
            }
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        let num = self.read_u32(base + 12) as usize;
        let mut at = base + self.read_u32(base + 16) as usize;
        let end = base + self.block_size;
        let mut n = 0;
        let mut tagged = Vec::new();
        for _ in 0..num {
            if at + 48 > end {
                break;
            }
            let next_off = self.read_u32(at) as usize;
            let sec = i64::from(self.read_u32(at + 4));
            let nsec = i64::from(self.read_u32(at + 8));
            let snaplen = self.read_u32(at + 12) as usize;
            let len = self.read_u32(at + 16);
            let status = self.read_u32(at + 20);
            let mac = usize::from(self.read_u16(at + 24));
            let tci = self.read_u32(at + 32) as u16;
            let tpid = self.read_u16(at + 36);
            if at + mac + snaplen <= end {
                // SAFETY: the range lies inside this block, which the kernel handed to us.
                let data = unsafe { std::slice::from_raw_parts(self.ring.add(at + mac), snaplen) };
                let ts = sec * 1_000_000_000 + nsec;
                let frame_data: &[u8] =
                    if status & TP_STATUS_VLAN_VALID != 0 && self.link == LinkType::ETHERNET && data.len() >= 12 {
                        // Put the stripped 802.1Q tag back after the MAC addresses.
                        let tpid = if status & TP_STATUS_VLAN_TPID_VALID != 0 && tpid != 0 { tpid } else { 0x8100 };
                        tagged.clear();
                        tagged.extend_from_slice(&data[..12]);
                        tagged.extend_from_slice(&tpid.to_be_bytes());
                        tagged.extend_from_slice(&tci.to_be_bytes());
                        tagged.extend_from_slice(&data[12..]);
                        &tagged
                    } else {
                        data
                    };
                f(Frame {
                    ts,
                    link: self.link,
                    source: self.source,
                    interface: 0,
                    data: frame_data,
                    orig_len: len + (frame_data.len() - data.len()) as u32,
                });
                n += 1;
            }
            if next_off == 0 {
                break;
            }
            at += next_off;
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        // SAFETY: hand the block back to the kernel.
        unsafe { std::ptr::write_volatile(self.ring.add(status_at).cast::<u32>(), 0) };
        self.next = (self.next + 1) % self.blocks;
        self.delivered += n as u64;
        Ok(n)
    }

    fn read_stats(&mut self) {
        let mut s = TpacketStatsV3 { tp_packets: 0, tp_drops: 0, tp_freeze_q_cnt: 0 };
        let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: `s` is writable and `len` is its size.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut s as *mut TpacketStatsV3).cast(),
                &mut len,
            )
        };
        if r == 0 {
            self.stats.packets += u64::from(s.tp_packets);
            self.stats.drops += u64::from(s.tp_drops);
            self.stats.freeze_count += u64::from(s.tp_freeze_q_cnt);
        }
    }

    /// Kernel counters so far (reading them from the kernel resets its copy; they are summed here).
    pub fn stats(&mut self) -> KernelStats {
        self.read_stats();
        self.stats
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `open` mapped.
        unsafe {
            libc::munmap(self.ring.cast(), self.ring_len);
        }
    }
}

impl LiveSource for LiveCapture {
    fn interface(&self) -> &str {
        &self.interface
    }
    fn poll_block(&mut self, timeout_ms: i32, f: &mut dyn FnMut(Frame<'_>)) -> Result<usize, CaptureError> {
        LiveCapture::poll_block(self, timeout_ms, f)
    }
    fn counters(&mut self) -> (u64, u64) {
        let k = self.stats();
        (k.packets, k.drops)
    }
    fn delivered(&self) -> u64 {
        self.delivered
    }
}
