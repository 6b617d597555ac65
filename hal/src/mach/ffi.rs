//! Our own declarations of the Mach and bootstrap calls the Mach backend uses (public SDK
//! headers: `<mach/semaphore.h>`, `<mach/task.h>`, `<mach/mach_port.h>`,
//! `<mach/message.h>`, `<mach/notify.h>`, `<servers/bootstrap.h>`). Not the `mach2` crate:
//! up to 0.6 it declares the semaphore calls with `*mut semaphore_t` where the C functions
//! take the port name by value.
//!
//! Every symbol here is public API exported by libSystem; none is private (no `__ulock_*`,
//! no `bootstrap_register2`, no `xpc_dictionary_set_mach_send`), which the symbol audit
//! of the App Store build checks.

#![allow(non_camel_case_types, dead_code)]

use core::ffi::{c_char, c_int, c_uint};

pub type kern_return_t = c_int;
/// Also `mach_port_name_t`, `semaphore_t`, `task_t`, `ipc_space_t`.
pub type mach_port_t = c_uint;
pub type mach_port_right_t = c_uint;
pub type mach_msg_type_name_t = c_uint;
pub type mach_msg_option_t = c_int;
pub type mach_msg_return_t = kern_return_t;
pub type mach_msg_id_t = c_int;
pub type mach_msg_size_t = c_uint;

/// `<mach/clock_types.h>`: a relative time; `tv_nsec` must be in `0..1e9`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct mach_timespec_t {
    pub tv_sec: c_uint,
    pub tv_nsec: c_int,
}

/// `<mach/message.h>`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mach_msg_header_t {
    pub msgh_bits: c_uint,
    pub msgh_size: mach_msg_size_t,
    pub msgh_remote_port: mach_port_t,
    pub msgh_local_port: mach_port_t,
    pub msgh_voucher_port: mach_port_t,
    pub msgh_id: mach_msg_id_t,
}

/// `<mach/message.h>`: the descriptor count of a complex message.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mach_msg_body_t {
    pub msgh_descriptor_count: mach_msg_size_t,
}

/// `<mach/message.h>`: `name; pad1; pad2:16, disposition:8, type:8` — the bit fields share
/// one little-endian `unsigned int`, which these three fields reproduce on both Apple
/// targets (both little-endian).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mach_msg_port_descriptor_t {
    pub name: mach_port_t,
    pub pad1: mach_msg_size_t,
    pub pad2: u16,
    pub disposition: u8,
    pub type_: u8,
}

/// `<mach/message.h>`: the audit trailer (`MACH_RCV_TRAILER_AUDIT`); the sender's pid is
/// `msgh_audit[5]` (what `audit_token_to_pid` reads).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mach_msg_audit_trailer_t {
    pub msgh_trailer_type: c_uint,
    pub msgh_trailer_size: c_uint,
    pub msgh_seqno: c_uint,
    pub msgh_sender: [c_uint; 2],
    pub msgh_audit: [c_uint; 8],
}

/// `<mach/notify.h>`: `mach_dead_name_notification_t` without its trailer.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mach_dead_name_notification_t {
    pub not_header: mach_msg_header_t,
    pub ndr: [u8; 8],
    pub not_port: mach_port_t,
}

// The layouts the kernel reads and writes (see the module docs of `super::table` for
// ours): pinned for both Apple targets.
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<mach_timespec_t>() == 8);
    assert!(size_of::<mach_msg_header_t>() == 24);
    assert!(size_of::<mach_msg_body_t>() == 4);
    assert!(size_of::<mach_msg_port_descriptor_t>() == 12);
    assert!(size_of::<mach_msg_audit_trailer_t>() == 52);
    assert!(offset_of!(mach_msg_header_t, msgh_id) == 20);
    assert!(offset_of!(mach_dead_name_notification_t, not_port) == 32);
};

pub const MACH_PORT_NULL: mach_port_t = 0;

pub(crate) use super::control::{MACH_MSGH_BITS_COMPLEX, MACH_NOTIFY_DEAD_NAME};
pub(crate) use super::kern::kr::*;

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
/// `MACH_RCV_TRAILER_ELEMENTS(MACH_RCV_TRAILER_AUDIT)` with trailer format 0.
pub const MACH_RCV_TRAILER_AUDIT_OPT: mach_msg_option_t = 3 << 24;

unsafe extern "C" {
    /// `mach_task_self()` is a macro reading this.
    pub static mach_task_self_: mach_port_t;
    /// `<servers/bootstrap.h>`.
    pub static bootstrap_port: mach_port_t;

    pub fn semaphore_create(
        task: mach_port_t,
        semaphore: *mut mach_port_t,
        policy: c_int,
        value: c_int,
    ) -> kern_return_t;
    /// Consumes one send user reference of `semaphore` (MIG `semaphore_consume_ref_t`).
    pub fn semaphore_destroy(task: mach_port_t, semaphore: mach_port_t) -> kern_return_t;
    pub fn semaphore_signal(semaphore: mach_port_t) -> kern_return_t;
    pub fn semaphore_wait(semaphore: mach_port_t) -> kern_return_t;
    pub fn semaphore_timedwait(semaphore: mach_port_t, wait_time: mach_timespec_t)
    -> kern_return_t;

    pub fn mach_port_allocate(
        task: mach_port_t,
        right: mach_port_right_t,
        name: *mut mach_port_t,
    ) -> kern_return_t;
    pub fn mach_port_deallocate(task: mach_port_t, name: mach_port_t) -> kern_return_t;
    pub fn mach_port_mod_refs(
        task: mach_port_t,
        name: mach_port_t,
        right: mach_port_right_t,
        delta: c_int,
    ) -> kern_return_t;
    pub fn mach_port_move_member(
        task: mach_port_t,
        member: mach_port_t,
        after: mach_port_t,
    ) -> kern_return_t;
    pub fn mach_port_request_notification(
        task: mach_port_t,
        name: mach_port_t,
        msgid: mach_msg_id_t,
        sync: c_uint,
        notify: mach_port_t,
        notify_poly: mach_msg_type_name_t,
        previous: *mut mach_port_t,
    ) -> kern_return_t;

    pub fn mach_msg(
        msg: *mut mach_msg_header_t,
        option: mach_msg_option_t,
        send_size: mach_msg_size_t,
        rcv_size: mach_msg_size_t,
        rcv_name: mach_port_t,
        timeout: c_uint,
        notify: mach_port_t,
    ) -> mach_msg_return_t;
    /// Releases every right and out-of-line region a received message carries.
    pub fn mach_msg_destroy(msg: *mut mach_msg_header_t);

    pub fn bootstrap_check_in(
        bp: mach_port_t,
        service_name: *const c_char,
        sp: *mut mach_port_t,
    ) -> kern_return_t;
    pub fn bootstrap_look_up(
        bp: mach_port_t,
        service_name: *const c_char,
        sp: *mut mach_port_t,
    ) -> kern_return_t;
}

/// This task's port (the `mach_task_self()` macro).
#[inline]
pub fn task_self() -> mach_port_t {
    // SAFETY: a plain read of a libSystem global set before `main`, never written after.
    unsafe { mach_task_self_ }
}
