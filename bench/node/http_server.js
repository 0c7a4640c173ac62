'use strict';
// The same JSON greeter on plain node:http, for the Node-served rows (issue 18): what a Node
// team serves with today. POST any path with {"name":...}; replies {"message":"Hello NAME"}.
// Prints {"event":"ready","address":...} once listening, then runs until SIGTERM.
//
//   node http_server.js [--addr 127.0.0.1:0]
const http = require('node:http');

const i = process.argv.indexOf('--addr');
const [host, port] = (i > 0 ? process.argv[i + 1] : '127.0.0.1:0').split(':');

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let name;
    try {
      name = JSON.parse(Buffer.concat(chunks)).name;
    } catch (e) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end(String(e));
      return;
    }
    const body = JSON.stringify({ message: 'Hello ' + name });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(Number(port), host, () => {
  const a = server.address();
  console.log(JSON.stringify({ event: 'ready', address: `${a.address}:${a.port}` }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
