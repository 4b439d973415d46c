//! The transaction layer's pending deadlines: a hashed timing wheel that
//! hands them out in exact `(deadline, id)` order.
//!
//! Under load most deadlines are the long lingers of finished transactions
//! (64·T1 = 32 s on UDP), so a binary heap holds a hundred thousand of
//! them and every pop walks its height through cold memory. The wheel files
//! a deadline in the slot of its 16 ms tick (a vector push) and finds the
//! next one through a bitmap of occupied slots; within a slot, the exact
//! instant decides: the first occupied slot is sorted once when reached,
//! then drained from its end. Deadlines beyond the wheel's 65 s horizon wait in a
//! small heap until the wheel turns close enough.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Width of one slot.
const GRAIN: Duration = Duration::from_millis(16);
/// Slots on the wheel (a power of two; 4096 × 16 ms ≈ 65 s).
const SLOTS: usize = 4096;
const WORDS: usize = SLOTS / 64;

/// Deadlines with a `T` attached (the transaction id), smallest first.
#[derive(Debug)]
pub(crate) struct Deadlines<T> {
    /// Ticks count [`GRAIN`]s from here (the first deadline ever filed).
    origin: Option<Instant>,
    /// Every wheel entry has a tick in `cursor..cursor + SLOTS`.
    cursor: u64,
    slots: Vec<Vec<(Instant, T)>>,
    /// One bit per non-empty slot.
    occupied: [u64; WORDS],
    /// How many deadlines are on the wheel.
    near: usize,
    /// Deadlines past the horizon.
    far: BinaryHeap<Reverse<(Instant, T)>>,
    /// The slot kept sorted, smallest last: the first occupied one, sorted
    /// once when reached so that draining it is a pop per deadline.
    sorted: Option<usize>,
}

impl<T: Copy + Ord> Deadlines<T> {
    /// No deadlines.
    pub(crate) fn new() -> Self {
        Self {
            origin: None,
            cursor: 0,
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            occupied: [0; WORDS],
            near: 0,
            far: BinaryHeap::new(),
            sorted: None,
        }
    }

    /// Files `item` for `at`.
    pub(crate) fn push(&mut self, at: Instant, item: T) {
        let tick = self.tick(at);
        if self.near == 0 {
            // An empty wheel turns freely, up to the earliest deadline.
            let far_at = self.far.peek().map(|r| r.0.0);
            let far = far_at.map_or(u64::MAX, |at| self.tick(at));
            self.cursor = self.cursor.max(tick.min(far));
        }
        // A deadline already in the past belongs to the first slot.
        let tick = tick.max(self.cursor);
        if tick - self.cursor >= SLOTS as u64 {
            self.far.push(Reverse((at, item)));
        } else {
            let slot = slot_of(tick);
            self.slots[slot].push((at, item));
            if self.sorted == Some(slot) {
                self.sorted = None;
            }
            self.occupied[slot / 64] |= 1 << (slot % 64);
            self.near += 1;
        }
    }

    /// The tick `at` falls in (deadlines before the origin fall in tick 0).
    fn tick(&mut self, at: Instant) -> u64 {
        let origin = *self.origin.get_or_insert(at);
        let ticks = at.saturating_duration_since(origin).as_nanos() / GRAIN.as_nanos();
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// The smallest deadline, without removing it.
    pub(crate) fn peek(&mut self) -> Option<(Instant, T)> {
        self.first().map(|(entry, _)| entry)
    }

    /// Removes and returns the smallest deadline if it is not after `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, T)> {
        let (entry, place) = self.first()?;
        if entry.0 > now {
            return None;
        }
        match place {
            Some(slot) => {
                let bucket = &mut self.slots[slot];
                bucket.pop();
                self.near -= 1;
                if bucket.is_empty() {
                    self.occupied[slot / 64] &= !(1 << (slot % 64));
                }
                // Every slot before this one is empty: the wheel turns.
                self.cursor += ((slot + SLOTS - slot_of(self.cursor)) % SLOTS) as u64;
            }
            None => {
                self.far.pop();
            }
        }
        Some(entry)
    }

    /// The smallest deadline, with its slot on the wheel, where it is the
    /// last entry (`None` when it waits in the far heap).
    fn first(&mut self) -> Option<((Instant, T), Option<usize>)> {
        self.bring_near();
        let Some(slot) = self.first_occupied() else {
            return self.far.peek().map(|&Reverse(entry)| (entry, None));
        };
        if self.sorted != Some(slot) {
            self.slots[slot].sort_unstable_by(|a, b| b.cmp(a));
            self.sorted = Some(slot);
        }
        Some((*self.slots[slot].last()?, Some(slot)))
    }

    /// Moves far deadlines that the wheel now reaches onto it.
    fn bring_near(&mut self) {
        while let Some(&Reverse((at, item))) = self.far.peek() {
            if self.near > 0 && self.tick(at).saturating_sub(self.cursor) >= SLOTS as u64 {
                return;
            }
            self.far.pop();
            self.push(at, item);
        }
    }

    /// The first non-empty slot from the cursor on, going round once.
    fn first_occupied(&self) -> Option<usize> {
        let start = slot_of(self.cursor);
        (0..=WORDS).find_map(|step| {
            let word = (start / 64 + step) % WORDS;
            let mut bits = self.occupied[word];
            if step == 0 {
                // Slots before the cursor in its own word come last.
                bits &= u64::MAX << (start % 64);
            }
            (bits != 0).then(|| word * 64 + bits.trailing_zeros() as usize)
        })
    }
}

fn slot_of(tick: u64) -> usize {
    (tick % SLOTS as u64) as usize
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Each step either files a deadline `offset` ms after the clock, or
    /// advances the clock by `offset` ms and takes every due deadline.
    fn steps() -> impl Strategy<Value = Vec<(bool, u64)>> {
        prop::collection::vec(
            (
                any::<bool>(),
                prop_oneof![0..50u64, 0..2_000u64, 0..200_000u64],
            ),
            1..400,
        )
    }

    proptest! {
        /// The wheel gives exactly what a binary heap gives, in the same
        /// order, at every point in simulated time.
        #[test]
        fn the_wheel_orders_like_a_heap(steps in steps()) {
            let start = Instant::now();
            let mut now = start;
            let mut wheel = Deadlines::new();
            let mut heap = BinaryHeap::new();
            for (id, (file, offset)) in steps.into_iter().enumerate() {
                let offset = Duration::from_millis(offset);
                if file {
                    wheel.push(now + offset, id);
                    heap.push(Reverse((now + offset, id)));
                } else {
                    now += offset;
                }
                prop_assert_eq!(wheel.peek(), heap.peek().map(|r| r.0));
                while let Some(Reverse(expected)) = heap.peek().copied().filter(|r| r.0.0 <= now) {
                    heap.pop();
                    prop_assert_eq!(wheel.pop_due(now), Some(expected));
                }
                prop_assert_eq!(wheel.pop_due(now), None);
            }
            // Draining far into the future empties both.
            let end = now + Duration::from_secs(1_000);
            while let Some(Reverse(expected)) = heap.pop() {
                prop_assert_eq!(wheel.pop_due(end), Some(expected));
            }
            prop_assert_eq!(wheel.peek(), None);
        }
    }

    #[test]
    fn a_deadline_in_the_past_is_due_at_once() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut wheel = Deadlines::new();
        wheel.push(start, 1);
        assert_eq!(wheel.pop_due(start), Some((start, 1)));
        let earlier = start - Duration::from_secs(5);
        wheel.push(earlier, 2);
        assert_eq!(wheel.peek(), Some((earlier, 2)));
        assert_eq!(wheel.pop_due(start), Some((earlier, 2)));
    }

    #[test]
    fn deadlines_past_the_horizon_come_back_in_order() {
        let start = Instant::now();
        let mut wheel = Deadlines::new();
        let far = start + Duration::from_secs(600);
        wheel.push(far, 1);
        wheel.push(start + Duration::from_secs(1), 2);
        assert_eq!(
            wheel.pop_due(far),
            Some((start + Duration::from_secs(1), 2))
        );
        assert_eq!(wheel.pop_due(far - Duration::from_millis(1)), None);
        assert_eq!(wheel.pop_due(far), Some((far, 1)));
        assert_eq!(wheel.peek(), None);
    }
}
