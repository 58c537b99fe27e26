//! The audit log's storage (spec §11.3). The lines come finished from the core
//! ([`hem_auth_core::device::AuditChain`]: format, counter and MAC chain of spec §11.2, failed
//! scope checks coalesced); this module only keeps them:
//!
//! * [`AuditLog::store`] takes a line under the device lock; a writer thread appends the lines
//!   to `audit.log` and fsyncs them, a batch at a time, off the lock. An answer whose
//!   operation wrote a line other than a failed scope check waits for that line to be on disk
//!   ([`answer_when_durable`]), without the lock.
//! * `audit.log` is only ever appended to. At [`LINES_PER_FILE`] event lines it is renamed
//!   `audit-<first counter, 16 hex>.log` and a new `audit.log` starts with a copy of the key
//!   line; rotated files beyond [`ROTATED_FILES`] are deleted, oldest first. On start, each
//!   file is verified ([`AuditKey::verify`]); `audit.log` is cut after its last valid line (a
//!   line torn by a crash), a rotated file that does not verify is reported and kept as it is.
//! * `GET /api/logger/list` reads pages of every retained line ([`LogReader::page`]), from
//!   the files and from the lines still on their way to them, without the device lock.
//!
//! The HMAC key is drawn once per state directory and kept in `state.json`. Without a state
//! directory the lines stay in memory, with the same retention.

use hem_auth_core::UnixTime;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::thread::JoinHandle;

use hem_auth_core::device::{audit_line_counter, AuditKey, AuditKind, AuditLine};
use tokio::sync::watch;

use crate::store::{self, Store, LOG_FILE};
use crate::EmulatorError;

/// Event lines in one file before it is rotated (spec §11.3).
pub(crate) const LINES_PER_FILE: u64 = 10_000;
/// Rotated files kept (spec §11.3): with `audit.log`, at least 100 000 event lines.
pub(crate) const ROTATED_FILES: usize = 10;
/// Lines written in one batch (one write, one fsync) at most.
const MAX_BATCH_LINES: usize = 4096;
/// A reader can seek to every this many lines of a file.
const MARK_EVERY: u64 = 256;

/// How many lines the log keeps: [`LINES_PER_FILE`] and [`ROTATED_FILES`], smaller in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    lines_per_file: u64,
    rotated_files: usize,
    /// A slow disk, for tests: how long each fsync takes at least.
    sync_delay: std::time::Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            lines_per_file: LINES_PER_FILE,
            rotated_files: ROTATED_FILES,
            sync_delay: std::time::Duration::ZERO,
        }
    }
}

/// The audit log of one device: what the device lock guards.
pub(crate) struct AuditLog {
    sink: Sink,
}

/// Hands lines on (to the writer thread, or to memory).
struct Sink {
    /// The counter after the last line stored (or found on start).
    next: u64,
    shared: Arc<Shared>,
    writer: Option<Writer>,
}

struct Writer {
    tx: Option<mpsc::Sender<Line>>,
    thread: Option<JoinHandle<()>>,
}

/// A line on its way to the file.
#[derive(Clone)]
struct Line {
    counter: u64,
    text: Arc<str>,
}

/// What the device side, the writer thread and the readers share.
struct Shared {
    meta: Mutex<Meta>,
    /// Readers hold it while they read files; the writer, while it renames or deletes one.
    rotation: RwLock<()>,
    /// The highest counter whose line is on disk (or whose write failed and was reported).
    durable: watch::Sender<u64>,
}

struct Meta {
    key_line: Arc<str>,
    /// Rotated files, oldest first (none without a state directory).
    rotated: VecDeque<FileMeta>,
    /// `audit.log` (without a state directory: nothing).
    current: Option<FileMeta>,
    /// Lines in no file: on their way to `audit.log`, or (without a state directory) all.
    tail: VecDeque<Line>,
    retention: Retention,
}

/// One file of the log.
#[derive(Debug, Clone)]
struct FileMeta {
    path: PathBuf,
    /// Event lines in it, and the counter of its last one (0 when none).
    lines: u64,
    last: u64,
    /// (counter, byte offset) of every [`MARK_EVERY`]th event line.
    marks: Vec<(u64, u64)>,
}

impl FileMeta {
    fn empty(path: PathBuf) -> Self {
        FileMeta {
            path,
            lines: 0,
            last: 0,
            marks: Vec::new(),
        }
    }

    fn note(&mut self, counter: u64, offset: u64) {
        if self.lines.is_multiple_of(MARK_EVERY) {
            self.marks.push((counter, offset));
        }
        self.lines += 1;
        self.last = counter;
    }
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AuditLog {
    /// A log in memory only, starting with its key line at `now`.
    pub(crate) fn new(key: &AuditKey, now: u64) -> Self {
        Self::in_memory(key, now, Retention::default())
    }

    fn in_memory(key: &AuditKey, now: u64, retention: Retention) -> Self {
        let key_line = key.key_line(UnixTime::from_secs(now));
        let shared = Shared::new(key_line.into(), None, VecDeque::new(), retention);
        AuditLog {
            sink: Sink {
                next: 1,
                shared,
                writer: None,
            },
        }
    }

    /// The counter the device's next line must have.
    pub(crate) fn next_counter(&self) -> u64 {
        self.sink.next
    }

    /// The log of a state directory: its files, verified (spec §11.3), or a new log with its
    /// key line at `now`.
    pub(crate) fn open(store: &Store, key: &AuditKey, now: u64) -> Result<Self, EmulatorError> {
        Self::open_dir(store.dir(), key, now, Retention::default())
    }

    fn open_dir(
        dir: &Path,
        key: &AuditKey,
        now: u64,
        retention: Retention,
    ) -> Result<Self, EmulatorError> {
        let io_err = |what: &str, path: &Path, e: io::Error| {
            EmulatorError::io(format!("{what} {}", path.display()), e)
        };
        // Rotated files, oldest first; beyond the retention (a crash between a rotation and
        // its deletion), the oldest go.
        let mut names: Vec<(u64, PathBuf)> = fs::read_dir(dir)
            .map_err(|e| io_err("reading", dir, e))?
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                rotated_first(&path).map(|first| (first, path))
            })
            .collect();
        names.sort();
        while names.len() > retention.rotated_files {
            let (_, oldest) = names.remove(0);
            fs::remove_file(&oldest).map_err(|e| io_err("deleting", &oldest, e))?;
        }
        let mut rotated = VecDeque::new();
        let mut rotated_key_line = None;
        let mut next = 1u64;
        for (first, path) in names {
            let text = fs::read(&path).map_err(|e| io_err("reading", &path, e))?;
            let mut scan = scan(key, &text);
            if scan.bad.is_some() || scan.first.is_some_and(|f| f != first) {
                eprintln!(
                    "hem-emulator: audit file {} does not verify after {} lines; kept and \
                     listed as it is",
                    path.display(),
                    scan.file.lines
                );
                // Its lines are served as they are: a reader's check shows the damage.
                scan.file = index_lines(&text);
            }
            if let Some(line) = scan.key_line {
                rotated_key_line = Some(line);
            }
            next = next.max(scan.file.last.saturating_add(1));
            rotated.push_back(FileMeta { path, ..scan.file });
        }

        let path = dir.join(LOG_FILE);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("reading", &path, e)),
        };
        let scan = scan(key, &text);
        let whole_key_line = scan.key_line.is_some();
        let key_line = match scan.key_line {
            Some(line) => line,
            // A first line that is whole but not this state's key line: not ours.
            None if text.contains(&b'\n') => {
                return Err(EmulatorError::State {
                    path,
                    detail: String::from("does not start with this state's key line"),
                })
            }
            // No file, or a key line torn while it was being written: start the file
            // (it held no event line).
            None => {
                let line =
                    rotated_key_line.unwrap_or_else(|| key.key_line(UnixTime::from_secs(now)));
                store::atomic_write(dir, LOG_FILE, format!("{line}\n").as_bytes())
                    .map_err(|e| io_err("writing", &path, e))?;
                line
            }
        };
        let current = FileMeta {
            path: path.clone(),
            ..scan.file
        };
        if scan.first.is_some_and(|f| f < next) {
            // Counters never go back: lines that repeat the rotated files' are not ours.
            return Err(EmulatorError::State {
                path,
                detail: String::from("its counters go back behind the rotated files'"),
            });
        }
        if whole_key_line && scan.valid_len < text.len() as u64 {
            // The torn tail of a crash: cut after the last valid line.
            let file = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| io_err("opening", &path, e))?;
            file.set_len(scan.valid_len)
                .and_then(|()| file.sync_all())
                .map_err(|e| io_err("cutting", &path, e))?;
        }
        next = next.max(current.last.saturating_add(1));
        let file = open_append(&path).map_err(|e| io_err("opening", &path, e))?;
        let len = file
            .metadata()
            .map_err(|e| io_err("reading", &path, e))?
            .len();

        let shared = Shared::new(key_line.into(), Some(current), rotated, retention);
        shared.durable.send_replace(next - 1);
        let (tx, rx) = mpsc::channel();
        let thread = {
            let shared = shared.clone();
            let dir = dir.to_path_buf();
            std::thread::Builder::new()
                .name(String::from("hem-emulator-audit"))
                .spawn(move || write_lines(&rx, &shared, &dir, file, len))
                .map_err(|e| EmulatorError::io("starting the audit writer", e))?
        };
        Ok(AuditLog {
            sink: Sink {
                next,
                shared,
                writer: Some(Writer {
                    tx: Some(tx),
                    thread: Some(thread),
                }),
            },
        })
    }

    /// Stores one finished line (spec §11.3): hands it to the writer and returns at once. A
    /// handler running under [`answer_when_durable`] answers once its lines other than
    /// failed scope checks are on disk.
    pub(crate) fn store(&mut self, line: AuditLine) {
        self.sink.push(line);
    }

    /// A reader of the log, for use without the device lock.
    pub(crate) fn reader(&self) -> LogReader {
        LogReader(self.sink.shared.clone())
    }
}

impl Drop for AuditLog {
    /// Lets the writer finish and waits for it.
    fn drop(&mut self) {
        if let Some(mut writer) = self.sink.writer.take() {
            drop(writer.tx.take());
            if let Some(thread) = writer.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl Sink {
    fn push(&mut self, line: AuditLine) {
        let AuditLine {
            counter,
            kind,
            text,
        } = line;
        self.next = self.next.max(counter.saturating_add(1));
        let line = Line {
            counter,
            text: text.into(),
        };
        let Some(tx) = self.writer.as_ref().and_then(|w| w.tx.as_ref()) else {
            // In memory: kept as the files would keep it.
            let mut meta = self.shared.meta_mut();
            let keep = meta.retention.kept();
            meta.tail.push_back(line);
            if meta.tail.len() as u64 > keep {
                let gone = (meta.retention.lines_per_file as usize).min(meta.tail.len());
                meta.tail.drain(..gone);
            }
            drop(meta);
            self.shared.durable.send_replace(counter);
            return;
        };
        self.shared.meta_mut().tail.push_back(line.clone());
        if tx.send(line).is_err() {
            eprintln!("hem-emulator: audit writer gone; line {counter:x} not saved");
        }
        if kind != Some(AuditKind::FailedScopeCheck) {
            let _ = WAIT_FOR.try_with(|wait| {
                let mut wait = wait.borrow_mut();
                match wait.as_mut() {
                    Some(w) => w.counter = w.counter.max(counter),
                    None => {
                        *wait = Some(Wait {
                            rx: self.shared.durable.subscribe(),
                            counter,
                        })
                    }
                }
            });
        }
    }
}

impl Retention {
    /// Event lines kept at most before the oldest file goes.
    fn kept(&self) -> u64 {
        self.lines_per_file
            .saturating_mul(self.rotated_files as u64 + 1)
    }
}

impl Shared {
    fn new(
        key_line: Arc<str>,
        current: Option<FileMeta>,
        rotated: VecDeque<FileMeta>,
        retention: Retention,
    ) -> Arc<Self> {
        Arc::new(Shared {
            meta: Mutex::new(Meta {
                key_line,
                rotated,
                current,
                tail: VecDeque::new(),
                retention,
            }),
            rotation: RwLock::new(()),
            durable: watch::Sender::new(0),
        })
    }

    fn meta_mut(&self) -> MutexGuard<'_, Meta> {
        locked(&self.meta)
    }
}

tokio::task_local! {
    /// The lines a request's answer waits for (see [`answer_when_durable`]).
    static WAIT_FOR: RefCell<Option<Wait>>;
}

struct Wait {
    rx: watch::Receiver<u64>,
    counter: u64,
}

/// Runs a request's handler, then, after the handler has let go of the device, waits until
/// the lines of its events other than failed scope checks are on disk (spec §11.3).
pub(crate) async fn answer_when_durable<F: Future>(handler: F) -> F::Output {
    WAIT_FOR
        .scope(RefCell::new(None), async move {
            let out = handler.await;
            if let Ok(Some(mut wait)) = WAIT_FOR.try_with(|w| w.borrow_mut().take()) {
                let counter = wait.counter;
                let _ = wait.rx.wait_for(|durable| *durable >= counter).await;
            }
            out
        })
        .await
}

/// The writer thread: appends batches of lines, fsyncs, rotates; marks them durable.
fn write_lines(rx: &mpsc::Receiver<Line>, shared: &Shared, dir: &Path, file: File, len: u64) {
    // Whatever happens to this thread, nobody waits forever for a line.
    struct Release<'a>(&'a Shared);
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            self.0.durable.send_replace(u64::MAX);
        }
    }
    let _release = Release(shared);
    let mut file = file;
    let mut len = len;
    let mut batch: Vec<Line> = Vec::new();
    while let Ok(first) = rx.recv() {
        batch.clear();
        batch.push(first);
        while batch.len() < MAX_BATCH_LINES {
            match rx.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        let mut rest = batch.as_slice();
        let mut rotation_failed = false;
        while !rest.is_empty() {
            let (room, retention) = {
                let meta = shared.meta_mut();
                let lines = meta.current.as_ref().map_or(0, |c| c.lines);
                (
                    meta.retention.lines_per_file.saturating_sub(lines),
                    meta.retention,
                )
            };
            let mut take = usize::try_from(room).unwrap_or(usize::MAX);
            if room == 0 {
                match rotate(shared, dir, retention) {
                    Ok(new) => {
                        file = new;
                        len = file.metadata().map(|m| m.len()).unwrap_or(0);
                        take = usize::try_from(retention.lines_per_file).unwrap_or(usize::MAX);
                    }
                    Err(e) => {
                        // Retried with the next batch; this one goes to the file as it is.
                        if !rotation_failed {
                            eprintln!("hem-emulator: audit log not rotated: {e}");
                        }
                        rotation_failed = true;
                        take = rest.len();
                    }
                }
            }
            let take = take.clamp(1, rest.len());
            let (now, later) = rest.split_at(take);
            rest = later;
            append_lines(shared, &mut file, &mut len, now);
        }
    }
}

/// Appends `lines` to `audit.log` with one write and one fsync, then moves them from the tail
/// to the file's account and marks them durable. A failed write is reported and undone (the
/// file is cut back to its length before it), so no torn line stays in the middle.
fn append_lines(shared: &Shared, file: &mut File, len: &mut u64, lines: &[Line]) {
    let Some(last) = lines.last().map(|l| l.counter) else {
        return;
    };
    let mut buf = String::new();
    let mut offsets = Vec::with_capacity(lines.len());
    for line in lines {
        offsets.push(*len + buf.len() as u64);
        buf.push_str(&line.text);
        buf.push('\n');
    }
    let written = file
        .write_all(buf.as_bytes())
        .and_then(|()| file.sync_data());
    let delay = shared.meta_mut().retention.sync_delay;
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    {
        let mut meta = shared.meta_mut();
        while meta.tail.front().is_some_and(|l| l.counter <= last) {
            meta.tail.pop_front();
        }
        match &written {
            Ok(()) => {
                if let Some(current) = meta.current.as_mut() {
                    for (line, offset) in lines.iter().zip(offsets) {
                        current.note(line.counter, offset);
                    }
                }
                *len += buf.len() as u64;
            }
            Err(e) => {
                eprintln!("hem-emulator: audit lines up to {last:x} not saved: {e}");
                let _ = file.set_len(*len);
            }
        }
    }
    shared.durable.send_replace(last);
}

/// Renames `audit.log` to `audit-<first counter>.log`, starts a new one with the key line,
/// deletes the oldest rotated files beyond the retention. Returns the new file.
fn rotate(shared: &Shared, dir: &Path, retention: Retention) -> io::Result<File> {
    let _no_readers = shared
        .rotation
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    let (key_line, old) = {
        let meta = shared.meta_mut();
        let old = meta
            .current
            .clone()
            .unwrap_or_else(|| FileMeta::empty(PathBuf::new()));
        (meta.key_line.clone(), old)
    };
    let first = old.marks.first().map_or(old.last, |m| m.0);
    let name = format!("audit-{first:016x}.log");
    let rotated_path = dir.join(&name);
    let current_path = dir.join(LOG_FILE);
    fs::rename(&current_path, &rotated_path)?;
    if let Err(e) = store::atomic_write(dir, LOG_FILE, format!("{key_line}\n").as_bytes()) {
        // Back as it was: the lines go on in the old file.
        fs::rename(&rotated_path, &current_path)?;
        return Err(e);
    }
    let file = open_append(&current_path)?;
    let mut gone = Vec::new();
    {
        let mut meta = shared.meta_mut();
        meta.rotated.push_back(FileMeta {
            path: rotated_path,
            ..old
        });
        meta.current = Some(FileMeta::empty(dir.join(LOG_FILE)));
        while meta.rotated.len() > retention.rotated_files {
            if let Some(oldest) = meta.rotated.pop_front() {
                gone.push(oldest.path);
            }
        }
    }
    for path in gone {
        if let Err(e) = fs::remove_file(&path) {
            eprintln!("hem-emulator: {} not deleted: {e}", path.display());
        }
    }
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// `audit-<16 lowercase hex>.log`: the counter of its first event line.
/// Deletes the audit log files of `dir` (`audit.log` and the rotated ones): a factory reset.
pub(crate) fn erase(dir: &Path) -> Result<(), EmulatorError> {
    let entries = fs::read_dir(dir)
        .map_err(|e| EmulatorError::io(format!("reading {}", dir.display()), e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_log = path.file_name().is_some_and(|n| n == LOG_FILE);
        if is_log || rotated_first(&path).is_some() {
            fs::remove_file(&path)
                .map_err(|e| EmulatorError::io(format!("deleting {}", path.display()), e))?;
        }
    }
    Ok(())
}

fn rotated_first(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let hex = name.strip_prefix("audit-")?.strip_suffix(".log")?;
    if hex.len() != 16 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// What a file holds, line by line, up to its first line that does not verify.
struct Scan {
    /// Its key line, if its first line is a whole key line that verifies.
    key_line: Option<String>,
    /// Its valid event lines (the path left empty).
    file: FileMeta,
    /// The counter of its first event line.
    first: Option<u64>,
    /// Bytes up to the end of the last valid line.
    valid_len: u64,
    /// The 1-based number of the first line that does not verify (or is torn).
    bad: Option<usize>,
}

fn scan(key: &AuditKey, text: &[u8]) -> Scan {
    let mut out = Scan {
        key_line: None,
        file: FileMeta::empty(PathBuf::new()),
        first: None,
        valid_len: 0,
        bad: None,
    };
    let mut offset = 0u64;
    for (n, raw) in text.split_inclusive(|b| *b == b'\n').enumerate() {
        let whole = raw.strip_suffix(b"\n");
        let fields = whole
            .and_then(|l| std::str::from_utf8(l).ok())
            .and_then(|l| key.verify(l).map(|f| (l, f)));
        let ok = match fields {
            Some((line, f)) if n == 0 && f.is_key_line() => {
                out.key_line = Some(String::from(line));
                true
            }
            Some((_, f))
                if n > 0
                    && !f.is_key_line()
                    && out.first.is_none_or(|_| f.counter == out.file.last + 1)
                    && f.counter > 0 =>
            {
                out.first.get_or_insert(f.counter);
                out.file.note(f.counter, offset);
                true
            }
            _ => false,
        };
        if !ok {
            out.bad = Some(n + 1);
            break;
        }
        offset += raw.len() as u64;
        out.valid_len = offset;
    }
    out
}

/// The whole lines of a file that carry a counter (above 0), verified or not, in the order
/// they come as long as their counters grow.
fn index_lines(text: &[u8]) -> FileMeta {
    let mut file = FileMeta::empty(PathBuf::new());
    let mut offset = 0u64;
    for raw in text.split_inclusive(|b| *b == b'\n') {
        let counter = raw
            .strip_suffix(b"\n")
            .and_then(|l| std::str::from_utf8(l).ok())
            .and_then(audit_line_counter);
        if let Some(counter) = counter.filter(|c| *c > file.last) {
            file.note(counter, offset);
        }
        offset += raw.len() as u64;
    }
    file
}

/// Reads the log without the device lock.
pub(crate) struct LogReader(Arc<Shared>);

/// `GET /api/logger/list`'s answer (spec §11.4).
#[derive(Debug)]
pub(crate) struct Page {
    /// Lines retained, the key line included.
    pub(crate) total: u64,
    /// The key line, then at most `count` event lines from `from` on.
    pub(crate) lines: Vec<Arc<str>>,
    /// The `from` of the next page, when more lines follow.
    pub(crate) next: Option<u64>,
}

impl LogReader {
    /// The key line and at most `count` retained event lines whose counter is at least
    /// `from`, in counter order (spec §11.4).
    pub(crate) fn page(&self, from: u64, count: usize) -> Page {
        let shared = &self.0;
        let _no_rotation = shared
            .rotation
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let (key_line, files, tail, total, last) = {
            let meta = shared.meta_mut();
            let files: Vec<FileMeta> = meta
                .rotated
                .iter()
                .chain(meta.current.as_ref())
                .filter(|f| f.lines > 0 && f.last >= from)
                .cloned()
                .collect();
            let at = meta.tail.partition_point(|l| l.counter < from);
            let tail: Vec<Line> = meta.tail.range(at..).take(count).cloned().collect();
            let in_files: u64 = meta
                .rotated
                .iter()
                .chain(meta.current.as_ref())
                .map(|f| f.lines)
                .sum();
            let last = meta
                .rotated
                .iter()
                .chain(meta.current.as_ref())
                .map(|f| f.last)
                .chain(meta.tail.back().map(|l| l.counter))
                .max()
                .unwrap_or(0);
            let total = 1 + in_files + meta.tail.len() as u64;
            (meta.key_line.clone(), files, tail, total, last)
        };
        // Lines from this counter on are in the tail snapshot, not (yet) read from files.
        let tail_first = tail.first().map_or(u64::MAX, |l| l.counter);
        let mut lines = vec![key_line];
        let mut last_listed = None;
        for file in &files {
            if lines.len() > count {
                break;
            }
            if let Err(e) = read_file(file, from, tail_first, count, &mut lines, &mut last_listed) {
                eprintln!("hem-emulator: reading {}: {e}", file.path.display());
            }
        }
        for line in tail {
            if lines.len() > count {
                break;
            }
            last_listed = Some(line.counter);
            lines.push(line.text);
        }
        let next = last_listed
            .filter(|l| *l < last && lines.len() > count)
            .map(|l| l + 1);
        Page { total, lines, next }
    }
}

/// Appends to `out` the whole lines of `file` whose counter is in `from..before`, until `out`
/// holds `count` event lines.
fn read_file(
    file: &FileMeta,
    from: u64,
    before: u64,
    count: usize,
    out: &mut Vec<Arc<str>>,
    last_listed: &mut Option<u64>,
) -> io::Result<()> {
    let start = file
        .marks
        .iter()
        .take_while(|(counter, _)| *counter <= from)
        .last()
        .map_or(0, |(_, offset)| *offset);
    let mut reader = BufReader::new(File::open(&file.path)?);
    reader.seek(SeekFrom::Start(start))?;
    let mut raw = Vec::new();
    while out.len() <= count {
        raw.clear();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        let Some(line) = raw
            .strip_suffix(b"\n")
            .and_then(|l| std::str::from_utf8(l).ok())
        else {
            // A line being written: the tail snapshot has it.
            break;
        };
        let Some(counter) = audit_line_counter(line) else {
            continue;
        };
        if counter >= before {
            break;
        }
        if counter >= from && counter > 0 && last_listed.is_none_or(|l| counter > l) {
            *last_listed = Some(counter);
            out.push(line.into());
        }
    }
    Ok(())
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::time::{Duration, Instant};

    use hem_auth_core::codec;
    use hem_auth_core::device::{AuditChain, AuditEvent, AuditKind, AuditResult};
    use zeroize::Zeroizing;

    use super::*;

    fn test_key(byte: u8) -> AuditKey {
        AuditKey::new(Zeroizing::new([byte; 32]))
    }

    impl AuditLog {
        /// What the device does with an event: the core's chain makes the line (with the key
        /// of this log's key line, from the next counter on), the log stores it.
        fn append(&mut self, event: &AuditEvent, now: u64) {
            let key_line = self.sink.shared.meta_mut().key_line.clone();
            let field = key_line.split('|').nth(4).unwrap();
            let mut buf = [0u8; 48];
            let bytes = codec::decode_segment(field.as_bytes(), &mut buf).unwrap();
            let mut raw = Zeroizing::new([0u8; 32]);
            raw.copy_from_slice(bytes);
            let mut chain = AuditChain::new(AuditKey::new(raw), self.next_counter());
            let mut lines = Vec::new();
            chain.record(event, UnixTime::from_secs(now), &mut lines);
            for line in lines {
                self.store(line);
            }
        }
    }

    fn event(kind: AuditKind, sub: &str, data: &str) -> AuditEvent {
        AuditEvent::new(0x6231_0bdd, kind, AuditResult::Ok, sub, data)
    }

    fn login(n: u64) -> AuditEvent {
        event(AuditKind::AuthSuccessInternal, "U", &format!("scope:{n}"))
    }

    fn small(lines_per_file: u64, rotated_files: usize) -> Retention {
        Retention {
            lines_per_file,
            rotated_files,
            sync_delay: Duration::ZERO,
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hem-emulator-audit-{tag}-{}-{}",
            std::process::id(),
            crate::clock::system_now()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Waits until every line handed to the writer is on disk.
    fn settle(log: &AuditLog) {
        let last = log.sink.next - 1;
        let mut rx = log.sink.shared.durable.subscribe();
        while *rx.borrow_and_update() < last {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// What a log reader does (TESTER `encedo_log_integrity_check`): take the key from the
    /// key line, then check each line's 16-byte MAC, and that counters follow one another.
    fn check_like_a_reader<L: AsRef<str>>(lines: &[L]) -> Vec<u64> {
        let first: Vec<&str> = lines[0].as_ref().split('|').collect();
        assert_eq!((first[0], first[2], first[3]), ("0", "0", "0"));
        let mut buf = [0u8; 48];
        let key = codec::decode_segment(first[4].as_bytes(), &mut buf).unwrap();
        let mut counters: Vec<u64> = Vec::new();
        for line in lines.iter().map(AsRef::as_ref) {
            let cut = line.rfind('|').unwrap() + 1;
            let mac = hem_auth_core::mac::mac(key, &line.as_bytes()[..cut]);
            assert_eq!(line[cut..], codec::encode_segment(&mac[..16]), "{line}");
            let counter = u64::from_str_radix(line.split('|').next().unwrap(), 16).unwrap();
            if let (Some(prev), true) = (counters.last(), counter > 0) {
                assert_eq!(counter, prev + 1, "{line}");
            }
            if counter > 0 {
                counters.push(counter);
            }
        }
        counters
    }

    /// Every retained line, page by page of `count`.
    fn pages(log: &AuditLog, count: usize) -> (u64, Vec<Arc<str>>) {
        let reader = log.reader();
        let mut from = 0;
        let mut all = Vec::new();
        loop {
            let page = reader.page(from, count);
            assert!(page.lines.len() <= count + 1);
            check_like_a_reader(&page.lines);
            all.extend(page.lines[1..].iter().cloned());
            match page.next {
                Some(next) => from = next,
                None => return (page.total, all),
            }
        }
    }

    fn file_lines(path: &Path) -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn memory_keeps_what_the_files_would() {
        let mut log = AuditLog::in_memory(&test_key(1), 0, small(10, 3));
        for n in 0..47 {
            log.append(&login(n), 1);
        }
        // 40 at most; at 41, the oldest 10 go.
        let (total, lines) = pages(&log, 4);
        assert_eq!((total, lines.len()), (38, 37));
        assert!(lines[0].starts_with("b|"));
        assert!(lines[36].starts_with("2f|"));
    }

    #[test]
    fn a_torn_tail_is_cut_and_counting_goes_on() {
        let dir = temp_dir("torn");
        let key = test_key(3);
        {
            let mut log = AuditLog::open_dir(&dir, &key, 100, small(10, 3)).unwrap();
            log.append(&event(AuditKind::AuthPairedExternal, "U", "kid"), 1);
            log.append(&event(AuditKind::AuthSuccessExternal, "kid", "scope"), 1);
        }
        // A crash in the middle of a line.
        let mut f = open_append(&dir.join(LOG_FILE)).unwrap();
        f.write_all(b"3|62310bdd|e|0|x|y|trunc").unwrap();
        drop(f);
        let mut log = AuditLog::open_dir(&dir, &key, 200, small(10, 3)).unwrap();
        assert_eq!(pages(&log, 10).1.len(), 2);
        log.append(&event(AuditKind::RtcSet, "", "200"), 200);
        settle(&log);
        let lines = file_lines(&dir.join(LOG_FILE));
        assert_eq!(lines.len(), 4);
        assert!(lines[3].starts_with("3|"));
        assert_eq!(check_like_a_reader(&lines), [1, 2, 3]);
        drop(log);
        // A log written under another key is not ours.
        assert!(AuditLog::open_dir(&dir, &test_key(4), 0, small(10, 3)).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Spec §11.3: files rotate at `lines_per_file` event lines, only the newest
    /// `rotated_files` are kept, no file is rewritten (`audit.log` keeps its inode and only
    /// grows until it is renamed; a rotated file never changes), every file verifies alone,
    /// and the pages run through all of them.
    #[test]
    fn files_rotate_append_only_and_pages_run_through_them() {
        let dir = temp_dir("rotate");
        let key = test_key(5);
        let mut log = AuditLog::open_dir(&dir, &key, 100, small(10, 3)).unwrap();
        let mut current = {
            let m = fs::metadata(dir.join(LOG_FILE)).unwrap();
            (m.ino(), m.len())
        };
        let mut rotated_seen: std::collections::BTreeMap<PathBuf, (u64, u64)> =
            std::collections::BTreeMap::new();
        let mut rotations = 0;
        for n in 0..75 {
            log.append(&login(n), 1);
            settle(&log);
            let m = fs::metadata(dir.join(LOG_FILE)).unwrap();
            if m.ino() == current.0 {
                assert!(m.len() > current.1, "audit.log only grows");
            } else {
                rotations += 1;
            }
            current = (m.ino(), m.len());
            for path in audit_paths(&dir) {
                let m = fs::metadata(&path).unwrap();
                let seen = *rotated_seen
                    .entry(path.clone())
                    .or_insert((m.ino(), m.len()));
                assert_eq!(seen, (m.ino(), m.len()), "{} changed", path.display());
            }
        }
        assert_eq!(rotations, 7);
        let names: Vec<String> = audit_paths(&dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "audit-0000000000000029.log",
                "audit-0000000000000033.log",
                "audit-000000000000003d.log",
            ]
        );
        let mut counters = Vec::new();
        for path in audit_paths(&dir).iter().chain([&dir.join(LOG_FILE)]) {
            let lines = file_lines(path);
            counters.extend(check_like_a_reader(&lines));
        }
        assert_eq!(counters, (41..=75).collect::<Vec<u64>>());
        let (total, lines) = pages(&log, 7);
        assert_eq!((total, lines.len()), (36, 35));
        assert!(lines[0].starts_with("29|"));
        // A `from` older than the oldest retained line starts there; one inside a file
        // starts at its line.
        assert!(log.reader().page(3, 2).lines[1].starts_with("29|"));
        let page = log.reader().page(0x3f, 2);
        assert!(page.lines[1].starts_with("3f|") && page.lines[2].starts_with("40|"));
        assert_eq!(page.next, Some(0x41));

        // A restart: same lines, same pages, counting goes on; a rotated file that does not
        // verify is kept as it is.
        drop(log);
        let bad = dir.join("audit-0000000000000033.log");
        let mut text = fs::read(&bad).unwrap();
        // A byte of line 0x33's time field.
        let at = text.iter().position(|b| *b == b'\n').unwrap() + 5;
        text[at] ^= 1;
        fs::write(&bad, &text).unwrap();
        let mut log = AuditLog::open_dir(&dir, &key, 300, small(10, 3)).unwrap();
        log.append(&login(76), 1);
        settle(&log);
        assert_eq!(fs::read(&bad).unwrap(), text);
        let page = log.reader().page(0, 1000);
        assert_eq!((page.total, page.lines.len(), page.next), (37, 37, None));
        assert!(page.lines[36].starts_with("4c|"));
        let bad_lines: Vec<&Arc<str>> = page
            .lines
            .iter()
            .filter(|l| key.verify(l).is_none())
            .collect();
        assert_eq!(bad_lines.len(), 1);
        assert!(bad_lines[0].starts_with("33|"));
        drop(log);
        fs::remove_dir_all(&dir).unwrap();
    }

    fn audit_paths(dir: &Path) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| rotated_first(p).is_some())
            .collect();
        paths.sort();
        paths
    }

    /// A crash between the rename of a rotation and the new `audit.log`: the next start makes
    /// a new one with the key line and goes on counting.
    #[test]
    fn a_crash_mid_rotation_loses_nothing() {
        let dir = temp_dir("midrotation");
        let key = test_key(6);
        let mut log = AuditLog::open_dir(&dir, &key, 100, small(5, 3)).unwrap();
        for n in 0..5 {
            log.append(&login(n), 1);
        }
        drop(log);
        fs::rename(dir.join(LOG_FILE), dir.join("audit-0000000000000001.log")).unwrap();
        let mut log = AuditLog::open_dir(&dir, &key, 200, small(5, 3)).unwrap();
        log.append(&login(5), 1);
        let (total, lines) = pages(&log, 1000);
        assert_eq!((total, lines.len()), (7, 6));
        assert!(file_lines(&dir.join(LOG_FILE))[0].starts_with("0|64|"));
        drop(log);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The writer's fsync happens off the caller (spec §11.3): with a disk that takes 300 ms
    /// per fsync, appending returns at once; an answer waits for its line.
    #[test]
    fn a_slow_disk_does_not_hold_the_caller() {
        let dir = temp_dir("slow");
        let key = test_key(8);
        let retention = Retention {
            sync_delay: Duration::from_millis(300),
            ..small(100, 3)
        };
        let mut log = AuditLog::open_dir(&dir, &key, 100, retention).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let started = Instant::now();
        let appended = runtime.block_on(answer_when_durable(async {
            log.append(&login(0), 1);
            log.append(&login(1), 1);
            started.elapsed()
        }));
        let answered_after = started.elapsed();
        assert!(appended < Duration::from_millis(100), "{appended:?}");
        assert!(
            answered_after >= Duration::from_millis(300),
            "{answered_after:?}"
        );
        // Failed scope checks are not waited for.
        let started = Instant::now();
        runtime.block_on(answer_when_durable(async {
            log.append(
                &AuditEvent::new(
                    1,
                    AuditKind::FailedScopeCheck,
                    AuditResult::Failed,
                    "U",
                    "x",
                ),
                1,
            );
        }));
        assert!(started.elapsed() < Duration::from_millis(100));
        drop(log);
        fs::remove_dir_all(&dir).unwrap();
    }
}
