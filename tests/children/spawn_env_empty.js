// A Node parent that starts a child Node server with `env: {}` (an environment
// without the library), as child_process users do. Usage: node spawn_env_empty.js PORT once|hold
//   once: the child listens, prints its address, closes and exits; the parent exits with its code.
//   hold: the child keeps listening until its stdin ends (the parent exits or is killed).
// The child prints: child address=ADDRESS port=PORT preload=LD_PRELOAD-or-"-"
'use strict';
const { spawn } = require('child_process');

const [port, mode] = process.argv.slice(2);
const childCode = `
const server = require('net').createServer();
server.listen(${Number(port)}, () => {
  const a = server.address();
  console.log('child address=' + a.address + ' port=' + a.port + ' preload=' + (process.env.LD_PRELOAD || '-'));
  if (process.argv[1] === 'once') {
    server.close();
  } else {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  }
});`;
const child = spawn(process.execPath, ['-e', childCode, mode], { env: {}, stdio: ['pipe', 'inherit', 'inherit'] });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
