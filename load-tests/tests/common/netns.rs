//! A network namespace made by the test, joined to the host by a veth
//! pair, for fault injection on a real network path: what crosses the
//! veth (the patient's signaling and media) can be cut (`ip link set
//! down`) or shaped (`tc qdisc ... tbf`).
//!
//! This machine's kernel (a Firecracker guest) has no `sch_netem` and no
//! tc classifiers or actions, so packet loss and added delay cannot be
//! made by the kernel here; see `netns_loss.rs` and `netns_delay.rs` for
//! how those cases are injected instead.
#![allow(dead_code)]

use std::future::Future;
use std::net::Ipv4Addr;
use std::process::Command;

/// Runs `ip`/`tc`, panicking with its stderr on failure.
pub fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether this machine lets the test make namespaces (root, iproute2).
pub fn available() -> bool {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub struct Netns {
    pub name: String,
    /// The host's end of the veth, in the root namespace.
    pub host_if: String,
    pub host_ip: Ipv4Addr,
    /// The namespace's end.
    pub ns_ip: Ipv4Addr,
}

impl Netns {
    /// A namespace `tcf<pid><tag>` with `10.<200+tag>.<pid%250>.2/24`, its
    /// host end `.1`.
    pub fn create(tag: u8) -> Netns {
        let pid = std::process::id();
        let name = format!("tcf{pid}{tag}");
        let host_if = format!("tch{}{tag}", pid % 100_000);
        let ns_if = format!("tcn{}{tag}", pid % 100_000);
        let (a, b) = (200 + tag, (pid % 250) as u8);
        let host_ip = Ipv4Addr::new(10, a, b, 1);
        let ns_ip = Ipv4Addr::new(10, a, b, 2);
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        sh("ip", &["netns", "add", &name]);
        let ns = Netns {
            name,
            host_if,
            host_ip,
            ns_ip,
        };
        sh(
            "ip",
            &[
                "link",
                "add",
                &ns.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &ns_if,
            ],
        );
        sh("ip", &["link", "set", &ns_if, "netns", &ns.name]);
        sh(
            "ip",
            &["addr", "add", &format!("{host_ip}/24"), "dev", &ns.host_if],
        );
        sh("ip", &["link", "set", &ns.host_if, "up"]);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns.exec(&["ip", "addr", "add", &format!("{ns_ip}/24"), "dev", &ns_if]);
        ns.exec(&["ip", "link", "set", &ns_if, "up"]);
        ns
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", self.name.as_str()];
        all.extend_from_slice(args);
        sh("ip", &all);
    }

    /// Cuts the link (both ways) or restores it.
    pub fn link(&self, up: bool) {
        sh(
            "ip",
            &["link", "set", &self.host_if, if up { "up" } else { "down" }],
        );
    }

    /// Caps what the host sends into the namespace at `kbit` kbit/s.
    pub fn cap(&self, kbit: u32) {
        sh(
            "tc",
            &[
                "qdisc",
                "replace",
                "dev",
                &self.host_if,
                "root",
                "tbf",
                "rate",
                &format!("{kbit}kbit"),
                "burst",
                "4kb",
                "latency",
                "100ms",
            ],
        );
    }

    /// Removes the cap.
    pub fn uncap(&self) {
        let _ = Command::new("tc")
            .args(["qdisc", "del", "dev", &self.host_if, "root"])
            .output();
    }

    /// Runs `make()`'s future on a thread of its own that has joined the
    /// namespace, so every socket it opens lives there.
    pub fn spawn<T, F, Fut>(&self, make: F) -> std::thread::JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open the namespace");
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("join the namespace (setns)");
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(make())
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair with it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A consultation whose patient runs in a [`Netns`] and whose professional
/// and server run in the root namespace, on the veth's host end; both
/// clients report stats every second.
pub struct FaultCall {
    pub server: super::Server,
    pub act: session::ActId,
    pro: tokio::task::JoinHandle<load_tests::Result<load_tests::participant::Outcome>>,
    patient: std::thread::JoinHandle<load_tests::Result<load_tests::participant::Outcome>>,
}

impl FaultCall {
    /// Starts the call, sending media for `run_for`; `patient` adjusts the
    /// patient's plan. Returns once both media paths are recorded.
    pub async fn start(
        ns: &Netns,
        run_for: std::time::Duration,
        patient: impl FnOnce(load_tests::participant::Plan) -> load_tests::participant::Plan,
    ) -> FaultCall {
        use std::time::{Duration, Instant};
        let server = super::server_at(false, ns.host_ip.into()).await;
        let (act, pro_token, patient_token) = super::consultation(&server.state);
        let plan = |consent, admit, ip: Ipv4Addr| load_tests::participant::Plan {
            packets: (run_for.as_millis() / 20) as u32,
            expect_packets: 0,
            timeout: run_for,
            bind_ip: Some(ip.into()),
            stats_every: Some(Duration::from_secs(1)),
            ..super::plan(consent, admit)
        };
        let url = server.ws_url.clone();
        let pro = tokio::spawn(load_tests::participant::run_owned(
            url.clone(),
            pro_token,
            plan(false, true, ns.host_ip),
        ));
        let patient_plan = patient(plan(true, false, ns.ns_ip));
        let patient =
            ns.spawn(move || load_tests::participant::run_owned(url, patient_token, patient_plan));
        let started = Instant::now();
        loop {
            let connected = server
                .events(act)
                .iter()
                .filter(|e| matches!(e.body, session::ActEvent::MediaConnected(_)))
                .count();
            if connected >= 2 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(45),
                "media never connected"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        FaultCall {
            server,
            act,
            pro,
            patient,
        }
    }

    /// Waits for both clients to finish; returns (professional, patient).
    pub async fn finish(
        self,
    ) -> (
        super::Server,
        session::ActId,
        load_tests::participant::Outcome,
        load_tests::participant::Outcome,
    ) {
        let pro = self.pro.await.unwrap().expect("professional");
        let patient = self.patient;
        let patient = tokio::task::spawn_blocking(move || patient.join().unwrap())
            .await
            .unwrap()
            .expect("patient");
        (self.server, self.act, pro, patient)
    }
}
