//! What a client does to its allocations on request: restart and signal tasks, their health
//! checks (`lifecycle`), a command in a task over a WebSocket (`exec`), and garbage
//! collection (`gc`).

pub mod exec;
pub mod gc;
pub mod lifecycle;
