// The sample release the playbooks deploy: GET /health → {"ok":true,"pid":...,"version":...}.
// Listens on APP_ADDR:APP_PORT; APP_VERSION is set by playbooks/deploy.yml from `release`.
const http = require("http");
const addr = process.env.APP_ADDR || "127.0.0.1";
const port = Number(process.env.APP_PORT || 3000);
http
  .createServer((req, res) => {
    if (req.url === "/health") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, pid: process.pid, version: process.env.APP_VERSION || "" }));
    } else {
      res.writeHead(404);
      res.end();
    }
  })
  .listen(port, addr, () => console.log(`listening on ${addr}:${port}`));
