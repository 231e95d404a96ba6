//! A tool's `load` on GAMA's desktop server, which holds one experiment at a time.
//!
//! Once GAMA accepts it, the tool's experiment has replaced the session's: the relay says so
//! ([`crate::gama::GamaLink::hold_for_tool`]), so that the session ends cleanly and GAMA's
//! messages go to that tool alone. The desktop server answers `load` before the experiment is
//! built (protocol.md §3.3), where gama-headless answers once it can take commands, and tools such
//! as gama-gymnasium ask for the experiment's spaces at once: the answer is held until the
//! experiment is ready, as the relay's own launch waits, at most `passthrough.load_ready_ms`.

use std::net::SocketAddr;
use std::sync::Arc;

use tracing::{Instrument, info, warn};

use super::Endpoint;
use super::tool::field_of;
use crate::gama::{ClientReply, ToolHold};
use crate::protocol::Frame;
use crate::protocol::gama::{Envelope, MessageType};

/// `reply` for tool `tool`'s `load` (its command `text`): GAMA's answer goes on once the
/// experiment it loaded is ready.
pub(super) fn answer_when_ready(
    endpoint: &Endpoint,
    tool: u64,
    peer: SocketAddr,
    text: &str,
    reply: ClientReply,
) -> ClientReply {
    let endpoint = endpoint.clone();
    let model = field_of(text, "model").unwrap_or_default();
    let experiment = field_of(text, "experiment").unwrap_or_default();
    ClientReply(Arc::new(move |frame: Frame| {
        let accepted = Envelope::parse(frame.as_str())
            .is_ok_and(|e| e.message_type() == MessageType::CommandExecutedSuccessfully);
        if !accepted {
            return (reply.0)(frame);
        }
        // Called on GAMA's reader: the hold is in place before GAMA's next message is read.
        info!(%model, %experiment, "a tool's experiment replaced the session's in desktop GAMA");
        endpoint.gama.hold_for_tool(ToolHold {
            tool,
            address: peer.to_string(),
            model: model.clone(),
            experiment: experiment.clone(),
            since: crate::support::clock::now_rfc3339(),
            connected: true,
            opened: false,
        });
        let (gama, reply) = (endpoint.gama.clone(), reply.clone());
        let bound = endpoint.settings.load_ready();
        endpoint.tracker.spawn(
            async move {
                if let Err(e) = gama.until_live(bound).await {
                    warn!(
                        "a tool's experiment is not ready ({e}); passing GAMA's answer on anyway"
                    );
                }
                (reply.0)(frame);
            }
            .in_current_span(),
        );
    }))
}
