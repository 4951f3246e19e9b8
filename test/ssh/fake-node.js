/*
 * Stand-ins for what systemd, the kubelet, etcd and the kube-apiserver static pod do on a real
 * node, just enough for the installer's health gates (lib/provision/installer.ts). Runs as root
 * INSIDE one test host (test/harness/hosts.ts: its mount, network and PID namespaces), started by
 * test/ssh/ssh.e2e.ts over ssh with sudo. Plain Node.js, no dependencies.
 *
 *   kubelet   http://127.0.0.1:10248/healthz → "ok" once /etc/kubernetes/kubelet.env exists; 503
 *             for RESTART_MS after every "restart kubelet.service" the systemctl stand-in records.
 *   etcd      (controllers) http://127.0.0.1:2381/health → {"health":"true"} once /etc/etcd/etcd.env
 *             exists; 503 for RESTART_MS after every "restart etcd-member.service"; {"health":"false"}
 *             while the test has switched it unhealthy.
 *   apiserver (controllers) a child process named "kube-apiserver" serving
 *             https://127.0.0.1:<apiPort> with the PUSHED apiserver certificate and key, requiring
 *             a client certificate signed by the PUSHED ca.crt: /readyz → "ok", /version →
 *             {"gitVersion": <image tag in the manifest when it started>}. Like the kubelet with a
 *             static pod, it is killed and started again APISERVER_DELAY_MS after the manifest's
 *             content changes.
 *   bootstrap "start bootstrap.service" in the systemctl log → touch /opt/bootstrap/bootstrap.done
 *             (what the real one-shot's script does when it succeeds).
 *   control   http://<host ip>:9900 (reachable from the test process): GET /state → JSON with
 *             timestamped events; GET /etcd?healthy=0|1 sets etcd's health, /etcd?breakOnRestart=1
 *             makes the next etcd restart come back unhealthy (a failed etcd upgrade).
 *
 * Usage: node fake-node.js <role> <host ip> <api port>
 */
"use strict";
const fs = require("node:fs");
const http = require("node:http");
const https = require("node:https");
const crypto = require("node:crypto");
const { spawn } = require("node:child_process");

const RESTART_MS = 400;
const APISERVER_DELAY_MS = 1200;
const POLL_MS = 50;
const SYSTEMCTL_LOG = "/var/lib/opke-test/systemctl.log";
const MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml";
const PKI = "/etc/kubernetes/pki";

if (process.argv[2] === "apiserver-child") {
    apiserverChild(Number(process.argv[3]), process.argv[4]);
} else {
    supervisor(process.argv[2], process.argv[3], Number(process.argv[4]));
}

function apiserverChild(port, version) {
    process.title = "kube-apiserver";
    const server = https.createServer(
        {
            key: fs.readFileSync(`${PKI}/apiserver.key`),
            cert: fs.readFileSync(`${PKI}/apiserver.crt`),
            ca: fs.readFileSync(`${PKI}/ca.crt`),
            requestCert: true,
            rejectUnauthorized: true,
        },
        (req, res) => {
            if (req.url === "/readyz") return res.end("ok");
            if (req.url === "/version") {
                res.setHeader("content-type", "application/json");
                return res.end(`{\n  "major": "1",\n  "gitVersion": "${version}",\n  "platform": "linux/amd64"\n}`);
            }
            res.statusCode = 404;
            res.end("not found");
        },
    );
    server.listen(port, "127.0.0.1", () => process.send && process.send("listening"));
}

function supervisor(role, ip, apiPort) {
    const controller = role === "controller";
    const events = [];
    const event = (what, extra = {}) => events.push({ t: Date.now(), what, ...extra });
    let etcdHealthy = true;
    let etcdBreaksOnRestart = false;
    let kubeletDownUntil = 0;
    let etcdDownUntil = 0;
    let seenLines = 0;
    let manifestHash = "";
    let apiChild;
    let apiTimer;

    const exists = (p) => fs.existsSync(p);
    // Every request first catches up with the systemctl log: a restart the installer just made
    // must be visible to the probe that follows it (systemd stops the old process synchronously).
    const serve = (port, host, handler) =>
        http.createServer((req, res) => {
            tick();
            handler(req, res);
        }).listen(port, host);

    serve(10248, "127.0.0.1", (req, res) => {
        const up = exists("/etc/kubernetes/kubelet.env") && Date.now() >= kubeletDownUntil;
        res.statusCode = up ? 200 : 503;
        res.end(up ? "ok" : "kubelet not running");
    });
    if (controller) {
        serve(2381, "127.0.0.1", (req, res) => {
            const running = exists("/etc/etcd/etcd.env") && Date.now() >= etcdDownUntil;
            if (!running) {
                res.statusCode = 503;
                return res.end("etcd not running");
            }
            res.statusCode = etcdHealthy ? 200 : 503;
            res.end(`{"health":"${etcdHealthy}","reason":""}`);
        });
    }
    serve(9900, ip, (req, res) => {
        const url = new URL(req.url, "http://x");
        if (url.pathname === "/etcd") {
            if (url.searchParams.has("healthy")) etcdHealthy = url.searchParams.get("healthy") !== "0";
            // The next etcd restart "fails": the member does not come back healthy.
            etcdBreaksOnRestart = url.searchParams.get("breakOnRestart") === "1";
            event("etcd-control", { healthy: etcdHealthy, breakOnRestart: etcdBreaksOnRestart });
        }
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ role, etcdHealthy, apiserverPid: apiChild ? apiChild.pid : undefined, events }));
    });

    const startApiserver = () => {
        apiTimer = undefined;
        let version = "";
        try {
            const m = /kube-apiserver:(v[0-9][^" \n]*)/.exec(fs.readFileSync(MANIFEST, "utf8"));
            version = m ? m[1] : "";
        } catch {
            return;
        }
        const child = spawn(process.execPath, [__filename, "apiserver-child", String(apiPort), version], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
        apiChild = child;
        child.on("message", () => event("apiserver-ready", { pid: child.pid, version }));
        child.on("exit", (code, signal) => {
            event("apiserver-exit", { pid: child.pid, code, signal });
            if (apiChild !== child) return;
            apiChild = undefined;
            // Crashed (e.g. its certificates were not there yet): the kubelet restarts the container.
            if (signal === null && !apiTimer) apiTimer = setTimeout(startApiserver, 500);
        });
    };

    function tick() {
        // systemctl stand-in's log: restarts and the bootstrap start.
        let lines = [];
        try {
            lines = fs.readFileSync(SYSTEMCTL_LOG, "utf8").split("\n").filter((l) => l !== "");
        } catch {
            /* not there yet */
        }
        for (const line of lines.slice(seenLines)) {
            if (line === "restart kubelet.service") {
                kubeletDownUntil = Date.now() + RESTART_MS;
                event("kubelet-restart");
            } else if (line === "restart etcd-member.service" && controller) {
                etcdDownUntil = Date.now() + RESTART_MS;
                if (etcdBreaksOnRestart) {
                    etcdHealthy = false;
                    etcdBreaksOnRestart = false;
                }
                event("etcd-restart", { healthy: etcdHealthy });
            } else if (line === "start bootstrap.service" && controller) {
                fs.mkdirSync("/opt/bootstrap", { recursive: true, mode: 0o700 });
                fs.writeFileSync("/opt/bootstrap/bootstrap.done", "");
                event("bootstrap-done");
            }
        }
        seenLines = lines.length;
        // The kubelet re-creates the apiserver static pod when its manifest changes.
        if (controller) {
            let hash = "";
            try {
                hash = crypto.createHash("sha256").update(fs.readFileSync(MANIFEST)).digest("hex");
            } catch {
                /* no manifest yet */
            }
            if (hash !== manifestHash) {
                manifestHash = hash;
                if (apiChild) apiChild.kill("SIGKILL");
                if (apiTimer) clearTimeout(apiTimer);
                if (hash) {
                    event("apiserver-manifest-changed");
                    apiTimer = setTimeout(startApiserver, APISERVER_DELAY_MS);
                }
            }
        }
    }
    // Only what happens from now on: a restarted stand-in must not replay the log's history.
    try {
        seenLines = fs.readFileSync(SYSTEMCTL_LOG, "utf8").split("\n").filter((l) => l !== "").length;
    } catch {
        seenLines = 0;
    }
    setInterval(tick, POLL_MS);
    tick();
    event("started");
    const stop = () => {
        if (apiChild) apiChild.kill("SIGKILL");
        process.exit(0);
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}
