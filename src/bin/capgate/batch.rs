//! `capgate compile --store DIR`: many manifests into a content-addressed
//! store, on every core.
//!
//! Inputs are manifest files and directories (walked with `capgate lock`'s
//! walk, which yields manifests already in byte order) from the command line
//! and from `--manifests-from FILE` (`-` = stdin), in that order. The calling
//! thread walks and queues them while the other workers start on the first
//! ones, then works too. Each worker parses its manifest, checks its grants
//! and computes the key, and stops there when `DIR/<key>/` exists (the warm
//! case: nothing normalized, lowered or written), else compiles, writes the
//! entry and drops the artifacts. Whichever worker completes the next
//! manifest in input order prints it and every later one already done, so
//! the output does not depend on `--jobs` and no artifact outlives its
//! manifest.

use crate::args::{CompileArgs, Format};
use crate::commands::{options, params_beside, read_manifest, Input};
use crate::report;
use capgate::emit::{self, Stored};
use capgate::json::Json;
use capgate::Options;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

/// What became of one manifest.
enum Status {
    Written(String),
    Present(String),
    /// Rejected by the compiler (exit 1).
    Rejected,
    /// Could not be read or written (exit 2).
    Failed,
}

/// One manifest's result: its status and what to print on stderr.
struct Outcome {
    status: Status,
    stderr: String,
}

/// A manifest to compile.
struct Item {
    path: PathBuf,
    /// Whether a capgate.params.json may sit beside it (false only when a
    /// walk saw that there is none).
    params: bool,
    /// A directory that could not be walked (reported in its place).
    error: Option<String>,
}

/// The paths named by `args` and then by `--manifests-from`, in order.
fn named(a: &CompileArgs) -> Result<Vec<PathBuf>, String> {
    let mut named = a.manifests.clone();
    if let Some(from) = &a.manifests_from {
        let mut bytes = Vec::new();
        let read = if from.as_os_str() == "-" {
            io::stdin().lock().read_to_end(&mut bytes)
        } else {
            std::fs::File::open(from).and_then(|mut f| f.read_to_end(&mut bytes))
        };
        read.map_err(|e| format!("cannot read --manifests-from {}: {e}", from.display()))?;
        // One path per line; a CRLF list (written on Windows) works too.
        for line in bytes.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                named.push(PathBuf::from(OsStr::from_bytes(line)));
            }
        }
    }
    Ok(named)
}

/// Feed every manifest to `push` in input order, directories replaced by
/// the manifests under them (streamed as the walk finds them).
fn produce(named: Vec<PathBuf>, push: &mut dyn FnMut(Item)) {
    for path in named {
        if path.is_dir() {
            let walked = crate::audit::walk_sorted(&path, &mut |rel, params| {
                push(Item {
                    path: path.join(rel),
                    params,
                    error: None,
                })
            });
            if let Err(e) = walked {
                let error = Some(format!("cannot walk {}: {e}", path.display()));
                push(Item {
                    path,
                    params: false,
                    error,
                });
            }
        } else {
            push(Item {
                path,
                params: true,
                error: None,
            });
        }
    }
}

/// Compile one manifest into the store.
fn one(item: &Item, flags: &Options, store: &Path, fmt: Format) -> Outcome {
    let path = &item.path;
    let file = path.display().to_string();
    let failed = |msg: String| Outcome {
        status: Status::Failed,
        stderr: report::failure_text(&msg, fmt),
    };
    if let Some(e) = &item.error {
        return failed(e.clone());
    }
    let beside = if item.params {
        params_beside(path)
    } else {
        Ok(BTreeMap::new())
    };
    let mut opts = match beside {
        Ok(params) => Options {
            params,
            ..flags.clone()
        },
        Err(e) => return failed(e),
    };
    // --param and --params-file apply on top of the file beside the manifest.
    opts.params
        .extend(flags.params.iter().map(|(k, v)| (k.clone(), v.clone())));
    let source = match read_manifest(path) {
        Ok(Input::Bytes(b)) => b,
        Ok(Input::TooLarge(ds)) => {
            return Outcome {
                status: Status::Rejected,
                stderr: report::render(&ds, b"", &file, fmt),
            }
        }
        Err(e) => return failed(e),
    };
    // The input memo: these very inputs compiled before, and their entry is there.
    let input = capgate::store::input_digest(&source, &opts);
    if let Some(key) = capgate::store::recall(store, &input) {
        return Outcome {
            status: Status::Present(key),
            stderr: String::new(),
        };
    }
    let remembered = |status: Status, stderr: String| match &status {
        Status::Written(key) | Status::Present(key) => match capgate::store::remember(store, &input, key) {
            Ok(()) => Outcome { status, stderr },
            Err(e) => failed(format!(
                "cannot write the input memo of {file} in {}: {e}",
                store.display()
            )),
        },
        _ => Outcome { status, stderr },
    };
    let rejected = |ds: &capgate::Diagnostics| Outcome {
        status: Status::Rejected,
        stderr: report::render(ds, &source, &file, fmt),
    };
    let prepared = match capgate::prepare(&source, &opts) {
        Ok(p) => p,
        Err(ds) => return rejected(&ds),
    };
    let key = prepared.key().to_string();
    if store.join(&key).join("index.json").is_file() {
        // Only a successful compile of these very inputs writes DIR/<key>/,
        // so there is nothing to do: no normalizing, linting or lowering
        // (the lints were printed when the entry was written).
        return remembered(Status::Present(key), String::new());
    }
    let compiled = match prepared.finish(&opts) {
        Ok(c) => c,
        Err(ds) => return rejected(&ds),
    };
    let warnings = report::render(&compiled.warnings, &source, &file, fmt);
    match emit::add_to_store(store, &key, &compiled.artifacts) {
        Ok(Stored::Written) => remembered(Status::Written(key), warnings),
        Ok(Stored::Present) => remembered(Status::Present(key), warnings),
        Err(e) => failed(format!("cannot write {} to the store {}: {e}", file, store.display())),
    }
}

/// The most worker threads a batch starts, whatever `--jobs` says.
const MAX_JOBS: usize = 256;

/// `capgate compile [MANIFEST|DIR]... [--manifests-from FILE] --store DIR`.
pub fn run(a: &CompileArgs, store: &Path) -> u8 {
    let fmt = a.common.format;
    let flags = match options(&a.common, BTreeMap::new()) {
        Ok(o) => o,
        Err(e) => return report::failure(&e, fmt),
    };
    let named = match named(a) {
        Ok(m) => m,
        Err(e) => return report::failure(&e, fmt),
    };
    if let Err(e) = std::fs::create_dir_all(store) {
        return report::failure(&format!("cannot create the store {}: {e}", store.display()), fmt);
    }
    let files = Json::strs(capgate::output_files(&flags.effective_targets()));
    // More workers than MAX_JOBS only add threads that wait on each other
    // (and may exceed the process's thread limit).
    let jobs = a
        .jobs
        .map(|n| n.get())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(MAX_JOBS);

    // The calling thread walks and queues the manifests, then works too;
    // the others start on the first manifest while the walk goes on.
    let queue = Mutex::new(Queue {
        items: VecDeque::new(),
        done: false,
    });
    let ready = Condvar::new();
    let printer = Mutex::new(Printer {
        next: 0,
        pending: HashMap::new(),
        out: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
        counts: [0; 4],
        worst: 0,
    });
    let work = || loop {
        let (i, item) = {
            let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(x) = q.items.pop_front() {
                    break x;
                }
                if q.done {
                    return;
                }
                q = ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let outcome = one(&item, &flags, store, fmt);
        let mut p = printer.lock().unwrap_or_else(|e| e.into_inner());
        p.pending.insert(i, (item.path, outcome));
        p.drain(a.quiet, fmt, store, &files);
    };
    std::thread::scope(|s| {
        for _ in 1..jobs {
            // A thread the system refuses is one worker fewer, not a failure.
            if std::thread::Builder::new().spawn_scoped(s, work).is_err() {
                break;
            }
        }
        let mut n = 0usize;
        produce(named, &mut |item| {
            queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .items
                .push_back((n, item));
            ready.notify_one();
            n += 1;
        });
        queue.lock().unwrap_or_else(|e| e.into_inner()).done = true;
        ready.notify_all();
        work();
    });
    let mut p = printer.into_inner().unwrap_or_else(|e| e.into_inner());
    let _ = p.out.flush();
    let (counts, worst) = (p.counts, p.worst);
    let [written, present, rejected, failed] = counts;
    if p.next == 0 {
        eprintln!(
            "warning: no manifests found (a walk takes files named capgate.json and skips symlinks; see docs/batch.md)"
        );
    }
    if rejected + failed > 0 && fmt == Format::Human {
        eprintln!(
            "error: {} of {} manifest(s) failed ({rejected} rejected, {failed} unreadable or unwritable); {written} written, {present} already in {}",
            rejected + failed,
            p.next,
            store.display()
        );
    }
    worst
}

/// Manifests waiting for a worker, numbered in input order.
struct Queue {
    items: VecDeque<(usize, Item)>,
    /// No more will come.
    done: bool,
}

/// Prints results in input order: a worker that finishes manifest `i`
/// prints it and every later one already done, once all before `i` are.
struct Printer {
    next: usize,
    pending: HashMap<usize, (PathBuf, Outcome)>,
    out: io::BufWriter<io::Stdout>,
    /// Written, present, rejected, failed.
    counts: [usize; 4],
    worst: u8,
}

impl Printer {
    fn drain(&mut self, quiet: bool, fmt: Format, store: &Path, files: &Json) {
        while let Some((path, o)) = self.pending.remove(&self.next) {
            if !o.stderr.is_empty() {
                let _ = self.out.flush();
                eprint!("{}", o.stderr);
            }
            let (slot, code) = match &o.status {
                Status::Written(_) => (0, 0),
                Status::Present(_) => (1, 0),
                Status::Rejected => (2, 1),
                Status::Failed => (3, 2),
            };
            self.counts[slot] += 1;
            self.worst = self.worst.max(code);
            if !quiet {
                let _ = line(&mut self.out, fmt, &path, store, &o.status, files);
            }
            self.next += 1;
        }
    }
}

/// The stdout line of one manifest.
fn line(out: &mut impl Write, fmt: Format, path: &Path, store: &Path, status: &Status, files: &Json) -> io::Result<()> {
    let (key, word) = match status {
        Status::Written(k) => (Some(k), "written"),
        Status::Present(k) => (Some(k), "present"),
        Status::Rejected => (None, "rejected"),
        Status::Failed => (None, "error"),
    };
    match fmt {
        Format::Human => match key {
            // Like sha256sum: the key, two spaces, the path.
            Some(k) => {
                out.write_all(k.as_bytes())?;
                out.write_all(b"  ")?;
                out.write_all(path.as_os_str().as_bytes())?;
                out.write_all(b"\n")
            }
            None => Ok(()),
        },
        Format::Json => {
            let mut o = BTreeMap::new();
            o.insert("manifest".to_string(), Json::str(path.display().to_string()));
            o.insert("status".to_string(), Json::str(word));
            if let Some(k) = key {
                o.insert("key".to_string(), Json::str(k));
                o.insert("out_dir".to_string(), Json::str(store.join(k).display().to_string()));
                o.insert("files".to_string(), files.clone());
            }
            writeln!(out, "{}", Json::Object(o).to_compact())
        }
    }
}
