//! Classic BPF (the Linux socket filter, `SO_ATTACH_FILTER`) code generation for a parsed
//! [`Filter`], and a small interpreter used to test that the program means what
//! [`Filter::matches`] means.
//!
//! Layout assumptions match the kernel's view of an AF_PACKET socket: VLAN tags have been
//! stripped into packet metadata (read with the `SKF_AD_VLAN_TAG*` ancillary loads), IPv6
//! transport headers are looked for right after the fixed header (as libpcap does).

use super::{Dirn, Expr, Filter, Prim, Proto};
use std::net::IpAddr;

/// One `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Where headers sit on the interface's link type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Ethernet (and Linux loopback): EtherType at 12, network header at 14.
    Ethernet,
    /// Linux cooked (SLL): protocol at 14, network header at 16.
    Cooked,
    /// Raw IP (tun, ARPHRD_NONE): network header at 0.
    RawIp,
}

mod op {
    pub const LD_W_ABS: u16 = 0x20;
    pub const LD_H_ABS: u16 = 0x28;
    pub const LD_B_ABS: u16 = 0x30;
    pub const LD_H_IND: u16 = 0x48;
    pub const LDX_B_MSH: u16 = 0xb1;
    pub const AND_K: u16 = 0x54;
    pub const JA: u16 = 0x05;
    pub const JEQ_K: u16 = 0x15;
    pub const JGT_K: u16 = 0x25;
    pub const JGE_K: u16 = 0x35;
    pub const JSET_K: u16 = 0x45;
    pub const RET_K: u16 = 0x06;
}

/// Linux ancillary data offsets (include/uapi/linux/filter.h).
const SKF_AD_OFF: u32 = 0xffff_f000;
const SKF_AD_VLAN_TAG: u32 = 44;
const SKF_AD_VLAN_TAG_PRESENT: u32 = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Next,
    Label(usize),
}

#[derive(Debug, Clone, Copy)]
enum Item {
    Plain(u16, u32),
    Cond(u16, u32, Target, Target),
    Jump(usize),
    Place(usize),
}

struct Gen {
    items: Vec<Item>,
    labels: usize,
    layout: Layout,
}

impl Gen {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }
    fn place(&mut self, l: usize) {
        self.items.push(Item::Place(l));
    }
    fn ld(&mut self, code: u16, k: u32) {
        self.items.push(Item::Plain(code, k));
    }
    fn cond(&mut self, code: u16, k: u32, t: Target, f: Target) {
        self.items.push(Item::Cond(code, k, t, f));
    }

    fn l3(&self) -> u32 {
        match self.layout {
            Layout::Ethernet => 14,
            Layout::Cooked => 16,
            Layout::RawIp => 0,
        }
    }

    /// Jumps to `no` unless the packet is IPv4 (`v6 == false`) or IPv6.
    fn family(&mut self, v6: bool, no: Target) {
        match self.layout {
            Layout::RawIp => {
                self.ld(op::LD_B_ABS, 0);
                self.ld(op::AND_K, 0xf0);
                self.cond(op::JEQ_K, if v6 { 0x60 } else { 0x40 }, Target::Next, no);
            }
            Layout::Ethernet | Layout::Cooked => {
                let at = if self.layout == Layout::Ethernet { 12 } else { 14 };
                self.ld(op::LD_H_ABS, at);
                self.cond(op::JEQ_K, if v6 { 0x86dd } else { 0x0800 }, Target::Next, no);
            }
        }
    }

    fn expr(&mut self, e: &Expr, t: Target, f: Target) {
        match e {
            Expr::True => self.items.push(jump(t)),
            Expr::Not(a) => self.expr(a, f, t),
            Expr::And(a, b) => {
                let m = self.label();
                self.expr(a, Target::Label(m), f);
                self.place(m);
                self.expr(b, t, f);
            }
            Expr::Or(a, b) => {
                let m = self.label();
                self.expr(a, t, Target::Label(m));
                self.place(m);
                self.expr(b, t, f);
            }
            Expr::Prim(p) => self.prim(p, t, f),
        }
    }

    fn prim(&mut self, p: &Prim, t: Target, f: Target) {
        let l3 = self.l3();
        match p {
            Prim::Vlan(id) => {
                self.ld(op::LD_W_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT);
                match id {
                    None => self.cond(op::JEQ_K, 1, t, f),
                    Some(id) => {
                        self.cond(op::JEQ_K, 1, Target::Next, f);
                        self.ld(op::LD_W_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG);
                        self.ld(op::AND_K, 0x0fff);
                        self.cond(op::JEQ_K, u32::from(*id), t, f);
                    }
                }
            }
            Prim::Proto(fam @ (Proto::Ip | Proto::Ip6)) => {
                self.family(*fam == Proto::Ip6, f);
                self.items.push(jump(t));
            }
            Prim::Proto(Proto::Icmp) => {
                self.family(false, f);
                self.ld(op::LD_B_ABS, l3 + 9);
                self.cond(op::JEQ_K, 1, t, f);
            }
            Prim::Proto(proto @ (Proto::Tcp | Proto::Udp)) => {
                let n = if *proto == Proto::Tcp { 6 } else { 17 };
                let v6 = self.label();
                self.family(false, Target::Label(v6));
                self.ld(op::LD_B_ABS, l3 + 9);
                self.cond(op::JEQ_K, n, t, f);
                self.place(v6);
                self.family(true, f);
                self.ld(op::LD_B_ABS, l3 + 6);
                self.cond(op::JEQ_K, n, t, f);
            }
            Prim::Host { dir, addr } => self.addr_test(*dir, *addr, if addr.is_ipv4() { 32 } else { 128 }, t, f),
            Prim::Net { dir, addr, prefix } => self.addr_test(*dir, *addr, *prefix, t, f),
            Prim::Port { dir, proto, lo, hi } => {
                let v6 = self.label();
                // IPv4: protocol, then not a later fragment, then the ports.
                self.family(false, Target::Label(v6));
                self.ld(op::LD_B_ABS, l3 + 9);
                let ports4 = self.label();
                self.proto_test(*proto, Target::Label(ports4), f);
                self.place(ports4);
                self.ld(op::LD_H_ABS, l3 + 6);
                self.cond(op::JSET_K, 0x1fff, f, Target::Next);
                self.ld(op::LDX_B_MSH, l3);
                self.port_tests(*dir, op::LD_H_IND, l3, *lo, *hi, t, f);
                self.place(v6);
                self.family(true, f);
                self.ld(op::LD_B_ABS, l3 + 6);
                let ports6 = self.label();
                self.proto_test(*proto, Target::Label(ports6), f);
                self.place(ports6);
                self.port_tests(*dir, op::LD_H_ABS, l3 + 40, *lo, *hi, t, f);
            }
        }
    }

    /// With the protocol byte in A: to `yes` when it is TCP/UDP (or the given one).
    fn proto_test(&mut self, proto: Option<Proto>, yes: Target, no: Target) {
        match proto {
            Some(Proto::Tcp) => self.cond(op::JEQ_K, 6, yes, no),
            Some(Proto::Udp) => self.cond(op::JEQ_K, 17, yes, no),
            _ => {
                self.cond(op::JEQ_K, 6, yes, Target::Next);
                self.cond(op::JEQ_K, 17, yes, no);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn port_tests(&mut self, dir: Dirn, load: u16, base: u32, lo: u16, hi: u16, t: Target, f: Target) {
        self.by_dir(dir, t, f, &|g, is_dst, hit, miss| {
            g.ld(load, base + if is_dst { 2 } else { 0 });
            g.range(lo, hi, hit, miss);
        });
    }

    /// Emits the source test, the destination test, or both, as `dir` asks, so that the
    /// whole jumps to `t` on a match and `f` otherwise. `test(gen, is_dst, hit, miss)`.
    fn by_dir(&mut self, dir: Dirn, t: Target, f: Target, test: &dyn Fn(&mut Self, bool, Target, Target)) {
        let (src_hit, src_miss) = match dir {
            Dirn::Src | Dirn::Dst => (t, f),
            Dirn::SrcOrDst => (t, Target::Next),
            Dirn::SrcAndDst => (Target::Next, f),
        };
        if dir != Dirn::Dst {
            // "Next" must mean after the whole source test, not its next instruction.
            let after = self.label();
            let fix = |x: Target| if x == Target::Next { Target::Label(after) } else { x };
            test(self, false, fix(src_hit), fix(src_miss));
            self.place(after);
        }
        if dir != Dirn::Src {
            test(self, true, t, f);
        }
    }

    fn range(&mut self, lo: u16, hi: u16, hit: Target, miss: Target) {
        if lo == hi {
            self.cond(op::JEQ_K, u32::from(lo), hit, miss);
            return;
        }
        // Two instructions: "next" must mean after both, not the second one.
        let after = self.label();
        let fix = |t: Target| {
            if t == Target::Next {
                Target::Label(after)
            } else {
                t
            }
        };
        self.cond(op::JGE_K, u32::from(lo), Target::Next, fix(miss));
        self.cond(op::JGT_K, u32::from(hi), fix(miss), fix(hit));
        self.place(after);
    }

    fn addr_test(&mut self, dir: Dirn, addr: IpAddr, prefix: u8, t: Target, f: Target) {
        let l3 = self.l3();
        let (words, src_off, dst_off): (Vec<u32>, u32, u32) = match addr {
            IpAddr::V4(a) => (vec![u32::from(a)], l3 + 12, l3 + 16),
            IpAddr::V6(a) => {
                let o = a.octets();
                (o.chunks(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect(), l3 + 8, l3 + 24)
            }
        };
        self.family(addr.is_ipv6(), f);
        self.by_dir(dir, t, f, &|g, is_dst, hit, miss| {
            g.words(&words, prefix, if is_dst { dst_off } else { src_off }, hit, miss);
        });
    }

    /// Compares `prefix` bits of the address at `off` with `words`.
    fn words(&mut self, words: &[u32], prefix: u8, off: u32, hit: Target, miss: Target) {
        let n_words = usize::from(prefix).div_ceil(32);
        if n_words == 0 {
            self.items.push(jump(hit));
            return;
        }
        for (i, w) in words.iter().enumerate().take(n_words) {
            let bits = (u32::from(prefix) - 32 * i as u32).min(32);
            let mask = if bits == 32 { u32::MAX } else { u32::MAX << (32 - bits) };
            self.ld(op::LD_W_ABS, off + 4 * i as u32);
            if mask != u32::MAX {
                self.ld(op::AND_K, mask);
            }
            let last = i + 1 == n_words;
            self.cond(op::JEQ_K, w & mask, if last { hit } else { Target::Next }, miss);
        }
    }
}

fn jump(t: Target) -> Item {
    match t {
        Target::Next => Item::Plain(op::JA, 0),
        Target::Label(l) => Item::Jump(l),
    }
}

/// Why a filter could not be compiled for the kernel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter is too large for classic BPF ({0})")]
pub struct CompileError(pub &'static str);

/// Compiles `f` for an interface with `layout`, accepting `snaplen` bytes of each match.
pub fn compile(f: &Filter, layout: Layout, snaplen: u32) -> Result<Vec<Insn>, CompileError> {
    let mut g = Gen { items: Vec::new(), labels: 2, layout };
    let (yes, no) = (0usize, 1usize);
    g.expr(&f.expr, Target::Label(yes), Target::Label(no));
    g.place(yes);
    g.items.push(Item::Plain(op::RET_K, snaplen));
    g.place(no);
    g.items.push(Item::Plain(op::RET_K, 0));

    // Resolve labels to instruction indices.
    let mut at = vec![usize::MAX; g.labels];
    let mut pc = 0;
    for it in &g.items {
        match it {
            Item::Place(l) => at[*l] = pc,
            _ => pc += 1,
        }
    }
    if pc > 4096 {
        return Err(CompileError("more than 4096 instructions"));
    }
    let mut out = Vec::with_capacity(pc);
    for it in &g.items {
        let here = out.len();
        let rel = |t: Target| -> Result<u8, CompileError> {
            match t {
                Target::Next => Ok(0),
                Target::Label(l) => {
                    u8::try_from(at[l] - here - 1).map_err(|_| CompileError("a jump is longer than 255 instructions"))
                }
            }
        };
        match *it {
            Item::Place(_) => {}
            Item::Plain(code, k) => out.push(Insn { code, jt: 0, jf: 0, k }),
            Item::Cond(code, k, t, f) => out.push(Insn { code, jt: rel(t)?, jf: rel(f)?, k }),
            Item::Jump(l) => out.push(Insn { code: op::JA, jt: 0, jf: 0, k: (at[l] - here - 1) as u32 }),
        }
    }
    Ok(out)
}

/// Runs a program on `pkt` as the kernel would (out-of-range loads reject the packet).
/// `vlan` is the stripped 802.1Q tag, if any. Returns the accepted length (0 = reject).
pub fn run(prog: &[Insn], pkt: &[u8], vlan: Option<u16>) -> u32 {
    let (mut a, mut x) = (0u32, 0u32);
    let mut pc = 0usize;
    let load = |off: u32, size: usize| -> Option<u32> {
        if off >= SKF_AD_OFF {
            return match off - SKF_AD_OFF {
                SKF_AD_VLAN_TAG => Some(u32::from(vlan.unwrap_or(0))),
                SKF_AD_VLAN_TAG_PRESENT => Some(u32::from(vlan.is_some())),
                _ => None,
            };
        }
        let o = off as usize;
        let b = pkt.get(o..o.checked_add(size)?)?;
        Some(b.iter().fold(0u32, |acc, v| (acc << 8) | u32::from(*v)))
    };
    while let Some(i) = prog.get(pc) {
        pc += 1;
        match i.code {
            op::LD_W_ABS => match load(i.k, 4) {
                Some(v) => a = v,
                None => return 0,
            },
            op::LD_H_ABS => match load(i.k, 2) {
                Some(v) => a = v,
                None => return 0,
            },
            op::LD_B_ABS => match load(i.k, 1) {
                Some(v) => a = v,
                None => return 0,
            },
            op::LD_H_IND => match load(x.wrapping_add(i.k), 2) {
                Some(v) => a = v,
                None => return 0,
            },
            op::LDX_B_MSH => match load(i.k, 1) {
                Some(v) => x = (v & 0xf) * 4,
                None => return 0,
            },
            op::AND_K => a &= i.k,
            op::JA => pc += i.k as usize,
            op::JEQ_K | op::JGT_K | op::JGE_K | op::JSET_K => {
                let c = match i.code {
                    op::JEQ_K => a == i.k,
                    op::JGT_K => a > i.k,
                    op::JGE_K => a >= i.k,
                    _ => a & i.k != 0,
                };
                pc += usize::from(if c { i.jt } else { i.jf });
            }
            op::RET_K => return i.k,
            _ => return 0,
        }
    }
    0
}
