//! What a run is: its length, its seed, how many clients, and whether the product is broken
//! on purpose. Read from the command line, then `CHAOS_*` variables, then defaults.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long the clients load the stack (faults included); settling and checking follow.
    pub load: Duration,
    /// Drives the fault schedule and every client's choices: the same seed replays both.
    pub seed: u64,
    pub clients: usize,
    /// Every conditional write sent without its condition (the local gateway's
    /// `unconditional` switch): a broken product the run must catch.
    pub broken: bool,
    /// How long the run waits for the stack to go quiet after the load.
    pub settle: Duration,
}

pub const USAGE: &str = "usage: chaos [--seconds N] [--seed N] [--clients N] [--settle N] [--break]\n\
  (or CHAOS_SECONDS, CHAOS_SEED, CHAOS_CLIENTS; defaults 300 s, a random seed, 16 clients, \
  90 s to settle)";

impl Settings {
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let number = |name: &str, value: Option<String>| -> Result<Option<u64>, String> {
            value
                .filter(|v| !v.is_empty())
                .map(|v| v.parse().map_err(|_| format!("{name}: not a number: {v}")))
                .transpose()
        };
        let mut seconds = number("CHAOS_SECONDS", env("CHAOS_SECONDS"))?;
        let mut seed = number("CHAOS_SEED", env("CHAOS_SEED"))?;
        let mut clients = number("CHAOS_CLIENTS", env("CHAOS_CLIENTS"))?;
        let mut settle = None;
        let mut broken = false;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = || {
                number(&flag, args.next()).and_then(|v| v.ok_or(format!("{flag} needs a value")))
            };
            match flag.as_str() {
                "--seconds" => seconds = Some(value()?),
                "--seed" => seed = Some(value()?),
                "--clients" => clients = Some(value()?),
                "--settle" => settle = Some(value()?),
                "--break" => broken = true,
                _ => return Err(format!("unknown argument {flag}")),
            }
        }
        let seconds = seconds.unwrap_or(300);
        if seconds < 20 {
            return Err("--seconds: at least 20, so that every kind of fault fits".into());
        }
        Ok(Self {
            load: Duration::from_secs(seconds),
            seed: seed.unwrap_or_else(rand::random),
            clients: clients.unwrap_or(16).clamp(1, 64) as usize,
            broken,
            settle: Duration::from_secs(settle.unwrap_or(90)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Settings, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::parse(args.iter().map(|a| a.to_string()), |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn flags_win_over_variables_which_win_over_defaults() {
        let s = parse(
            &["--seed", "7"],
            &[("CHAOS_SEED", "9"), ("CHAOS_SECONDS", "40")],
        )
        .unwrap();
        assert_eq!(
            (s.seed, s.load.as_secs(), s.clients, s.broken),
            (7, 40, 16, false)
        );
        let s = parse(&["--break", "--clients", "3"], &[]).unwrap();
        assert_eq!((s.load.as_secs(), s.clients, s.broken), (300, 3, true));
        assert_eq!(s.settle.as_secs(), 90);
        assert_eq!(
            parse(&["--settle", "20"], &[]).unwrap().settle.as_secs(),
            20
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--seconds", "ten"], &[]).is_err());
        assert!(parse(&["--seconds", "5"], &[]).is_err());
        assert!(parse(&["--seed"], &[]).is_err());
        assert!(parse(&["--what"], &[]).is_err());
        assert!(parse(&[], &[("CHAOS_SEED", "x")]).is_err());
    }
}
