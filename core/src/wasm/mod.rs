//! The component's glue (wasm32 only): the WIT bindings implementing [`crate::host::Host`]
//! with the component's imports and exporting `handle`, their conversions (`convert`), and
//! the allocator.

mod bindings;
mod convert;
mod heap;
