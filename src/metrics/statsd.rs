//! gunicorn's statsd metrics, from what the counters gained since the last flush: the
//! names, types and prefix rule of gunicorn's `instrument/statsd.py`, so existing
//! dashboards keep working. Pure: the master sends the lines (`supervisor::observe`).
//!
//! - `gunicorn.requests` (`c`), `gunicorn.request.status.NNN` (`c`)
//! - `gunicorn.request.duration` (`ms`): gunicorn sends one timing per request; the
//!   master sends, per duration bucket, the exact mean of the requests that fell in it
//!   with a sample rate of 1/count (`|@0.25` stands for four requests), so counts and
//!   means are exact and percentiles are as fine as the buckets.
//! - `gunicorn.workers` (`g`), `gunicorn.backlog` (`h`, TCP listeners)
//! - `gunicorn.log.critical|error|warning` (`c`), `gunicorn.log.exception` (`c`: app
//!   exceptions)
//!
//! `dogstatsd_tags` are appended to every line as `|#tags`.

use std::fmt::Write;

use super::{slot, Snapshot, DURATION_BOUNDS_US};

/// How lines are named and tagged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Naming {
    /// `statsd_prefix` with its trailing `.` (empty: none).
    prefix: String,
    /// `dogstatsd_tags` (empty: none).
    tags: String,
}

impl Naming {
    /// gunicorn's rule: a non-empty prefix gets exactly one trailing `.`.
    pub fn new(prefix: &str, tags: &str) -> Naming {
        let trimmed = prefix.trim_end_matches('.');
        Naming {
            prefix: if trimmed.is_empty() {
                String::new()
            } else {
                format!("{trimmed}.")
            },
            tags: tags.to_owned(),
        }
    }

    fn line(&self, name: &str, value: &str, kind: &str, rate: Option<f64>) -> String {
        let mut line = format!("{}{name}:{value}|{kind}", self.prefix);
        if let Some(rate) = rate {
            let _ = write!(line, "|@{rate:.6}");
        }
        if !self.tags.is_empty() {
            line.push_str("|#");
            line.push_str(&self.tags);
        }
        line
    }

    /// The lines for what grew by `delta`, with `workers` running and `backlog` connections
    /// queued (`None`: not known). One metric per line; each goes in its own datagram.
    pub fn lines(&self, delta: &Snapshot, workers: usize, backlog: Option<u32>) -> Vec<String> {
        let mut lines = Vec::new();
        let requests = delta.requests_finished();
        if requests > 0 {
            lines.push(self.line("gunicorn.requests", &requests.to_string(), "c", None));
        }
        for (status, n) in delta.requests_by_status() {
            if status.bytes().all(|b| b.is_ascii_digit()) {
                let name = format!("gunicorn.request.status.{status}");
                lines.push(self.line(&name, &n.to_string(), "c", None));
            }
        }
        for (count, sum_us) in delta.histogram(slot::DURATION, &DURATION_BOUNDS_US) {
            if count == 0 {
                continue;
            }
            #[allow(clippy::cast_precision_loss)] // sums of microseconds far below 2^52
            let mean_ms = sum_us as f64 / count as f64 / 1000.0;
            #[allow(clippy::cast_precision_loss)]
            let rate = (count > 1).then(|| 1.0 / count as f64);
            lines.push(self.line(
                "gunicorn.request.duration",
                &format!("{mean_ms:.3}"),
                "ms",
                rate,
            ));
        }
        lines.push(self.line("gunicorn.workers", &workers.to_string(), "g", None));
        if let Some(queued) = backlog {
            lines.push(self.line("gunicorn.backlog", &queued.to_string(), "h", None));
        }
        for (level, index) in [("critical", 4), ("error", 3), ("warning", 2)] {
            let n = delta.get(slot::LOGS + index);
            if n > 0 {
                lines.push(self.line(&format!("gunicorn.log.{level}"), &n.to_string(), "c", None));
            }
        }
        let exceptions = delta.get(slot::APP_ERRORS);
        if exceptions > 0 {
            lines.push(self.line("gunicorn.log.exception", &exceptions.to_string(), "c", None));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{MethodClass, Stats};
    use std::time::Duration;

    #[test]
    fn a_prefix_gets_exactly_one_dot_like_gunicorns() {
        let rows = [
            ("", ""),
            ("app", "app."),
            ("app.", "app."),
            ("app..", "app."),
        ];
        for (given, prefix) in rows {
            assert_eq!(Naming::new(given, "").prefix, prefix, "{given:?}");
        }
    }

    #[test]
    fn sends_gunicorns_names_with_exact_bucket_means_and_tags() {
        let stats = Stats::new();
        stats.request_finished(MethodClass::of("GET"), 200, Duration::from_micros(1_500));
        stats.request_finished(MethodClass::of("GET"), 200, Duration::from_micros(2_500));
        stats.request_finished(MethodClass::of("POST"), 404, Duration::from_millis(30));
        stats.app_error();
        let delta = stats.snapshot().since(&Snapshot::default());
        let lines = Naming::new("web", "env:prod").lines(&delta, 2, Some(3));
        assert_eq!(
            lines,
            [
                "web.gunicorn.requests:3|c|#env:prod",
                "web.gunicorn.request.status.200:2|c|#env:prod",
                "web.gunicorn.request.status.404:1|c|#env:prod",
                "web.gunicorn.request.duration:2.000|ms|@0.500000|#env:prod",
                "web.gunicorn.request.duration:30.000|ms|#env:prod",
                "web.gunicorn.workers:2|g|#env:prod",
                "web.gunicorn.backlog:3|h|#env:prod",
                "web.gunicorn.log.exception:1|c|#env:prod",
            ]
        );
    }
}
