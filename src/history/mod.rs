//! What happened, kept: a session recorded to a file ([`record`]) and served again to headsets
//! without GAMA ([`replay`]); every experiment run kept for debriefing ([`kept`]), with what the
//! rest of the relay tells it ([`debrief`]).

pub(crate) mod debrief;
pub(crate) mod kept;
pub(crate) mod record;
pub(crate) mod replay;
