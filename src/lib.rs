//! gama-vr-relay (work in progress)
