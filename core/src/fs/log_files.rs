//! The rotated log files of a task, `alloc/logs/<task>.<type>.<N>`: their names and
//! which exist. Shared by `fs/logs` (where to start) and the stream (where to go next).

use crate::fs::listing::PAGE;
use crate::host::Host;
use crate::http::{ApiError, ApiResult};
use crate::wire::params::{go_quote, parse_int};

/// Where logmon writes, relative to the allocation directory.
pub const LOG_DIR: &str = "alloc/logs";

/// One task's stdout or stderr files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFiles {
    task: String,
    kind: String,
}

/// One rotated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogFile {
    /// Its rotation index (`<task>.stdout.<index>`).
    pub index: u64,
    /// Its size in bytes.
    pub size: u64,
}

impl LogFiles {
    /// The files of `task`'s `kind` (`stdout` or `stderr`).
    pub fn new(task: &str, kind: &str) -> Self {
        Self {
            task: task.to_string(),
            kind: kind.to_string(),
        }
    }

    fn prefix(&self) -> String {
        format!("{}.{}.", self.task, self.kind)
    }

    /// The path of file `index`.
    pub fn path(&self, index: u64) -> String {
        format!("{LOG_DIR}/{}{index}", self.prefix())
    }

    /// The files that exist now, by index. A matching name whose suffix is not a number is
    /// an error, as in Nomad; directories are skipped.
    pub fn list(&self, host: &impl Host, alloc_id: &str) -> ApiResult<Vec<LogFile>> {
        let failed = |e| ApiError::internal(format!("failed to list entries: {e}"));
        let listing = host.list(alloc_id, LOG_DIR).map_err(failed)?;
        let prefix = self.prefix();
        let mut files = Vec::new();
        // A page at a time: only this task's files stay, not the whole directory.
        loop {
            let page = host.list_next(&listing, PAGE).map_err(failed)?;
            for entry in page
                .iter()
                .filter(|e| !crate::wire::filemode::is_dir(e.mode))
            {
                let Some(suffix) = entry.name.strip_prefix(&prefix) else {
                    continue;
                };
                let index = atoi(suffix).map_err(ApiError::internal)?;
                files.push(LogFile {
                    index,
                    size: entry.size,
                });
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
        files.sort_by_key(|f| f.index);
        Ok(files)
    }
}

impl LogFiles {
    /// File `index` (if it exists) and the index of the next newer file (if any), as a walk
    /// needs them at the end of a file. `index + 1` is looked up directly, since logmon
    /// numbers its files consecutively and Nomad waits for exactly that one: a pull at the
    /// end of a followed log costs two `stat`s however many rotated files there are. Only
    /// when file `index` itself is gone is the directory listed for the next one.
    pub fn around(
        &self,
        host: &impl Host,
        alloc_id: &str,
        index: u64,
    ) -> ApiResult<(Option<LogFile>, Option<u64>)> {
        let file = |index: u64| {
            host.stat(alloc_id, &self.path(index))
                .ok()
                .filter(|info| !crate::wire::filemode::is_dir(info.mode))
                .map(|info| LogFile {
                    index,
                    size: info.size,
                })
        };
        let current = file(index);
        if let Some(next) = index.checked_add(1).and_then(file) {
            return Ok((current, Some(next.index)));
        }
        if current.is_some() {
            return Ok((current, None));
        }
        let newer = self
            .list(host, alloc_id)?
            .iter()
            .map(|f| f.index)
            .filter(|i| *i > index)
            .min();
        Ok((None, newer))
    }
}

/// Go's `strconv.Atoi` as Nomad reports its failure for a log index.
fn atoi(suffix: &str) -> Result<u64, String> {
    let error = |why: &str| {
        format!(
            "failed to convert {} to a log index: strconv.Atoi: parsing {}: {why}",
            go_quote(suffix),
            go_quote(suffix)
        )
    };
    let value = parse_int(suffix).map_err(|e| {
        error(if e.ends_with("out of range") {
            "value out of range"
        } else {
            "invalid syntax"
        })
    })?;
    // Negative indexes cannot come from logmon; treat them like any other junk name.
    u64::try_from(value).map_err(|_| error("invalid syntax"))
}

#[cfg(test)]
mod tests;
