//! One SMTP session (RFC 5321 with AUTH PLAIN/LOGIN from RFC 4954): enough of a relay for
//! lettre to talk to unchanged, with the `smtp` faults applied at the step they name.

use std::io;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::SmtpConfig;
use super::mail::{RecordedMail, split};
use crate::state::AppState;

/// Longest command line accepted (RFC 5321 says 512; AUTH lines can be longer).
const MAX_COMMAND: usize = 4096;
/// Largest message accepted, as advertised in EHLO.
const MAX_MESSAGE: usize = 50 * 1024 * 1024;

/// Whether the session goes on after a command.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

pub(crate) struct Session {
    state: AppState,
    config: SmtpConfig,
    listener: &'static str,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    user: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

/// Serves one connection to `listener` until QUIT, a drop fault, or the client leaving.
pub(crate) async fn serve(
    stream: TcpStream,
    listener: &'static str,
    state: AppState,
    config: SmtpConfig,
) {
    if state.with_smtp_faults(|f| f.down.iter().any(|l| l == listener)) {
        return; // Dropping the stream closes it before the greeting, as a dead relay would.
    }
    let (read, writer) = stream.into_split();
    let mut session = Session {
        state,
        config,
        listener,
        reader: BufReader::new(read),
        writer,
        user: None,
        mail_from: None,
        rcpt_to: Vec::new(),
    };
    if let Err(error) = session.run().await {
        tracing::debug!(%error, listener, "SMTP session ended with an I/O error");
    }
}

impl Session {
    async fn run(&mut self) -> io::Result<()> {
        self.reply("220 sandbox.switchyard ESMTP Switchyard provider sandbox")
            .await?;
        while let Some(line) = self.read_line(MAX_COMMAND).await? {
            let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            if self.command(&verb.to_ascii_uppercase(), arg.trim()).await? == Flow::Close {
                break;
            }
        }
        Ok(())
    }

    async fn command(&mut self, verb: &str, arg: &str) -> io::Result<Flow> {
        match verb {
            "EHLO" => {
                let lines = "250-sandbox.switchyard\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n";
                self.reply(&format!("{lines}250 SIZE {MAX_MESSAGE}"))
                    .await?;
            }
            "HELO" => self.reply("250 sandbox.switchyard").await?,
            "AUTH" => self.auth(arg).await?,
            "MAIL" => self.mail(arg).await?,
            "RCPT" => self.rcpt(arg).await?,
            "DATA" => return self.data().await,
            "RSET" => {
                self.reset();
                self.reply("250 2.0.0 Ok").await?;
            }
            "NOOP" => self.reply("250 2.0.0 Ok").await?,
            "QUIT" => {
                self.reply("221 2.0.0 Bye").await?;
                return Ok(Flow::Close);
            }
            "STARTTLS" => {
                self.reply("502 5.5.1 the sandbox speaks plain SMTP; use tls=none")
                    .await?
            }
            _ => self.reply("500 5.5.2 command not recognised").await?,
        }
        Ok(Flow::Continue)
    }

    async fn auth(&mut self, arg: &str) -> io::Result<()> {
        let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
        let credentials = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = match initial {
                    "" => self.challenge("").await?,
                    given => given.to_owned(),
                };
                // authzid \0 authcid \0 password
                let decoded = decode(&response);
                let mut parts = decoded.splitn(3, '\0').skip(1);
                parts
                    .next()
                    .zip(parts.next())
                    .map(|(u, p)| (u.to_owned(), p.to_owned()))
            }
            "LOGIN" => {
                let user = match initial {
                    "" => decode(&self.challenge("VXNlcm5hbWU6").await?),
                    given => decode(given),
                };
                let password = decode(&self.challenge("UGFzc3dvcmQ6").await?);
                Some((user, password))
            }
            _ => return self.reply("504 5.5.4 only AUTH PLAIN and LOGIN").await,
        };
        let refused = self.fault(|f| f.auth_fail).unwrap_or(false);
        match credentials {
            Some((user, password)) if !refused && self.config.accepts(&user, &password) => {
                self.user = Some(user);
                self.reply("235 2.7.0 Authentication successful").await
            }
            _ => {
                self.reply("535 5.7.8 Authentication credentials invalid")
                    .await
            }
        }
    }

    async fn challenge(&mut self, prompt: &str) -> io::Result<String> {
        self.reply(&format!("334 {prompt}")).await?;
        Ok(self.read_line(MAX_COMMAND).await?.unwrap_or_default())
    }

    async fn mail(&mut self, arg: &str) -> io::Result<()> {
        match path(arg, "FROM:") {
            Some(from) => {
                self.reset();
                self.mail_from = Some(from);
                self.reply("250 2.1.0 Ok").await
            }
            None => self.reply("501 5.5.4 expected MAIL FROM:<address>").await,
        }
    }

    async fn rcpt(&mut self, arg: &str) -> io::Result<()> {
        if self.mail_from.is_none() {
            return self.reply("503 5.5.1 MAIL first").await;
        }
        let Some(to) = path(arg, "TO:") else {
            return self.reply("501 5.5.4 expected RCPT TO:<address>").await;
        };
        if let Some(code) = self.fault(|f| pop(&mut f.rcpt_replies)).flatten() {
            return self
                .reply(&format!(
                    "{code} {} injected fault for <{to}>",
                    enhanced(code, "1.1")
                ))
                .await;
        }
        self.rcpt_to.push(to);
        self.reply("250 2.1.5 Ok").await
    }

    async fn data(&mut self) -> io::Result<Flow> {
        if self.rcpt_to.is_empty() {
            self.reply("503 5.5.1 RCPT first").await?;
            return Ok(Flow::Continue);
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let Some(message) = self.read_message().await? else {
            return Ok(Flow::Close);
        };
        let delay = self.fault(|f| f.data_delay_ms).unwrap_or(0);
        if delay > 0 && !self.state.pause(Duration::from_millis(delay)).await {
            return Ok(Flow::Close);
        }
        if let Some(code) = self.fault(|f| pop(&mut f.data_replies)).flatten() {
            self.reset();
            self.reply(&format!("{code} {} injected fault", enhanced(code, "3.0")))
                .await?;
            return Ok(Flow::Continue);
        }
        let drop = self
            .fault(|f| take_one(&mut f.drop_after_data))
            .unwrap_or(false);
        let queue_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_ascii_uppercase();
        self.record(&message, &queue_id, !drop);
        self.reset();
        if drop {
            return Ok(Flow::Close);
        }
        self.reply(&format!("250 2.0.0 Ok: queued as {queue_id}"))
            .await?;
        Ok(Flow::Continue)
    }

    /// Reads the content up to the lone `.`, undoing dot-stuffing. `None` if the client left
    /// or sent more than the advertised size.
    async fn read_message(&mut self) -> io::Result<Option<String>> {
        let mut message = String::new();
        loop {
            let Some(line) = self.read_line(MAX_MESSAGE).await? else {
                return Ok(None);
            };
            if line == "." {
                return Ok(Some(message));
            }
            message.push_str(line.strip_prefix('.').unwrap_or(&line));
            message.push_str("\r\n");
            if message.len() > MAX_MESSAGE {
                self.reply("552 5.3.4 message too big").await?;
                return Ok(None);
            }
        }
    }

    fn record(&self, message: &str, queue_id: &str, answered: bool) {
        let (headers, body) = split(message);
        self.state.mail.push(RecordedMail {
            seq: 0,
            listener: self.listener.to_owned(),
            authenticated_as: self.user.clone(),
            mail_from: self.mail_from.clone().unwrap_or_default(),
            rcpt_to: self.rcpt_to.clone(),
            headers,
            body,
            queue_id: queue_id.to_owned(),
            answered,
            received_at: chrono::Utc::now(),
        });
    }

    /// Reads the SMTP faults, when they apply to this listener.
    fn fault<R>(&self, f: impl FnOnce(&mut super::SmtpFaults) -> R) -> Option<R> {
        let listener = self.listener;
        self.state
            .with_smtp_faults(|faults| faults.applies_to(listener).then(|| f(faults)))
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    /// One line without its CRLF; `None` at end of stream or past `limit` bytes.
    async fn read_line(&mut self, limit: usize) -> io::Result<Option<String>> {
        let mut buffer = Vec::new();
        let read = (&mut self.reader)
            .take(limit as u64 + 2)
            .read_until(b'\n', &mut buffer)
            .await?;
        if read == 0 || !buffer.ends_with(b"\n") {
            return Ok(None);
        }
        let line = String::from_utf8_lossy(&buffer);
        Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
    }

    async fn reply(&mut self, text: &str) -> io::Result<()> {
        self.writer
            .write_all(format!("{text}\r\n").as_bytes())
            .await?;
        self.writer.flush().await
    }
}

/// The address in `FROM:<a@b>` / `TO:<a@b>` (parameters after it ignored).
fn path(arg: &str, prefix: &str) -> Option<String> {
    let rest = arg
        .get(..prefix.len())?
        .eq_ignore_ascii_case(prefix)
        .then(|| &arg[prefix.len()..])?;
    let rest = rest.trim_start();
    let inner = rest.strip_prefix('<')?.split_once('>')?.0;
    Some(inner.to_owned())
}

fn pop(codes: &mut Vec<u16>) -> Option<u16> {
    (!codes.is_empty()).then(|| codes.remove(0))
}

fn take_one(count: &mut u32) -> bool {
    let take = *count > 0;
    *count = count.saturating_sub(1);
    take
}

/// An enhanced status code matching the reply's class (`5.1.1`, `4.3.0`, …).
fn enhanced(code: u16, detail: &str) -> String {
    format!("{}.{detail}", code / 100)
}

fn decode(text: &str) -> String {
    STANDARD
        .decode(text.trim())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_with_or_without_parameters() {
        assert_eq!(
            path("FROM:<a@b.example> BODY=8BITMIME", "FROM:").as_deref(),
            Some("a@b.example")
        );
        assert_eq!(
            path("to: <x@y.example>", "TO:").as_deref(),
            Some("x@y.example")
        );
        assert_eq!(path("FROM:<>", "FROM:").as_deref(), Some(""));
        assert_eq!(path("FROM a@b", "FROM:"), None);
    }
}
