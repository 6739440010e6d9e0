//! The standard process figures of one process, read from `/proc`: resident memory, CPU
//! time, open file descriptors and start time (the `process_*` metrics of the Prometheus
//! client libraries). The master reads them for itself and for each live worker when it
//! reports; workers do nothing for it.

/// One process's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    pub open_fds: u64,
    /// Since the Unix epoch.
    pub start_time_seconds: f64,
}

/// The figures of process `pid` (`None`: `self`); `None` when `/proc` cannot tell (the
/// process is gone, or this is not Linux).
pub fn read(pid: Option<i32>) -> Option<ProcessStats> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_owned(),
    };
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let fields = parse_stat(&stat)?;
    let open_fds = std::fs::read_dir(format!("{dir}/fd")).ok()?.count() as u64;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    #[allow(clippy::cast_precision_loss)] // ticks per second: 100 on Linux
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)? as f64;
    let page = u64::try_from(page).ok()?;
    #[allow(clippy::cast_precision_loss)] // tick counts are far below 2^52
    Some(ProcessStats {
        resident_bytes: fields.rss_pages * page,
        virtual_bytes: fields.vsize,
        cpu_seconds: (fields.utime + fields.stime) as f64 / ticks,
        open_fds,
        start_time_seconds: boot_time()
            .map_or(0.0, |boot| boot as f64 + fields.starttime as f64 / ticks),
    })
}

struct StatFields {
    utime: u64,
    stime: u64,
    starttime: u64,
    vsize: u64,
    rss_pages: u64,
}

/// `proc_pid_stat(5)`: the fields after the command name, which is in parentheses and may
/// itself hold spaces and parentheses (so the last `)` ends it).
fn parse_stat(stat: &str) -> Option<StatFields> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field N of proc_pid_stat(5) is at index N - 3 here (field 3, `state`, comes first).
    let at = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(StatFields {
        utime: at(14)?,
        stime: at(15)?,
        starttime: at(22)?,
        vsize: at(23)?,
        rss_pages: at(24)?,
    })
}

/// Seconds since the epoch at boot (`btime` in /proc/stat).
fn boot_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_figures() {
        let me = read(None).expect("/proc/self is readable");
        assert!(me.resident_bytes > 0);
        assert!(me.open_fds >= 3, "{me:?}");
        assert!(me.start_time_seconds > 1.0e9, "{me:?}");
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let line = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 111 222 0 0 20 0 1 0 333 4096 55 18446744073709551615";
        let fields = parse_stat(line).expect("parses");
        assert_eq!(
            (
                fields.utime,
                fields.stime,
                fields.starttime,
                fields.vsize,
                fields.rss_pages
            ),
            (111, 222, 333, 4096, 55)
        );
    }
}
