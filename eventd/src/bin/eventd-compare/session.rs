//! A session: what the clients do, step by step, on 1 to 3 connections; how it reads
//! (for people) and how it is stored (JSON, for `--session` and the report).

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Bytes written in one `write`.
    Send(Vec<u8>),
    /// `shutdown(SHUT_WR)`: the server reads end of stream; the client still reads.
    HalfClose,
    /// The client closes its socket.
    Close,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub conn: usize,
    pub op: Op,
}

/// The connections are opened in order (0, 1, ...) before the first step; the ones
/// still open are closed by the client after the last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub conns: usize,
    pub steps: Vec<Step>,
}

impl Session {
    /// Bytes sent in all.
    pub fn bytes(&self) -> usize {
        self.steps
            .iter()
            .map(|s| match &s.op {
                Op::Send(b) => b.len(),
                _ => 0,
            })
            .sum()
    }

    /// Whether every step is one a client can take: a known connection, and no write
    /// after that connection's half-close or close.
    pub fn validate(&self) -> Result<()> {
        if self.conns == 0 || self.conns > 64 {
            bail!("a session has 1 to 64 connections, not {}", self.conns);
        }
        let mut done = vec![false; self.conns];
        let mut closed = vec![false; self.conns];
        for (i, s) in self.steps.iter().enumerate() {
            if s.conn >= self.conns {
                bail!("step {}: connection {} of {}", i + 1, s.conn, self.conns);
            }
            if closed[s.conn] {
                bail!("step {}: connection {} is already closed", i + 1, s.conn);
            }
            match s.op {
                Op::Send(_) if done[s.conn] => {
                    bail!("step {}: connection {} was half-closed", i + 1, s.conn)
                }
                Op::Send(_) => {}
                Op::HalfClose => done[s.conn] = true,
                Op::Close => closed[s.conn] = true,
            }
        }
        Ok(())
    }

    pub fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| match &s.op {
                Op::Send(b) => json!({"conn": s.conn, "send": latin1(b)}),
                Op::HalfClose => json!({"conn": s.conn, "half_close": true}),
                Op::Close => json!({"conn": s.conn, "close": true}),
            })
            .collect();
        json!({"conns": self.conns, "steps": steps})
    }

    /// The JSON of [`Session::to_json`]: `send` strings carry one byte per character
    /// (latin-1), as the conformance transcripts do.
    pub fn from_json(v: &Value) -> Result<Session> {
        let conns = v["conns"]
            .as_u64()
            .context("a session needs \"conns\": a number")? as usize;
        let mut steps = Vec::new();
        for (i, s) in v["steps"]
            .as_array()
            .context("a session needs \"steps\": a list")?
            .iter()
            .enumerate()
        {
            let conn = s["conn"]
                .as_u64()
                .with_context(|| format!("step {}: no \"conn\"", i + 1))?
                as usize;
            let op = if let Some(text) = s["send"].as_str() {
                Op::Send(from_latin1(text).with_context(|| format!("step {}", i + 1))?)
            } else if s["half_close"].as_bool() == Some(true) {
                Op::HalfClose
            } else if s["close"].as_bool() == Some(true) {
                Op::Close
            } else {
                bail!(
                    "step {}: neither \"send\", \"half_close\" nor \"close\"",
                    i + 1
                );
            };
            steps.push(Step { conn, op });
        }
        let session = Session { conns, steps };
        session.validate()?;
        Ok(session)
    }

    /// One line a step, for people.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "{} connection{}, {} step{}, {} bytes\n",
            self.conns,
            if self.conns == 1 { "" } else { "s" },
            self.steps.len(),
            if self.steps.len() == 1 { "" } else { "s" },
            self.bytes()
        );
        for (i, s) in self.steps.iter().enumerate() {
            let what = match &s.op {
                Op::Send(b) => format!("send {}", escape(b)),
                Op::HalfClose => "half-close (shutdown SHUT_WR)".to_string(),
                Op::Close => "close".to_string(),
            };
            let _ = writeln!(out, "  step {:>2}  conn {}  {what}", i + 1, s.conn);
        }
        out
    }
}

pub fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| c as char).collect()
}

fn from_latin1(s: &str) -> Result<Vec<u8>> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).map_err(|_| anyhow::anyhow!("{c:?} is not one byte")))
        .collect()
}

/// Bytes as a quoted string a person can read: escapes for control and high bytes, and
/// a run of 8 or more equal bytes as `"a"*1000`.
pub fn escape(b: &[u8]) -> String {
    if b.is_empty() {
        return "\"\"".to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < b.len() {
        let run = b[i..].iter().take_while(|&&c| c == b[i]).count();
        if run >= 8 {
            if !literal.is_empty() {
                parts.push(format!("\"{literal}\""));
                literal.clear();
            }
            parts.push(format!("\"{}\"*{run}", one(b[i])));
            i += run;
        } else {
            literal.push_str(&one(b[i]));
            i += 1;
        }
    }
    if !literal.is_empty() {
        parts.push(format!("\"{literal}\""));
    }
    parts.join(" + ")
}

fn one(c: u8) -> String {
    match c {
        b'\r' => "\\r".into(),
        b'\n' => "\\n".into(),
        b'\t' => "\\t".into(),
        0 => "\\0".into(),
        b'"' => "\\\"".into(),
        b'\\' => "\\\\".into(),
        0x20..=0x7e => (c as char).to_string(),
        _ => format!("\\x{c:02x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_every_byte() {
        let s = Session {
            conns: 2,
            steps: vec![
                Step {
                    conn: 0,
                    op: Op::Send((0..=255).collect()),
                },
                Step {
                    conn: 1,
                    op: Op::HalfClose,
                },
                Step {
                    conn: 0,
                    op: Op::Close,
                },
            ],
        };
        let text = serde_json::to_string(&s.to_json()).unwrap();
        let back = Session::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn invalid_sessions_are_refused_with_the_step() {
        let v = json!({"conns": 1, "steps": [{"conn": 0, "half_close": true}, {"conn": 0, "send": "x"}]});
        let e = Session::from_json(&v).unwrap_err().to_string();
        assert!(e.contains("step 2") && e.contains("half-closed"), "{e}");
        let v = json!({"conns": 1, "steps": [{"conn": 3, "send": "x"}]});
        assert!(Session::from_json(&v).is_err());
        let v = json!({"conns": 1, "steps": [{"conn": 0, "send": "\u{100}"}]});
        assert!(Session::from_json(&v).is_err());
    }

    #[test]
    fn escape_reads_runs_and_control_bytes() {
        let mut b = b"hi\r\n".to_vec();
        b.extend([b'a'; 1000]);
        b.extend([0, 0xff]);
        assert_eq!(escape(&b), "\"hi\\r\\n\" + \"a\"*1000 + \"\\0\\xff\"");
        assert_eq!(escape(b""), "\"\"");
    }
}
