//! Which colour gets the traffic: the `upstream/servers.conf` that nginx
//! includes (deploy/host/nginx.conf), written from a split and read back to
//! learn which colour is live.

use std::fmt;

/// The two slots the service runs in; a deploy starts the idle one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Colour {
    Blue,
    Green,
}

impl Colour {
    pub(super) fn other(self) -> Self {
        match self {
            Self::Blue => Self::Green,
            Self::Green => Self::Blue,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Blue => "blue",
            Self::Green => "green",
        }
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The first line of servers.conf names the live colour, so a deploy can
/// read it back from the running proxy instead of keeping state elsewhere.
const LIVE_MARKER: &str = "# live: ";

/// The share of requests each colour gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Split {
    /// Every request to this colour.
    All(Colour),
    /// `percent` of the requests to `canary`, the rest to `live`.
    Canary {
        live: Colour,
        canary: Colour,
        percent: u8,
    },
}

impl Split {
    /// The colour that keeps the traffic if this split is undone.
    pub(super) fn live(self) -> Colour {
        match self {
            Self::All(colour) | Self::Canary { live: colour, .. } => colour,
        }
    }

    /// servers.conf for this split; `address` is where nginx reaches a
    /// colour (a Compose service name or a loopback port).
    pub(super) fn servers_conf(self, address: impl Fn(Colour) -> String) -> String {
        let servers = match self {
            Self::All(colour) => format!("server {};\n", address(colour)),
            // nginx's weights are relative: 90 and 10 send one in ten.
            Self::Canary {
                live,
                canary,
                percent,
            } => format!(
                "server {} weight={};\nserver {} weight={percent};\n",
                address(live),
                100 - u16::from(percent),
                address(canary)
            ),
        };
        format!("{LIVE_MARKER}{}\n{servers}", self.live())
    }
}

/// The live colour named by a servers.conf this module wrote; `None` for
/// anything else (no file yet, or one written by hand).
pub(super) fn live_colour(servers_conf: &str) -> Option<Colour> {
    match servers_conf
        .lines()
        .next()?
        .strip_prefix(LIVE_MARKER)?
        .trim()
    {
        "blue" => Some(Colour::Blue),
        "green" => Some(Colour::Green),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(colour: Colour) -> String {
        match colour {
            Colour::Blue => "127.0.0.1:18081".into(),
            Colour::Green => "127.0.0.1:18082".into(),
        }
    }

    #[test]
    fn writes_one_server_or_a_weighted_pair() {
        assert_eq!(
            Split::All(Colour::Green).servers_conf(port),
            "# live: green\nserver 127.0.0.1:18082;\n"
        );
        let canary = Split::Canary {
            live: Colour::Blue,
            canary: Colour::Green,
            percent: 10,
        };
        assert_eq!(
            canary.servers_conf(port),
            "# live: blue\nserver 127.0.0.1:18081 weight=90;\nserver 127.0.0.1:18082 weight=10;\n"
        );
    }

    #[test]
    fn reads_back_the_live_colour_of_what_it_wrote_only() {
        for split in [
            Split::All(Colour::Blue),
            Split::All(Colour::Green),
            Split::Canary {
                live: Colour::Green,
                canary: Colour::Blue,
                percent: 50,
            },
        ] {
            assert_eq!(live_colour(&split.servers_conf(port)), Some(split.live()));
        }
        for other in ["", "server 10.0.0.1:8080;\n", "# live: purple\n"] {
            assert_eq!(live_colour(other), None, "{other:?}");
        }
    }
}
