//! caravan's extensions of `fs/logs` beyond Nomad: `since`, `until`, `timestamps`,
//! `type=all` and `until_exit`. Their parameters and texts live here; the line-by-line
//! stream that applies them is `stream::lines`.

use crate::fs::params;
use crate::host::Host;
use crate::http::{ApiError, ApiResult};
use crate::wire::params::{Query, go_quote};
use crate::wire::timefmt;

/// What the new parameters asked for. With none of them, `fs/logs` is Nomad's byte stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineOptions {
    /// Lines that arrived before this (Unix nanoseconds) are left out.
    pub since: Option<i64>,
    /// Lines that arrived after this are left out.
    pub until: Option<i64>,
    /// Each line starts with its arrival time (`rfc3339_fixed`) and a space.
    pub timestamps: bool,
    /// `type=all`: stdout and stderr merged by arrival, each line tagged.
    pub merged: bool,
    /// With `follow`, end once the task has exited and everything is sent.
    pub until_exit: bool,
}

impl LineOptions {
    /// Whether lines get a prefix.
    pub fn prefixes(&self) -> bool {
        self.timestamps || self.merged
    }

    /// Whether a line that arrived at `time` (`None`: unknown) is shown.
    pub fn shows(&self, time: Option<i64>) -> bool {
        match time {
            None => self.since.is_none() && self.until.is_none(),
            Some(t) => self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u),
        }
    }

    /// What goes before a line: its time (when asked and known), then its stream's tag.
    pub fn prefix(&self, out: &mut Vec<u8>, time: Option<i64>, kind: &str) {
        if self.timestamps
            && let Some(t) = time
        {
            out.extend_from_slice(timefmt::rfc3339_fixed(t).as_bytes());
            out.push(b' ');
        }
        if self.merged {
            out.extend_from_slice(kind.as_bytes());
            out.extend_from_slice(b": ");
        }
    }
}

/// Parse the new parameters (after Nomad's own, so Nomad's errors come first). `merged` is
/// whether `type` was `all`. The clock is read only for a relative `since`/`until`.
pub fn options(host: &impl Host, query: &Query, merged: bool) -> ApiResult<LineOptions> {
    let since = time_param(host, query, "since")?;
    let until = time_param(host, query, "until")?;
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        return Err(ApiError::bad_request("since must not be after until"));
    }
    Ok(LineOptions {
        since,
        until,
        timestamps: params::flag(query, "timestamps", false)?,
        merged,
        until_exit: params::flag(query, "until_exit", false)?,
    })
}

/// `since`/`until`: an RFC 3339 time, or a Go duration meaning that long before now.
fn time_param(host: &impl Host, query: &Query, name: &str) -> ApiResult<Option<i64>> {
    let Some(value) = query.get(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let looks_like_a_date = value.len() > 4 && value.as_bytes()[4] == b'-';
    let parsed = if looks_like_a_date {
        timefmt::parse_rfc3339(value).ok_or_else(|| {
            format!(
                "parsing time {} as RFC 3339 (2006-01-02T15:04:05Z07:00)",
                go_quote(value)
            )
        })
    } else {
        parse_duration(value).map(|ago| host.now().unix_nanos().saturating_sub(ago))
    };
    parsed
        .map(Some)
        .map_err(|e| ApiError::bad_request(format!("failed to parse {name} field: {e}")))
}

/// Go's `time.ParseDuration` in nanoseconds (`10m`, `1h30m`, `1.5s`, `-2h`, `0`), with its
/// error text.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(text));
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {}", go_quote(text)))?;
        let number = &rest[..number_len];
        if number.is_empty() {
            return Err(invalid());
        }
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("time: missing unit in duration {}", go_quote(text))),
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(text)
                ));
            }
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(invalid());
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut part = whole.checked_mul(scale).ok_or_else(invalid)?;
        let mut place = scale;
        for digit in frac.bytes().take(18) {
            place /= 10;
            part += i128::from(digit - b'0') * place;
        }
        total += part;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
    }
    let total = if negative { -total } else { total };
    i64::try_from(total).map_err(|_| invalid())
}

#[cfg(test)]
mod tests;
