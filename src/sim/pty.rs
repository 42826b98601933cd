//! One virtual serial port: a pseudo-terminal whose master side the simulator drives and whose
//! slave side the daemon opens through a stable symlink (like udev's `/dev/simgate/sim1`), with
//! tokio-serial, exactly as it opens a USB modem.
//!
//! * The slave is switched to raw mode at creation, so the line discipline never echoes or
//!   translates `\r` before the daemon configures the port itself.
//! * The simulator keeps its own slave descriptor open: without it, the master would read EIO
//!   each time the daemon closes the port to reopen it.
//! * Dropping the port closes the master, which is what an unplug looks like from the daemon's
//!   side (its reads end with EOF or EIO), and removes the symlink.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::pty::openpty;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use tokio::io::unix::AsyncFd;

// `FIONREAD` on the slave: bytes written by the modem that the daemon has not read yet.
nix::ioctl_read_bad!(bytes_waiting_ioctl, nix::libc::FIONREAD, nix::libc::c_int);

/// A live pseudo-terminal and the symlink that names it.
#[derive(Debug)]
pub struct VirtualPort {
    master: AsyncFd<OwnedFd>,
    slave_keepalive: OwnedFd,
    device: PathBuf,
    link: PathBuf,
}

impl VirtualPort {
    /// Creates a pty, makes its slave raw, and points `link` at the slave device (replacing
    /// whatever `link` pointed at, atomically). Needs a running tokio reactor.
    pub fn open(link: &Path) -> io::Result<VirtualPort> {
        let pty = openpty(None, None).map_err(io::Error::from)?;
        let mut termios = tcgetattr(pty.slave.as_fd()).map_err(io::Error::from)?;
        cfmakeraw(&mut termios);
        tcsetattr(pty.slave.as_fd(), SetArg::TCSANOW, &termios).map_err(io::Error::from)?;
        // Child processes (a daemon spawned by a test) must not inherit the master: a copy
        // held elsewhere would keep the port alive after an unplug.
        for fd in [pty.master.as_raw_fd(), pty.slave.as_raw_fd()] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(io::Error::from)?;
        }
        let flags = fcntl(pty.master.as_raw_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(pty.master.as_raw_fd(), FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
        let device = nix::unistd::ttyname(pty.slave.as_fd()).map_err(io::Error::from)?;
        // SAFETY: an `OwnedFd` is a valid open descriptor that stays the same file until the
        // `AsyncFd` that owns it is dropped.
        let master =
            unsafe { AsyncFd::register(pty.master) }.map_err(|failure| failure.into_parts().1)?;
        point_link(link, &device)?;
        Ok(VirtualPort {
            master,
            slave_keepalive: pty.slave,
            device,
            link: link.to_path_buf(),
        })
    }

    /// The slave device (`/dev/pts/N`).
    pub fn device(&self) -> &Path {
        &self.device
    }

    /// Reads what the daemon wrote.
    pub async fn read(&self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.master.readable().await?;
            let attempt = guard.try_io(|inner| {
                nix::unistd::read(inner.as_raw_fd(), buffer).map_err(io::Error::from)
            });
            match attempt {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes towards the daemon; returns how many bytes the pty took.
    pub async fn write(&self, bytes: &[u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.master.writable().await?;
            let attempt = guard.try_io(|inner| {
                nix::unistd::write(inner.get_ref(), bytes).map_err(io::Error::from)
            });
            match attempt {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Bytes the modem wrote that the daemon has not read yet.
    pub fn unread_by_host(&self) -> usize {
        bytes_waiting(self.slave_keepalive.as_raw_fd())
    }

    /// Waits (up to `limit`) until the daemon has read everything written so far, so that
    /// closing the port right after an `OK` does not swallow the `OK` (a hangup flushes the
    /// slave's input queue).
    pub async fn drain(&self, limit: Duration) {
        let give_up = Instant::now() + limit;
        // The kernel moves written bytes to the slave's queue from a work queue, so FIONREAD
        // can still say 0 just after a write: give it a moment first.
        tokio::time::sleep(Duration::from_millis(20)).await;
        while self.unread_by_host() > 0 && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for VirtualPort {
    fn drop(&mut self) {
        // Only remove the link if it still names this pty: a replug may already have
        // re-pointed it at the next one.
        if std::fs::read_link(&self.link).is_ok_and(|target| target == self.device) {
            let _ = std::fs::remove_file(&self.link);
        }
    }
}

fn bytes_waiting(fd: RawFd) -> usize {
    let mut count: nix::libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points at `count`.
    let result = unsafe { bytes_waiting_ioctl(fd, &mut count) };
    match result {
        Ok(_) => usize::try_from(count).unwrap_or(0),
        Err(_) => 0,
    }
}

/// Makes `link` a symlink to `target`, atomically (a new link renamed over the old one), so a
/// daemon opening `link` during a replug sees the old or the new device, never nothing.
fn point_link(link: &Path, target: &Path) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let directory = link.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(directory)?;
    let file_name = link
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "link path has no file name"))?;
    let temporary = directory.join(format!(
        ".{}.{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::os::unix::fs::symlink(target, &temporary)?;
    if let Err(error) = std::fs::rename(&temporary, link) {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn open_slave(path: &Path) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open slave")
    }

    #[tokio::test]
    async fn bytes_cross_untranslated_in_both_directions() {
        let directory = tempfile::tempdir().unwrap();
        let link = directory.path().join("sim1");
        let port = VirtualPort::open(&link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), port.device());
        let mut slave = open_slave(&link);
        slave.write_all(b"AT\r").unwrap();
        let mut buffer = [0u8; 16];
        let count = port.read(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..count], b"AT\r", "no CR→LF translation, no echo");
        port.write(b"\r\nOK\r\n").await.unwrap();
        let give_up = Instant::now() + Duration::from_secs(2);
        while port.unread_by_host() < 6 && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(port.unread_by_host(), 6);
        let mut reply = [0u8; 6];
        slave.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"\r\nOK\r\n");
        assert_eq!(port.unread_by_host(), 0);
    }

    #[tokio::test]
    async fn the_master_survives_the_host_closing_and_reopening() {
        let directory = tempfile::tempdir().unwrap();
        let link = directory.path().join("sim1");
        let port = VirtualPort::open(&link).unwrap();
        drop(open_slave(&link));
        let mut slave = open_slave(&link);
        slave.write_all(b"x").unwrap();
        let mut buffer = [0u8; 4];
        assert_eq!(port.read(&mut buffer).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn dropping_the_port_hangs_up_the_host_and_removes_the_link() {
        let directory = tempfile::tempdir().unwrap();
        let link = directory.path().join("sim1");
        let port = VirtualPort::open(&link).unwrap();
        let mut slave = open_slave(&link);
        drop(port);
        assert!(std::fs::symlink_metadata(&link).is_err());
        let mut buffer = [0u8; 4];
        match slave.read(&mut buffer) {
            Ok(count) => assert_eq!(count, 0, "EOF"),
            Err(error) => assert_eq!(error.raw_os_error(), Some(nix::libc::EIO)),
        }
    }

    #[tokio::test]
    async fn a_new_port_repoints_the_link_and_the_old_drop_leaves_it() {
        let directory = tempfile::tempdir().unwrap();
        let link = directory.path().join("sim1");
        let first = VirtualPort::open(&link).unwrap();
        let second = VirtualPort::open(&link).unwrap();
        assert_ne!(first.device(), second.device());
        drop(first);
        assert_eq!(std::fs::read_link(&link).unwrap(), second.device());
    }
}
