// Serves the todo app: its two files, supabase-js's browser build from node_modules, and
// /config.js made from the environment. No dependencies beyond Node itself.
//   AUTH_EXT_URL=http://127.0.0.1:8000 AUTH_EXT_ANON_KEY=... PORT=3000 node serve.mjs
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';

const here = (path) => new URL(path, import.meta.url);
const port = Number(process.env.PORT || 3000);
const js = 'text/javascript; charset=utf-8';
// JSON is valid JavaScript, and escaping '<' keeps '</script>' harmless should the
// file ever be inlined.
const config = `window.AUTH_EXT = ${JSON.stringify({
  url: process.env.AUTH_EXT_URL ?? '',
  anonKey: process.env.AUTH_EXT_ANON_KEY ?? '',
}).replace(/</g, '\\u003c')};\n`;
const routes = {
  '/': [here('./index.html'), 'text/html; charset=utf-8'],
  '/index.html': [here('./index.html'), 'text/html; charset=utf-8'],
  '/app.js': [here('./app.js'), js],
  '/supabase.js': [here('./node_modules/@supabase/supabase-js/dist/umd/supabase.js'), js],
  '/config.js': [config, js],
};

const server = createServer(async (req, res) => {
  const route = (req.method === 'GET' || req.method === 'HEAD') && routes[new URL(req.url, 'http://x').pathname];
  if (!route) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  try {
    const [source, type] = route;
    const body = typeof source === 'string' ? source : await readFile(source);
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch (e) {
    res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${e.code ?? e.message}\n`);
  }
});
server.listen(port, '127.0.0.1', () => console.log(`todo app: http://127.0.0.1:${port}/`));
