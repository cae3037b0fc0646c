//! kube-runtime's Event recorder, emptied when idle.
//!
//! The recorder keeps every Event it published, to count a repeat into the Event's
//! series, and drops those older than six minutes only when it next publishes. At rest
//! nothing is published, so a converged fleet kept every Event of its convergence in
//! memory for good: a third of the operator's heap at 300 MetricsApps. After six
//! minutes without an Event the recorder holds nothing it would still use, so it is
//! replaced by an empty one; the reconciler asks for that at the start of each pass.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

/// kube-runtime's own window for counting a repeat into a series.
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);

pub struct IdleRecorder {
    client: Client,
    reporter: Reporter,
    current: Mutex<Current>,
}

struct Current {
    recorder: Recorder,
    last_used: Instant,
    /// Replaced since it was last used: nothing left to let go of.
    empty: bool,
}

impl IdleRecorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        let recorder = Recorder::new(client.clone(), reporter.clone());
        IdleRecorder {
            client,
            reporter,
            current: Mutex::new(Current {
                recorder,
                last_used: Instant::now(),
                empty: true,
            }),
        }
    }

    /// The recorder to publish with (sharing the cache of recent Events).
    pub fn recorder(&self) -> Recorder {
        let mut current = self.lock();
        self.empty_if_idle(&mut current);
        current.last_used = Instant::now();
        current.empty = false;
        current.recorder.clone()
    }

    /// Lets go of the Events kept for series once none of them can be repeated into one.
    pub fn forget_if_idle(&self) {
        let mut current = self.lock();
        self.empty_if_idle(&mut current);
    }

    fn empty_if_idle(&self, current: &mut Current) {
        if current.empty || current.last_used.elapsed() <= SERIES_WINDOW {
            return;
        }
        current.recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        current.empty = true;
        // glibc keeps freed pages among live ones until trimmed (the image's musl has no
        // malloc_trim).
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only releases free memory, under glibc's own lock.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
