//! One upload body streamed to several backends at once (synchronous replication): the client's
//! body is read once, and each backend's upload takes the same pieces (`Bytes`, shared, never
//! copied) through its own [`TeeSource`]. Whichever upload needs a piece nobody has read yet reads
//! it from the source; the others take it from the window of pieces kept until every upload
//! still running has taken them. The window holds at most [`WINDOW`] pieces, so the fastest
//! backend waits for the slowest and memory stays bounded; an upload that fails leaves the tee
//! and no longer holds the others back.
//!
//! Everything runs on one core: the state is a `RefCell`, never borrowed across an await.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use super::{BodySource, SourceIntegrity};
use crate::error::ProxyError;

/// Pieces (of up to [`super::BODY_BUF`] each) kept for the slowest upload.
pub const WINDOW: usize = 4;

struct State<'s, S> {
    /// The client's body; `None` while an upload is reading from it.
    source: Option<&'s mut S>,
    /// Pieces not yet taken by every live upload; `pieces[0]` is piece number `base`.
    pieces: VecDeque<Bytes>,
    base: u64,
    /// Each upload's next piece number; `None` once it left.
    cursors: Vec<Option<u64>>,
    ended: bool,
    /// The source failed: the error, taken by the caller once every upload is done.
    failed: Option<Option<ProxyError>>,
    waiters: Vec<Waker>,
}

impl<S> State<'_, S> {
    fn wake_all(&mut self) {
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }

    /// Drops the pieces every live upload has taken.
    fn trim(&mut self) {
        let slowest = self.cursors.iter().flatten().min().copied();
        let keep_from = slowest.unwrap_or(self.base + self.pieces.len() as u64);
        while self.base < keep_from && !self.pieces.is_empty() {
            self.pieces.pop_front();
            self.base += 1;
        }
    }
}

/// A body shared by several uploads.
pub struct Tee<'s, S> {
    state: RefCell<State<'s, S>>,
    integrity: SourceIntegrity,
}

impl<'s, S: BodySource> Tee<'s, S> {
    /// A tee of `source` for `uploads` uploads.
    pub fn new(source: &'s mut S, uploads: usize) -> Tee<'s, S> {
        let integrity = source.integrity();
        Tee {
            state: RefCell::new(State {
                source: Some(source),
                pieces: VecDeque::new(),
                base: 0,
                cursors: vec![Some(0); uploads],
                ended: false,
                failed: None,
                waiters: Vec::new(),
            }),
            integrity,
        }
    }

    /// The body source of upload `id` (`0..uploads`).
    pub fn source(&self, id: usize) -> TeeSource<'_, 's, S> {
        TeeSource { tee: self, id }
    }

    /// The source's own error, if reading it failed (once, for the caller to report).
    pub fn take_error(&self) -> Option<ProxyError> {
        self.state.borrow_mut().failed.as_mut().and_then(Option::take)
    }
}

/// One upload's view of a [`Tee`].
pub struct TeeSource<'t, 's, S> {
    tee: &'t Tee<'s, S>,
    id: usize,
}

enum Step<'s, S> {
    Ready(Option<Bytes>),
    Read(&'s mut S),
    Wait,
}

/// Puts the source back if a read is abandoned half-way (its future dropped): the source's
/// state is unknown then, so the tee fails every upload.
struct Reading<'t, 's, S> {
    tee: &'t Tee<'s, S>,
    source: Option<&'s mut S>,
}

impl<S> Drop for Reading<'_, '_, S> {
    fn drop(&mut self) {
        if let Some(src) = self.source.take() {
            let mut st = self.tee.state.borrow_mut();
            st.source = Some(src);
            st.failed.get_or_insert(None);
            st.wake_all();
        }
    }
}

impl<'s, S: BodySource> TeeSource<'_, 's, S> {
    fn step(&self) -> Result<Step<'s, S>, ProxyError> {
        let mut st = self.tee.state.borrow_mut();
        let Some(cur) = st.cursors.get(self.id).copied().flatten() else {
            return Err(ProxyError::Internal("a replicated upload read after it ended".into()));
        };
        let end = st.base + st.pieces.len() as u64;
        if cur < end {
            let piece = st.pieces[(cur - st.base) as usize].clone();
            st.cursors[self.id] = Some(cur + 1);
            st.trim();
            st.wake_all();
            return Ok(Step::Ready(Some(piece)));
        }
        if st.failed.is_some() {
            return Err(ProxyError::Internal("the upload's body failed".into()));
        }
        if st.ended {
            return Ok(Step::Ready(None));
        }
        if st.pieces.len() >= WINDOW {
            return Ok(Step::Wait);
        }
        Ok(st.source.take().map_or(Step::Wait, Step::Read))
    }
}

impl<S: BodySource> BodySource for TeeSource<'_, '_, S> {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
        loop {
            match self.step()? {
                Step::Ready(piece) => return Ok(piece),
                Step::Read(src) => {
                    let mut reading = Reading {
                        tee: self.tee,
                        source: Some(src),
                    };
                    let got = match reading.source.as_mut() {
                        Some(src) => src.next_piece().await,
                        None => Ok(None),
                    };
                    let mut st = self.tee.state.borrow_mut();
                    st.source = reading.source.take();
                    match got {
                        Ok(Some(piece)) => st.pieces.push_back(piece),
                        Ok(None) => st.ended = true,
                        Err(e) => st.failed = Some(Some(e)),
                    }
                    st.wake_all();
                }
                Step::Wait => {
                    Woken {
                        tee: self.tee,
                        registered: false,
                    }
                    .await
                }
            }
        }
    }

    fn integrity(&self) -> SourceIntegrity {
        self.tee.integrity
    }

    fn trailer_value(&self) -> Option<String> {
        self.tee.state.borrow().source.as_ref().and_then(|s| s.trailer_value())
    }
}

impl<S> Drop for TeeSource<'_, '_, S> {
    fn drop(&mut self) {
        let mut st = self.tee.state.borrow_mut();
        if let Some(c) = st.cursors.get_mut(self.id) {
            *c = None;
        }
        st.trim();
        st.wake_all();
    }
}

/// Resolves the second time it is polled: after the tee woke it.
struct Woken<'t, 's, S> {
    tee: &'t Tee<'s, S>,
    registered: bool,
}

impl<S> Future for Woken<'_, '_, S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.registered {
            return Poll::Ready(());
        }
        self.registered = true;
        self.tee.state.borrow_mut().waiters.push(cx.waker().clone());
        Poll::Pending
    }
}

/// Streams `len` bytes of `src` to every backend of `backends` under `physical` at once (one read
/// of the source); each backend's outcome in order, and the source's own error when it failed
/// (then every upload failed with it).
pub async fn put_to_all<S: BodySource>(
    backends: &[&super::Backend],
    physical: &str,
    len: u64,
    pmeta: &super::PhysicalMeta,
    src: &mut S,
) -> (Vec<Result<Option<String>, ProxyError>>, Option<ProxyError>) {
    if let [one] = backends {
        return (vec![one.put(physical, len, pmeta, src).await], None);
    }
    let tee = Tee::new(src, backends.len());
    let uploads = backends.iter().enumerate().map(|(i, b)| {
        let tee = &tee;
        async move { b.put(physical, len, pmeta, &mut tee.source(i)).await }
    });
    let outcomes = join_all(uploads.collect()).await;
    (outcomes, tee.take_error())
}

/// Runs every future to completion, concurrently on this core; their outputs in order.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source of `n` pieces of one byte each, counting reads.
    struct Pieces {
        left: u8,
        reads: usize,
        fail_at: Option<u8>,
    }

    impl BodySource for Pieces {
        async fn next_piece(&mut self) -> Result<Option<Bytes>, ProxyError> {
            self.reads += 1;
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
            if self.fail_at == Some(self.left) {
                return Err(ProxyError::RequestTimeout);
            }
            if self.left == 0 {
                return Ok(None);
            }
            self.left -= 1;
            Ok(Some(Bytes::from(vec![self.left])))
        }
    }

    /// Reads everything from `src`, sleeping `delay_ms` per piece; fails after `fail_after`.
    async fn drain<S: BodySource>(mut src: S, delay_ms: u64, fail_after: Option<usize>) -> Result<Vec<u8>, ()> {
        let mut got = Vec::new();
        while let Some(p) = src.next_piece().await.map_err(drop)? {
            got.extend_from_slice(&p);
            if fail_after == Some(got.len()) {
                return Err(());
            }
            monoio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        }
        Ok(got)
    }

    fn run<F: Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn every_upload_gets_every_piece_read_once_and_the_window_bounds_memory() {
        run(async {
            let mut src = Pieces {
                left: 20,
                reads: 0,
                fail_at: None,
            };
            let tee = Tee::new(&mut src, 3);
            let outs = join_all(vec![
                Box::pin(drain(tee.source(0), 0, None)) as Pin<Box<dyn Future<Output = _>>>,
                Box::pin(drain(tee.source(1), 3, None)),
                Box::pin(drain(tee.source(2), 0, Some(5))),
            ])
            .await;
            let want: Vec<u8> = (0..20).rev().collect();
            assert_eq!(outs[0].as_ref().unwrap(), &want);
            assert_eq!(outs[1].as_ref().unwrap(), &want);
            assert!(outs[2].is_err());
            assert!(tee.state.borrow().pieces.len() <= WINDOW);
            assert!(tee.take_error().is_none());
            drop(tee);
            assert_eq!(src.reads, 21, "20 pieces and the end, each read once");
        });
    }

    #[test]
    fn a_failed_source_fails_every_upload_and_its_error_is_kept() {
        run(async {
            let mut src = Pieces {
                left: 10,
                reads: 0,
                fail_at: Some(7),
            };
            let tee = Tee::new(&mut src, 2);
            let outs = join_all(vec![drain(tee.source(0), 0, None), drain(tee.source(1), 1, None)]).await;
            assert!(outs.iter().all(Result::is_err));
            assert!(matches!(tee.take_error(), Some(ProxyError::RequestTimeout)));
            assert!(tee.take_error().is_none());
        });
    }
}
