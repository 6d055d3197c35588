//! Go's wire formats, as Nomad writes and reads them: JSON encoding, query and path
//! parameters, RFC 3339 times, file modes, content sniffing, base64. The leaves: they import
//! nothing else from the crate.

pub mod b64;
pub mod filemode;
pub mod json;
pub mod params;
pub mod sniff;
pub mod timefmt;
