//! A minimal MCP stdio client for the runtime tests: JSON-RPC 2.0 lines
//! over a child's stdin/stdout, with a deadline on every answer.

use capgate::json::{self, Json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running server and its stdio.
pub struct Client {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    next_id: i64,
}

pub fn obj(pairs: &[(&str, Json)]) -> Json {
    Json::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

/// `v[key]` for objects.
pub fn get<'a>(v: &'a Json, key: &str) -> Option<&'a Json> {
    match v {
        Json::Object(o) => o.get(key),
        _ => None,
    }
}

impl Client {
    /// Spawn `cmd` with piped stdin/stdout (stderr is inherited).
    pub fn spawn(mut cmd: Command) -> Client {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Client {
            child,
            stdin,
            lines: rx,
            next_id: 1,
        }
    }

    fn send(&mut self, msg: &Json) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{}", msg.to_compact()).expect("write to server");
        stdin.flush().unwrap();
    }

    /// Send a request and wait (up to `timeout`) for its answer; server→client
    /// requests in between are answered with "method not found".
    pub fn request(&mut self, method: &str, params: Json, timeout: Duration) -> Result<Json, String> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&obj(&[
            ("jsonrpc", Json::str("2.0")),
            ("id", Json::Int(id)),
            ("method", Json::str(method)),
            ("params", params),
        ]));
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|_| format!("no answer to {method} within {timeout:?}"))?;
            let Ok(v) = json::parse(&line) else { continue };
            let v = v.to_json();
            if get(&v, "method").is_some() && get(&v, "id").is_some() {
                let reply = obj(&[
                    ("jsonrpc", Json::str("2.0")),
                    ("id", get(&v, "id").unwrap().clone()),
                    (
                        "error",
                        obj(&[("code", Json::Int(-32601)), ("message", Json::str("not supported"))]),
                    ),
                ]);
                self.send(&reply);
                continue;
            }
            if get(&v, "id") == Some(&Json::Int(id)) {
                if let Some(e) = get(&v, "error") {
                    return Err(format!("{method} failed: {}", e.to_compact()));
                }
                return get(&v, "result")
                    .cloned()
                    .ok_or_else(|| "answer without result".to_string());
            }
        }
    }

    pub fn notify(&mut self, method: &str) {
        self.send(&obj(&[("jsonrpc", Json::str("2.0")), ("method", Json::str(method))]));
    }

    /// initialize + notifications/initialized.
    pub fn initialize(&mut self) -> Result<Json, String> {
        let params = obj(&[
            ("protocolVersion", Json::str("2025-06-18")),
            ("capabilities", Json::Object(BTreeMap::new())),
            (
                "clientInfo",
                obj(&[("name", Json::str("capgate-tests")), ("version", Json::str("1"))]),
            ),
        ]);
        let r = self.request("initialize", params, Duration::from_secs(60))?;
        self.notify("notifications/initialized");
        Ok(r)
    }

    /// Names from tools/list.
    pub fn tool_names(&mut self) -> Result<Vec<String>, String> {
        let r = self.request("tools/list", Json::Object(BTreeMap::new()), Duration::from_secs(30))?;
        let Some(Json::Array(tools)) = get(&r, "tools") else {
            return Err("tools/list without tools".into());
        };
        Ok(tools
            .iter()
            .filter_map(|t| match get(t, "name") {
                Some(Json::Str(s)) => Some(s.clone()),
                _ => None,
            })
            .collect())
    }

    /// tools/call; returns (isError, all text content joined).
    pub fn call(&mut self, name: &str, args: Json) -> Result<(bool, String), String> {
        let r = self.request(
            "tools/call",
            obj(&[("name", Json::str(name)), ("arguments", args)]),
            Duration::from_secs(60),
        )?;
        let is_error = get(&r, "isError") == Some(&Json::Bool(true));
        let mut text = String::new();
        if let Some(Json::Array(items)) = get(&r, "content") {
            for i in items {
                if let Some(Json::Str(t)) = get(i, "text") {
                    text.push_str(t);
                    text.push('\n');
                }
            }
        }
        Ok((is_error, text))
    }

    /// Close stdin and wait (bounded) for the process; kill it if it hangs.
    pub fn finish(mut self) -> Option<i32> {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
