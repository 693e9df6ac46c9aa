// A tiny HTTP app for pm2 tests: GET /health → {"ok":true,"pid":...}. Binds APP_ADDR:APP_PORT.
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
