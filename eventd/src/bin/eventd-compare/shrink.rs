//! Makes a failing session smaller while it still fails: fewer connections, fewer
//! steps, shorter writes, fewer distinct bytes; greedy, each accepted change starting
//! the search again, within a budget of runs.

use crate::session::{Op, Session, Step};
use anyhow::Result;

/// The smallest session found that `fails`, and how many runs it took.
pub fn shrink(
    mut session: Session,
    budget: usize,
    mut fails: impl FnMut(&Session) -> Result<bool>,
) -> Result<(Session, usize)> {
    let mut runs = 0;
    'search: loop {
        for candidate in candidates(&session) {
            if runs >= budget {
                break 'search;
            }
            if candidate.validate().is_err() || candidate == session {
                continue;
            }
            runs += 1;
            if fails(&candidate)? {
                session = candidate;
                continue 'search;
            }
        }
        break;
    }
    Ok((session, runs))
}

/// Smaller sessions, the largest cuts first.
fn candidates(s: &Session) -> Vec<Session> {
    let mut out = Vec::new();
    // Drop a connection and its steps.
    if s.conns > 1 {
        for c in 0..s.conns {
            let steps = s
                .steps
                .iter()
                .filter(|st| st.conn != c)
                .map(|st| Step {
                    conn: if st.conn > c { st.conn - 1 } else { st.conn },
                    op: st.op.clone(),
                })
                .collect();
            out.push(Session {
                conns: s.conns - 1,
                steps,
            });
        }
    }
    // Drop half of the steps, then one.
    let n = s.steps.len();
    if n > 1 {
        out.push(Session {
            conns: s.conns,
            steps: s.steps[..n / 2].to_vec(),
        });
        out.push(Session {
            conns: s.conns,
            steps: s.steps[n / 2..].to_vec(),
        });
        for i in 0..n {
            let mut steps = s.steps.clone();
            steps.remove(i);
            out.push(Session {
                conns: s.conns,
                steps,
            });
        }
    }
    // Join two writes in a row on one connection.
    for i in 0..n.saturating_sub(1) {
        if let (Op::Send(a), Op::Send(b)) = (&s.steps[i].op, &s.steps[i + 1].op) {
            if s.steps[i].conn == s.steps[i + 1].conn {
                let mut steps = s.steps.clone();
                let mut joined = a.clone();
                joined.extend_from_slice(b);
                steps[i].op = Op::Send(joined);
                steps.remove(i + 1);
                out.push(Session {
                    conns: s.conns,
                    steps,
                });
            }
        }
    }
    // Shorter writes: halves, then a byte less anywhere (short writes only).
    for (i, st) in s.steps.iter().enumerate() {
        let Op::Send(b) = &st.op else { continue };
        let mut with = |bytes: Vec<u8>| {
            let mut steps = s.steps.clone();
            steps[i].op = Op::Send(bytes);
            out.push(Session {
                conns: s.conns,
                steps,
            });
        };
        if b.len() > 1 {
            with(b[..b.len() / 2].to_vec());
            with(b[b.len() / 2..].to_vec());
            with(b[..b.len() - b.len() / 4].to_vec());
            with(b[b.len() / 4..].to_vec());
        }
        if b.len() <= 64 {
            for j in 0..b.len() {
                let mut shorter = b.clone();
                shorter.remove(j);
                with(shorter);
            }
        } else {
            with(b[..b.len() - 1].to_vec());
            with(b[1..].to_vec());
        }
    }
    // Simpler bytes: `a` for every byte the framing does not single out (line ends,
    // what trim removes, "0").
    for (i, st) in s.steps.iter().enumerate() {
        let Op::Send(b) = &st.op else { continue };
        let simpler: Vec<u8> = b
            .iter()
            .map(|&c| {
                if b" \t\r\n\0\x0b0".contains(&c) {
                    c
                } else {
                    b'a'
                }
            })
            .collect();
        if simpler != *b {
            let mut steps = s.steps.clone();
            steps[i].op = Op::Send(simpler);
            out.push(Session {
                conns: s.conns,
                steps,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate;

    fn longest_send(s: &Session) -> usize {
        s.steps
            .iter()
            .filter_map(|st| match &st.op {
                Op::Send(b) => Some(b.len()),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_session_shrinks_to_the_smallest_that_still_fails() {
        // "Fails" when one write carries more than 8 bytes: the smallest such session
        // is one connection, one step, 9 bytes.
        let mut tried = 0;
        for i in 0..200 {
            let s = generate::session(3, i);
            if longest_send(&s) <= 8 {
                continue;
            }
            tried += 1;
            let (small, runs) = shrink(s.clone(), 10_000, |c| Ok(longest_send(c) > 8)).unwrap();
            assert_eq!(small.conns, 1, "{}", small.describe());
            assert_eq!(small.steps.len(), 1, "{}", small.describe());
            assert_eq!(small.bytes(), 9, "{}", small.describe());
            assert!(runs > 0);
        }
        assert!(tried > 50);
    }

    #[test]
    fn the_budget_bounds_the_runs_and_a_passing_change_is_not_kept() {
        let s = generate::session(4, 1);
        let (same, runs) = shrink(s.clone(), 5, |_| Ok(false)).unwrap();
        assert_eq!(same, s);
        assert!(runs <= 5);
    }
}
