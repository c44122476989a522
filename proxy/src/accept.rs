//! Accepting with a deadline without losing connections. Dropping an in-flight accept when a
//! timer fires (`timeout(d, listener.accept())`) can lose a connection under io_uring: the kernel
//! may complete the accept just as the future is dropped, and the new socket then belongs to no
//! one, so its client hangs until its own timeout or sees the connection reset. Here the accept is
//! cancelled and then awaited, so a connection accepted meanwhile is still handed over.

use std::net::SocketAddr;
use std::time::Duration;

use monoio::io::Canceller;
use monoio::net::{TcpListener, TcpStream};

/// The wait ended without a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoConnection;

/// Waits up to `wait` for a connection on `listener`; `Err(NoConnection)` when none came.
pub async fn accept_within(
    listener: &TcpListener,
    wait: Duration,
) -> Result<std::io::Result<(TcpStream, SocketAddr)>, NoConnection> {
    let canceller = Canceller::new();
    let accept = listener.cancelable_accept(canceller.handle());
    let mut accept = std::pin::pin!(accept);
    monoio::select! {
        r = &mut accept => Ok(r),
        _ = monoio::time::sleep(wait) => {
            let _ = canceller.cancel();
            // The cancellation races the kernel: a connection accepted meanwhile is kept.
            match accept.await {
                Ok(conn) => Ok(Ok(conn)),
                Err(_) => Err(NoConnection),
            }
        }
    }
}
