//! Metric handles kept by the code that counts, instead of the
//! `metrics::counter!` macro on every call: the macro looks the series up
//! in the registry by name and labels (a hash and a lock) each time.

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;

use metrics::{Counter, Gauge};

/// One metric with one label, a handle per label value, registered the
/// first time that value is met.
#[derive(Debug)]
pub(crate) struct Labelled<V, M> {
    name: &'static str,
    label: &'static str,
    register: fn(&'static str, &'static str, String) -> M,
    handles: HashMap<V, M>,
}

/// Counters by one label.
pub(crate) type LabelledCounter<V> = Labelled<V, Counter>;

/// Gauges by one label.
pub(crate) type LabelledGauge<V> = Labelled<V, Gauge>;

impl<V: Copy + Eq + Hash + Display> LabelledCounter<V> {
    /// The counter `name`, labelled `label`.
    pub(crate) fn new(name: &'static str, label: &'static str) -> Self {
        Self::with(
            name,
            label,
            |name, label, value| metrics::counter!(name, label => value),
        )
    }

    /// Adds one to the series whose label is `value`.
    pub(crate) fn increment(&mut self, value: V) {
        self.series(value).increment(1);
    }
}

impl<V: Copy + Eq + Hash + Display> LabelledGauge<V> {
    /// The gauge `name`, labelled `label`.
    pub(crate) fn new(name: &'static str, label: &'static str) -> Self {
        Self::with(
            name,
            label,
            |name, label, value| metrics::gauge!(name, label => value),
        )
    }

    /// Sets the series whose label is `value`.
    pub(crate) fn set(&mut self, value: V, to: f64) {
        self.series(value).set(to);
    }
}

impl<V: Copy + Eq + Hash + Display, M> Labelled<V, M> {
    fn with(
        name: &'static str,
        label: &'static str,
        register: fn(&'static str, &'static str, String) -> M,
    ) -> Self {
        Self {
            name,
            label,
            register,
            handles: HashMap::new(),
        }
    }

    /// The handle of the series whose label is `value`.
    fn series(&mut self, value: V) -> &M {
        let (name, label, register) = (self.name, self.label, self.register);
        self.handles
            .entry(value)
            .or_insert_with(|| register(name, label, value.to_string()))
    }
}
