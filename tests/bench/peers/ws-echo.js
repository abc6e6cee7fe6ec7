// Node.js WebSocket echo server for bench-ws.sh, on Debian's node-ws
// (apt-get install nodejs node-ws): every message goes back with its opcode.
// No compression, no pings (uws-load counts bytes and wants nothing else).
//
//   node ws-echo.js PORT
let WebSocket;
try {
    WebSocket = require('ws');
} catch (e) {
    // Debian installs the module outside the default search path of some nodejs builds.
    WebSocket = require('/usr/share/nodejs/ws');
}
const port = +process.argv[2] || 18201;
const wss = new WebSocket.Server({
    host: '127.0.0.1', port, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024,
});
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
wss.on('listening', () => console.log('listening on port ' + port));
