//! Small value types of the TOML file. Each one parses from a string and, when it fails, says
//! what it got and what is allowed, so that `rustig check` can print a useful line. The time
//! values are the model's (`model::time`): the directory and the policy use them too.

use std::str::FromStr;

use serde::{Deserialize, Deserializer};

pub use crate::model::time::{DateRange, DayWindow, HumanDuration, TimeOfDay, WeekTime};

/// An IANA time zone, "Europe/Amsterdam".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(pub chrono_tz::Tz);

impl FromStr for Zone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse::<chrono_tz::Tz>().map(Zone).map_err(|_| {
            "expected an IANA time zone like \"Europe/Amsterdam\" or \"Europe/Brussels\"".into()
        })
    }
}
impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_parse_and_reject() {
        assert!("Europe/Amsterdam".parse::<Zone>().is_ok());
        assert!("Mars/Olympus".parse::<Zone>().is_err());
    }
}

/// A listener's `listen` key: an address and port.
#[derive(Debug)]
pub(crate) struct Listen(pub(crate) std::net::SocketAddr);

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(Listen).map_err(|_| {
            serde::de::Error::custom("expected an address and port like \"127.0.0.1:8425\"")
        })
    }
}
