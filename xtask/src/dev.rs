//! `cargo xtask dev`'s options: where `dx serve` listens, and the public URL the server is told.
//!
//! With the fullstack server, `dx serve --addr/--port` set the address of dx's dev server, the
//! one the browser opens; dx runs the app's server behind it on a free port of its own (it sets
//! `IP`/`PORT` for that process) and proxies to it. So the app's public URL (`AUTH_PUBLIC_URL`:
//! CSRF origin, issuer, cookie `Secure` flag) is dx's address, not the server's.

use anyhow::{Result, bail};
use std::net::{IpAddr, Ipv4Addr};

/// Where `cargo xtask dev` listens when nothing else says.
pub const DEFAULT_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const DEFAULT_PORT: u16 = 8080;

/// The parsed `cargo xtask dev` arguments.
#[derive(Debug, PartialEq)]
pub struct DevOptions {
    pub ip: IpAddr,
    pub port: u16,
    /// The other arguments, passed on to `dx serve` as they are.
    pub rest: Vec<String>,
}

impl DevOptions {
    /// Reads `--port N` and `--addr IP` (also `--ip IP`, and the `--flag=value` forms) from
    /// `args`. Unset, they come from `PORT` and `IP` (the variables the release server listens
    /// on; `.env` is loaded by then), else 127.0.0.1:8080.
    pub fn parse(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let mut port = None;
        let mut ip = None;
        let mut rest = Vec::new();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            if !matches!(flag, "--port" | "--addr" | "--ip") {
                rest.push(arg.clone());
                continue;
            }
            let Some(value) = inline.or_else(|| args.next().cloned()) else {
                bail!("{flag} needs a value");
            };
            if flag == "--port" {
                port = Some(parse_port(&value, "--port")?);
            } else {
                ip = Some(parse_ip(&value, flag)?);
            }
        }
        let port = match port {
            Some(port) => port,
            None => match env("PORT") {
                Some(v) => parse_port(&v, "PORT (from the environment or .env)")?,
                None => DEFAULT_PORT,
            },
        };
        let ip = match ip {
            Some(ip) => ip,
            None => match env("IP") {
                Some(v) => parse_ip(&v, "IP (from the environment or .env)")?,
                None => DEFAULT_IP,
            },
        };
        Ok(Self { ip, port, rest })
    }

    /// The URL a browser on this machine opens: the listening address, or loopback when dx
    /// listens on every interface.
    pub fn url(&self) -> String {
        let host = match self.ip {
            IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
            IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        format!("http://{host}:{}", self.port)
    }
}

/// The variable that already gives the server its public URL, with its value: `AUTH_PUBLIC_URL`,
/// else its fallback `PUBLIC_URL` (empty counts as unset, as in the server).
pub fn public_url_setting(env: impl Fn(&str) -> Option<String>) -> Option<(&'static str, String)> {
    ["AUTH_PUBLIC_URL", "PUBLIC_URL"]
        .into_iter()
        .find_map(|name| Some((name, env(name).filter(|v| !v.trim().is_empty())?)))
}

fn parse_port(value: &str, what: &str) -> Result<u16> {
    match value.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => bail!("{what} must be a port number from 1 to 65535, not `{value}`"),
    }
}

fn parse_ip(value: &str, what: &str) -> Result<IpAddr> {
    match value.trim().parse() {
        Ok(ip) => Ok(ip),
        Err(_) => bail!("{what} must be an IP address such as 127.0.0.1 or 0.0.0.0, not `{value}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_then_environment_then_flags() {
        let plain = DevOptions::parse(&[], no_env).unwrap();
        assert_eq!(
            (plain.url(), plain.rest.len()),
            ("http://127.0.0.1:8080".into(), 0)
        );

        let env = |name: &str| match name {
            "PORT" => Some("3000".to_owned()),
            "IP" => Some(" ".to_owned()),
            _ => None,
        };
        assert_eq!(
            DevOptions::parse(&[], env).unwrap().url(),
            "http://127.0.0.1:3000"
        );

        let flags = args(&[
            "--hot-patch",
            "--port",
            "9000",
            "--addr=0.0.0.0",
            "--verbose",
        ]);
        let options = DevOptions::parse(&flags, env).unwrap();
        assert_eq!(options.port, 9000);
        assert_eq!(options.ip.to_string(), "0.0.0.0");
        assert_eq!(options.url(), "http://127.0.0.1:9000");
        assert_eq!(options.rest, args(&["--hot-patch", "--verbose"]));

        let v6 = DevOptions::parse(&args(&["--ip", "::1", "--port=81"]), no_env).unwrap();
        assert_eq!(v6.url(), "http://[::1]:81");
    }

    #[test]
    fn bad_values_are_refused_with_their_source() {
        for bad in [
            &["--port", "http"][..],
            &["--port", "0"],
            &["--port"],
            &["--addr", "localhost"],
        ] {
            assert!(DevOptions::parse(&args(bad), no_env).is_err(), "{bad:?}");
        }
        let env = |name: &str| (name == "PORT").then(|| "http".to_owned());
        let err = DevOptions::parse(&[], env).unwrap_err().to_string();
        assert!(err.contains("PORT (from the environment or .env)"), "{err}");
    }

    #[test]
    fn an_explicit_public_url_is_kept() {
        assert_eq!(public_url_setting(no_env), None);
        let env = |name: &str| match name {
            "AUTH_PUBLIC_URL" => Some(String::new()),
            "PUBLIC_URL" => Some("https://dev.example.com".to_owned()),
            _ => None,
        };
        assert_eq!(
            public_url_setting(env),
            Some(("PUBLIC_URL", "https://dev.example.com".to_owned()))
        );
    }
}
