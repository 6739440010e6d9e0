//! The Prometheus text exposition format (version 0.0.4) of a `Report`: what the master
//! answers on `GET /metrics`. Pure: the master gathers the figures, this writes them.
//!
//! Every family has `# HELP` and `# TYPE`; label values are escaped (`\\`, `\"`, `\n`);
//! families whose labels are a fixed set (rejection reasons, timeout kinds, log levels)
//! list every label value, zeros included, so `rate()` has a series from the first scrape.

use std::fmt::Write;

use super::process::ProcessStats;
use super::{slot, Snapshot, Timeout, DURATION_BOUNDS_US, LOG_LEVELS, QUEUE_BOUNDS_US};
use crate::http::HttpError;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One live worker, as the master sees it.
#[derive(Clone, Debug)]
pub struct WorkerFigures {
    /// The worker's number (logs, process titles).
    pub number: u32,
    /// `booting`, `serving` or `draining`.
    pub phase: &'static str,
    /// From `/proc`; `None` when it could not be read.
    pub process: Option<ProcessStats>,
}

/// One listening socket's accept queue, where the kernel tells it (TCP).
#[derive(Clone, Debug)]
pub struct Backlog {
    /// The listener as the log names it (`http://127.0.0.1:8000`).
    pub listener: String,
    /// Connections waiting to be accepted.
    pub queued: u32,
    /// The queue's limit (the listen(2) backlog, capped by `net.core.somaxconn`).
    pub limit: u32,
}

/// Everything `/metrics` shows.
pub struct Report<'a> {
    /// Every counter: exited workers, live workers, and the master's own log lines.
    pub totals: &'a Snapshot,
    /// The live workers' counters, for the gauges.
    pub live: &'a Snapshot,
    pub workers: &'a [WorkerFigures],
    /// CPU seconds of every worker, exited ones included.
    pub workers_cpu_seconds: f64,
    /// Worker exits by reason, recycles by reason, reloads.
    pub exits: &'a [(&'static str, u64)],
    pub recycles: &'a [(&'static str, u64)],
    pub reloads: u64,
    pub backlogs: &'a [Backlog],
    pub ready: bool,
    /// The master's own process figures.
    pub master: Option<ProcessStats>,
}

/// Renders `report` in the text format.
pub fn render(report: &Report<'_>) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let totals = report.totals;
    let live = report.live;

    family(
        &mut out,
        "ferrule_requests_total",
        "counter",
        "Requests answered (or ended without an answer: status=\"none\"), by method and status.",
    );
    for (method, status, count) in totals.requests() {
        sample(
            &mut out,
            "ferrule_requests_total",
            &[("method", method), ("status", &status)],
            count,
        );
    }
    histogram(
        &mut out,
        "ferrule_request_duration_seconds",
        "Time from a request's head to the end of its response.",
        totals,
        slot::DURATION,
        &DURATION_BOUNDS_US,
    );
    histogram(
        &mut out,
        "ferrule_request_queue_seconds",
        "Time from a request's head to a Python thread starting it.",
        totals,
        slot::QUEUE,
        &QUEUE_BOUNDS_US,
    );
    gauge(
        &mut out,
        "ferrule_requests_in_flight",
        "Requests handed to the app side and not finished.",
        live.in_flight(),
    );
    gauge(
        &mut out,
        "ferrule_threads_busy",
        "Python threads running a request.",
        live.threads_busy(),
    );
    gauge(
        &mut out,
        "ferrule_connections_open",
        "Client connections open.",
        live.connections_open(),
    );
    counter(
        &mut out,
        "ferrule_connections_accepted_total",
        "Client connections accepted.",
        totals.get(slot::CONNECTIONS_ACCEPTED),
    );
    counter(
        &mut out,
        "ferrule_received_bytes_total",
        "Bytes read from clients.",
        totals.get(slot::BYTES_RECEIVED),
    );
    counter(
        &mut out,
        "ferrule_sent_bytes_total",
        "Bytes written to clients.",
        totals.get(slot::BYTES_SENT),
    );

    render_refusals(&mut out, totals);
    render_master(&mut out, report);
    render_listeners(&mut out, report);
    render_processes(&mut out, report);
    out
}

/// Rejections by rule, timeouts by kind, app errors and log lines by level.
fn render_refusals(out: &mut String, totals: &Snapshot) {
    family(
        out,
        "ferrule_requests_rejected_total",
        "counter",
        "Requests the server refused before the app saw them, by the rule they broke.",
    );
    for rule in HttpError::ALL {
        let status = rule.status().to_string();
        sample(
            out,
            "ferrule_requests_rejected_total",
            &[("reason", rule.kind()), ("status", &status)],
            totals.get(slot::REJECTED + rule.kind_index()),
        );
    }
    family(
        out,
        "ferrule_timeouts_total",
        "counter",
        "Time bounds hit: head, body, keepalive, send (connections), request (the app).",
    );
    for kind in Timeout::ALL {
        sample(
            out,
            "ferrule_timeouts_total",
            &[("kind", kind.name())],
            totals.get(slot::TIMEOUTS + kind as usize),
        );
    }
    counter(
        out,
        "ferrule_app_errors_total",
        "Requests whose app raised an exception.",
        totals.get(slot::APP_ERRORS),
    );
    family(
        out,
        "ferrule_log_messages_total",
        "counter",
        "Error log messages written, by level (master and workers).",
    );
    for (index, level) in LOG_LEVELS.iter().enumerate() {
        sample(
            out,
            "ferrule_log_messages_total",
            &[("level", level)],
            totals.get(slot::LOGS + index),
        );
    }
}

/// The master's own families: workers, exits, recycles, reloads, readiness, listen queues
/// and process figures.
fn render_master(out: &mut String, report: &Report<'_>) {
    family(
        out,
        "ferrule_workers",
        "gauge",
        "Worker processes, by phase.",
    );
    for phase in ["booting", "serving", "draining"] {
        let n = report.workers.iter().filter(|w| w.phase == phase).count() as u64;
        sample(out, "ferrule_workers", &[("phase", phase)], n);
    }
    family(
        out,
        "ferrule_worker_exits_total",
        "counter",
        "Worker processes that exited, by reason.",
    );
    for (reason, n) in report.exits {
        sample(out, "ferrule_worker_exits_total", &[("reason", reason)], *n);
    }
    family(
        out,
        "ferrule_worker_recycles_total",
        "counter",
        "Workers replaced because they reached a recycling limit, by limit.",
    );
    for (reason, n) in report.recycles {
        sample(
            out,
            "ferrule_worker_recycles_total",
            &[("reason", reason)],
            *n,
        );
    }
    counter(
        out,
        "ferrule_reloads_total",
        "Reloads (SIGHUP, --reload) started.",
        report.reloads,
    );
    gauge(
        out,
        "ferrule_ready",
        "1 when the current generation of workers serves (what /readyz says).",
        u64::from(report.ready),
    );
}

/// The accept queues of the listening sockets.
fn render_listeners(out: &mut String, report: &Report<'_>) {
    family(
        out,
        "ferrule_listen_queue",
        "gauge",
        "Connections waiting in a listening socket's accept queue (TCP).",
    );
    for b in report.backlogs {
        sample(
            out,
            "ferrule_listen_queue",
            &[("listener", &b.listener)],
            u64::from(b.queued),
        );
    }
    family(
        out,
        "ferrule_listen_queue_limit",
        "gauge",
        "The accept queue's limit (listen backlog, capped by net.core.somaxconn).",
    );
    for b in report.backlogs {
        sample(
            out,
            "ferrule_listen_queue_limit",
            &[("listener", &b.listener)],
            u64::from(b.limit),
        );
    }
}

/// Each live worker's process figures, and the master's.
fn render_processes(out: &mut String, report: &Report<'_>) {
    worker_family(
        out,
        report.workers,
        "ferrule_worker_resident_memory_bytes",
        "gauge",
        "Resident memory of each live worker.",
        |p| p.resident_bytes.to_string(),
    );
    worker_family(
        out,
        report.workers,
        "ferrule_worker_cpu_seconds_total",
        "counter",
        "CPU time of each live worker.",
        |p| float(p.cpu_seconds),
    );
    worker_family(
        out,
        report.workers,
        "ferrule_worker_open_fds",
        "gauge",
        "Open file descriptors of each live worker.",
        |p| p.open_fds.to_string(),
    );
    worker_family(
        out,
        report.workers,
        "ferrule_worker_start_time_seconds",
        "gauge",
        "Start time of each live worker since the Unix epoch.",
        |p| float(p.start_time_seconds),
    );
    family(
        out,
        "ferrule_workers_cpu_seconds_total",
        "counter",
        "CPU time of every worker, exited ones included.",
    );
    let _ = writeln!(
        out,
        "ferrule_workers_cpu_seconds_total {}",
        float(report.workers_cpu_seconds)
    );

    if let Some(master) = report.master {
        let rows = [
            (
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory of the master.",
                master.resident_bytes.to_string(),
            ),
            (
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory of the master.",
                master.virtual_bytes.to_string(),
            ),
            (
                "process_cpu_seconds_total",
                "counter",
                "CPU time of the master.",
                float(master.cpu_seconds),
            ),
            (
                "process_open_fds",
                "gauge",
                "Open file descriptors of the master.",
                master.open_fds.to_string(),
            ),
            (
                "process_start_time_seconds",
                "gauge",
                "Start time of the master since the Unix epoch.",
                float(master.start_time_seconds),
            ),
        ];
        for (name, kind, help, value) in rows {
            family(out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    push_labels(out, labels);
    let _ = writeln!(out, " {value}");
}

fn push_labels(out: &mut String, labels: &[(&str, &str)]) {
    out.push('{');
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
}

fn histogram(out: &mut String, name: &str, help: &str, s: &Snapshot, base: usize, bounds: &[u64]) {
    family(out, name, "histogram", help);
    let buckets = s.histogram(base, bounds);
    let sum_us: u64 = buckets.iter().map(|(_, sum)| sum).sum();
    let mut cumulative = 0;
    for (i, (count, _)) in buckets.iter().enumerate() {
        cumulative += count;
        let le = bounds
            .get(i)
            .map_or_else(|| "+Inf".to_owned(), |us| micros_as_seconds(*us));
        let _ = write!(out, "{name}_bucket");
        push_labels(out, &[("le", &le)]);
        let _ = writeln!(out, " {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum {}", micros_as_seconds(sum_us));
    let _ = writeln!(out, "{name}_count {cumulative}");
}

fn worker_family(
    out: &mut String,
    workers: &[WorkerFigures],
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&ProcessStats) -> String,
) {
    family(out, name, kind, help);
    for w in workers {
        if let Some(p) = &w.process {
            let number = w.number.to_string();
            out.push_str(name);
            push_labels(out, &[("worker", &number)]);
            let _ = writeln!(out, " {}", value(p));
        }
    }
}

/// Microseconds as decimal seconds, exactly (`2500` → `0.0025`).
fn micros_as_seconds(us: u64) -> String {
    let (whole, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

fn float(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "NaN".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_microseconds_as_exact_decimal_seconds() {
        let rows = [
            (0, "0"),
            (1_000, "0.001"),
            (2_500, "0.0025"),
            (1_000_000, "1"),
            (12_345_678, "12.345678"),
        ];
        for (us, text) in rows {
            assert_eq!(micros_as_seconds(us), text);
        }
    }

    #[test]
    fn escapes_label_values() {
        let mut out = String::new();
        push_labels(&mut out, &[("listener", "a\"b\\c\nd")]);
        assert_eq!(out, r#"{listener="a\"b\\c\nd"}"#);
    }
}
