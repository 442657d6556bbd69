// The benchmark's Node.js peer: Express's hello-world shape (one process, one route, no
// middleware), answering GET /api/health with the bytes api-app's health endpoint returns.
// scripts/bench.sh runs it side by side with api-app and the bare actix-web baseline; express
// comes from tools/package.json (pinned), found through NODE_PATH=tools/node_modules.
//
// PORT (default 8091) and BODY (default: the body below) are read from the environment.
"use strict";

const express = require("express");

const body =
  process.env.BODY ||
  '{"status":"ok","version":"0.1.0","uptime_seconds":0,"store":{"kind":"memory","reachable":true}}';
const port = Number(process.env.PORT || 8091);

const app = express();
app.get("/api/health", (_req, res) => {
  res.type("application/json").send(body);
});
app.listen(port, "127.0.0.1");
