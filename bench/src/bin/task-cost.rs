//! task-cost: what one spawn and one wake cost on the safe crate's executor
//! (`EventBase::spawn_local`, wakes through libevent events) against tokio's
//! current_thread runtime (`spawn_local` on a `LocalSet`), in ns per operation.
//!
//! ```text
//! cargo run --release -p bench --bin task-cost -- [--samples 15] [--n 200000]
//! ```
//!
//! Each figure is the median of the samples (min and max beside it), after one warm-up
//! sample. The operations:
//! - spawn: spawn a task that returns at once, run it, await its handle;
//! - wake (self): a task wakes itself and returns Pending, and is polled again (a yield);
//! - wake (other): two tasks hand a turn back and forth through a shared cell, each
//!   waking the other (one wake and one poll per turn).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Pending once after waking itself: one wake and one extra poll.
struct Yield(bool);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Whose turn it is, and who waits for it.
#[derive(Default)]
struct Turn {
    turn: Cell<u8>,
    waiter: Cell<Option<Waker>>,
}

/// Waits until it is `me`'s turn.
fn my_turn(t: &Turn, me: u8) -> impl Future<Output = ()> + '_ {
    std::future::poll_fn(move |cx| {
        if t.turn.get() == me {
            return Poll::Ready(());
        }
        t.waiter.set(Some(cx.waker().clone()));
        Poll::Pending
    })
}

fn give_turn(t: &Turn, to: u8) {
    t.turn.set(to);
    if let Some(w) = t.waiter.take() {
        w.wake();
    }
}

/// Two tasks taking `n` turns each; returns the time.
async fn ping_pong<S, H>(n: u64, spawn: S) -> std::time::Duration
where
    S: Fn(Pin<Box<dyn Future<Output = ()>>>) -> H,
    H: Future<Output = ()>,
{
    let t = Rc::new(Turn::default());
    let start = Instant::now();
    let mut hs = Vec::new();
    for me in 0..2u8 {
        let t = t.clone();
        hs.push(spawn(Box::pin(async move {
            for _ in 0..n {
                my_turn(&t, me).await;
                give_turn(&t, 1 - me);
            }
        })));
    }
    for h in hs {
        h.await;
    }
    start.elapsed()
}

struct Figures {
    spawn: Vec<f64>,
    wake_self: Vec<f64>,
    wake_other: Vec<f64>,
}

fn libevent_sample(n: u64) -> (f64, f64, f64) {
    let base = libevent::EventBase::new().expect("event base");
    let b = base.clone();
    base.block_on(async move {
        let start = Instant::now();
        for i in 0..n {
            let h = b.spawn_local(async move { i }).expect("spawn");
            std::hint::black_box(h.await);
        }
        let spawn = start.elapsed().as_nanos() as f64 / n as f64;
        let start = Instant::now();
        for _ in 0..n {
            Yield(false).await;
        }
        let wake = start.elapsed().as_nanos() as f64 / n as f64;
        let b2 = b.clone();
        let d = ping_pong(n, move |f| b2.spawn_local(f).expect("spawn")).await;
        (spawn, wake, d.as_nanos() as f64 / (2 * n) as f64)
    })
    .expect("block_on")
}

fn tokio_sample(n: u64) -> (f64, f64, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let start = Instant::now();
        for i in 0..n {
            let h = tokio::task::spawn_local(async move { i });
            std::hint::black_box(h.await.expect("join"));
        }
        let spawn = start.elapsed().as_nanos() as f64 / n as f64;
        let start = Instant::now();
        for _ in 0..n {
            Yield(false).await;
        }
        let wake = start.elapsed().as_nanos() as f64 / n as f64;
        let d = ping_pong(n, |f| {
            let h = tokio::task::spawn_local(f);
            async move { h.await.expect("join") }
        })
        .await;
        (spawn, wake, d.as_nanos() as f64 / (2 * n) as f64)
    })
}

fn run(samples: usize, n: u64, sample: fn(u64) -> (f64, f64, f64)) -> Figures {
    sample(n / 10); // warm-up
    let mut f = Figures {
        spawn: Vec::new(),
        wake_self: Vec::new(),
        wake_other: Vec::new(),
    };
    for _ in 0..samples {
        let (s, w, o) = sample(n);
        f.spawn.push(s);
        f.wake_self.push(w);
        f.wake_other.push(o);
    }
    f
}

/// "median (min..max)".
fn show(v: &mut [f64]) -> (f64, String) {
    v.sort_by(f64::total_cmp);
    let med = v[v.len() / 2];
    (
        med,
        format!("{med:.0} ({:.0}..{:.0})", v[0], v[v.len() - 1]),
    )
}

fn main() -> Result<(), String> {
    /// The command line.
    #[derive(clap::Parser)]
    #[command(about = "What a task costs on the loop, against a plain callback")]
    struct Cli {
        #[arg(long, default_value_t = 15)]
        samples: usize,
        /// Wake-ups per sample.
        #[arg(long, default_value_t = 200_000)]
        n: u64,
    }
    let Cli { samples, n } = <Cli as clap::Parser>::parse();
    if samples == 0 || n < 10 {
        return Err("--samples must be at least 1 and --n at least 10".into());
    }
    let mut ours = run(samples, n, libevent_sample);
    let mut theirs = run(samples, n, tokio_sample);
    println!(
        "task-cost: {samples} samples of {n} operations; ns per operation, median (min..max)\n"
    );
    println!("| operation | libevent executor | tokio current_thread | ratio |");
    println!("|---|---|---|---|");
    for (name, a, b) in [
        ("spawn + run + join", &mut ours.spawn, &mut theirs.spawn),
        (
            "wake (self) + poll",
            &mut ours.wake_self,
            &mut theirs.wake_self,
        ),
        (
            "wake (other task) + poll",
            &mut ours.wake_other,
            &mut theirs.wake_other,
        ),
    ] {
        let ((ma, sa), (mb, sb)) = (show(a), show(b));
        println!("| {name} | {sa} | {sb} | {:.2} |", ma / mb);
    }
    Ok(())
}
