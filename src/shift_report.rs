//! Shift reports.
