//! Serial port helpers: clear messages when a port cannot be opened.

use std::path::Path;

/// Turns an open failure into a sentence an operator can act on, naming processes that hold
/// the port (ModemManager is the usual suspect).
pub fn describe_open_error(path: &Path, error: &tokio_serial::Error) -> String {
    let mut message = format!("cannot open {}: {}", path.display(), error.description);
    if !path.exists() {
        message.push_str(" (device not present: unplugged, or udev link missing)");
        return message;
    }
    let holders = holders(path);
    if !holders.is_empty() {
        let list: Vec<String> = holders
            .iter()
            .map(|(pid, name)| format!("{name} (pid {pid})"))
            .collect();
        message.push_str(&format!("; held by {}", list.join(", ")));
        if holders.iter().any(|(_, n)| n.contains("ModemManager")) {
            message.push_str(
                ": tell ModemManager to ignore this modem (see udev/ rules, ID_MM_DEVICE_IGNORE)",
            );
        }
    } else if matches!(
        error.kind,
        tokio_serial::ErrorKind::Io(std::io::ErrorKind::PermissionDenied)
    ) {
        message.push_str(" (permission denied: add the service user to the dialout group)");
    }
    message
}

/// Processes (other than this one) with `path` open, found through `/proc/*/fd`.
pub fn holders(path: &Path) -> Vec<(u32, String)> {
    let Ok(target) = std::fs::canonicalize(path) else {
        return Vec::new();
    };
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .map(|l| l == target)
                .unwrap_or(false)
        });
        if holds {
            let name = std::fs::read_to_string(entry.path().join("comm"))
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "?".into());
            found.push((pid, name));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_process_holding_the_port() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ttyUSB9");
        std::fs::write(&path, b"").unwrap();
        // Another process keeps the "port" open, as ModemManager would.
        let mut holder = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::fs::File::open(&path).unwrap())
            .spawn()
            .unwrap();
        let found = holders(&path);
        let error =
            tokio_serial::Error::new(tokio_serial::ErrorKind::NoDevice, "Device or resource busy");
        let message = describe_open_error(&path, &error);
        holder.kill().unwrap();
        holder.wait().unwrap();
        assert!(
            found
                .iter()
                .any(|(pid, name)| *pid == holder.id() && name == "sleep"),
            "{found:?}"
        );
        assert!(
            message.contains(&format!("held by sleep (pid {})", holder.id())),
            "{message}"
        );
    }

    #[test]
    fn a_missing_device_says_so() {
        let error = tokio_serial::Error::new(
            tokio_serial::ErrorKind::NoDevice,
            "No such file or directory",
        );
        let message = describe_open_error(Path::new("/dev/simgate/nope"), &error);
        assert!(message.contains("device not present"), "{message}");
    }
}
