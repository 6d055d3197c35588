//! `GET /v1/job/:job_id/logs` (caravan's own): the logs of every allocation of a job, on
//! every node this agent knows, merged by arrival time and tagged with their allocation,
//! task and type. Its parameters and errors; the stream is `stream::job`.
//!
//! Parameters: `namespace` (default `default`; `*` for every namespace the caller may read),
//! `task` (default every task), `type` (`stdout`, `stderr` or `all`, the default), `follow`,
//! and `since`/`until` as `fs/logs` takes them. The caller needs `read-logs` (or `read-fs`)
//! in the namespace asked, and sees only the allocations of namespaces it may read, as
//! `fs/logs` checks each.

use crate::acl::access::Access;
use crate::fs::logtime;
use crate::fs::params;
use crate::fs::stream::Stream;
use crate::fs::stream::job::{JobQuery, JobStream};
use crate::host::Host;
use crate::http::{ApiError, ApiResult};
use crate::wire::params::{Query, escape, go_quote};
use crate::wire::timefmt;

/// Start the stream; `fan_out`: read the job's allocations on other nodes too (a server
/// answering a caller, not a node answering its server).
pub fn start<W, L>(
    host: &impl Host<Watch = W>,
    access: &Access,
    job: &str,
    query: &Query,
    fan_out: bool,
) -> ApiResult<Stream<W, L>> {
    let namespace = query
        .get("namespace")
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    let follow = params::flag(query, "follow", false)?;
    let (kind, kinds): (&str, &'static [&'static str]) = match query.get("type") {
        None | Some("" | "all") => ("all", &["stdout", "stderr"]),
        Some("stdout") => ("stdout", &["stdout"]),
        Some("stderr") => ("stderr", &["stderr"]),
        Some(_) => {
            return Err(ApiError::bad_request(
                "log type must be stdout, stderr or all",
            ));
        }
    };
    let task = query.get("task").filter(|t| !t.is_empty());
    let options = logtime::options(host, query, false)?;
    // Nothing is learnt about a namespace the caller may not read.
    access.namespace(host, namespace)?;
    let mut target = format!(
        "/v1/job/{}/logs?namespace={}&type={kind}&follow={follow}",
        escape(job),
        escape(namespace)
    );
    if let Some(task) = task {
        target.push_str(&format!("&task={}", escape(task)));
    }
    // Absolute, so every node reads the same window.
    for (name, bound) in [("since", options.since), ("until", options.until)] {
        if let Some(nanos) = bound {
            target.push_str(&format!("&{name}={}", timefmt::rfc3339_fixed(nanos)));
        }
    }
    let query = JobQuery {
        job: job.to_string(),
        namespace: namespace.to_string(),
        task: task.map(str::to_string),
        kinds,
        options,
        follow,
        fan_out,
        relay_target: target,
    };
    let stream = JobStream::new(host, query, access.request.clone());
    if stream.is_empty() {
        return Err(ApiError::not_found(format!(
            "no allocations of job {} found",
            go_quote(job)
        )));
    }
    Ok(Stream::Job(Box::new(stream)))
}
