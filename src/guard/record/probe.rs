//! Liveness probes: what tells a record's owner from another process — its start time, pid
//! namespace, boot and machine.

/// The start time of process `pid` in clock ticks since boot (Linux `/proc/<pid>/stat`
/// field 22), which tells a process from a later one reusing its id; `None` if unknown.
#[must_use]
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // Field 2 (the command) is in parentheses and may hold anything: parse after the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // After ')' come fields 3, 4, …; field 22 is the 20th of them.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// The pid namespace this process is in: the inode of `/proc/self/ns/pid`; 0 if unknown
/// (not Linux, or no `/proc`). Process ids mean something only within one namespace.
#[must_use]
pub fn pid_namespace() -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Ok(st) = rustix::fs::stat("/proc/self/ns/pid") {
        return crate::guard::stat_ino(&st);
    }
    0
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`, a UUID, as its 16 bytes); zeros if
/// unknown. A record made under another boot id belongs to a process that no longer runs.
#[must_use]
pub fn boot_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    let Ok(text) = std::fs::read_to_string("/proc/sys/kernel/random/boot_id") else {
        return id;
    };
    let hex: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    if hex.len() != 32 {
        return id;
    }
    for (byte, pair) in id.iter_mut().zip(hex.chunks(2)) {
        let digits = std::str::from_utf8(pair).unwrap_or("00");
        *byte = u8::from_str_radix(digits, 16).unwrap_or(0);
    }
    id
}

/// The wall-clock time (ns since the epoch) at which the process that started `ticks` clock
/// ticks after boot started: boot time by the clocks now, plus the ticks; 0 if unknown.
pub(super) fn start_wall_ns(ticks: u64) -> i64 {
    if ticks == 0 {
        return 0;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let clock_ns = |clock| {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid timespec for the call to fill.
            (unsafe { libc::clock_gettime(clock, &raw mut ts) } == 0)
                .then(|| i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec))
        };
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let (Some(real), Some(boot), Ok(hz)) = (
            clock_ns(libc::CLOCK_REALTIME),
            clock_ns(libc::CLOCK_BOOTTIME),
            Ok::<i128, ()>(i128::from(hz)),
        ) else {
            return 0;
        };
        if hz <= 0 {
            return 0;
        }
        let start = real - boot + i128::from(ticks) * 1_000_000_000 / hz;
        // Ticks are whole (10 ms), and the two clocks drift apart by NTP slew: a second of
        // margin keeps the estimate at or before the true start.
        i64::try_from(start - 1_000_000_000).unwrap_or(0).max(0)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    0
}

/// 64-bit FNV-1a of `bytes` from `seed`.
fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(seed, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// This machine's id, as 16 bytes, and whether it is a hash of the host name: the hex of
/// `/etc/machine-id` (or dbus's copy of it), else FNV-1a of the host name with two seeds;
/// zeros if neither is known.
#[must_use]
pub fn machine_id() -> ([u8; 16], bool) {
    for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
        if let Some(id) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| parse_hex16(&t))
        {
            if id != [0; 16] {
                return (id, false);
            }
        }
    }
    let mut name = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the result is NUL-terminated when it fits.
    if unsafe { libc::gethostname(name.as_mut_ptr().cast(), name.len()) } != 0 {
        return ([0; 16], false);
    }
    let host = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
    if host.is_empty() {
        return ([0; 16], false);
    }
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&fnv1a(0xcbf2_9ce4_8422_2325, host).to_le_bytes());
    id[8..].copy_from_slice(&fnv1a(0x6c62_272e_07bb_0142, host).to_le_bytes());
    (id, true)
}

/// 32 hex digits (other characters ignored) as 16 bytes.
fn parse_hex16(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    if hex.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (byte, pair) in id.iter_mut().zip(hex.chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(id)
}
#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn this_process_identity_is_known_on_linux() {
        if cfg!(target_os = "linux") && Path::new("/proc/self/ns/pid").exists() {
            assert_ne!(pid_namespace(), 0);
            assert_ne!(boot_id(), [0; 16]);
            assert_eq!(boot_id(), boot_id());
        }
    }

    #[test]
    fn start_time_of_this_process_is_known() {
        let start = process_start_time(std::process::id());
        if cfg!(target_os = "linux") {
            assert!(start.is_some_and(|t| t > 0));
        }
    }
}
