//! Command-line options, parsed by hand: a dozen flags do not justify a parser dependency.

use shmsync::arch::Backoff;
use std::time::Duration;

use crate::rows;
use crate::shared::{INJECT_DROP, INJECT_DUP, INJECT_NONE, MAX_MSG, MIN_MSG};

/// The help text.
pub const USAGE: &str = "\
usage: cargo run --release --example pingpong -- [options]

Measures round-trip latency between this process and a re-executed copy of itself that
share one memory region, for shmsync's wait/wake and for bare baselines, in one run.

options:
  --duration SECS     measure each row for SECS seconds in all (default 1.5)
  --count N           measure exactly N round trips per row instead
  --rounds N          interleave the rows: run them N times in turn, each for 1/N of
                      the time or count, and pool the results (default 3)
  --warmup SECS       unmeasured round trips before each slice (default 0.1)
  --size BYTES        message size, a multiple of 8 up to 65536 (default 8: the
                      sequence number alone)
  --pin [A,B]         pin this process to CPU A and the peer to CPU B (default 0,1);
                      Linux only: macOS has no public API for it (a note is printed)
  --spin-limit N      spin limit of the adaptive rows (hal-adaptive: 2^N - 1 cpu_relax
                      calls; ring-adaptive: a spin window of (2^N - 1) x 40 ns, 5.1 us
                      at the default 7; at most 16); ring-block always uses 0
  --rows LIST         comma-separated rows to run (default all): ROWS
  --json              print the results as JSON on stdout (progress stays on stderr)
  --no-hist           leave out the terminal histogram
  --plot FILE.svg     also write the latency CDF of every row (one curve each) as SVG
  --stall-timeout S   declare a message lost after S seconds without an answer (default 5)
  -h, --help          this text

Every message carries a sequence number that both processes check; a lost, duplicated or
reordered message ends the run with an error and exit status 1.";

/// What to do.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Measure, with these options.
    Run(Options),
    /// Serve as the peer on the shared-memory object open as this descriptor (hidden; the
    /// parent passes it: the object has no name, so no run can leave one behind).
    Peer(i32),
    /// Print the help text.
    Help,
}

/// The measuring run's options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Measured time per row.
    pub duration: Duration,
    /// Exact round trips per row, overriding `duration`.
    pub count: Option<u64>,
    /// Rounds the rows are interleaved in.
    pub rounds: u32,
    /// Warm-up time per slice.
    pub warmup: Duration,
    /// Message size in bytes.
    pub size: usize,
    /// (this process's CPU, the peer's CPU).
    pub pin: Option<(usize, usize)>,
    /// Backoff limit of the adaptive rows (hal-adaptive, ring-adaptive).
    pub spin_limit: u32,
    /// Indexes into `rows::ALL`, in run order.
    pub rows: Vec<usize>,
    /// JSON output.
    pub json: bool,
    /// Print the histogram.
    pub hist: bool,
    /// Where to write the CDF plot (`--plot`), if anywhere.
    pub plot: Option<std::path::PathBuf>,
    /// Time without progress after which a message counts as lost.
    pub stall: Duration,
    /// Fault injected by the peer (`INJECT_*`; hidden `--inject-drop N` / `--inject-dup N`).
    pub inject: u32,
    /// The message the fault applies to.
    pub inject_at: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            duration: Duration::from_millis(1_500),
            count: None,
            rounds: 3,
            warmup: Duration::from_millis(100),
            size: MIN_MSG,
            pin: None,
            spin_limit: Backoff::DEFAULT_SPIN_LIMIT,
            rows: (0..rows::ALL.len()).collect(),
            json: false,
            hist: true,
            plot: None,
            stall: Duration::from_secs(5),
            inject: INJECT_NONE,
            inject_at: 0,
        }
    }
}

/// The usage text with the row names filled in.
pub fn usage() -> String {
    let names: Vec<&str> = rows::ALL.iter().map(|r| r.key).collect();
    USAGE.replace("ROWS", &names.join(","))
}

fn seconds(flag: &str, v: &str, allow_zero: bool) -> Result<Duration, String> {
    let s: f64 = v
        .parse()
        .map_err(|_| format!("{flag}: `{v}` is not a number of seconds"))?;
    if !s.is_finite() || s < 0.0 || (s == 0.0 && !allow_zero) || s > 86_400.0 {
        return Err(format!("{flag}: {v} s is out of range"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn number(flag: &str, v: &str) -> Result<u64, String> {
    v.replace('_', "")
        .parse()
        .map_err(|_| format!("{flag}: `{v}` is not a whole number"))
}

fn cpu_pair(v: &str) -> Option<(usize, usize)> {
    let (a, b) = v.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, String> {
    let mut o = Options::default();
    let mut i = 0;
    while i < args.len() {
        // `--flag=value` or `--flag value`.
        let (flag, inline) = match args[i].split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (args[i].clone(), None),
        };
        i += 1;
        let mut value = |name: &str| -> Result<String, String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            let v = args.get(i).ok_or(format!("{name} needs a value"))?;
            i += 1;
            Ok(v.clone())
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--peer-fd" => {
                let v = value("--peer-fd")?;
                return match v.parse::<i32>() {
                    Ok(fd) if fd > 2 => Ok(Command::Peer(fd)),
                    _ => Err(format!("--peer-fd: `{v}` is not a descriptor above 2")),
                };
            }
            "--duration" => o.duration = seconds("--duration", &value("--duration")?, false)?,
            "--warmup" => o.warmup = seconds("--warmup", &value("--warmup")?, true)?,
            "--stall-timeout" => {
                o.stall = seconds("--stall-timeout", &value("--stall-timeout")?, false)?
            }
            "--count" => {
                let n = number("--count", &value("--count")?)?;
                if n == 0 {
                    return Err("--count must be at least 1".into());
                }
                o.count = Some(n);
            }
            "--rounds" => {
                let n = number("--rounds", &value("--rounds")?)?;
                if !(1..=1000).contains(&n) {
                    return Err(format!("--rounds must be 1..=1000, not {n}"));
                }
                o.rounds = n as u32;
            }
            "--size" => {
                let n = number("--size", &value("--size")?)?;
                if !(MIN_MSG as u64..=MAX_MSG as u64).contains(&n) || n % 8 != 0 {
                    return Err(format!(
                        "--size must be a multiple of 8 in {MIN_MSG}..={MAX_MSG} bytes, not {n}"
                    ));
                }
                o.size = n as usize;
            }
            "--pin" => {
                o.pin = Some(match &inline {
                    Some(v) => cpu_pair(v).ok_or(format!("--pin: `{v}` is not A,B"))?,
                    // A following `A,B` is the pair; anything else is the next flag.
                    None => match args.get(i).and_then(|v| cpu_pair(v)) {
                        Some(p) => {
                            i += 1;
                            p
                        }
                        None => (0, 1),
                    },
                });
            }
            "--spin-limit" => {
                let n = number("--spin-limit", &value("--spin-limit")?)?;
                if n > u64::from(Backoff::MAX_SPIN_LIMIT) {
                    return Err(format!(
                        "--spin-limit must be 0..={}, not {n}",
                        Backoff::MAX_SPIN_LIMIT
                    ));
                }
                o.spin_limit = n as u32;
            }
            "--rows" => {
                let list = value("--rows")?;
                o.rows.clear();
                for key in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                    let r = rows::find(key).ok_or(format!("--rows: no row named `{key}`"))?;
                    if !o.rows.contains(&r) {
                        o.rows.push(r);
                    }
                }
                if o.rows.is_empty() {
                    return Err("--rows: name at least one row".into());
                }
            }
            "--json" => o.json = true,
            "--no-hist" => o.hist = false,
            "--plot" => {
                let v = value("--plot")?;
                if !v.ends_with(".svg") {
                    return Err(format!("--plot: `{v}` must name an .svg file"));
                }
                o.plot = Some(v.into());
            }
            "--inject-drop" | "--inject-dup" => {
                let at = number(&flag, &value(&flag)?)?;
                o.inject = if flag == "--inject-drop" {
                    INJECT_DROP
                } else {
                    INJECT_DUP
                };
                o.inject_at = u32::try_from(at)
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or(format!("{flag}: message number 1..=4294967295"))?;
            }
            other => return Err(format!("unknown option `{other}` (try --help)")),
        }
    }
    Ok(Command::Run(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Command::Run(o) => Ok(o),
            other => panic!("expected a run, got {other:?}"),
        }
    }

    #[test]
    fn defaults_run_every_row() {
        let o = run(&[]).unwrap();
        assert_eq!(o, Options::default());
        assert_eq!(o.rows.len(), rows::ALL.len());
        // Issue 7's three ring rows (spinning, park every time, spin then park) are all in
        // the default set, next to each other.
        let ring_rows: Vec<&str> = o
            .rows
            .iter()
            .map(|&r| rows::ALL[r].key)
            .filter(|k| k.starts_with("ring-"))
            .collect();
        assert_eq!(ring_rows, ["ring-spin", "ring-block", "ring-adaptive"]);
        assert_eq!(o.spin_limit, Backoff::DEFAULT_SPIN_LIMIT);
    }

    #[test]
    fn ring_rows_by_name() {
        let o = run(&["--rows", "ring-block,futex", "--spin-limit=0"]).unwrap();
        assert_eq!(
            o.rows,
            vec![
                rows::find("ring-block").unwrap(),
                rows::find("futex").unwrap()
            ]
        );
        assert_eq!(o.spin_limit, 0);
        assert!(usage().contains("ring-spin,ring-block,ring-adaptive"));
    }

    #[test]
    fn both_value_spellings_and_every_flag() {
        let o = run(&[
            "--duration=0.5",
            "--count",
            "1_000",
            "--warmup",
            "0",
            "--size=64",
            "--pin",
            "2,3",
            "--rows",
            "pipe,spin,pipe",
            "--json",
            "--rounds=5",
            "--no-hist",
            "--stall-timeout=1",
            "--spin-limit",
            "10",
            "--inject-dup",
            "7",
        ])
        .unwrap();
        assert_eq!(o.duration, Duration::from_millis(500));
        assert_eq!(o.count, Some(1_000));
        assert_eq!(o.warmup, Duration::ZERO);
        assert_eq!(o.size, 64);
        assert_eq!(o.rounds, 5);
        assert_eq!(o.pin, Some((2, 3)));
        assert_eq!(
            o.rows,
            vec![rows::find("pipe").unwrap(), rows::find("spin").unwrap()]
        );
        assert!(o.json && !o.hist);
        assert_eq!(o.stall, Duration::from_secs(1));
        assert_eq!(o.spin_limit, 10);
        assert_eq!((o.inject, o.inject_at), (INJECT_DUP, 7));
    }

    #[test]
    fn bare_pin_defaults_to_cpus_0_and_1_and_does_not_eat_the_next_flag() {
        let o = run(&["--pin", "--json"]).unwrap();
        assert_eq!(o.pin, Some((0, 1)));
        assert!(o.json);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        for (args, needle) in [
            (&["--size", "4"][..], "--size"),
            (&["--size", "65537"][..], "--size"),
            (&["--size", "12"][..], "multiple of 8"),
            (&["--count", "0"][..], "--count"),
            (&["--rounds", "0"][..], "--rounds"),
            (&["--duration", "-1"][..], "--duration"),
            (&["--duration", "0"][..], "--duration"),
            (&["--duration"][..], "needs a value"),
            (&["--rows", "nope"][..], "nope"),
            (&["--pin=1"][..], "--pin"),
            (&["--spin-limit", "17"][..], "--spin-limit"),
            (&["--inject-drop", "0"][..], "--inject-drop"),
            (&["--frobnicate"][..], "--frobnicate"),
        ] {
            let args: Vec<&str> = args.to_vec();
            let err = run(&args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn help_and_peer_roles() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(parse(&s(&["--json", "-h"])), Ok(Command::Help));
        assert_eq!(parse(&s(&["--peer-fd", "7"])), Ok(Command::Peer(7)));
        assert!(parse(&s(&["--peer-fd", "1"])).is_err());
        assert!(parse(&s(&["--peer-fd", "x"])).is_err());
        assert!(usage().contains("spin,futex,pipe"));
    }
}
