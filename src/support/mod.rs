//! Small pieces every part uses and none owns: times as people read them ([`clock`]), excerpts
//! of long text for logs ([`excerpt`]), pacing and rate limits ([`pace`]), the bounded queue to a
//! writer thread ([`queue`]) and the "something changed" counter the admin page watches
//! ([`changes`]).

pub(crate) mod changes;
pub(crate) mod clock;
pub(crate) mod excerpt;
pub(crate) mod pace;
pub(crate) mod queue;
