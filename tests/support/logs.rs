//! Reading what was logged, for tests that check log lines (included with `#[path]` by the
//! tests that need it, so that the benchmarks sharing `support` need no tracing crates).

#![allow(dead_code)]

/// What `tracing` logged on this thread since `capture`, for as long as it is alive.
pub struct CapturedLogs {
    lines: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl CapturedLogs {
    /// Starts collecting this thread's logs (use a current-thread runtime).
    pub fn capture() -> CapturedLogs {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = {
            let lines = lines.clone();
            move || LogWriter(lines.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .with_ansi(false)
            .finish();
        CapturedLogs {
            lines,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.lines.lock().unwrap().clone()).unwrap()
    }
}

struct LogWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
