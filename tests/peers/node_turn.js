// node-turn (npm, a second and lenient TURN implementation) on loopback for rtcdiag's integration tests.
// Usage: node node_turn.js PORT USER REALM   (the password is read from the environment, NODE_TURN_PASSWORD)
// Listens on 127.0.0.1:PORT (UDP; node-turn takes 0 as its default 3478, so the test picks a free port);
// prints "ready PORT" once the socket is bound, exits with 3 if it cannot be bound.
// Stops on SIGTERM or when its standard input closes (the test that started it went away).
'use strict';
const Turn = require('node-turn');

const [port, user, realm] = process.argv.slice(2);
const credentials = {};
credentials[user] = process.env.NODE_TURN_PASSWORD;
const server = new Turn({
  listeningPort: parseInt(port, 10), listeningIps: ['127.0.0.1'], relayIps: ['127.0.0.1'],
  authMech: 'long-term', credentials: credentials, realm: realm, debugLevel: 'OFF',
});
server.start();
const socket = server.network.sockets[0];
socket.on('listening', () => { process.stdout.write(`ready ${socket.address().port}\n`); });
socket.on('error', () => { process.exit(3); });
const stop = () => { server.stop(); process.exit(0); };
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
