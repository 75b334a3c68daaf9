//! A small SMTP server for the tests: it runs inside the test process on a loopback port,
//! speaks enough SMTP for any client (EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT) and keeps every message it accepts. It can be told to
//! be down, to defer messages (4xx), to refuse them (5xx), to refuse the whole session
//! (554 greeting, failed AUTH, refused sender) or to answer nothing at all (a tarpit).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How the sink answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Accept every message.
    Accept,
    /// Close every connection at once, before the greeting: an outage.
    Down,
    /// Take the message, then answer `451` (try again later).
    Defer,
    /// Refuse every recipient with `550`, echoing the address as real servers do.
    Refuse,
    /// Greet with `554` (no service here): the session is refused before any email.
    Greet554,
    /// Refuse every login with `535`.
    AuthFail,
    /// Refuse every sender with `550`.
    RefuseSender,
    /// Accept the connection and never say a word.
    Tarpit,
    /// Accept one message per session, then answer the next `MAIL FROM` with `421` and close
    /// (as servers that cap their sessions do).
    OnePerSession,
}

/// One message the sink received.
#[derive(Clone, Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
    /// `user\0password` if the client logged in.
    pub login: Option<String>,
}

struct Inner {
    port: u16,
    mode: Mutex<Mode>,
    accepted: Mutex<Vec<Received>>,
    deferred: Mutex<Vec<Received>>,
    connections: AtomicUsize,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

/// A running SMTP sink; clones share it.
#[derive(Clone)]
pub struct SmtpSink(Arc<Inner>);

impl SmtpSink {
    /// Starts a sink on a free loopback port.
    pub async fn start() -> SmtpSink {
        Self::start_on(0).await
    }

    /// Starts a sink on `port` (0 picks a free one).
    pub async fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let inner = Arc::new(Inner {
            port: listener.local_addr().unwrap().port(),
            mode: Mutex::new(Mode::Accept),
            accepted: Mutex::new(Vec::new()),
            deferred: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            task: Mutex::new(None),
        });
        let weak = Arc::downgrade(&inner);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Some(inner) = weak.upgrade() else { return };
                inner.connections.fetch_add(1, Ordering::SeqCst);
                if *inner.mode.lock().unwrap() == Mode::Down {
                    drop(stream);
                    continue;
                }
                tokio::spawn(async move {
                    let _ = session(stream, &inner).await;
                });
            }
        });
        *inner.task.lock().unwrap() = Some(task);
        SmtpSink(inner)
    }

    pub fn port(&self) -> u16 {
        self.0.port
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.0.mode.lock().unwrap() = mode;
    }

    /// Every message accepted so far, oldest first.
    pub fn accepted(&self) -> Vec<Received> {
        self.0.accepted.lock().unwrap().clone()
    }

    /// Every message answered with 451 after its upload, oldest first.
    pub fn deferred(&self) -> Vec<Received> {
        self.0.deferred.lock().unwrap().clone()
    }

    /// How many connections were opened to the sink, whatever their fate.
    pub fn connections(&self) -> usize {
        self.0.connections.load(Ordering::SeqCst)
    }
}

async fn session(stream: TcpStream, inner: &Inner) -> std::io::Result<()> {
    let mode = *inner.mode.lock().unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    match mode {
        Mode::Tarpit => {
            // Hold the connection until the client gives up on it.
            let mut sink = Vec::new();
            while lines.read_until(b'\n', &mut sink).await? > 0 {}
            return Ok(());
        }
        Mode::Greet554 => {
            write
                .write_all(b"554 5.3.2 sink.test no service\r\n")
                .await?;
            let mut rest = Vec::new();
            while lines.read_until(b'\n', &mut rest).await? > 0 {
                write.write_all(b"503 5.5.1 no service\r\n").await?;
            }
            return Ok(());
        }
        _ => write.write_all(b"220 sink.test ESMTP ready\r\n").await?,
    }
    let mut login = None;
    let mut accepted_here = 0;
    let mut mail_from = None;
    let mut rcpt_to = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let upper = text.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-sink.test\r\n250-AUTH PLAIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n".into()
        } else if upper.starts_with("HELO") {
            "250 sink.test\r\n".into()
        } else if upper.starts_with("AUTH") && mode == Mode::AuthFail {
            "535 5.7.8 authentication credentials invalid\r\n".into()
        } else if upper.starts_with("AUTH PLAIN") {
            let mut encoded = text[10..].trim().to_owned();
            if encoded.is_empty() {
                write.write_all(b"334 \r\n").await?;
                let mut answer = Vec::new();
                lines.read_until(b'\n', &mut answer).await?;
                encoded = String::from_utf8_lossy(&answer).trim().to_owned();
            }
            match base64::engine::general_purpose::STANDARD.decode(encoded) {
                Ok(bytes) => {
                    // `authzid \0 user \0 password`: keep `user\0password`.
                    let plain = String::from_utf8_lossy(&bytes).into_owned();
                    login = Some(
                        plain
                            .split_once('\0')
                            .map_or(plain.clone(), |(_, r)| r.into()),
                    );
                    "235 2.7.0 authenticated\r\n".into()
                }
                Err(_) => "501 5.5.2 bad base64\r\n".into(),
            }
        } else if upper.starts_with("MAIL FROM:")
            && mode == Mode::OnePerSession
            && accepted_here > 0
        {
            write
                .write_all(b"421 4.7.0 sink.test one message per session, closing\r\n")
                .await?;
            return Ok(());
        } else if upper.starts_with("MAIL FROM:") && mode == Mode::RefuseSender {
            format!("550 5.7.1 <{}>: sender rejected\r\n", address(&text[10..]))
        } else if upper.starts_with("MAIL FROM:") {
            mail_from = Some(address(&text[10..]));
            rcpt_to.clear();
            "250 2.1.0 ok\r\n".into()
        } else if upper.starts_with("RCPT TO:") {
            if *inner.mode.lock().unwrap() == Mode::Refuse {
                format!(
                    "550 5.1.1 <{}>: Recipient address rejected: mailbox unavailable\r\n",
                    address(&text[8..])
                )
            } else if mail_from.is_none() {
                "503 5.5.1 MAIL first\r\n".into()
            } else {
                rcpt_to.push(address(&text[8..]));
                "250 2.1.5 ok\r\n".into()
            }
        } else if upper == "DATA" {
            if rcpt_to.is_empty() {
                "503 5.5.1 RCPT first\r\n".into()
            } else {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let data = read_data(&mut lines).await?;
                let received = Received {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                    login: login.clone(),
                };
                if *inner.mode.lock().unwrap() == Mode::Defer {
                    inner.deferred.lock().unwrap().push(received);
                    "451 4.3.0 try again later\r\n".into()
                } else {
                    accepted_here += 1;
                    let mut accepted = inner.accepted.lock().unwrap();
                    accepted.push(received);
                    format!("250 2.0.0 Ok: queued as SINK{}\r\n", accepted.len())
                }
            }
        } else if upper == "RSET" {
            mail_from = None;
            rcpt_to.clear();
            "250 2.0.0 ok\r\n".into()
        } else if upper == "NOOP" {
            "250 2.0.0 ok\r\n".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 command not recognized\r\n".into()
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// The message up to the line holding a single dot, with leading dots unstuffed.
async fn read_data(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(data);
        }
        let unstuffed = if line.starts_with(b".") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(unstuffed);
    }
}

/// `<a@b> SIZE=1` → `a@b`.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    let inside = arg
        .strip_prefix('<')
        .and_then(|rest| rest.split_once('>'))
        .map_or(arg, |(address, _)| address);
    inside.to_owned()
}
