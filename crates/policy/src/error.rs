//! Validation results that name the field and the rule, so an operator (or
//! the API's JSON error) can see at once what to fix.

use std::fmt;

/// One invalid value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field, as the API names it (`addresses[2]`, `carriers[0]`).
    pub field: String,
    /// The rule broken, in words.
    pub message: String,
}

impl FieldError {
    /// An error for `field`.
    pub fn new(field: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// Something allowed but worth telling the operator (returned alongside a
/// successful write).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The field concerned.
    pub field: String,
    /// What to look at.
    pub message: String,
}
