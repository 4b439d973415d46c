//! The live-call board: what the management API lists and how it asks the
//! driver to hang a call up. The driver task writes a row when a call
//! starts, changes state and ends; readers take a short lock and copy.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use tollgate_policy::{CallInfo, CallState, LiveCalls};

/// A call's row: what stays put from one attempt to the next, shared with
/// the call, and what changes as it goes on, written in place (a state
/// change copies nothing).
#[derive(Debug)]
struct Row {
    info: Arc<CallInfo>,
    state: CallState,
    answered: Option<u64>,
}

/// Live calls shared between the driver and the API.
#[derive(Debug, Default)]
pub struct CallBoard {
    calls: Mutex<BTreeMap<u64, Row>>,
    channels: Mutex<BTreeMap<i64, u32>>,
    hangups: Mutex<Vec<u64>>,
    /// What the latest probe of each probed gateway found: up or down.
    gateways: Mutex<BTreeMap<i64, bool>>,
    /// Set with every hang-up request, so that taking them finds an empty
    /// list without its lock.
    hangup_asked: AtomicBool,
    /// What wakes the driver when a hang-up is asked for (set by the
    /// driver through [`crate::Core::set_waker`]).
    wake: Mutex<Option<Waker>>,
}

impl CallBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many calls are live.
    pub fn len(&self) -> usize {
        self.lock_calls().len()
    }

    /// True when no call is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock_calls(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Row>> {
        // A panic elsewhere never leaves a half-written row: rows are
        // replaced whole or have one field set, so the data is still good.
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes (or replaces) a call's row, its state and answer time
    /// included.
    pub(crate) fn put(&self, info: Arc<CallInfo>) {
        let row = Row {
            state: info.state,
            answered: info.answered,
            info,
        };
        self.lock_calls().insert(row.info.id, row);
    }

    /// Moves call `id` to `state`; `answered` (Unix milliseconds) when this
    /// is the answer.
    pub(crate) fn set_state(&self, id: u64, state: CallState, answered: Option<u64>) {
        if let Some(row) = self.lock_calls().get_mut(&id) {
            row.state = state;
            row.answered = answered.or(row.answered);
        }
    }

    /// Removes a call's row.
    pub(crate) fn remove(&self, id: u64) {
        self.lock_calls().remove(&id);
    }

    /// Channels in use on `account` (customer or carrier): every call
    /// holds one from admission until it ends by any path.
    pub fn channels_in_use(&self, account: i64) -> u32 {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&account)
            .copied()
            .unwrap_or(0)
    }

    /// Records the channels in use on `account`.
    pub(crate) fn set_channels(&self, account: i64, n: u32) {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if n == 0 {
            channels.remove(&account);
        } else {
            channels.insert(account, n);
        }
    }

    /// Records what a probe of gateway `id` found; returns what the one
    /// before found.
    pub(crate) fn set_gateway_up(&self, id: i64, up: bool) -> Option<bool> {
        self.gateways
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, up)
    }

    /// The hang-up requests since the last call.
    pub(crate) fn take_hangups(&self) -> Vec<u64> {
        if !self.hangup_asked.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        std::mem::take(&mut *self.hangups.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sets what wakes the driver when a hang-up is asked for.
    pub(crate) fn set_waker(&self, waker: Waker) {
        *self.wake.lock().unwrap_or_else(PoisonError::into_inner) = Some(waker);
    }
}

impl LiveCalls for CallBoard {
    fn gateway_up(&self, id: i64) -> Option<bool> {
        self.gateways
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied()
    }

    fn list(&self) -> Vec<CallInfo> {
        self.lock_calls()
            .values()
            .map(|row| CallInfo {
                state: row.state,
                answered: row.answered,
                ..(*row.info).clone()
            })
            .collect()
    }

    fn hang_up(&self, id: u64) -> bool {
        if !self.lock_calls().contains_key(&id) {
            return false;
        }
        self.hangups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(id);
        self.hangup_asked.store(true, Ordering::Release);
        if let Some(waker) = &*self.wake.lock().unwrap_or_else(PoisonError::into_inner) {
            waker.wake_by_ref();
        }
        true
    }
}
