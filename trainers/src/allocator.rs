//! The training binaries' allocator setting: mimalloc (their `#[global_allocator]`) keeps the
//! memory it frees instead of handing it back to the OS.
//!
//! burn allocates and frees a buffer for every tensor operation. With mimalloc's default purge
//! delay (1 s in its v3), pages freed between iterations go back to the OS and return as fresh
//! pages the kernel zeroes again; kept, the process reuses them (BENCHMARKS.md, "mimalloc's purge
//! delay"). mimalloc reads its options from the environment when the process starts, before
//! `main`, and setting one from Rust needs `unsafe` FFI, which the workspace forbids; so the
//! binary starts itself again with the variable set.

use std::ffi::OsString;

/// mimalloc's purge delay in milliseconds (−1: never purge), read at process start.
const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// The command line to run instead of this process so that mimalloc keeps freed memory: this
/// executable with the same arguments and `MIMALLOC_PURGE_DELAY=-1`; `None` when the variable
/// is already set (by the user, or by the restart itself) or the executable cannot be found.
fn restart_command() -> Option<std::process::Command> {
    restart_command_for(
        std::env::var_os(PURGE_DELAY_VAR),
        std::env::current_exe().ok(),
    )
}

fn restart_command_for(
    current: Option<OsString>,
    exe: Option<std::path::PathBuf>,
) -> Option<std::process::Command> {
    if current.is_some() {
        return None;
    }
    let mut command = std::process::Command::new(exe?);
    command
        .args(std::env::args_os().skip(1))
        .env(PURGE_DELAY_VAR, "-1");
    Some(command)
}

/// Replaces this process with itself under `MIMALLOC_PURGE_DELAY=-1` (same PID, arguments,
/// standard streams and environment otherwise), unless the variable is set. Call it first in
/// `main` of a binary whose global allocator is mimalloc. If the restart fails, the process
/// goes on as it is: only slower. Does nothing off Unix.
pub fn keep_freed_memory() {
    #[cfg(unix)]
    if let Some(mut command) = restart_command() {
        use std::os::unix::process::CommandExt;
        // `exec` returns only on failure.
        let _ = command.exec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restart_sets_the_variable_once_and_keeps_the_users_value() {
        let exe = std::path::PathBuf::from("/bin/train-srmt");
        let command = restart_command_for(None, Some(exe.clone())).unwrap();
        assert_eq!(command.get_program(), exe.as_os_str());
        let envs: Vec<_> = command.get_envs().collect();
        assert_eq!(
            envs,
            vec![(
                std::ffi::OsStr::new(PURGE_DELAY_VAR),
                Some(std::ffi::OsStr::new("-1"))
            )]
        );
        // Set already (by the user, or by the restart): no second restart.
        assert!(restart_command_for(Some("10".into()), Some(exe)).is_none());
        assert!(restart_command_for(None, None).is_none());
    }
}
