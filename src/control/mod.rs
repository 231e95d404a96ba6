//! What operators act with, whichever way they come: the learning-package catalog ([`packages`]),
//! the selected model and the operations on GAMA's experiment, one at a time ([`operator`]), the
//! record of who changed what ([`audit`]) and the codes of what the relay tells people ([`said`]).
//! The admin page (`crate::admin`) and the webplatform's monitor socket ([`monitor`]) are two
//! ways in to the same operator.

pub(crate) mod audit;
pub(crate) mod monitor;
pub(crate) mod operator;
pub(crate) mod packages;
pub(crate) mod said;
