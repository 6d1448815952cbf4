//! A throwaway `redis-server` on a free loopback port, for the tests and the benchmark that
//! need the real engine. Shared by the unit tests (`src/state.rs`), the end-to-end tests and
//! `examples/redis_budget.rs` through `#[path]`, so there is one way to start it.
//!
//! Without the binary the caller is told to skip, except in CI (`CI=true`), where `.ci/run`
//! installs it and a skipped test would hide a broken feature.
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running `redis-server`; killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

/// Why there is no server: skip the test (the message says why), or fail it.
pub enum NoRedis {
    Skip(String),
    Fail(String),
}

impl RedisServer {
    /// Starts one on a free loopback port and waits (bounded) until it answers PING.
    pub fn start() -> Result<RedisServer, NoRedis> {
        let port = free_port().map_err(NoRedis::Fail)?;
        RedisServer::start_on(port)
    }

    /// Starts one on `port` (a restart of a stopped server keeps its address).
    pub fn start_on(port: u16) -> Result<RedisServer, NoRedis> {
        let spawned = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let why = "redis-server is not installed (apt-get install redis-server)".to_owned();
                return Err(if std::env::var("CI").is_ok_and(|v| v == "true") {
                    NoRedis::Fail(format!("{why}; CI must run the Redis tests"))
                } else {
                    NoRedis::Skip(why)
                });
            }
            Err(e) => return Err(NoRedis::Fail(format!("cannot start redis-server: {e}"))),
        };
        let mut server = RedisServer {
            child: Some(child),
            port,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), NoRedis> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ping(self.port) {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(NoRedis::Fail(format!("redis-server exited: {status}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(NoRedis::Fail(
            "redis-server did not answer within 10 s".into(),
        ))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server and waits until it is gone (its port refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether something on `port` answers a Redis PING.
pub fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// For tests: the server, or `None` after printing why the test is skipped; fails the test
/// when Redis must be there.
#[allow(clippy::panic)]
pub fn start_or_skip() -> Option<RedisServer> {
    match RedisServer::start() {
        Ok(r) => Some(r),
        Err(NoRedis::Skip(why)) => {
            eprintln!("SKIPPED: {why}");
            None
        }
        Err(NoRedis::Fail(why)) => panic!("{why}"),
    }
}
