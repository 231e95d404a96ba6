//! "Something the admin page shows changed": one counter that every part bumps and the page's
//! event sockets (and the kept session's debrief) watch, instead of each part pushing to them.

use std::sync::Arc;

use tokio::sync::watch;

/// "Something the admin page shows changed": a counter every part bumps and the page's event
/// sockets watch. Cheap to clone; bumping never waits.
#[derive(Debug, Clone)]
pub struct Changes(Arc<watch::Sender<u64>>);

impl Default for Changes {
    fn default() -> Self {
        Changes(Arc::new(watch::channel(0).0))
    }
}

impl Changes {
    /// Records a change.
    pub fn notify(&self) {
        self.0.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver woken by every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}
