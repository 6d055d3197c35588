//! End-to-end tests: the real `caravan` binary on port 0, spoken to over real HTTP.

mod support;

mod allocations;
mod api;
mod containment;
mod isolation;
mod persistence;
