#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
//!
//! The virtual authenticator: a phone app stand-in on its own thread, talking HTTP to a notify
//! broker (the emulator's, `hem-emulator --authenticator MODE`) exactly as the phone does (spec
//! §5.7, §6.4, §6.8), with the `hem_auth_core::authenticator` role doing all the protocol
//! work. Each pairing is a [`hem_auth_sim::Phone`], the same phone the simulated world's tests
//! use; this crate adds the HTTP exchanges, the decision modes ([`AuthenticatorMode`]: the
//! emulator's `--authenticator approve|approve:<period>[:rw]|deny|prompt`) and the saved
//! pairings.
//!
//! * Pairing: the broker adapter hands over every registration link (what the phone reads
//!   from the QR code). `GET link` → the request, read unverified (the phone has no key yet);
//!   a device it is already paired with is refused (`DELETE link`, spec §6.4);
//!   otherwise (in `prompt` mode: after asking) a fresh `aid`, `POST link` → `{pid}`, and the
//!   pairing is kept (in `authenticator.json` with a state directory).
//! * Login events: the real phone gets a push; this one polls `POST
//!   /notify/event/data/allbypid` every [`POLL_INTERVAL`] while it has pairings, fetches each
//!   new event, opens it and approves (`POST`), denies (`DELETE`) or asks.
//! * Unpairing: the broker adapter hands over the pids the broker dropped, as the real broker
//!   pushes `{"pairing":{"pid":…,"status":"DELETED"}}` (spec §6.1), and they are forgotten.
//!
//! One stderr line per decision (`hem-emulator: authenticator approved keymgmt:list for 900
//! s`). Scopes are shown and logged escaped, with the key hint as a hint, and a scope no device
//! sends is flagged (spec §8.6). Nothing here panics; a failed exchange is logged and the loop
//! goes on.

use hem_auth_core::{Access, Seconds, UnixTime};
use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hem_auth_core::authenticator::{
    reply_to_pairing, AuthenticatorError, Event, UnverifiedPairingRequest,
};
use hem_auth_core::keys::{PublicKey, SecretKey};
use hem_auth_core::notify::{EventsByPid, LinkAccepted, LinkRequest};
use hem_auth_core::{codec, messages, scope};
use rand_core::{OsRng, RngCore};
use serde::Serialize;

use hem_auth_sim::Phone;

pub mod files;
mod mode;
mod saved;

pub use mode::{AuthenticatorMode, ParseModeError, DEFAULT_PERIOD_SECS};

/// Why the authenticator could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The saved pairings are not a file this authenticator wrote.
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// An operating-system call failed.
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl Error {
    fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::State { path, detail } => write!(f, "state {}: {detail}", path.display()),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::State { .. } => None,
        }
    }
}

/// Unix seconds of the host clock (0 if the host clock is before 1970).
fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How often the authenticator asks the broker for new login events. The real phone is woken
/// by a push instead; a quarter of a second keeps an emulated login well within the
/// Manager's 900 ms check interval (spec §5.1) at a negligible load.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// The key label the authenticator gives the device when pairing (the phone app sends the
/// phone's name here; at most 32 printable characters, spec §6.6).
pub const LABEL: &str = "hem-virtual-authenticator";
/// One exchange with the broker finishes within this (the emulator answers in
/// milliseconds; the bound only keeps a stop prompt if something hangs).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest broker answer read; the broker's bodies are a few kilobytes.
const MAX_ANSWER_BYTES: u64 = 65_536;

/// What the broker adapter tells the authenticator: what a phone learns from a QR code or a
/// push.
#[derive(Debug)]
pub enum Push {
    /// A registration link (`register/init`'s `link`), as the QR code carries it.
    Link(String),
    /// Pairings the broker no longer has (an unpair), by pid.
    Deleted(Vec<String>),
    /// Every subscriber the broker has, by pid, sent once at start: a kept pairing that is not
    /// among them was never finalised (registrations do not survive a restart) or its unpair
    /// push was lost to a crash, and is dropped.
    Subscribers(Vec<String>),
}

/// The running authenticator thread. Dropping it stops it.
#[derive(Debug)]
pub struct VirtualAuthenticator {
    stop: Arc<AtomicBool>,
    mode: Arc<Mutex<AuthenticatorMode>>,
    pairings: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl VirtualAuthenticator {
    /// Loads the pairings kept in `dir` and starts the thread, which reaches the broker at
    /// `url` and learns of links and unpairings from the returned sender.
    pub fn start(
        mode: AuthenticatorMode,
        url: String,
        cert_pem: Option<&str>,
        dir: Option<PathBuf>,
    ) -> Result<(Self, Sender<Push>), Error> {
        let paired = match &dir {
            Some(dir) => saved::load(dir)?,
            None => Vec::new(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let pairings = Arc::new(AtomicUsize::new(paired.len()));
        let (tx, rx) = mpsc::channel();
        let mode = Arc::new(Mutex::new(mode));
        let mut app = App {
            mode: mode.clone(),
            http: Http::new(url, cert_pem),
            dir,
            paired,
            count: pairings.clone(),
            handled: HashSet::new(),
            terminal: Terminal::default(),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(String::from("hem-authenticator"))
            .spawn(move || app.run(&rx))
            .map_err(|e| Error::io("starting the authenticator thread", e))?;
        Ok((
            VirtualAuthenticator {
                stop,
                mode,
                pairings,
                thread: Some(thread),
            },
            tx,
        ))
    }

    /// How many devices it is paired with now.
    pub fn pairings(&self) -> usize {
        self.pairings.load(Ordering::SeqCst)
    }

    /// The decision mode in force.
    pub fn mode(&self) -> AuthenticatorMode {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Switches the decision mode; events not yet answered are decided by the new one.
    pub fn set_mode(&self, mode: AuthenticatorMode) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    /// Asks the thread to stop; it notices within [`POLL_INTERVAL`] (or when its current
    /// exchange ends).
    pub fn signal_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Drop for VirtualAuthenticator {
    fn drop(&mut self) {
        self.signal_stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the prompt and the log say before a scope that no device following the spec seals
/// ([`scope::DisplayScope::is_suspicious`]): control characters, a forged key hint.
const SUSPICIOUS: &str =
    "WARNING: no device sends this scope (escaped below; it may be made to mislead):";

/// Logs one line on stderr. Requester-supplied text goes in only through
/// [`scope::DisplayScope`] or [`scope::Escaped`] (spec §8.6).
fn log(line: std::fmt::Arguments<'_>) {
    eprintln!("hem-emulator: authenticator {line}");
}

/// The phone app: its pairings (one [`Phone`] each) and what it has already answered.
struct App {
    /// Shared with [`VirtualAuthenticator::set_mode`].
    mode: Arc<Mutex<AuthenticatorMode>>,
    http: Http,
    dir: Option<PathBuf>,
    paired: Vec<Phone>,
    count: Arc<AtomicUsize>,
    /// `(eventid, pid)` pairs already dealt with, pruned to those the broker still lists.
    handled: HashSet<(String, String)>,
    terminal: Terminal,
    stop: Arc<AtomicBool>,
}

impl App {
    fn mode(&self) -> AuthenticatorMode {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&mut self, pushes: &Receiver<Push>) {
        let mut next_poll = Instant::now();
        while !self.stop.load(Ordering::SeqCst) {
            let wait = next_poll
                .saturating_duration_since(Instant::now())
                .min(POLL_INTERVAL);
            match pushes.recv_timeout(wait) {
                Ok(Push::Link(link)) => self.pair(&link),
                Ok(Push::Deleted(pids)) => self.forget(&pids),
                Ok(Push::Subscribers(pids)) => {
                    let stale: Vec<String> = self
                        .paired
                        .iter()
                        .map(|p| p.pairing.pid().to_string())
                        .filter(|pid| !pids.contains(pid))
                        .collect();
                    self.forget(&stale);
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The broker is gone: the emulator is stopping.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            }
            if Instant::now() >= next_poll {
                if !self.paired.is_empty() && !self.stop.load(Ordering::SeqCst) {
                    self.poll_events();
                }
                next_poll = Instant::now() + POLL_INTERVAL;
            }
        }
    }

    /// Answers a registration link (spec §6.4).
    fn pair(&mut self, link: &str) {
        let link = self.http.rebase(link);
        let Some(got) = self.http.call(Method::Get, &link, None) else {
            return;
        };
        if got.status != 200 {
            log(format_args!(
                "could not fetch the pairing request: broker answered {}",
                got.status
            ));
            return;
        }
        let request = match messages::parse_body::<LinkRequest>(&got.body)
            .map_err(AuthenticatorError::from)
            .and_then(|answer| UnverifiedPairingRequest::parse(&answer.request))
        {
            Ok(request) => request,
            Err(e) => {
                log(format_args!("could not read the pairing request: {e}"));
                return;
            }
        };
        let eid = *request.eid();
        if request.is_expired(UnixTime::from_secs(system_now())) {
            log(format_args!(
                "ignored an expired pairing request from {eid}"
            ));
            return;
        }
        let fid = random_fid();
        let aid = SecretKey::generate(&mut OsRng);
        let reply = match reply_to_pairing(&aid, &request, LABEL, &fid) {
            Ok(reply) => reply,
            Err(e) => {
                log(format_args!("could not answer the pairing request: {e}"));
                return;
            }
        };
        let body = reply.post_body(&fid);
        if self.paired.iter().any(|p| *p.pairing.eid() == eid) {
            self.refuse_pairing(&link, &body, eid, "already paired with it");
            return;
        }
        if self.mode() == AuthenticatorMode::Prompt
            && !self.terminal.ask(
                &self.stop,
                &format!("pair with the device {eid} as {LABEL:?}?"),
            )
        {
            self.refuse_pairing(&link, &body, eid, "the user said no");
            return;
        }
        let Some(got) = self.http.call(Method::Post, &link, Some(&body)) else {
            return;
        };
        let pid = match (got.status, messages::parse_body::<LinkAccepted>(&got.body)) {
            (200, Ok(answer)) => answer.pid,
            (200, Err(e)) => {
                log(format_args!("pairing answer without a pid: {e}"));
                return;
            }
            (status, _) => {
                log(format_args!(
                    "pairing with {eid} failed: broker answered {status}"
                ));
                return;
            }
        };
        match Phone::new(&pid, eid, aid, LABEL) {
            Ok(phone) => {
                self.paired.push(phone);
                self.pairings_changed();
                log(format_args!("paired with the device {eid} (pid {pid})"));
            }
            Err(e) => log(format_args!("could not keep the pairing with {eid}: {e}")),
        }
    }

    fn refuse_pairing(&self, link: &str, body: &str, eid: PublicKey, why: &str) {
        if let Some(got) = self.http.call(Method::Delete, link, Some(body)) {
            log(format_args!(
                "refused pairing with the device {eid}: {why} (broker answered {})",
                got.status
            ));
        }
    }

    /// Drops the pairings the broker removed.
    fn forget(&mut self, pids: &[String]) {
        let before = self.paired.len();
        self.paired.retain(|p| {
            let gone = pids.iter().any(|pid| pid == p.pairing.pid());
            if gone {
                log(format_args!(
                    "unpaired from the device {} (pid {})",
                    p.pairing.eid(),
                    p.pairing.pid()
                ));
            }
            !gone
        });
        if self.paired.len() != before {
            self.pairings_changed();
        }
    }

    /// Saves the pairings and publishes their number.
    fn pairings_changed(&self) {
        self.count.store(self.paired.len(), Ordering::SeqCst);
        if let Some(dir) = &self.dir {
            if let Err(e) = saved::save(dir, &self.paired) {
                log(format_args!(
                    "could not save {}: {e}",
                    saved::path(dir).display()
                ));
            }
        }
    }

    /// Asks the broker for events addressed to any of its pids and answers the new ones.
    fn poll_events(&mut self) {
        #[derive(Serialize)]
        struct AllByPid<'a> {
            pid: Vec<&'a str>,
        }
        let body = messages::to_json(&AllByPid {
            pid: self.paired.iter().map(|p| p.pairing.pid()).collect(),
        });
        let url = format!("{}/notify/event/data/allbypid", self.http.base);
        let Some(got) = self.http.call(Method::Post, &url, Some(&body)) else {
            return;
        };
        if got.status != 200 {
            log(format_args!("event poll: broker answered {}", got.status));
            return;
        }
        let listed = listed_events(&got.body);
        for key in &listed {
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            if self.handled.contains(key) {
                continue;
            }
            let (eventid, pid) = key;
            if let Some(index) = self.paired.iter().position(|p| p.pairing.pid() == pid) {
                self.answer_event(eventid, index);
            }
            self.handled.insert(key.clone());
        }
        self.handled.retain(|key| listed.contains(key));
    }

    /// Fetches, opens and answers one event (spec §5.7).
    fn answer_event(&mut self, eventid: &str, index: usize) {
        let Some(paired) = self.paired.get(index) else {
            return;
        };
        let pairing = &paired.pairing;
        let url = format!(
            "{}/notify/event/data/{eventid}/{}",
            self.http.base,
            pairing.pidx()
        );
        let Some(got) = self.http.call(Method::Get, &url, None) else {
            return;
        };
        if got.status != 200 {
            log_broker_error("event fetch", got.status, &got.body);
            return;
        }
        let text = String::from_utf8_lossy(&got.body);
        let event = match Event::parse(&text) {
            Ok(event) => event,
            Err(e) => {
                log(format_args!("could not read event {eventid}: {e}"));
                return;
            }
        };
        let now = system_now();
        let opened = match pairing.open_event(&event, UnixTime::from_secs(now)) {
            Ok(opened) => opened,
            Err(AuthenticatorError::Expired) => {
                // The phone deletes an expired event (spec §5.7).
                let answer = self.http.call(Method::Delete, &url, None);
                log(format_args!(
                    "dropped expired event {eventid} (broker answered {})",
                    answer.map_or(0, |a| a.status)
                ));
                return;
            }
            Err(e) => {
                // Not answerable: handled, no answer (spec §5.7).
                log(format_args!("ignored event {eventid}: {e}"));
                return;
            }
        };
        // Never the raw plaintext: escaped, the key hint shown as a hint (spec §8.6).
        let shown = opened.display_scope();
        let scope_text = shown.to_string();
        if shown.is_suspicious() {
            log(format_args!("event {eventid}: {SUSPICIOUS} {scope_text}"));
        }
        let decision = match self.mode() {
            AuthenticatorMode::Approve {
                period_secs,
                writable,
            } => Some((period_secs, writable)),
            AuthenticatorMode::Deny => None,
            AuthenticatorMode::Prompt => {
                let question = approval_question(pairing.eid(), &shown, opened.exp());
                self.terminal
                    .ask(&self.stop, &question)
                    .then_some((DEFAULT_PERIOD_SECS, false))
            }
        };
        let Some((period_secs, writable)) = decision else {
            drop(opened.deny());
            if let Some(answer) = self.http.call(Method::Delete, &url, None) {
                match answer.status {
                    200 => log(format_args!("denied {scope_text}")),
                    status => log_broker_error("denial", status, &answer.body),
                }
            }
            return;
        };
        let approval = match opened.approve(
            UnixTime::from_secs(system_now()),
            Seconds::new(period_secs),
            Access::from_writable(writable),
        ) {
            Ok(approval) => approval,
            Err(e) => {
                log(format_args!("could not approve {scope_text}: {e}"));
                return;
            }
        };
        if let Some(answer) = self
            .http
            .call(Method::Post, &url, Some(&approval.post_body()))
        {
            match answer.status {
                200 => log(format_args!(
                    "approved {} for {period_secs} s",
                    scope::DisplayScope::new(&approval.scope)
                )),
                status => log_broker_error("approval", status, &answer.body),
            }
        }
    }
}

/// The `prompt` mode's question for an event: the scope as [`scope::DisplayScope`] renders
/// it (escaped, the key hint apart), after a warning when no device sends such a scope.
fn approval_question(eid: &PublicKey, shown: &scope::DisplayScope<'_>, exp: UnixTime) -> String {
    let warning = if shown.is_suspicious() {
        format!("{SUSPICIOUS} ")
    } else {
        String::new()
    };
    format!(
        "{warning}the device {eid} asks for {shown}, valid until {exp}: approve for \
         {DEFAULT_PERIOD_SECS} s?"
    )
}

/// The `(eventid, pid)` pairs of an `allbypid` answer, read by the core
/// ([`EventsByPid::parse`]); an unreadable answer is logged and lists nothing.
fn listed_events(body: &[u8]) -> Vec<(String, String)> {
    match EventsByPid::parse(body) {
        Ok(listing) => listing
            .pairs()
            .map(|(id, pid)| (id.to_owned(), pid.to_owned()))
            .collect(),
        Err(e) => {
            log(format_args!("event poll: unreadable answer ({e})"));
            Vec::new()
        }
    }
}

/// The phone's reading of a broker error (spec §5.7, `handleEventError`).
fn log_broker_error(what: &str, status: u16, body: &[u8]) {
    let meaning = match status {
        401 => "critical: the broker does not accept this phone",
        404 => "the event expired",
        410 if String::from_utf8_lossy(body).contains("cancelled") => {
            "cancelled on the device side"
        }
        410 => "already answered by another authenticator",
        500.. => "the broker is unavailable",
        _ => "unexpected answer",
    };
    log(format_args!("{what}: broker answered {status}: {meaning}"));
}

/// A push-token stand-in: the real phone sends its FCM token as `fid`.
fn random_fid() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    format!("virtual-{}", codec::encode_segment(&bytes))
}

#[derive(Clone, Copy, Debug)]
enum Method {
    Get,
    Post,
    Delete,
}

/// One broker answer.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// The phone's HTTP client, bound to the broker's base URL.
struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    /// A client for `base`, trusting `cert_pem` (the emulator's own certificate) over HTTPS.
    fn new(base: String, cert_pem: Option<&str>) -> Self {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .proxy(None);
        if let Some(pem) = cert_pem {
            let certs = ureq::tls::parse_pem(pem.as_bytes()).filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            });
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::from(certs))
                    .build(),
            );
        }
        let agent = config.build().new_agent();
        Http { agent, base }
    }

    /// `link` with its scheme and authority replaced by the broker's base URL: the broker
    /// writes links with the host name its client used, which need not resolve here.
    fn rebase(&self, link: &str) -> String {
        let path = link
            .strip_prefix("http://")
            .or_else(|| link.strip_prefix("https://"))
            .and_then(|rest| rest.find('/').and_then(|i| rest.get(i..)));
        match path {
            Some(path) => format!("{}{path}", self.base),
            None => link.to_string(),
        }
    }

    /// One exchange; a transport failure is logged and gives `None`.
    fn call(&self, method: Method, url: &str, body: Option<&str>) -> Option<Answer> {
        const JSON: &str = "application/json";
        let result = match (method, body) {
            (Method::Get, _) => self.agent.get(url).call(),
            (Method::Delete, None) => self.agent.delete(url).call(),
            (Method::Delete, Some(body)) => self
                .agent
                .delete(url)
                .header("Content-Type", JSON)
                .force_send_body()
                .send(body),
            (Method::Post, body) => self
                .agent
                .post(url)
                .header("Content-Type", JSON)
                .send(body.unwrap_or_default()),
        };
        let answer = result.and_then(|mut r| {
            let status = r.status().as_u16();
            let body = r
                .body_mut()
                .with_config()
                .limit(MAX_ANSWER_BYTES)
                .read_to_vec()?;
            Ok(Answer { status, body })
        });
        match answer {
            Ok(answer) => Some(answer),
            Err(e) => {
                log(format_args!("{method:?} {url}: {e}"));
                None
            }
        }
    }
}

/// The `prompt` mode's terminal: questions on stderr, answers from stdin.
#[derive(Default)]
struct Terminal {
    /// Lines of stdin, read by a thread of their own (started on the first question) so that
    /// waiting for an answer never keeps the emulator from stopping.
    lines: Option<Receiver<String>>,
}

impl Terminal {
    /// Asks `question`; true only for an answer of `y` or `yes`. End of input, or a stop
    /// while waiting, is no.
    fn ask(&mut self, stop: &AtomicBool, question: &str) -> bool {
        eprint!("hem-emulator: authenticator: {question} [y/N] ");
        let _ = std::io::stderr().flush();
        let lines = self.lines.get_or_insert_with(read_stdin);
        loop {
            if stop.load(Ordering::SeqCst) {
                eprintln!();
                return false;
            }
            match lines.recv_timeout(POLL_INTERVAL) {
                Ok(line) => {
                    if !std::io::stdin().is_terminal() {
                        // Typed ahead or piped: show the answer the terminal would have echoed.
                        eprintln!("{}", line.trim());
                    }
                    let answer = line.trim().to_ascii_lowercase();
                    return answer == "y" || answer == "yes";
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    eprintln!("(end of input: no)");
                    return false;
                }
            }
        }
    }
}

/// Starts a thread that sends stdin's lines; the channel closes at end of input. The thread
/// is not joined: a blocking read cannot be interrupted, and it ends with the process.
fn read_stdin() -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(String::from("hem-authenticator-stdin"))
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    if let Err(e) = spawned {
        log(format_args!("cannot read the terminal: {e}"));
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allbypid_answers_both_shapes() {
        assert!(listed_events(br#"{"eventid":[]}"#).is_empty());
        let listed = listed_events(br#"{"eventid":{"ab12":["p1","p2"],"../x":["p3"]}}"#);
        assert_eq!(
            listed,
            [
                (String::from("ab12"), String::from("p1")),
                (String::from("ab12"), String::from("p2"))
            ]
        );
        assert!(listed_events(b"not json").is_empty());
    }

    #[test]
    fn the_prompt_shows_a_spoofed_scope_escaped_and_warns() {
        // Issue 14, attack 3: the carriage return and escapes used to rewrite the prompt line.
        let eid = SecretKey::from_bytes([3u8; 32]).public_key();
        let spoof = "system:config\r\x1b[2K\x1b[1A\x1b[2K\u{2026}asks for logger:get";
        let question = approval_question(
            &eid,
            &scope::DisplayScope::new(spoof),
            UnixTime::from_secs(1_800_000_000),
        );
        assert!(
            question.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "{question:?}"
        );
        assert!(question.starts_with(SUSPICIOUS), "{question}");
        assert!(
            question.contains(
                "asks for system:config\\x0d\\x1b[2K\\x1b[1A\\x1b[2K\\xe2\\x80\\xa6asks for \
                 logger:get, valid until"
            ),
            "{question}"
        );
        // A forged key hint after another scope is not shown as a hint.
        let forged = "system:config#eyJ0IjoiOTgxNCIsImwiOiJQR1AgbWFpbiJ9";
        let question = approval_question(
            &eid,
            &scope::DisplayScope::new(forged),
            UnixTime::from_secs(1),
        );
        assert!(question.starts_with(SUSPICIOUS), "{question}");
        // The device's own hint is: no warning, the label as a label.
        let hinted =
            "keymgmt:use:42afc419dbda72636b37a2455955e095#eyJ0IjoiOTgxNCIsImwiOiJQR1AgbWFpbiJ9";
        let question = approval_question(
            &eid,
            &scope::DisplayScope::new(hinted),
            UnixTime::from_secs(1),
        );
        assert_eq!(
            question,
            format!(
                "the device {eid} asks for keymgmt:use:42afc419dbda72636b37a2455955e095 (key \
                 \"PGP main\", type 9814), valid until 1: approve for {DEFAULT_PERIOD_SECS} s?"
            )
        );
    }

    #[test]
    fn links_are_rebased_on_the_broker_url() {
        let http = Http::new(String::from("http://127.0.0.1:9"), None);
        assert_eq!(
            http.rebase("http://example.test:8080/notify/register/challenge/ab"),
            "http://127.0.0.1:9/notify/register/challenge/ab"
        );
        assert_eq!(http.rebase("weird"), "weird");
    }
}
