//! Async streams over bufferevents: echo, EOF, errors, timeouts, backpressure both ways,
//! halves in two tasks, cancellation while a read waits, a stream dropped with output
//! unsent, and codecs (tokio_util's LinesCodec through the `tokio` feature's traits).

use futures_util::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libevent::base::LoopExit;
use libevent::bufferevent::Options;
use libevent::task::{self, TcpListener, TcpStream};
use libevent::*;
use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn echo_over_accept_and_connect() {
    let base = EventBase::new().unwrap();
    let got = base
        .block_on(async {
            let mut l = TcpListener::bind(loopback())?;
            let addr = l.local_addr()?;
            let server = task::spawn(async move {
                let mut served = 0;
                let mut incoming = l.incoming();
                while served < 3 {
                    let mut s = incoming.next().await.unwrap()?;
                    task::spawn(async move {
                        let mut buf = vec![0u8; 4096];
                        loop {
                            let n = s.read(&mut buf).await?;
                            if n == 0 {
                                return s.close().await;
                            }
                            s.write_all(&buf[..n]).await?;
                        }
                    })?
                    .detach();
                    served += 1;
                }
                Ok::<_, std::io::Error>(())
            })?;
            let mut all = Vec::new();
            for i in 0..3u8 {
                let mut c = TcpStream::connect(addr).await?;
                assert_eq!(c.peer_addr()?, addr);
                let msg = vec![b'a' + i; 10_000 * (i as usize + 1)];
                c.write_all(&msg).await?;
                c.close().await?; // FIN: the server echoes, then closes too
                let mut back = Vec::new();
                c.read_to_end(&mut back).await?;
                assert_eq!(back, msg);
                all.push(back.len());
            }
            server.await?;
            Ok::<_, std::io::Error>(all)
        })
        .unwrap()
        .unwrap();
    assert_eq!(got, [10_000, 20_000, 30_000]);
}

#[test]
fn a_refused_connection_is_an_io_error() {
    let base = EventBase::new().unwrap();
    // A port nothing listens on: bind, note it, close.
    let addr = std::net::TcpListener::bind(loopback())
        .unwrap()
        .local_addr()
        .unwrap();
    let e = base
        .block_on(TcpStream::connect_on(&base, addr))
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
    // Outside a task, connect says so.
    let e = futures_util::FutureExt::now_or_never(TcpStream::connect(addr))
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("not inside a task"), "{e}");
}

#[test]
fn eof_reads_zero_and_a_reset_is_an_error() {
    let base = EventBase::new().unwrap();
    let l = std::net::TcpListener::bind(loopback()).unwrap();
    let addr = l.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut a, _) = l.accept().unwrap();
        a.write_all(b"bye").unwrap();
        drop(a); // FIN
        let (mut b, _) = l.accept().unwrap();
        b.read_exact(&mut [0u8; 1]).unwrap(); // the client is connected and reading
                                              // RST: linger 0 then close.
        socket2::SockRef::from(&b)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(b);
    });
    let (a, b) = base
        .block_on(async move {
            let mut s = TcpStream::connect(addr).await?;
            let mut got = Vec::new();
            s.read_to_end(&mut got).await?;
            let again = s.read(&mut [0u8; 8]).await?; // EOF stays EOF
            let mut s = TcpStream::connect(addr).await?;
            s.write_all(b"x").await?;
            let r = s.read(&mut [0u8; 8]).await;
            Ok::<_, std::io::Error>(((got, again), r.map_err(|e| e.kind())))
        })
        .unwrap()
        .unwrap();
    peer.join().unwrap();
    assert_eq!(a, (b"bye".to_vec(), 0));
    assert_eq!(b, Err(ErrorKind::ConnectionReset));
}

#[test]
fn a_read_timeout_is_timed_out_once_and_the_stream_goes_on() {
    let base = EventBase::new().unwrap();
    let l = std::net::TcpListener::bind(loopback()).unwrap();
    let addr = l.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut a, _) = l.accept().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        a.write_all(b"late").unwrap();
        let mut buf = [0u8; 1];
        let _ = a.read(&mut buf); // until the client closes
    });
    let (first, then) = base
        .block_on(async move {
            let mut s = TcpStream::connect(addr).await?;
            s.set_timeouts(Some(Duration::from_millis(50)), None)?;
            let t = Instant::now();
            let first = s.read(&mut [0u8; 8]).await.map_err(|e| e.kind());
            // libevent measures from the time cached at the start of a loop pass.
            assert!(
                t.elapsed() >= Duration::from_millis(40),
                "{:?}",
                t.elapsed()
            );
            s.set_timeouts(None, None)?;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>((first, buf))
        })
        .unwrap()
        .unwrap();
    peer.join().unwrap();
    assert_eq!(first, Err(ErrorKind::TimedOut));
    assert_eq!(&then, b"late");
}

#[test]
fn a_writer_waits_above_the_high_water_mark_and_every_byte_arrives() {
    let base = EventBase::new().unwrap();
    let l = std::net::TcpListener::bind(loopback()).unwrap();
    let addr = l.local_addr().unwrap();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    const TOTAL: usize = 8 << 20;
    let peer = std::thread::spawn(move || {
        let (mut a, _) = l.accept().unwrap();
        go_rx.recv().unwrap(); // not reading until told
        let mut got = Vec::with_capacity(TOTAL);
        a.read_to_end(&mut got).unwrap();
        got
    });
    let most_queued = Rc::new(Cell::new(0usize));
    let m = most_queued.clone();
    base.block_on(async move {
        let mut s = TcpStream::connect(addr).await?;
        s.set_write_high_water(100_000)?;
        let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        let mut stalled_at = None;
        while sent < TOTAL {
            let chunk = &data[sent..(sent + 10_000).min(TOTAL)];
            // The peer reads nothing yet: a write must stall once the kernel and our
            // output buffer are full.
            match task::timeout(Duration::from_millis(200), s.write(chunk)).await {
                Ok(n) => sent += n?,
                Err(_) => {
                    stalled_at.get_or_insert(sent);
                    go_tx.send(()).ok();
                }
            }
            m.set(m.get().max(s.buffered_output()));
        }
        assert!(stalled_at.is_some(), "the writer never waited");
        s.close().await
    })
    .unwrap()
    .unwrap();
    let got = peer.join().unwrap();
    assert_eq!(got.len(), TOTAL);
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    // Queued output stays near the mark: under it plus one write.
    assert!(
        most_queued.get() < 100_000 + 10_000,
        "{}",
        most_queued.get()
    );
}

#[test]
fn reading_pauses_at_the_read_limit_and_resumes() {
    let base = EventBase::new().unwrap();
    let l = std::net::TcpListener::bind(loopback()).unwrap();
    let addr = l.local_addr().unwrap();
    const TOTAL: usize = 1 << 20;
    let peer = std::thread::spawn(move || {
        let (mut a, _) = l.accept().unwrap();
        let data: Vec<u8> = (0..TOTAL).map(|i| (i % 253) as u8).collect();
        a.write_all(&data).unwrap();
    });
    let (held, got) = base
        .block_on(async move {
            let mut s = TcpStream::connect(addr).await?;
            s.set_read_limit(50_000);
            // Not reading: the input fills up to the limit (however slowly the peer's
            // bytes come: valgrind can take more than 300 ms to start sending them)...
            let start = std::time::Instant::now();
            while s.buffered_input() < 50_000 && start.elapsed() < Duration::from_secs(20) {
                task::sleep(Duration::from_millis(10)).await;
            }
            // ...and stays bounded there: reading is paused, not merely slow.
            task::sleep(Duration::from_millis(200)).await;
            let held = s.buffered_input();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await?;
            Ok::<_, std::io::Error>((held, got))
        })
        .unwrap()
        .unwrap();
    peer.join().unwrap();
    assert!((50_000..50_000 + 65_536).contains(&held), "{held}");
    assert_eq!(got.len(), TOTAL);
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 253) as u8));
}

#[test]
fn halves_in_two_tasks() {
    let base = EventBase::new().unwrap();
    let (a, b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let (a, b) = (
        TcpStream::from_bufferevent(a).unwrap(),
        TcpStream::from_bufferevent(b).unwrap(),
    );
    let (mut ar, mut aw) = a.into_split();
    let (mut br, mut bw) = b.into_split();
    let echo = base
        .spawn_local(async move {
            let mut buf = [0u8; 64];
            let mut n = 0;
            while n < 6 {
                n += br.read(&mut buf[n..]).await?;
            }
            bw.write_all(&buf[..n]).await?;
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    let got = base
        .block_on(async move {
            let writer = task::spawn(async move { aw.write_all(b"halves").await })?;
            let mut buf = [0u8; 6];
            ar.read_exact(&mut buf).await?;
            writer.await?;
            echo.await?;
            Ok::<_, std::io::Error>(buf)
        })
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"halves");
}

#[test]
fn cancelling_a_task_while_its_read_waits() {
    let base = EventBase::new().unwrap();
    let l = std::net::TcpListener::bind(loopback()).unwrap();
    let addr = l.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut a, _) = l.accept().unwrap();
        let mut buf = Vec::new();
        a.read_to_end(&mut buf).unwrap(); // returns when the client's socket closes
        buf
    });
    let reading = Rc::new(Cell::new(false));
    let r = reading.clone();
    let h = base
        .spawn_local(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            r.set(true);
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf).await; // never completes: the peer sends nothing
            unreachable!("the peer sent nothing");
        })
        .unwrap();
    while !reading.get() {
        base.run(LoopFlags::ONCE).unwrap();
    }
    drop(h); // cancels: the stream is dropped
             // libevent 2.1 closes a freed bufferevent's socket from the loop (a finalizer).
    assert_eq!(base.dispatch().unwrap(), LoopExit::NoEvents);
    assert_eq!(peer.join().unwrap(), b"");
}

#[test]
fn a_stream_dropped_with_output_unsent_is_flushed_in_the_background() {
    let base = EventBase::new().unwrap();
    let l = std::net::TcpListener::bind(loopback()).unwrap();
    let addr = l.local_addr().unwrap();
    const TOTAL: usize = 32 << 20; // more than loopback's socket buffers hold
    let peer = std::thread::spawn(move || {
        let (mut a, _) = l.accept().unwrap();
        std::thread::sleep(Duration::from_millis(200)); // the client has dropped by now
        let mut got = Vec::new();
        a.read_to_end(&mut got).unwrap();
        got
    });
    let queued = base
        .block_on(async move {
            let mut s = TcpStream::connect(addr).await?;
            s.set_write_high_water(TOTAL + 1)?;
            s.write_all(&vec![7u8; TOTAL]).await?;
            let queued = s.buffered_output();
            drop(s); // not closed: the rest goes out while the loop runs
            Ok::<_, std::io::Error>(queued)
        })
        .unwrap()
        .unwrap();
    assert!(queued > 0, "the test needs output still queued at the drop");
    base.dispatch().unwrap(); // runs until the lingering stream is written and freed
    let got = peer.join().unwrap();
    assert_eq!(got.len(), TOTAL);
}

#[test]
fn a_dropped_stream_whose_peer_never_reads_is_closed_after_the_write_timeout() {
    let base = EventBase::new().unwrap();
    let l = std::net::TcpListener::bind(loopback()).unwrap();
    let addr = l.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (a, _) = l.accept().unwrap();
        std::thread::sleep(Duration::from_millis(800));
        drop(a);
    });
    base.block_on(async move {
        let mut s = TcpStream::connect(addr).await?;
        s.set_timeouts(None, Some(Duration::from_millis(100)))?;
        s.set_write_high_water(64 << 20)?;
        s.write_all(&vec![1u8; 32 << 20]).await?; // far more than the socket holds
        Ok::<_, std::io::Error>(())
    })
    .unwrap()
    .unwrap();
    let t = Instant::now();
    base.dispatch().unwrap(); // ends when the lingering stream gives up
    assert!(
        t.elapsed() < Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    peer.join().unwrap();
}

#[cfg(feature = "tokio")]
#[test]
fn lines_codec_over_a_stream() {
    use futures_util::SinkExt;
    use tokio_util::codec::{Framed, LinesCodec};
    let base = EventBase::new().unwrap();
    let got = base
        .block_on(async {
            let mut l = TcpListener::bind(loopback())?;
            let addr = l.local_addr()?;
            task::spawn(async move {
                let (s, _) = l.accept().await.unwrap();
                let mut lines = Framed::new(s, LinesCodec::new());
                while let Some(Ok(line)) = lines.next().await {
                    lines.send(line.to_uppercase()).await.unwrap();
                }
            })?
            .detach();
            let s = TcpStream::connect(addr).await?;
            let mut lines = Framed::new(s, LinesCodec::new());
            let mut got = Vec::new();
            for w in ["one", "two", "three"] {
                lines.send(w).await.unwrap();
                got.push(lines.next().await.unwrap().unwrap());
            }
            Ok::<_, std::io::Error>(got)
        })
        .unwrap()
        .unwrap();
    assert_eq!(got, ["ONE", "TWO", "THREE"]);
    // The server task still waits for its client's end of stream, holding a stream
    // made on the base (and so the base): cancel it.
    assert_eq!(base.tasks(), 1);
    base.cancel_tasks();
    assert_eq!(base.tasks(), 0);
}

#[test]
fn thousands_of_connections_as_tasks() {
    let base = EventBase::new().unwrap();
    const N: usize = 2_000;
    let total = base
        .block_on(async {
            let mut l = TcpListener::bind(loopback())?;
            let addr = l.local_addr()?;
            task::spawn(async move {
                for _ in 0..N {
                    let (mut s, _) = l.accept().await.unwrap();
                    task::spawn(async move {
                        let mut b = [0u8; 8];
                        s.read_exact(&mut b).await.unwrap();
                        s.write_all(&b).await.unwrap();
                        s.close().await.unwrap();
                    })
                    .unwrap()
                    .detach();
                }
            })?
            .detach();
            let clients: Vec<_> = (0..N as u64)
                .map(|i| {
                    task::spawn(async move {
                        let mut c = TcpStream::connect(addr).await?;
                        c.write_all(&i.to_le_bytes()).await?;
                        let mut b = [0u8; 8];
                        c.read_exact(&mut b).await?;
                        Ok::<_, std::io::Error>(u64::from_le_bytes(b))
                    })
                    .unwrap()
                })
                .collect();
            let mut total = 0;
            for c in clients {
                total += c.await?;
            }
            Ok::<_, std::io::Error>(total)
        })
        .unwrap()
        .unwrap();
    assert_eq!(total, (N as u64) * (N as u64 - 1) / 2);
}
