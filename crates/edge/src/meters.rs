//! Metric handles kept by the code that counts, instead of the
//! `metrics::counter!` macro on every call: the macro looks the counter up
//! in the registry by name and labels (a hash and a lock) each time.

use std::collections::HashMap;
use std::hash::Hash;

use metrics::Counter;

/// One counter with one label, a handle per label value, registered the
/// first time that value is counted.
#[derive(Debug)]
pub(crate) struct LabelledCounter<V> {
    name: &'static str,
    label: &'static str,
    handles: HashMap<V, Counter>,
}

impl<V: Copy + Eq + Hash + Into<metrics::SharedString>> LabelledCounter<V> {
    /// The counter `name`, labelled `label`.
    pub(crate) fn new(name: &'static str, label: &'static str) -> Self {
        Self {
            name,
            label,
            handles: HashMap::new(),
        }
    }

    /// Adds one to the series whose label is `value`.
    pub(crate) fn increment(&mut self, value: V) {
        let (name, label) = (self.name, self.label);
        self.handles
            .entry(value)
            .or_insert_with(|| metrics::counter!(name, label => value))
            .increment(1);
    }
}
