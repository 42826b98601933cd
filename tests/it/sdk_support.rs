//! Driving an official SDK's script (Python or Node) as a child process: it prints one line
//! per step on stdout and reads what the test hands it (a code off the simulated wire) on stdin.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// A running SDK script with its stdout read line by line and its stderr collected.
pub struct SdkScript {
    child: Child,
    stdin: ChildStdin,
    lines: UnboundedReceiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl SdkScript {
    pub fn spawn(mut command: Command) -> SdkScript {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the SDK script starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (lines_tx, lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        SdkScript {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    /// The script's next line; panics naming `what` if it says nothing for 30 s.
    pub async fn next_line(&mut self, what: &str) -> String {
        match tokio::time::timeout(Duration::from_secs(30), self.lines.recv()).await {
            Ok(Some(line)) => line,
            _ => panic!("the SDK script said nothing ({what} expected)"),
        }
    }

    pub fn send_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for the script to end: its exit status and what it wrote on stderr.
    pub async fn finish(self) -> (ExitStatus, String) {
        let SdkScript {
            mut child,
            stdin,
            stderr,
            ..
        } = self;
        drop(stdin);
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        (status, stderr.join().unwrap_or_default())
    }

    /// Ends a script that did not finish on its own.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }
}

/// The first run of exactly `length` digits in `text` (the code in a code SMS).
pub fn code_in(text: &str, length: usize) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == length)
        .unwrap_or_else(|| panic!("no {length}-digit code in {text:?}"))
        .to_string()
}
