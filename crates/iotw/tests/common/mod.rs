//! What several end-to-end tests share: the iotw binary, a simulated site, and a running
//! osmem-server (installed by `scripts/install-test-peers.sh`). Each test uses part of it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub fn iotw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iotw"))
}

/// `iotw` with `args`: (success, standard output, standard error).
pub fn iotw_run(args: &[&str]) -> (bool, String, String) {
    let out = iotw().args(args).output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A ten-minute simulated site (8 agents, seed 3) in `dir`: its path.
pub fn simulate(dir: &Path) -> String {
    let pcap = dir.join("site.pcapng");
    let (ok, _, err) =
        iotw_run(&["simulate", "--duration", "10m", "--agents", "8", "--seed", "3", "--out", pcap.to_str().unwrap()]);
    assert!(ok, "{err}");
    pcap.to_str().unwrap().to_string()
}

/// The osmem-server binary: `OSMEM_SERVER_BIN`, else the one in the Python package.
pub fn osmem_binary() -> String {
    if let Ok(b) = std::env::var("OSMEM_SERVER_BIN") {
        return b;
    }
    let out = Command::new("python3")
        .args(["-c", "import osmem_server; print(osmem_server.resolve_binary())"])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "osmem-server is not installed (scripts/install-test-peers.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A running osmem-server, stopped when dropped.
pub struct Osmem {
    pub child: Child,
    pub url: String,
}

impl Osmem {
    pub fn start(addr: &str) -> Osmem {
        let mut child = Command::new(osmem_binary())
            .args(["-addr", addr, "-no-stdin-watch", "-no-ja", "-parent-pid", &std::process::id().to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("osmem-server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let hello: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("osmem said {line:?}: {e}"));
        Osmem { child, url: hello["url"].as_str().unwrap().to_owned() }
    }

    pub fn get(&self, path: &str) -> Value {
        let body = ureq::get(&format!("{}{path}", self.url)).call().unwrap().body_mut().read_to_string().unwrap();
        serde_json::from_str(&body).unwrap()
    }

    pub fn put(&self, path: &str, body: &Value) {
        let r = ureq::put(&format!("{}{path}", self.url))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap();
        assert!(r.status().is_success(), "PUT {path}: {}", r.status());
    }

    pub fn count(&self, pattern: &str) -> u64 {
        let v =
            ureq::get(&format!("{}/{pattern}/_count", self.url)).config().http_status_as_error(false).build().call();
        let body = v.unwrap().body_mut().read_to_string().unwrap();
        serde_json::from_str::<Value>(&body).unwrap()["count"].as_u64().unwrap_or(0)
    }

    /// Documents by `event.dataset`, and whether every `_id` is distinct.
    pub fn by_kind(&self) -> (BTreeMap<String, u64>, bool) {
        let v = self.get("/iotw-*/_search?size=10000&_source_includes=event.dataset");
        let hits = v["hits"]["hits"].as_array().unwrap();
        assert!(hits.len() < 10_000, "too many documents for one page");
        let mut kinds = BTreeMap::new();
        let mut ids = HashSet::new();
        for h in hits {
            *kinds.entry(h["_source"]["event"]["dataset"].as_str().unwrap().to_owned()).or_default() += 1;
            ids.insert(h["_id"].as_str().unwrap().to_owned());
        }
        (kinds, ids.len() == hits.len())
    }
}

impl Drop for Osmem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
