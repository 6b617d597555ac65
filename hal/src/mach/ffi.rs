//! The Mach and bootstrap calls the Mach backend uses (public SDK headers:
//! `<mach/semaphore.h>`, `<mach/task.h>`, `<mach/mach_port.h>`, `<mach/message.h>`,
//! `<mach/notify.h>`, `<servers/bootstrap.h>`): types, layouts and constants from `abi.rs`
//! (checked against the SDK by the `apple-headers` lane), functions from `mach2` bound to
//! the checked signatures, own declarations only where `mach2` has none.
//!
//! Every symbol here is public API exported by libSystem; none is private (no `__ulock_*`,
//! no `bootstrap_register2`, no `xpc_dictionary_set_mach_send`), which the symbol audit
//! of the App Store build checks.

#![allow(non_camel_case_types, dead_code)]

pub(crate) use super::abi::*;
pub(crate) use super::control::{MACH_MSGH_BITS_COMPLEX, MACH_NOTIFY_DEAD_NAME};
pub(crate) use super::kern::kr::*;

// Functions from `mach2` (0.7), whose declarations match the SDK: each is bound to the
// signature in `abi.rs`, which the `apple-headers` lane compiles against the SDK headers;
// a fn item coerces to that fn-pointer type only if its signature is the same, so a
// `mach2` declaration that drifts fails the build. (mach2 up to 0.6 declared
// `semaphore_signal/wait/timedwait/destroy` with `*mut semaphore_t`; 0.7 takes the name by
// value, as the SDK does.)
pub(crate) use mach2::bootstrap::{bootstrap_check_in, bootstrap_look_up, bootstrap_port};
pub(crate) use mach2::mach_port::{
    mach_port_allocate, mach_port_deallocate, mach_port_mod_refs, mach_port_request_notification,
};
pub(crate) use mach2::semaphore::{
    semaphore_create, semaphore_destroy, semaphore_signal, semaphore_wait,
};

const _: SemaphoreCreate = semaphore_create;
const _: SemaphoreDestroy = semaphore_destroy;
const _: SemaphoreSignal = semaphore_signal;
const _: SemaphoreWait = semaphore_wait;
const _: MachPortAllocate = mach_port_allocate;
const _: MachPortDeallocate = mach_port_deallocate;
const _: MachPortModRefs = mach_port_mod_refs;
const _: MachPortRequestNotification = mach_port_request_notification;
const _: BootstrapCheckIn = bootstrap_check_in;
const _: BootstrapLookUp = bootstrap_look_up;

// Own declarations where `mach2`'s take its own struct types (`mach2::message::
// mach_msg_header_t`, `mach2::clock_types::mach_timespec`) instead of the `abi.rs` structs
// the lane checks: same C signature, other Rust types. The layouts agree (asserted here).
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<mach2::message::mach_msg_header_t>() == size_of::<mach_msg_header_t>());
    assert!(size_of::<mach2::clock_types::mach_timespec>() == size_of::<mach_timespec_t>());
};

unsafe extern "C" {
    pub fn semaphore_timedwait(semaphore: semaphore_t, wait_time: mach_timespec_t)
    -> kern_return_t;
    pub fn mach_msg(
        msg: *mut mach_msg_header_t,
        option: mach_msg_option_t,
        send_size: mach_msg_size_t,
        rcv_size: mach_msg_size_t,
        rcv_name: mach_port_name_t,
        timeout: mach_msg_timeout_t,
        notify: mach_port_name_t,
    ) -> mach_msg_return_t;
    /// Releases every right and out-of-line region a received message carries.
    pub fn mach_msg_destroy(msg: *mut mach_msg_header_t);
    /// `mach_task_self()` is a macro reading this (`<mach/mach_init.h>`); `mach2` keeps its
    /// own declaration private.
    pub static mach_task_self_: mach_port_t;
    /// `<mach/mach_port.h>`; not in `mach2`.
    pub fn mach_port_move_member(
        task: ipc_space_t,
        member: mach_port_name_t,
        after: mach_port_name_t,
    ) -> kern_return_t;
}
const _: MachPortMoveMember = mach_port_move_member;
const _: SemaphoreTimedwait = semaphore_timedwait;
const _: MachMsg = mach_msg;
const _: MachMsgDestroy = mach_msg_destroy;

/// This task's port (the `mach_task_self()` macro).
#[inline]
pub fn task_self() -> mach_port_t {
    // SAFETY: a plain read of a libSystem global set before `main`, never written after.
    unsafe { mach_task_self_ }
}
