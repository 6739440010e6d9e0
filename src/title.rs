//! Process titles (`ferrule: master [myapp:app]`, `ferrule: worker 3 [myapp:app]`), without
//! setproctitle. Two places are written:
//! 1. `/proc/self/comm` (what `top` and `ps -o comm` show) via `prctl(PR_SET_NAME)`; the
//!    kernel keeps 15 bytes.
//! 2. The argv area (what `ps -f` and `/proc/PID/cmdline` show): its bounds come from
//!    `/proc/self/stat` (`arg_start`, `arg_end`) and the title is written in place, cut to
//!    the area's length and padded with NULs. The environment after argv is left alone, so
//!    a title longer than the original command line is cut.

/// Sets the process title; failures are ignored (a title is cosmetic).
pub fn set(title: &str) {
    set_comm(title);
    set_argv(title);
}

fn set_comm(title: &str) {
    // The kernel keeps 15 bytes plus NUL; keep the part after "ferrule: " when it is too long
    // ("master [app]", "worker 3 [app]") since every process is ferrule.
    let short = title.strip_prefix("ferrule: ").unwrap_or(title);
    let mut name = [0u8; 16];
    for (dst, src) in name
        .iter_mut()
        .zip(short.bytes().filter(|b| *b != 0).take(15))
    {
        *dst = src;
    }
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0);
    }
}

/// The argv area's `[start, end)` from /proc/self/stat (fields 48 and 49).
fn argv_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 2 (comm) is parenthesised and may contain spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3.
    let arg_start: usize = fields.get(48 - 3)?.parse().ok()?;
    let arg_end: usize = fields.get(49 - 3)?.parse().ok()?;
    (arg_start != 0 && arg_end > arg_start).then_some((arg_start, arg_end))
}

fn set_argv(title: &str) {
    let Some((start, end)) = argv_area() else {
        return;
    };
    let len = end - start;
    let bytes = title.as_bytes();
    let n = bytes.len().min(len - 1);
    // SAFETY: [start, end) is this process's own argv strings, mapped writable on the
    // initial stack, as the kernel reports them. Python copied argv into sys.argv at
    // startup and does not read this memory again. We write inside the area only.
    unsafe {
        let area = std::slice::from_raw_parts_mut(start as *mut u8, len);
        area[..n].copy_from_slice(&bytes[..n]);
        area[n..].fill(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_argv_area() {
        let (start, end) = argv_area().expect("linux /proc");
        assert!(end > start);
    }
}
