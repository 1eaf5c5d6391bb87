//! What rustig tells the operators' monitoring: the Prometheus metrics ([`metrics`]). On the
//! ground floor beside the clock, so every layer can count with one line.

pub mod metrics;
