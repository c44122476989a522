//! SIGINT/SIGTERM/SIGHUP handling without a signal-handler: the signals are blocked in every
//! thread (the mask is inherited by threads spawned afterwards) and the main thread waits for
//! them with `sigwait`: SIGINT and SIGTERM start the graceful shutdown, SIGHUP reloads the
//! config.

#![allow(unsafe_code)]

/// The blocked shutdown signals, to wait on.
#[derive(Debug)]
pub struct ShutdownSignals {
    set: libc::sigset_t,
}

/// A signal the main thread acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT or SIGTERM (named): shut down gracefully.
    Shutdown(&'static str),
    /// SIGHUP: reload the config file.
    Reload,
}

/// Blocks SIGINT, SIGTERM and SIGHUP for this thread and every thread it spawns later.
pub fn block_shutdown_signals() -> std::io::Result<ShutdownSignals> {
    // SAFETY: `set` is a plain C struct initialised by `sigemptyset` before any other use; the
    // pointers passed are to this local and valid for the duration of each call; a null `oldset`
    // is allowed by pthread_sigmask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        Ok(ShutdownSignals { set })
    }
}

impl ShutdownSignals {
    /// Blocks until SIGINT, SIGTERM or SIGHUP arrives.
    pub fn wait(&self) -> Signal {
        let mut sig: libc::c_int = 0;
        // SAFETY: `self.set` was initialised by `block_shutdown_signals`; `sig` is a valid
        // out-pointer for the call.
        let rc = unsafe { libc::sigwait(&self.set, &mut sig) };
        match (rc, sig) {
            (0, libc::SIGHUP) => Signal::Reload,
            (0, libc::SIGINT) => Signal::Shutdown("SIGINT"),
            (0, libc::SIGTERM) => Signal::Shutdown("SIGTERM"),
            _ => Signal::Shutdown("signal"),
        }
    }
}
