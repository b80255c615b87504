'use strict';
// isolategpt: routes Node's built-in fetch through the sandbox's egress
// proxy. Node 20's fetch (undici) ignores HTTPS_PROXY; this preload, given
// to node with --require, replaces fetch's global dispatcher with one
// whose every connection is an HTTP CONNECT tunnel through the proxy the
// sandbox names in HTTPS_PROXY. Without a proxy variable it does nothing.
(function () {
  const proxy = process.env.HTTPS_PROXY || process.env.https_proxy || process.env.HTTP_PROXY || process.env.http_proxy;
  if (!proxy || typeof globalThis.fetch !== 'function') return;
  const net = require('net');
  const tls = require('tls');
  let target;
  try { target = new URL(proxy); } catch (e) { return; }
  const proxyHost = target.hostname;
  const proxyPort = Number(target.port) || 80;
  // Making a Request loads undici, which installs its Agent as the global
  // dispatcher under this symbol: its class is the one to use.
  const key = Symbol.for('undici.globalDispatcher.1');
  try { void new Request('http://localhost/'); } catch (e) { return; }
  const current = globalThis[key];
  if (!current || typeof current.constructor !== 'function') return;
  const Agent = current.constructor;
  function connect(opts, callback) {
    const host = opts.hostname;
    const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
    const authority = (host.includes(':') ? '[' + host + ']' : host) + ':' + port;
    const socket = net.connect(proxyPort, proxyHost);
    let done = false;
    const fail = (err) => { if (!done) { done = true; socket.destroy(); callback(err, null); } };
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.write('CONNECT ' + authority + ' HTTP/1.1\r\nHost: ' + authority + '\r\n\r\n');
    });
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > 16384) fail(new Error('egress proxy: reply too long'));
        return;
      }
      socket.removeListener('data', onData);
      const status = head.slice(0, head.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.[01] 200/.test(status)) {
        fail(new Error('egress proxy refused ' + authority + ': ' + status));
        return;
      }
      const rest = head.slice(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      socket.removeListener('error', fail);
      if (opts.protocol !== 'https:') { done = true; callback(null, socket); return; }
      const secure = tls.connect({ socket, servername: opts.servername || (net.isIP(host) ? undefined : host), ALPNProtocols: ['http/1.1'] });
      secure.once('secureConnect', () => { if (!done) { done = true; callback(null, secure); } });
      secure.once('error', (err) => { if (!done) { done = true; secure.destroy(); callback(err, null); } });
    };
    socket.on('data', onData);
  }
  globalThis[key] = new Agent({ connect });
})();
