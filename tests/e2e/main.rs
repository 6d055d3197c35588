//! End-to-end tests: the real `caravan` binary on port 0, spoken to over real HTTP.

mod support;

mod api;
mod containment;
mod hotswap;
mod isolation;
mod persistence;
