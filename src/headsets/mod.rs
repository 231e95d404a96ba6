//! The headset side: the Unity headsets of the classroom and everything the relay keeps of them.
//!
//! Headsets connect to [`endpoint`] (the WebSocket server they register on). Who plays is decided
//! by [`roster`], a pure state machine (registration, takeover, grace time, the model's minimum and
//! maximum), and carried out by [`players`], its handle, which sends frames, closes connections,
//! asks GAMA to create and remove players and keeps [`routing`] up to date: the map GAMA's output
//! follows to each headset's [`conn`] and its bounded [`outbox`]. Around them: who was turned away
//! ([`refusals`]), where headsets can connect ([`addresses`]) and what each one shows on its
//! screen ([`screens`]).

pub(crate) mod addresses;
pub(crate) mod conn;
pub(crate) mod endpoint;
pub(crate) mod outbox;
pub(crate) mod players;
pub(crate) mod refusals;
pub(crate) mod roster;
pub(crate) mod routing;
pub(crate) mod screens;
