//! The admin token policy: where the one token of the admin API, the tool endpoint and the monitor
//! socket comes from, and which of them asks for it, decided from the settings alone.
//!
//! It is a pure decision, apart from the server that performs it (makes the token when told to,
//! hands each endpoint its own), so that every case is tested here without binding a port: an
//! endpoint reachable from the network never opens without a token, and one on loopback only never
//! asks for one it was not given.

use crate::config::{Config, is_loopback};

/// Where the token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `admin.token`, as set.
    Given(String),
    /// Made at each start: `admin.token` is empty and an endpoint is reachable from the network.
    Generate,
    /// No token: `admin.token` is empty and every endpoint listens on loopback only.
    Nothing,
}

/// The policy the settings ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Where the token comes from.
    pub source: Source,
    /// The admin API asks for it: `admin.token` is set, or the admin port is reachable from the
    /// network.
    pub admin: bool,
    /// The tool endpoint asks for it: enabled and reachable from the network (a token set for a
    /// loopback-only endpoint is not asked).
    pub tools: bool,
    /// The monitor socket asks for it: enabled and reachable from the network.
    pub monitor: bool,
}

/// The token each endpoint requires, once the policy is performed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tokens {
    /// The admin API's.
    pub admin: Option<String>,
    /// The tool endpoint's.
    pub tools: Option<String>,
    /// The monitor socket's.
    pub monitor: Option<String>,
    /// Whether the admin page's address is announced with a word that its token was made at start
    /// (it changes at each start unless `admin.token` is set).
    pub announce_generated: bool,
}

/// What the settings of `config` ask for.
pub(crate) fn decide(config: &Config) -> Policy {
    let admin_open = !is_loopback(&config.admin.host);
    let tools_open = config.passthrough.enabled && !is_loopback(&config.passthrough.host);
    let monitor_open = config.monitor.enabled && !is_loopback(&config.monitor.host);
    let given = &config.admin.token;
    let source = if !given.is_empty() {
        Source::Given(given.clone())
    } else if admin_open || tools_open || monitor_open {
        Source::Generate
    } else {
        Source::Nothing
    };
    Policy {
        admin: !given.is_empty() || admin_open,
        tools: tools_open,
        monitor: monitor_open,
        source,
    }
}

impl Policy {
    /// Performs the policy: `generate` makes the token when the source is [`Source::Generate`]
    /// (and is not called otherwise).
    pub(crate) fn tokens<E>(
        self,
        generate: impl FnOnce() -> Result<String, E>,
    ) -> Result<Tokens, E> {
        let (token, generated) = match self.source {
            Source::Given(token) => (Some(token), false),
            Source::Generate => (Some(generate()?), true),
            Source::Nothing => (None, false),
        };
        let only = |asks: bool| token.clone().filter(|_| asks);
        Ok(Tokens {
            admin: only(self.admin),
            tools: only(self.tools),
            monitor: only(self.monitor),
            // A made token is asked by the admin API only when its port is open.
            announce_generated: generated && self.admin,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    /// Settings with the admin API, the tool endpoint and the monitor socket on these hosts (`None`:
    /// disabled; the admin API is always on).
    fn settings(admin: &str, tools: Option<&str>, monitor: Option<&str>, token: &str) -> Config {
        let mut c = Config::default();
        c.admin.host = admin.into();
        c.admin.token = token.into();
        c.passthrough.enabled = tools.is_some();
        c.passthrough.host = tools.unwrap_or("127.0.0.1").into();
        c.monitor.enabled = monitor.is_some();
        c.monitor.host = monitor.unwrap_or("localhost").into();
        c
    }

    fn made() -> Result<String, Infallible> {
        Ok("made-at-start".into())
    }

    fn never() -> Result<String, Infallible> {
        unreachable!("no token is made when one is given or none is needed")
    }

    #[test]
    fn everything_on_loopback_needs_no_token() {
        let config = settings("127.0.0.1", Some("localhost"), Some("localhost"), "");
        let policy = decide(&config);
        assert_eq!(policy.source, Source::Nothing);
        assert_eq!(policy.tokens(never).unwrap(), Tokens::default());
    }

    #[test]
    fn an_open_admin_port_gets_a_token_made_at_start() {
        let config = settings("0.0.0.0", Some("127.0.0.1"), Some("localhost"), "");
        let policy = decide(&config);
        assert_eq!(policy.source, Source::Generate);
        let tokens = policy.tokens(made).unwrap();
        assert_eq!(tokens.admin.as_deref(), Some("made-at-start"));
        assert_eq!(tokens.tools, None, "the tools listen on loopback only");
        assert_eq!(tokens.monitor, None, "the monitor listens on loopback only");
        assert!(tokens.announce_generated);
    }

    #[test]
    fn open_tools_make_a_token_the_loopback_admin_api_does_not_ask_for() {
        let config = settings("127.0.0.1", Some("0.0.0.0"), None, "");
        let policy = decide(&config);
        assert_eq!(policy.source, Source::Generate);
        let tokens = policy.tokens(made).unwrap();
        assert_eq!(tokens.admin, None, "loopback needs no token");
        assert_eq!(tokens.tools.as_deref(), Some("made-at-start"));
        assert_eq!(tokens.monitor, None);
        assert!(!tokens.announce_generated, "the admin page shows no token");
    }

    #[test]
    fn an_open_monitor_socket_makes_a_token_for_itself() {
        let config = settings("localhost", None, Some("0.0.0.0"), "");
        let tokens = decide(&config).tokens(made).unwrap();
        assert_eq!(tokens.admin, None);
        assert_eq!(tokens.tools, None);
        assert_eq!(tokens.monitor.as_deref(), Some("made-at-start"));
        assert!(!tokens.announce_generated);
    }

    #[test]
    fn a_given_token_is_asked_by_the_admin_api_even_on_loopback() {
        let config = settings("127.0.0.1", Some("127.0.0.1"), Some("localhost"), "s3cret");
        let policy = decide(&config);
        assert_eq!(policy.source, Source::Given("s3cret".into()));
        let tokens = policy.tokens(never).unwrap();
        assert_eq!(tokens.admin.as_deref(), Some("s3cret"));
        assert_eq!(
            tokens.tools, None,
            "a loopback endpoint is not asked for it"
        );
        assert_eq!(tokens.monitor, None);
        assert!(
            !tokens.announce_generated,
            "it does not change at each start"
        );
    }

    #[test]
    fn a_given_token_guards_every_open_endpoint() {
        let config = settings("0.0.0.0", Some("0.0.0.0"), Some("::"), "s3cret");
        let tokens = decide(&config).tokens(never).unwrap();
        assert_eq!(tokens.admin.as_deref(), Some("s3cret"));
        assert_eq!(tokens.tools.as_deref(), Some("s3cret"));
        assert_eq!(tokens.monitor.as_deref(), Some("s3cret"));
        assert!(!tokens.announce_generated);
    }

    #[test]
    fn disabled_endpoints_neither_make_nor_ask_for_a_token() {
        let mut config = settings("127.0.0.1", None, None, "");
        config.passthrough.host = "0.0.0.0".into();
        config.monitor.host = "0.0.0.0".into();
        let policy = decide(&config);
        assert_eq!(policy.source, Source::Nothing);
        assert!(!policy.tools && !policy.monitor);
    }

    #[test]
    fn a_token_that_cannot_be_made_is_an_error() {
        let config = settings("0.0.0.0", None, None, "");
        let failed = decide(&config).tokens(|| Err("no randomness"));
        assert_eq!(failed, Err("no randomness"));
    }
}
