//! SIGINT/SIGTERM handling without a signal-handler: the signals are blocked in every thread
//! (the mask is inherited by threads spawned afterwards) and the main thread waits for them with
//! `sigwait`, then starts the graceful shutdown.

#![allow(unsafe_code)]

/// The blocked shutdown signals, to wait on.
#[derive(Debug)]
pub struct ShutdownSignals {
    set: libc::sigset_t,
}

/// Blocks SIGINT and SIGTERM for this thread and every thread it spawns later.
pub fn block_shutdown_signals() -> std::io::Result<ShutdownSignals> {
    // SAFETY: `set` is a plain C struct initialised by `sigemptyset` before any other use; the
    // pointers passed are to this local and valid for the duration of each call; a null `oldset`
    // is allowed by pthread_sigmask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        Ok(ShutdownSignals { set })
    }
}

impl ShutdownSignals {
    /// Blocks until SIGINT or SIGTERM arrives; returns its name.
    pub fn wait(&self) -> &'static str {
        let mut sig: libc::c_int = 0;
        // SAFETY: `self.set` was initialised by `block_shutdown_signals`; `sig` is a valid
        // out-pointer for the call.
        let rc = unsafe { libc::sigwait(&self.set, &mut sig) };
        match (rc, sig) {
            (0, libc::SIGINT) => "SIGINT",
            (0, libc::SIGTERM) => "SIGTERM",
            _ => "signal",
        }
    }
}
