//! Admission to a command: at most [`Limiter::limit`] executions in flight, and in front of
//! them a short FIFO queue where a burst waits briefly for a place instead of failing at once.
//!
//! A caller either gets a [`Permit`] at once (a place is free and nobody waits before it), or
//! joins the queue when it has room (`queue` waiters at most) and waits at most
//! `queue_timeout`; a full queue or a passed deadline is a [`Rejection`]. A place given back
//! goes to the longest waiter first, so a waiter can't be overtaken by a newcomer.
//!
//! Nothing leaks when a waiter gives up or its caller goes away: its queue slot is taken back
//! when its future is dropped, and a place handed to it in the same moment is passed on.
//! Every permit reports how its execution ended ([`Permit::finish`]) to the [`Limiter`]; a
//! permit dropped without a verdict (the caller went away) gives its place back and says
//! nothing about the limit.
//!
//! The limit, queue bound and deadline are read at each admission, so configuration changes
//! apply to the next call, and a raised limit lets waiters in at once.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::limiter::{ConcurrencySettings, Limiter, Sample};

/// Why a call was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the queue is full")]
    QueueFull,
    #[error("no place came free in time")]
    QueueTimeout,
}

/// The limit, the executions in flight and the waiters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Occupancy {
    pub limit: u32,
    pub in_flight: u32,
    pub queued: u32,
}

#[derive(Debug)]
pub struct Admission {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    limiter: Limiter,
    /// The settings of the latest admission, for places given back between admissions.
    settings: ConcurrencySettings,
    in_flight: u32,
    waiters: VecDeque<Waiter>,
    next_id: u64,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    /// Sent a place (with the executions in flight then): the waiter now holds it.
    admit: oneshot::Sender<u32>,
}

impl State {
    fn limit(&self) -> u32 {
        self.limiter.limit(&self.settings)
    }

    /// Hands free places to waiters, longest first; a waiter gone in the meantime is skipped.
    fn admit_waiters(&mut self) {
        while self.in_flight < self.limit() {
            let Some(waiter) = self.waiters.pop_front() else {
                return;
            };
            if waiter.admit.send(self.in_flight + 1).is_ok() {
                self.in_flight += 1;
            }
        }
    }
}

impl Admission {
    pub fn new(settings: &ConcurrencySettings) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                limiter: Limiter::new(settings),
                settings: settings.clone(),
                in_flight: 0,
                waiters: VecDeque::new(),
                next_id: 0,
            }),
        })
    }

    pub fn occupancy(&self) -> Occupancy {
        let state = self.lock();
        Occupancy {
            limit: state.limit(),
            in_flight: state.in_flight,
            queued: u32::try_from(state.waiters.len()).unwrap_or(u32::MAX),
        }
    }

    /// A place now, or after waiting in the queue; a [`Rejection`] when the queue is full or
    /// no place came free within `settings.queue_timeout`.
    pub async fn enter(
        self: &Arc<Self>,
        settings: &ConcurrencySettings,
    ) -> Result<Permit, Rejection> {
        let (id, admitted) = {
            let mut state = self.lock();
            state.settings = settings.clone();
            state.admit_waiters();
            if state.waiters.is_empty() && state.in_flight < state.limit() {
                state.in_flight += 1;
                return Ok(self.permit(state.in_flight));
            }
            if state.waiters.len() >= settings.queue as usize {
                return Err(Rejection::QueueFull);
            }
            let id = state.next_id;
            state.next_id += 1;
            let (admit, admitted) = oneshot::channel();
            state.waiters.push_back(Waiter { id, admit });
            (id, admitted)
        };
        let mut waiting = Waiting {
            admission: self,
            id,
            admitted,
            holds_place: false,
        };
        match tokio::time::timeout(settings.queue_timeout, &mut waiting.admitted).await {
            Ok(Ok(concurrent)) => {
                // The place is the permit's now.
                waiting.holds_place = true;
                Ok(self.permit(concurrent))
            }
            // The sender is only dropped unsent when the waiter is skipped as gone, which this
            // one is not; treat it as the deadline either way.
            Ok(Err(_)) | Err(_) => Err(Rejection::QueueTimeout),
        }
    }

    fn permit(self: &Arc<Self>, concurrent: u32) -> Permit {
        Permit {
            admission: self.clone(),
            concurrent,
            sample: None,
        }
    }

    fn release(&self, sample: Option<Sample>) {
        let mut state = self.lock();
        if let Some(sample) = sample {
            let in_flight = state.in_flight;
            let settings = state.settings.clone();
            state.limiter.on_sample(&settings, sample, in_flight);
        }
        state.in_flight = state.in_flight.saturating_sub(1);
        state.admit_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update is a few assignments; a poisoned lock holds a consistent value.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A waiter in the queue; dropped before it is admitted (deadline passed, or the caller went
/// away), it leaves the queue, and gives back a place handed to it meanwhile.
struct Waiting<'a> {
    admission: &'a Arc<Admission>,
    id: u64,
    admitted: oneshot::Receiver<u32>,
    /// Set once admitted: the place went to a [`Permit`].
    holds_place: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.holds_place {
            return;
        }
        let mut state = self.admission.lock();
        if let Some(at) = state.waiters.iter().position(|w| w.id == self.id) {
            state.waiters.remove(at);
            return;
        }
        // Out of the queue but not admitted by `enter`: a place was sent under this lock,
        // or the waiter was skipped. Either way what was sent is given back.
        if self.admitted.try_recv().is_ok() {
            state.in_flight = state.in_flight.saturating_sub(1);
            state.admit_waiters();
        }
    }
}

/// One place among the executions in flight, given back when dropped, however its holder
/// ends; what the execution said about the upstream goes to the limiter then.
#[derive(Debug)]
pub struct Permit {
    admission: Arc<Admission>,
    concurrent: u32,
    sample: Option<Sample>,
}

impl Permit {
    /// Executions in flight when this one was admitted, itself included.
    pub fn concurrent(&self) -> u32 {
        self.concurrent
    }

    /// How the execution ended, for the limiter: its latency, or a drop.
    pub fn finish(mut self, sample: Sample) {
        self.sample = Some(sample);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.admission.release(self.sample.take());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::resilience::limiter::LimiterKind;

    fn fixed(limit: u32, queue: u32) -> ConcurrencySettings {
        ConcurrencySettings {
            limiter: LimiterKind::Fixed,
            limit,
            queue,
            queue_timeout: Duration::from_millis(100),
            ..ConcurrencySettings::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_limit_queues_and_the_first_waiter_gets_the_next_place() {
        let settings = fixed(1, 2);
        let admission = Admission::new(&settings);
        let held = admission.enter(&settings).await.expect("a free place");
        let first = tokio::spawn({
            let (admission, settings) = (admission.clone(), settings.clone());
            async move { admission.enter(&settings).await.map(|p| p.concurrent()) }
        });
        tokio::task::yield_now().await;
        let second = tokio::spawn({
            let (admission, settings) = (admission.clone(), settings.clone());
            async move { admission.enter(&settings).await.map(|p| p.concurrent()) }
        });
        tokio::task::yield_now().await;
        assert_eq!(
            admission.occupancy(),
            Occupancy {
                limit: 1,
                in_flight: 1,
                queued: 2
            }
        );
        assert_eq!(
            admission.enter(&settings).await.map(|_| ()),
            Err(Rejection::QueueFull)
        );
        drop(held);
        assert_eq!(first.await.expect("no panic"), Ok(1));
        assert_eq!(second.await.expect("no panic"), Ok(1));
        assert_eq!(admission.occupancy().in_flight, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_past_its_deadline_is_rejected_and_leaves_the_queue() {
        let settings = fixed(1, 4);
        let admission = Admission::new(&settings);
        let held = admission.enter(&settings).await.expect("a free place");
        let waited = admission.enter(&settings).await.map(|_| ());
        assert_eq!(waited, Err(Rejection::QueueTimeout));
        assert_eq!(admission.occupancy().queued, 0);
        drop(held);
        assert_eq!(admission.occupancy().in_flight, 0);
        let _again = admission.enter(&settings).await.expect("the place is back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_whose_caller_goes_away_leaks_neither_its_slot_nor_a_place() {
        let settings = fixed(1, 1);
        let admission = Admission::new(&settings);
        let held = admission.enter(&settings).await.expect("a free place");
        let gone = tokio::spawn({
            let (admission, settings) = (admission.clone(), settings.clone());
            async move { admission.enter(&settings).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert_eq!(admission.occupancy().queued, 1);
        gone.abort();
        let _ = gone.await;
        assert_eq!(admission.occupancy().queued, 0, "the queue slot is back");
        drop(held);
        assert_eq!(admission.occupancy().in_flight, 0, "no place went to it");
        let _next = admission.enter(&settings).await.expect("a free place");
    }

    #[tokio::test(start_paused = true)]
    async fn a_place_handed_to_a_waiter_that_goes_away_in_the_same_moment_is_given_back() {
        let settings = fixed(1, 1);
        let admission = Admission::new(&settings);
        let held = admission.enter(&settings).await.expect("a free place");
        let mut waiting = Box::pin(admission.enter(&settings));
        assert!(futures_poll(&mut waiting).is_none(), "it waits");
        // The place is sent, then the waiter is dropped before it ever runs again.
        drop(held);
        drop(waiting);
        assert_eq!(admission.occupancy().in_flight, 0);
        assert_eq!(admission.occupancy().queued, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_raised_limit_lets_waiters_in_at_the_next_admission() {
        let settings = fixed(1, 4);
        let admission = Admission::new(&settings);
        let _held = admission.enter(&settings).await.expect("a free place");
        let waiter = tokio::spawn({
            let (admission, settings) = (admission.clone(), settings.clone());
            async move { admission.enter(&settings).await.map(|p| p.concurrent()) }
        });
        tokio::task::yield_now().await;
        let raised = fixed(3, 4);
        let _third = admission
            .enter(&raised)
            .await
            .expect("room under the raised limit");
        assert_eq!(waiter.await.expect("no panic"), Ok(2));
    }

    #[tokio::test(start_paused = true)]
    async fn samples_reach_the_limiter_through_the_permit() {
        let settings = ConcurrencySettings {
            limit: 2,
            min_limit: 1,
            max_limit: 10,
            ..ConcurrencySettings::default()
        };
        let admission = Admission::new(&settings);
        let first = admission.enter(&settings).await.expect("a place");
        let _second = admission.enter(&settings).await.expect("a place");
        first.finish(Sample::Dropped);
        assert_eq!(
            admission.occupancy().limit,
            1,
            "a drop at the limit shrinks it"
        );
    }

    /// Polls a future once without a runtime's scheduling.
    fn futures_poll<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        match std::pin::Pin::new(future).poll(&mut context) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        }
    }
}
