//! bpf(2), reduced to what the cgroup v2 device filter needs: load a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program, attach it to a cgroup directory,
//! list and detach the programs already there.
//!
//! Each command gets its own `repr(C)` view of the kernel's `union bpf_attr`
//! with every byte an explicit, initialised field. The kernel copies `size`
//! bytes and zero-fills the rest of its (larger) union, so passing only the
//! leading fields a command uses is the documented way to call it.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;
const BPF_F_REPLACE: u32 = 1 << 2;

/// Size of the verifier log asked for when a load fails; its message is
/// the only useful diagnostic, and it is short for programs this small.
const LOG_SIZE: usize = 64 * 1024;

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    /// `dst_reg:4, src_reg:4` bitfields; their order follows the target's
    /// bitfield allocation, which follows its endianness.
    regs: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    /// Encodes one instruction; registers are 0..=10.
    pub(crate) const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        #[cfg(target_endian = "little")]
        let regs = (src << 4) | (dst & 0x0f);
        #[cfg(target_endian = "big")]
        let regs = (dst << 4) | (src & 0x0f);
        Self {
            code,
            regs,
            off,
            imm,
        }
    }

    /// The opcode byte.
    pub(crate) const fn code(&self) -> u8 {
        self.code
    }

    /// The destination register.
    #[cfg(test)]
    pub(crate) const fn dst(&self) -> u8 {
        #[cfg(target_endian = "little")]
        let r = self.regs & 0x0f;
        #[cfg(target_endian = "big")]
        let r = self.regs >> 4;
        r
    }

    /// The source register.
    #[cfg(test)]
    pub(crate) const fn src(&self) -> u8 {
        #[cfg(target_endian = "little")]
        let r = self.regs >> 4;
        #[cfg(target_endian = "big")]
        let r = self.regs & 0x0f;
        r
    }

    /// The signed offset (jump distance or memory offset).
    #[cfg(test)]
    pub(crate) const fn off(&self) -> i16 {
        self.off
    }

    /// The immediate operand.
    #[cfg(test)]
    pub(crate) const fn imm(&self) -> i32 {
        self.imm
    }

    /// Sets the jump distance once the target is known.
    pub(crate) fn set_off(&mut self, off: i16) {
        self.off = off;
    }
}

/// `bpf_attr` for `BPF_PROG_LOAD`, up to `expected_attach_type`.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `bpf_attr` for `BPF_PROG_ATTACH` / `BPF_PROG_DETACH`.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `bpf_attr` for `BPF_PROG_QUERY`, up to `prog_cnt` (padding explicit).
#[repr(C)]
struct ProgQueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
}

/// `bpf_attr` for `BPF_PROG_GET_FD_BY_ID`.
#[repr(C)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// Issues one bpf(2) command on `attr`.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long, Errno> {
    let size =
        libc::c_uint::try_from(size_of::<T>()).expect("bpf_attr views are a few dozen bytes");
    // SAFETY: `attr` is a live, fully initialised repr(C) value of exactly
    // `size` bytes; the kernel reads (and for queries writes) only within
    // those bytes, and every pointer stored in it refers to memory that
    // outlives this call.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, std::ptr::from_mut(attr), size) };
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

/// Takes ownership of a descriptor the kernel just returned.
fn owned_fd(ret: libc::c_long) -> Result<OwnedFd, Errno> {
    let raw = i32::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: a non-negative bpf(2) return for these commands is a new file
    // descriptor that nothing else in the process owns yet.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// A failed `BPF_PROG_LOAD`: the errno and what the verifier said.
#[derive(Debug)]
pub(crate) struct LoadError {
    /// The errno of the load.
    pub(crate) errno: Errno,
    /// The verifier log (empty when the kernel gave none).
    pub(crate) log: String,
}

/// Loads a cgroup device program; on failure loads it again with the
/// verifier log on, so the error says why.
pub(crate) fn load_cgroup_device_prog(
    insns: &[Insn],
    license: &CStr,
) -> Result<OwnedFd, LoadError> {
    let load = |log: Option<&mut [u8]>| {
        let (log_level, log_size, log_buf) = match log {
            Some(buf) => (
                1,
                u32::try_from(buf.len()).unwrap_or(u32::MAX),
                buf.as_mut_ptr() as u64,
            ),
            None => (0, 0, 0),
        };
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno::E2BIG)?,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level,
            log_size,
            log_buf,
            kern_version: 0,
            prog_flags: 0,
            prog_name: *b"rbox_devices\0\0\0\0",
            prog_ifindex: 0,
            expected_attach_type: BPF_CGROUP_DEVICE,
        };
        bpf(BPF_PROG_LOAD, &mut attr).and_then(owned_fd)
    };
    match load(None) {
        Ok(fd) => Ok(fd),
        Err(errno) => {
            let mut buf = vec![0u8; LOG_SIZE];
            let log = match load(Some(&mut buf)) {
                // Loaded the second time round: keep it.
                Ok(fd) => return Ok(fd),
                Err(_) => {
                    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
                    String::from_utf8_lossy(&buf[..end]).trim().to_owned()
                }
            };
            Err(LoadError { errno, log })
        }
    }
}

/// Attaches `prog` to the cgroup directory `cgroup` as a device filter,
/// alongside others (`BPF_F_ALLOW_MULTI`), atomically replacing `replace`
/// when given.
pub(crate) fn attach_cgroup_device(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    replace: Option<BorrowedFd<'_>>,
) -> Result<(), Errno> {
    let (flags, replace_fd) = match replace {
        Some(old) => (BPF_F_ALLOW_MULTI | BPF_F_REPLACE, fd_u32(old)),
        None => (BPF_F_ALLOW_MULTI, 0),
    };
    let mut attr = ProgAttachAttr {
        target_fd: fd_u32(cgroup),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        replace_bpf_fd: replace_fd,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Detaches the device filter `prog` from the cgroup directory `cgroup`.
pub(crate) fn detach_cgroup_device(
    cgroup: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
) -> Result<(), Errno> {
    let mut attr = ProgAttachAttr {
        target_fd: fd_u32(cgroup),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
        replace_bpf_fd: 0,
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// Ids of the device filters attached directly to `cgroup`.
pub(crate) fn query_cgroup_device(cgroup: BorrowedFd<'_>) -> Result<Vec<u32>, Errno> {
    // 64 is the kernel's per-cgroup limit; a bigger answer (ENOSPC) tells
    // the real count, so grow once more and ask again.
    let mut ids = vec![0u32; 64];
    for _ in 0..4 {
        let mut attr = ProgQueryAttr {
            target_fd: fd_u32(cgroup),
            attach_type: BPF_CGROUP_DEVICE,
            query_flags: 0,
            attach_flags: 0,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: u32::try_from(ids.len()).unwrap_or(u32::MAX),
            pad: 0,
        };
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            Err(Errno::ENOSPC) => ids.resize(attr.prog_cnt as usize + 8, 0),
            Err(e) => return Err(e),
        }
    }
    Err(Errno::ENOSPC)
}

/// Opens the loaded program with the given id.
pub(crate) fn prog_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut attr = GetFdByIdAttr {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).and_then(owned_fd)
}

fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    // A BorrowedFd is never negative.
    fd.as_raw_fd().unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_layouts_match_the_kernel() {
        assert_eq!(size_of::<Insn>(), 8);
        assert_eq!(size_of::<ProgLoadAttr>(), 72);
        assert_eq!(std::mem::offset_of!(ProgLoadAttr, expected_attach_type), 68);
        assert_eq!(size_of::<ProgAttachAttr>(), 20);
        assert_eq!(std::mem::offset_of!(ProgQueryAttr, prog_ids), 16);
        assert_eq!(std::mem::offset_of!(ProgQueryAttr, prog_cnt), 24);
        assert_eq!(size_of::<GetFdByIdAttr>(), 12);
    }

    #[test]
    fn insn_registers_round_trip() {
        let i = Insn::new(0x61, 2, 1, 4, -7);
        assert_eq!(
            (i.code(), i.dst(), i.src(), i.off(), i.imm()),
            (0x61, 2, 1, 4, -7)
        );
        #[cfg(target_endian = "little")]
        assert_eq!(i.regs, 0x12);
    }
}
