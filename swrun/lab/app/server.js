// The lab's sample API: a dependency-free Node HTTP server managed by PM2.
// GET /health          -> {"status":"ok","slot":...,"version":...,"uptime":...}
// GET /api/health/db   -> {"status":"ok"} when the lab database accepts TCP connections
// GET /api/user/profile -> 401 without a bearer token, 200 with one
const http = require("http");
const net = require("net");
const fs = require("fs");
const path = require("path");

const addr = process.env.APP_ADDR || "127.0.0.1";
const port = Number(process.env.APP_PORT || 3000);
const slot = process.env.SWRUN_SLOT || "unknown";
// APP_VERSION is set by playbooks/deploy.yml (and `swrun lab up`); a VERSION file is the fallback.
let version = process.env.APP_VERSION || "";
if (!version) {
  try {
    version = fs.readFileSync(path.join(__dirname, "VERSION"), "utf8").trim();
  } catch (e) { version = "dev"; }
}
const [dbHost, dbPort] = (process.env.DB_ADDR || "127.0.0.1:27017").split(":");
const started = Date.now();

function send(res, code, body) {
  res.writeHead(code, {
    "Content-Type": "application/json",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
  });
  res.end(JSON.stringify(body));
}

http.createServer((req, res) => {
  if (req.url === "/health") {
    send(res, 200, { status: "ok", ok: true, slot, version, pid: process.pid,
                     uptime: (Date.now() - started) / 1000 });
  } else if (req.url === "/api/health/db") {
    const sock = net.connect({ host: dbHost, port: Number(dbPort), timeout: 1000 });
    sock.on("connect", () => { sock.destroy(); send(res, 200, { status: "ok" }); });
    const down = () => { sock.destroy(); send(res, 503, { status: "down" }); };
    sock.on("error", down);
    sock.on("timeout", down);
  } else if (req.url === "/api/user/profile") {
    const auth = req.headers.authorization || "";
    if (auth.startsWith("Bearer ") && auth.length > 7) send(res, 200, { user: "lab-user" });
    else send(res, 401, { error: "unauthorized" });
  } else {
    send(res, 404, { error: "not found" });
  }
}).listen(port, addr, () => console.log(`api ${version} (${slot}) on ${addr}:${port}`));
