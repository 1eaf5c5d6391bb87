//! What rustig tells the operators' monitoring: the Prometheus metrics ([`metrics`]), and the
//! time per phase that `rustig bench` reports ([`laps`]). On the
//! ground floor beside the clock, so every layer can count with one line.

pub mod laps;
pub mod metrics;
