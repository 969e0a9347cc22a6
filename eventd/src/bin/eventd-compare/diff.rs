//! What two servers showed for one session, compared: bytes, closes, log lines (with
//! timestamps masked and connection ids counted from the session's first), and which
//! differences eventd's documented fixes explain (PROTOCOL.md, "Flaws of the original").

use crate::drive::{ConnSeen, Observed};
use crate::session::{Op, Session};

/// A fix of eventd's that shows in a session's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fix {
    /// Fix 3: at end of stream the original frees the buffer event at once, dropping
    /// replies not yet written; eventd writes them out, then closes.
    RepliesBeforeClose,
    /// Fix 5 (the original's flaw not reproduced): its 1,024-byte read loop stops at a
    /// slice that is the one byte "0" (PHP takes it for false).
    ZeroSlice,
}

impl Fix {
    pub fn id(self) -> &'static str {
        match self {
            Fix::RepliesBeforeClose => "fix3-replies-before-close",
            Fix::ZeroSlice => "fix5-zero-slice",
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            Fix::RepliesBeforeClose => {
                "fix 3: at end of stream eventd writes out the replies it made, the original drops them"
            }
            Fix::ZeroSlice => {
                "fix 5: the original's read loop stops at a 1,024-byte slice that is \"0\" (false in PHP); eventd reads on"
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Same,
    /// Different only where these fixes say the two differ.
    Known(Vec<Fix>),
    /// What differs, one line each.
    Different(Vec<String>),
}

/// A log line as compared: `[YYYY-MM-DD HH:MM:SS]` becomes `[time]`, the address of
/// `Listening on ...` becomes `ADDRESS`, and `id = N` becomes the connection's place in
/// this session (`id = #1`, `#2`...: both servers count from their own start).
pub fn masked_log(lines: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    lines
        .iter()
        .map(|line| {
            let mut l = line.clone();
            if l.len() >= 21 && l.as_bytes()[0] == b'[' && l.as_bytes()[20] == b']' {
                l.replace_range(..21, "[time]");
            }
            if let Some(at) = l.find("Listening on ") {
                if let Some(end) = l[at..].rfind("...") {
                    l.replace_range(at + 13..at + end, "ADDRESS");
                }
            }
            if let Some(at) = l.find("(id = ") {
                let rest = &l[at + 6..];
                let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                if !digits.is_empty() {
                    let n = match ids.iter().position(|d| *d == digits) {
                        Some(p) => p + 1,
                        None => {
                            ids.push(digits.clone());
                            ids.len()
                        }
                    };
                    l.replace_range(at + 6..at + 6 + digits.len(), &format!("#{n}"));
                }
            }
            l
        })
        .collect()
}

/// Who closed the connection, and when, in a session of `steps` steps.
pub fn closed(c: &ConnSeen, steps: usize) -> String {
    match c.server_closed {
        None => "the client".to_string(),
        Some(s) if s >= steps => "the server, after the client's close".to_string(),
        Some(s) => format!(
            "the server, after step {}{}",
            s + 1,
            if c.reset { " (reset)" } else { "" }
        ),
    }
}

pub fn compare(
    session: &Session,
    reference: &Observed,
    candidate: &Observed,
    known: bool,
) -> Verdict {
    let n = session.steps.len();
    let mut lines = Vec::new();
    let mut conns_differing = Vec::new();
    for c in 0..session.conns {
        let (r, k) = (&reference.conns[c], &candidate.conns[c]);
        let mut differs = false;
        if r.received != k.received {
            differs = true;
            lines.push(format!("connection {c}: the bytes received differ"));
        }
        if (r.server_closed, r.reset) != (k.server_closed, k.reset) {
            differs = true;
            lines.push(format!(
                "connection {c}: closed by {} against {}",
                closed(r, n),
                closed(k, n)
            ));
        }
        if differs {
            conns_differing.push(c);
        }
    }
    let logs_differ = masked_log(&reference.log) != masked_log(&candidate.log);
    if logs_differ {
        lines.push("the log lines differ".to_string());
    }
    if lines.is_empty() {
        return Verdict::Same;
    }
    if known {
        let mut fixes = Vec::new();
        let mut explained = true;
        for &c in &conns_differing {
            let (r, k) = (&reference.conns[c], &candidate.conns[c]);
            if zero_slice(session, c) {
                fixes.push(Fix::ZeroSlice);
            } else if replies_before_close(session, c, r, k) {
                fixes.push(Fix::RepliesBeforeClose);
            } else {
                explained = false;
            }
        }
        // The zero slice changes which messages there are, so what is logged too.
        if logs_differ && !fixes.contains(&Fix::ZeroSlice) {
            explained = false;
        }
        if explained && !fixes.is_empty() {
            fixes.sort();
            fixes.dedup();
            return Verdict::Known(fixes);
        }
    }
    Verdict::Different(lines)
}

/// Fix 3 shows as: the client half-closed the connection, both servers closed it, and
/// the original received a strict prefix of what eventd sent (the replies it dropped).
fn replies_before_close(session: &Session, c: usize, r: &ConnSeen, k: &ConnSeen) -> bool {
    let half_closed = session
        .steps
        .iter()
        .any(|s| s.conn == c && s.op == Op::HalfClose);
    half_closed
        && r.server_closed.is_some()
        && k.server_closed.is_some()
        && r.received.len() < k.received.len()
        && k.received.starts_with(&r.received)
}

/// Fix 5 can show when one of the connection's reads (a write of the session, in reads
/// of at most 4,096 bytes, libevent's) ends in a slice of 1,024 bytes that is "0".
fn zero_slice(session: &Session, c: usize) -> bool {
    session.steps.iter().any(|s| match &s.op {
        Op::Send(b) if s.conn == c => b
            .chunks(4096)
            .any(|read| read.len() % 1024 == 1 && read.ends_with(b"0")),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Step;

    fn seen(bytes: &[u8], closed: Option<usize>) -> ConnSeen {
        ConnSeen {
            received: bytes.to_vec(),
            server_closed: closed,
            reset: false,
        }
    }

    fn obs(conns: Vec<ConnSeen>, log: &[&str]) -> Observed {
        Observed {
            conns,
            log: log.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn send(conn: usize, b: &[u8]) -> Step {
        Step {
            conn,
            op: Op::Send(b.to_vec()),
        }
    }

    #[test]
    fn logs_are_compared_without_times_addresses_or_absolute_ids() {
        let a = masked_log(&[
            "[2026-12-02 10:00:00] New connection (id = 7)...".to_string(),
            "[2026-12-02 10:00:01] Listening on 0.0.0.0:1234...".to_string(),
            "[2026-12-02 10:00:01] Closing connection (id = 7)...".to_string(),
        ]);
        let b = masked_log(&[
            "[2031-01-01 23:59:59] New connection (id = 12)...".to_string(),
            "[2031-01-01 23:59:59] Listening on 127.0.0.1:40000...".to_string(),
            "[2031-01-01 23:59:59] Closing connection (id = 12)...".to_string(),
        ]);
        assert_eq!(a, b);
        assert_eq!(a[0], "[time] New connection (id = #1)...");
        // Another connection closing is another line.
        let c = masked_log(&[
            "[2031-01-01 23:59:59] New connection (id = 12)...".to_string(),
            "[2031-01-01 23:59:59] Listening on 127.0.0.1:40000...".to_string(),
            "[2031-01-01 23:59:59] Closing connection (id = 13)...".to_string(),
        ]);
        assert_ne!(a, c);
        assert_eq!(c[2], "[time] Closing connection (id = #2)...");
    }

    #[test]
    fn equal_observations_are_the_same() {
        let s = Session {
            conns: 1,
            steps: vec![send(0, b"hello\r\n")],
        };
        let o = obs(vec![seen(b"HELLO\r\n", None)], &["x"]);
        assert_eq!(compare(&s, &o, &o.clone(), true), Verdict::Same);
    }

    #[test]
    fn dropped_replies_after_a_half_close_are_fix_3_only_when_asked_and_only_as_a_prefix() {
        let s = Session {
            conns: 1,
            steps: vec![
                send(0, b"hello\r\n"),
                Step {
                    conn: 0,
                    op: Op::HalfClose,
                },
            ],
        };
        let log = ["[2026-12-02 10:00:00] Error: EVBUFFER_EOF (id = 1)..."];
        let original = obs(vec![seen(b"", Some(1))], &log);
        let eventd = obs(vec![seen(b"HELLO\r\n", Some(1))], &log);
        assert_eq!(
            compare(&s, &original, &eventd, true),
            Verdict::Known(vec![Fix::RepliesBeforeClose])
        );
        assert!(matches!(
            compare(&s, &original, &eventd, false),
            Verdict::Different(_)
        ));
        // Other bytes than a missing suffix are a real difference.
        let other = obs(vec![seen(b"HELLO\r\nX", Some(1))], &log);
        let original = obs(vec![seen(b"HELLX", Some(1))], &log);
        assert!(matches!(
            compare(&s, &original, &other, true),
            Verdict::Different(_)
        ));
        // Without a half-close there is no fix to explain it.
        let s2 = Session {
            conns: 1,
            steps: vec![send(0, b"hello\r\n")],
        };
        let original = obs(vec![seen(b"", Some(0))], &log);
        assert!(matches!(
            compare(&s2, &original, &eventd, true),
            Verdict::Different(_)
        ));
    }

    #[test]
    fn a_zero_slice_is_fix_5_and_a_log_difference_elsewhere_is_not() {
        let mut b = vec![b'x'; 1024];
        b.push(b'0');
        let s = Session {
            conns: 2,
            steps: vec![send(0, &b), send(1, b"hi there\r\n")],
        };
        let original = obs(
            vec![seen(b"XXXX\r\n", None), seen(b"HI THERE\r\n", None)],
            &["a"],
        );
        let eventd = obs(
            vec![seen(b"XXXX0\r\n", None), seen(b"HI THERE\r\n", None)],
            &["a"],
        );
        assert_eq!(
            compare(&s, &original, &eventd, true),
            Verdict::Known(vec![Fix::ZeroSlice])
        );
        // The other connection differing as well is not explained.
        let eventd2 = obs(
            vec![seen(b"XXXX0\r\n", None), seen(b"HI\r\n", None)],
            &["a"],
        );
        assert!(matches!(
            compare(&s, &original, &eventd2, true),
            Verdict::Different(_)
        ));
        // Logs differing on a session no fix touches are not explained.
        let s3 = Session {
            conns: 1,
            steps: vec![send(0, b"hi there\r\n")],
        };
        let one = obs(vec![seen(b"", None)], &["a"]);
        let two = obs(vec![seen(b"", None)], &["b"]);
        assert_eq!(
            compare(&s3, &one, &two, true),
            Verdict::Different(vec!["the log lines differ".to_string()])
        );
    }
}
