//! The Apple ABI the hal relies on — types, struct layouts, constants and function
//! signatures — written once, target-independent, so that:
//!
//! * the Mach backend (`ffi.rs`, `semaphore.rs`, `rendezvous.rs`) and the Apple clock
//!   (`darwin/time.rs`) use these declarations;
//! * `tests::apple_header_table` lists every one of them, and the `apple-headers` CI lane
//!   (`ci/apple-headers.sh`) turns that list into C `_Static_assert`s compiled against the
//!   SDK headers zig ships, for both Apple targets: a value, size, offset or signature that
//!   differs from the SDK fails the lane;
//! * `ffi.rs` binds the `mach2` crate's functions to the signatures below at compile time
//!   (a fn item coerces to a fn-pointer type only if the signature is identical), so the
//!   lane's check of a signature is also a check of `mach2`'s declaration.
//!
//! Items no header in zig's SDK declares say where they come from.

#![allow(non_camel_case_types, dead_code)]

use core::ffi::{c_char, c_int, c_uint};

/// Declares C type aliases and records them for the header check as `(name, C type)`.
macro_rules! c_types {
    ($($(#[$m:meta])* $name:ident = $rust:ty => $c:literal;)*) => {
        $($(#[$m])* pub type $name = $rust;)*
        /// `(alias, the C type it must be compatible with)`.
        pub(crate) const TYPES: &[(&str, &str)] = &[$((stringify!($name), $c)),*];
    };
}

c_types! {
    kern_return_t = c_int => "int";
    /// Also `mach_port_name_t`, `semaphore_t`, `task_t`, `ipc_space_t` in user space.
    mach_port_t = c_uint => "unsigned int";
    mach_port_name_t = c_uint => "unsigned int";
    mach_port_right_t = c_uint => "unsigned int";
    mach_msg_type_name_t = c_uint => "unsigned int";
    mach_msg_bits_t = c_uint => "unsigned int";
    mach_msg_option_t = c_int => "int";
    mach_msg_return_t = kern_return_t => "int";
    mach_msg_id_t = c_int => "int";
    mach_msg_size_t = c_uint => "unsigned int";
    mach_msg_timeout_t = c_uint => "unsigned int";
    semaphore_t = c_uint => "unsigned int";
    task_t = c_uint => "unsigned int";
    ipc_space_t = c_uint => "unsigned int";
    sync_policy_t = c_int => "int";
}

/// Declares `#[repr(C)]` structs and records `(struct, size, [(field, offset)])` for the
/// header check. Fields named `_bits*` stand for C bit-fields (no `offsetof`): their bytes
/// are checked through an initialised probe instead (`PROBES`).
macro_rules! c_structs {
    ($($(#[$m:meta])* struct $name:ident as $cname:literal $(up to $end:literal)? {
        $($(#[$fm:meta])* $field:ident: $t:ty => $cfield:literal,)*
    })*) => {
        $(
            $(#[$m])*
            #[repr(C)]
            #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
            pub struct $name { $($(#[$fm])* pub $field: $t,)* }
        )*
        /// `(C struct, size, [(C field, offset)], C field our struct ends before)`; a C
        /// field `""` is a bit-field.
        pub(crate) const STRUCTS: &[StructRow] = &[$(
            ($cname, core::mem::size_of::<$name>(),
             &[$(($cfield, core::mem::offset_of!($name, $field))),*],
             end_field(&[$($end)?])),
        )*];
    };
}

/// The optional `up to` field of a `c_structs!` entry.
const fn end_field(e: &[&'static str]) -> Option<&'static str> {
    match e {
        [] => None,
        [f, ..] => Some(*f),
    }
}

/// One struct of the table: see [`STRUCTS`].
pub(crate) type StructRow = (
    &'static str,
    usize,
    &'static [(&'static str, usize)],
    Option<&'static str>,
);

c_structs! {
    /// `<mach/clock_types.h>`: a relative time; `tv_nsec` must be in `0..1e9`.
    struct mach_timespec_t as "mach_timespec_t" {
        tv_sec: c_uint => "tv_sec",
        tv_nsec: c_int => "tv_nsec",
    }
    /// `<mach/message.h>`.
    struct mach_msg_header_t as "mach_msg_header_t" {
        msgh_bits: mach_msg_bits_t => "msgh_bits",
        msgh_size: mach_msg_size_t => "msgh_size",
        msgh_remote_port: mach_port_t => "msgh_remote_port",
        msgh_local_port: mach_port_t => "msgh_local_port",
        msgh_voucher_port: mach_port_t => "msgh_voucher_port",
        msgh_id: mach_msg_id_t => "msgh_id",
    }
    /// `<mach/message.h>`: the descriptor count of a complex message.
    struct mach_msg_body_t as "mach_msg_body_t" {
        msgh_descriptor_count: mach_msg_size_t => "msgh_descriptor_count",
    }
    /// `<mach/message.h>`: `name; pad1; pad2 : 16, disposition : 8, type : 8` — the three
    /// bit-fields share one little-endian `unsigned int` (both Apple targets are little
    /// endian), reproduced by the three small fields (checked by a probe).
    struct mach_msg_port_descriptor_t as "mach_msg_port_descriptor_t" {
        name: mach_port_t => "name",
        pad1: mach_msg_size_t => "pad1",
        pad2: u16 => "",
        disposition: u8 => "",
        type_: u8 => "",
    }
    /// `<mach/message.h>`: the audit trailer (`MACH_RCV_TRAILER_AUDIT`); `msgh_sender` is
    /// the security token, `msgh_audit[5]` the sender's pid (what `audit_token_to_pid`
    /// reads, `<bsm/libbsm.h>`).
    struct mach_msg_audit_trailer_t as "mach_msg_audit_trailer_t" {
        msgh_trailer_type: c_uint => "msgh_trailer_type",
        msgh_trailer_size: c_uint => "msgh_trailer_size",
        msgh_seqno: c_uint => "msgh_seqno",
        msgh_sender: [c_uint; 2] => "msgh_sender",
        msgh_audit: [c_uint; 8] => "msgh_audit",
    }
    /// `<mach/notify.h>`: `mach_dead_name_notification_t` up to its trailer (the size of a
    /// sent notification; the header check compares it with `offsetof(…, trailer)`).
    struct mach_dead_name_notification_t as "mach_dead_name_notification_t" up to "trailer" {
        not_header: mach_msg_header_t => "not_header",
        ndr: [u8; 8] => "NDR",
        not_port: mach_port_name_t => "not_port",
    }
    /// `<mach/mach_time.h>`: `struct mach_timebase_info`.
    struct mach_timebase_info_data_t as "mach_timebase_info_data_t" {
        numer: u32 => "numer",
        denom: u32 => "denom",
    }
}

/// Byte probes for what `offsetof` cannot reach: `(name, C type, C initialiser, the bytes
/// our Rust layout gives that value)`.
pub(crate) const PROBES: &[(&str, &str, &str, &[u8])] = &[
    (
        "port descriptor bit-fields",
        "mach_msg_port_descriptor_t",
        "{ .name = 0x04030201, .pad1 = 0x08070605, .pad2 = 0x0a09, .disposition = 0x0b, .type = 0x0c }",
        &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    ),
    (
        "kernel security token",
        "security_token_t",
        "KERNEL_SECURITY_TOKEN_VALUE",
        &[0, 0, 0, 0, 1, 0, 0, 0],
    ),
    (
        "kernel audit token (pid 0)",
        "audit_token_t",
        "KERNEL_AUDIT_TOKEN_VALUE",
        &[0; 32],
    ),
];

// The Rust view of the probes above.
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(offset_of!(mach_msg_port_descriptor_t, pad2) == 8);
    assert!(offset_of!(mach_msg_port_descriptor_t, disposition) == 10);
    assert!(offset_of!(mach_msg_port_descriptor_t, type_) == 11);
    assert!(size_of::<mach_msg_port_descriptor_t>() == 12);
    assert!(super::control::KERNEL_SECURITY_TOKEN[0] == 0);
    assert!(super::control::KERNEL_SECURITY_TOKEN[1] == 1);
    assert!(
        super::control::DEAD_NAME_NOTIFICATION_SIZE as usize
            == size_of::<mach_dead_name_notification_t>()
    );
};

pub const MACH_PORT_NULL: mach_port_t = 0;
/// `<mach/sync_policy.h>`.
pub const SYNC_POLICY_FIFO: c_int = 0;
/// `<mach/port.h>`.
pub const MACH_PORT_RIGHT_SEND: mach_port_right_t = 0;
pub const MACH_PORT_RIGHT_RECEIVE: mach_port_right_t = 1;
pub const MACH_PORT_RIGHT_PORT_SET: mach_port_right_t = 3;
pub const MACH_PORT_RIGHT_DEAD_NAME: mach_port_right_t = 4;
/// `<mach/message.h>` dispositions.
pub const MACH_MSG_TYPE_MOVE_SEND: mach_msg_type_name_t = 17;
pub const MACH_MSG_TYPE_COPY_SEND: mach_msg_type_name_t = 19;
pub const MACH_MSG_TYPE_MAKE_SEND: mach_msg_type_name_t = 20;
pub const MACH_MSG_TYPE_MAKE_SEND_ONCE: mach_msg_type_name_t = 21;
pub const MACH_MSG_PORT_DESCRIPTOR: u8 = 0;
/// `MACH_MSGH_BITS(remote, local)`.
pub const fn msgh_bits(remote: mach_msg_type_name_t, local: mach_msg_type_name_t) -> c_uint {
    remote | (local << 8)
}
/// `mach_msg` options.
pub const MACH_SEND_MSG: mach_msg_option_t = 0x1;
pub const MACH_RCV_MSG: mach_msg_option_t = 0x2;
pub const MACH_SEND_TIMEOUT: mach_msg_option_t = 0x10;
pub const MACH_RCV_TIMEOUT: mach_msg_option_t = 0x100;
/// `MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) |
/// MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT)`.
pub const MACH_RCV_TRAILER_AUDIT_OPT: mach_msg_option_t = 3 << 24;

/// `<os/clock.h>`: the only clock os_sync's deadline waits accept.
pub const OS_CLOCK_MACH_ABSOLUTE_TIME: u32 = 32;

/// Constants checked by name against the SDK: `(C name or expression, our value)`.
pub(crate) fn constants() -> [(&'static str, i64); 52] {
    use super::control::*;
    use super::kern::kr::*;
    use crate::retry::errno;
    [
        ("MACH_PORT_NULL", MACH_PORT_NULL.into()),
        ("SYNC_POLICY_FIFO", SYNC_POLICY_FIFO.into()),
        ("MACH_PORT_RIGHT_SEND", MACH_PORT_RIGHT_SEND.into()),
        ("MACH_PORT_RIGHT_RECEIVE", MACH_PORT_RIGHT_RECEIVE.into()),
        ("MACH_PORT_RIGHT_PORT_SET", MACH_PORT_RIGHT_PORT_SET.into()),
        (
            "MACH_PORT_RIGHT_DEAD_NAME",
            MACH_PORT_RIGHT_DEAD_NAME.into(),
        ),
        ("MACH_MSG_TYPE_MOVE_SEND", MACH_MSG_TYPE_MOVE_SEND.into()),
        ("MACH_MSG_TYPE_PORT_SEND", MACH_MSG_TYPE_MOVE_SEND.into()),
        ("MACH_MSG_TYPE_COPY_SEND", MACH_MSG_TYPE_COPY_SEND.into()),
        ("MACH_MSG_TYPE_MAKE_SEND", MACH_MSG_TYPE_MAKE_SEND.into()),
        (
            "MACH_MSG_TYPE_MAKE_SEND_ONCE",
            MACH_MSG_TYPE_MAKE_SEND_ONCE.into(),
        ),
        ("MACH_MSG_PORT_DESCRIPTOR", MACH_MSG_PORT_DESCRIPTOR.into()),
        ("MACH_MSGH_BITS_COMPLEX", MACH_MSGH_BITS_COMPLEX.into()),
        (
            "MACH_MSGH_BITS(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE)",
            msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE).into(),
        ),
        ("MACH_SEND_MSG", MACH_SEND_MSG.into()),
        ("MACH_RCV_MSG", MACH_RCV_MSG.into()),
        ("MACH_SEND_TIMEOUT", MACH_SEND_TIMEOUT.into()),
        ("MACH_RCV_TIMEOUT", MACH_RCV_TIMEOUT.into()),
        (
            "(MACH_RCV_TRAILER_TYPE(MACH_MSG_TRAILER_FORMAT_0) | MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT))",
            MACH_RCV_TRAILER_AUDIT_OPT.into(),
        ),
        ("MACH_MSG_MASK", MACH_MSG_MASK.into()),
        ("MACH_NOTIFY_DEAD_NAME", MACH_NOTIFY_DEAD_NAME.into()),
        ("KERN_SUCCESS", KERN_SUCCESS.into()),
        ("KERN_INVALID_ARGUMENT", KERN_INVALID_ARGUMENT.into()),
        ("KERN_ABORTED", KERN_ABORTED.into()),
        ("KERN_INVALID_NAME", KERN_INVALID_NAME.into()),
        ("KERN_INVALID_RIGHT", KERN_INVALID_RIGHT.into()),
        ("KERN_INVALID_VALUE", KERN_INVALID_VALUE.into()),
        ("KERN_INVALID_CAPABILITY", KERN_INVALID_CAPABILITY.into()),
        ("KERN_TERMINATED", KERN_TERMINATED.into()),
        ("KERN_OPERATION_TIMED_OUT", KERN_OPERATION_TIMED_OUT.into()),
        ("MACH_MSG_SUCCESS", MACH_MSG_SUCCESS.into()),
        ("MACH_SEND_INVALID_DEST", MACH_SEND_INVALID_DEST.into()),
        ("MACH_SEND_TIMED_OUT", MACH_SEND_TIMED_OUT.into()),
        ("MACH_SEND_INTERRUPTED", MACH_SEND_INTERRUPTED.into()),
        ("MACH_SEND_MSG_TOO_SMALL", MACH_SEND_MSG_TOO_SMALL.into()),
        ("MACH_SEND_INVALID_RIGHT", MACH_SEND_INVALID_RIGHT.into()),
        ("MACH_SEND_INVALID_NOTIFY", MACH_SEND_INVALID_NOTIFY.into()),
        ("MACH_SEND_NO_BUFFER", MACH_SEND_NO_BUFFER.into()),
        ("MACH_RCV_TIMED_OUT", MACH_RCV_TIMED_OUT.into()),
        ("MACH_RCV_TOO_LARGE", MACH_RCV_TOO_LARGE.into()),
        ("MACH_RCV_INTERRUPTED", MACH_RCV_INTERRUPTED.into()),
        (
            "OS_CLOCK_MACH_ABSOLUTE_TIME",
            OS_CLOCK_MACH_ABSOLUTE_TIME.into(),
        ),
        ("ENOENT", errno::ENOENT.into()),
        ("ESRCH", errno::ESRCH.into()),
        ("EINTR", errno::EINTR.into()),
        ("ENOMEM", errno::ENOMEM.into()),
        ("EFAULT", errno::EFAULT.into()),
        ("EINVAL", errno::EINVAL.into()),
        ("EDOM", errno::EDOM.into()),
        ("EALREADY", errno::EALREADY.into()),
        ("ETIMEDOUT", errno::ETIMEDOUT.into()),
        ("EOWNERDEAD", errno::EOWNERDEAD.into()),
    ]
}

/// Declares fn-pointer types for the C functions the hal calls and records their C
/// signatures: `(function, C return type, [C parameter types])`. The C types are the
/// SDK's own typedef names, each checked against the Rust alias in [`TYPES`].
macro_rules! c_fns {
    ($($fnty:ident = fn $name:ident($($t:ty => $c:literal),*) -> $rt:ty => $rc:literal;)*) => {
        $(pub(crate) type $fnty = unsafe extern "C" fn($($t),*) -> $rt;)*
        /// `(function, C return type, [C parameter types])`.
        pub(crate) const FNS: &[(&str, &str, &[&str])] = &[$((stringify!($name), $rc, &[$($c),*])),*];
    };
}

c_fns! {
    SemaphoreCreate = fn semaphore_create(task_t => "task_t", *mut semaphore_t => "semaphore_t *",
        c_int => "int", c_int => "int") -> kern_return_t => "kern_return_t";
    SemaphoreDestroy = fn semaphore_destroy(task_t => "task_t", semaphore_t => "semaphore_t")
        -> kern_return_t => "kern_return_t";
    SemaphoreSignal = fn semaphore_signal(semaphore_t => "semaphore_t")
        -> kern_return_t => "kern_return_t";
    SemaphoreWait = fn semaphore_wait(semaphore_t => "semaphore_t")
        -> kern_return_t => "kern_return_t";
    SemaphoreTimedwait = fn semaphore_timedwait(semaphore_t => "semaphore_t",
        mach_timespec_t => "mach_timespec_t") -> kern_return_t => "kern_return_t";
    MachPortAllocate = fn mach_port_allocate(ipc_space_t => "ipc_space_t",
        mach_port_right_t => "mach_port_right_t", *mut mach_port_name_t => "mach_port_name_t *")
        -> kern_return_t => "kern_return_t";
    MachPortDeallocate = fn mach_port_deallocate(ipc_space_t => "ipc_space_t",
        mach_port_name_t => "mach_port_name_t") -> kern_return_t => "kern_return_t";
    MachPortModRefs = fn mach_port_mod_refs(ipc_space_t => "ipc_space_t",
        mach_port_name_t => "mach_port_name_t", mach_port_right_t => "mach_port_right_t",
        c_int => "mach_port_delta_t") -> kern_return_t => "kern_return_t";
    MachPortMoveMember = fn mach_port_move_member(ipc_space_t => "ipc_space_t",
        mach_port_name_t => "mach_port_name_t", mach_port_name_t => "mach_port_name_t")
        -> kern_return_t => "kern_return_t";
    MachPortRequestNotification = fn mach_port_request_notification(ipc_space_t => "ipc_space_t",
        mach_port_name_t => "mach_port_name_t", mach_msg_id_t => "mach_msg_id_t",
        mach_port_name_t => "mach_port_mscount_t", mach_port_t => "mach_port_t",
        mach_msg_type_name_t => "mach_msg_type_name_t", *mut mach_port_t => "mach_port_t *")
        -> kern_return_t => "kern_return_t";
    MachMsg = fn mach_msg(*mut mach_msg_header_t => "mach_msg_header_t *",
        mach_msg_option_t => "mach_msg_option_t", mach_msg_size_t => "mach_msg_size_t",
        mach_msg_size_t => "mach_msg_size_t", mach_port_name_t => "mach_port_name_t",
        mach_msg_timeout_t => "mach_msg_timeout_t", mach_port_name_t => "mach_port_name_t")
        -> mach_msg_return_t => "mach_msg_return_t";
    MachAbsoluteTime = fn mach_absolute_time() -> u64 => "uint64_t";
    MachTimebaseInfo = fn mach_timebase_info(*mut mach_timebase_info_data_t => "mach_timebase_info_t")
        -> kern_return_t => "kern_return_t";
}

/// `mach_msg_destroy` returns nothing; checked on its own.
pub(crate) type MachMsgDestroy = unsafe extern "C" fn(*mut mach_msg_header_t);

/// Globals: `(name, C type)`.
pub(crate) const GLOBALS: &[(&str, &str)] = &[
    ("mach_task_self_", "mach_port_t"),
    ("bootstrap_port", "mach_port_t"),
];

/// Declared by no header zig ships: `<servers/bootstrap.h>` is in the macOS SDK but not in
/// zig's copy. Source of the signatures: launchd-842.92.1 `liblaunch/bootstrap.h`
/// (apple-oss-distributions/launchd) — `kern_return_t bootstrap_check_in(mach_port_t bp,
/// const name_t service_name, mach_port_t *sp)` and `bootstrap_look_up(mach_port_t bp, const
/// name_t service_name, mach_port_t *sp)`, `name_t` being `char[128]` (so `const char *`).
pub(crate) type BootstrapCheckIn =
    unsafe extern "C" fn(mach_port_t, *const c_char, *mut mach_port_t) -> kern_return_t;
pub(crate) type BootstrapLookUp = BootstrapCheckIn;

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::fmt::Write as _;
    use std::string::String;

    /// The table the `apple-headers` lane checks (tab-separated rows, one item each):
    /// written to `$SHMSYNC_APPLE_HEADERS_TSV` when set.
    fn table() -> String {
        let mut t = String::new();
        for (name, c) in TYPES {
            writeln!(t, "type\t{name}\t{c}").unwrap();
        }
        for (name, size, fields, end) in STRUCTS {
            match end {
                None => writeln!(t, "size\t{name}\t{size}").unwrap(),
                Some(end) => writeln!(t, "const\toffsetof({name}, {end})\t{size}").unwrap(),
            }
            for (field, off) in fields.iter().filter(|(f, _)| !f.is_empty()) {
                writeln!(t, "offset\t{name}\t{field}\t{off}").unwrap();
            }
        }
        for (name, ty, init, bytes) in PROBES {
            let hex: std::vec::Vec<_> = bytes.iter().map(|b| std::format!("{b:02x}")).collect();
            writeln!(t, "probe\t{name}\t{ty}\t{init}\t{}", hex.join("")).unwrap();
        }
        for (name, value) in constants() {
            writeln!(t, "const\t{name}\t{value}").unwrap();
        }
        for (name, ret, args) in FNS {
            writeln!(t, "fn\t{name}\t{ret}\t{}", args.join(",")).unwrap();
        }
        writeln!(t, "fn\tmach_msg_destroy\tvoid\tmach_msg_header_t *").unwrap();
        for (name, c) in GLOBALS {
            writeln!(t, "global\t{name}\t{c}").unwrap();
        }
        t
    }

    #[test]
    fn apple_header_table() {
        let t = table();
        // Every kind is present and no item is listed twice.
        for kind in ["type", "size", "offset", "probe", "const", "fn", "global"] {
            assert!(t.lines().any(|l| l.starts_with(kind)), "no {kind} rows");
        }
        let mut keys: std::vec::Vec<_> = t
            .lines()
            .map(|l| {
                l.split('\t')
                    .take(3)
                    .collect::<std::vec::Vec<_>>()
                    .join("\t")
            })
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "duplicate rows");
        if let Some(path) = std::env::var_os("SHMSYNC_APPLE_HEADERS_TSV") {
            std::fs::write(path, t).unwrap();
        }
    }
}
