// The preview page in a real browser: Debian's chromium, driven by npm's playwright-core
// (from web/node_modules). tests/preview.rs runs it with one JSON argument:
//   { "url": the preview page, "wrong": the same page with a wrong token,
//     "streams": "127.0.0.1:<port>" (the emulator's stream server), "ca": its test CA (PEM),
//     "screenshot": where to save a PNG, "watch": seconds to watch both players }
// It fails (exit 1, the reason on stderr) unless the browser plays H.264/AAC, both players'
// currentTime advances by at least 2 s, hls.js loaded a live playlist, dash.js played, the
// page shows the probe's word `live`, no Content-Security-Policy violation was reported, and
// a wrong token gets 404. On success it prints one JSON line of what it measured.

import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const web = path.resolve(here, '../../web');
const CHROMIUM = '/usr/bin/chromium';

class Failure extends Error {}
function fail(why) {
  throw new Failure(why);
}
function report(e) {
  console.error(`preview browser test: ${e instanceof Failure ? e.message : e.stack || e}`);
  process.exitCode = 1;
}

const args = JSON.parse(process.argv[2] || '{}');
let chromium;
try {
  for (const k of ['url', 'wrong', 'streams', 'ca', 'screenshot', 'watch']) {
    if (args[k] === undefined) fail(`missing argument ${k}`);
  }
  if (!fs.existsSync(CHROMIUM)) {
    fail(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium, with sudo when not root), or run ./scripts/test.sh`);
  }
  try {
    chromium = createRequire(path.join(web, 'package.json'))('playwright-core').chromium;
  } catch (e) {
    fail(`playwright-core is not in web/node_modules (${e.message}): run npm ci --prefix web, or ./scripts/test.sh`);
  }
} catch (e) {
  report(e);
  process.exit(1);
}

const started = Date.now();
const since = () => ((Date.now() - started) / 1000).toFixed(1) + ' s';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Trust the emulator's test CA, not every certificate: Node checks the stream server's
// certificate for `host` against the CA (chain and name), and Chromium is told to accept that
// key only (--ignore-certificate-errors-spki-list takes SHA-256 hashes of SubjectPublicKeyInfo).
function pinnedKey(host) {
  const [ip, port] = args.streams.split(':');
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: ip, port: Number(port), servername: host, ca: fs.readFileSync(args.ca) }, () => {
      const cert = new crypto.X509Certificate(s.getPeerCertificate(true).raw);
      s.end();
      if (!cert.checkHost(host)) return reject(new Error(`the stream server's certificate is not for ${host}`));
      const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
      resolve(crypto.createHash('sha256').update(spki).digest('base64'));
    });
    s.on('error', (e) => reject(new Error(`${host} via ${args.streams} with the test CA: ${e.message}`)));
  });
}

const page_url = new URL(args.url);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ottd-chromium-'));
let context;
try {
  // The page tells us the playback hosts only once loaded; the emulator serves every
  // CloudFront name with certificates from one CA, so pin the keys of the names the page uses.
  const html = await (await fetch(args.url)).text();
  const hosts = [...new Set([...html.matchAll(/data-src="https:\/\/([^/"]+)\//g)].map((m) => m[1]))];
  if (hosts.length === 0) fail(`the page names no playback host:\n${html}`);
  const pins = [...new Set(await Promise.all(hosts.map(pinnedKey)))];
  context = await chromium.launchPersistentContext(dataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 820 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      `--host-resolver-rules=MAP *.cloudfront.net ${args.streams}, MAP *.amazonaws.com ${args.streams}`,
      `--ignore-certificate-errors-spki-list=${pins.join(',')}`,
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  const console_lines = [];
  const csp = [];
  page.on('console', (m) => {
    const t = m.text();
    console_lines.push(`${m.type()}: ${t}`);
    if (/Content Security Policy/i.test(t)) csp.push(t);
  });
  page.on('pageerror', (e) => console_lines.push(`pageerror: ${e.message}`));
  page.on('response', async (r) => {
    // Failed answers, with their words, for the failure message (a 404 the page recovers
    // from is normal while the stream starts).
    if (r.status() >= 400) {
      const body = await r.text().catch(() => '');
      console_lines.push(`${new Date().toISOString()} ${r.status()} ${r.url()}: ${body.slice(0, 200)}`);
    }
  });
  const answer = await page.goto(args.url, { waitUntil: 'load' });
  if (!answer || answer.status() !== 200) fail(`the page answered ${answer && answer.status()}`);
  const policy = answer.headers()['content-security-policy'] || '';
  if (!policy.includes("default-src 'none'")) fail(`no strict Content-Security-Policy: ${policy}`);

  const h264 = await page.evaluate(() =>
    typeof MediaSource !== 'undefined' && MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"'));
  if (!h264) {
    fail(`this chromium (${CHROMIUM}) cannot play H.264/AAC through Media Source Extensions ` +
      `(MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"') is false): ` +
      'Debian\'s chromium package can; a build without proprietary codecs cannot');
  }

  // Both players playing: hls.js loaded a live playlist and its video plays; dash.js said
  // PLAYBACK_PLAYING.
  const seen = () => page.evaluate(() => {
    const s = window.ottdPreview || {};
    const v = (id) => document.querySelector(`#${id} video`);
    return {
      hls: { live: s.hls && s.hls.live, playing: s.hls && s.hls.playing, status: s.hls && s.hls.status,
        errors: s.hls && s.hls.errors, time: v('hls').currentTime, latency: s.hls && s.hls.latency },
      dash: { playing: s.dash && s.dash.playing, status: s.dash && s.dash.status,
        errors: s.dash && s.dash.errors, time: v('dash').currentTime, latency: s.dash && s.dash.latency },
      probe: document.getElementById('probe-state').textContent,
      diagnosis: document.getElementById('probe-diagnosis').textContent,
    };
  });
  const until = Date.now() + 60000;
  let now = await seen();
  while (!(now.hls.live === true && now.hls.playing && now.dash.playing)) {
    if (Date.now() > until) {
      fail(`both players did not start within 60 s: ${JSON.stringify(now)}\nconsole:\n${console_lines.join('\n')}`);
    }
    await sleep(250);
    now = await seen();
  }
  const playing_after = since();
  const before = now;
  await sleep(args.watch * 1000);
  const after = await seen();
  const advance = { hls: after.hls.time - before.hls.time, dash: after.dash.time - before.dash.time };
  for (const p of ['hls', 'dash']) {
    if (!(advance[p] >= 2)) {
      fail(`${p}: video.currentTime advanced ${advance[p].toFixed(2)} s in ${args.watch} s (want >= 2): ` +
        `${JSON.stringify(after[p])}\nconsole:\n${console_lines.join('\n')}`);
    }
  }

  // The probe's word, as the page shows it (the daemon looks every two target durations).
  const probe_until = Date.now() + 45000;
  let probe = after;
  while (probe.probe !== 'live') {
    if (Date.now() > probe_until) fail(`the page does not show the probe's word "live": ${JSON.stringify(probe)}`);
    await sleep(500);
    probe = await seen();
  }
  await sleep(1000); // one more tick of the positions and latencies before the picture
  const last = await seen();
  fs.mkdirSync(path.dirname(args.screenshot), { recursive: true });
  await page.screenshot({ path: args.screenshot, fullPage: true });

  if (csp.length > 0) fail(`the page's policy blocked something:\n${csp.join('\n')}`);

  // A wrong token, or none, is a 404 like any unknown page.
  for (const u of [args.wrong, `${page_url.origin}${page_url.pathname}`]) {
    const r = await context.request.get(u);
    if (r.status() !== 404) fail(`${u} answered ${r.status()}, not 404`);
  }
  console.log(JSON.stringify({
    advance, watch: args.watch, playing_after, probe: last.probe, diagnosis: last.diagnosis,
    latency: { hls: last.hls.latency, dash: last.dash.latency }, pins: pins.length, took: since(),
  }));
} catch (e) {
  report(e);
} finally {
  if (context) await context.close().catch(() => {});
  fs.rmSync(dataDir, { recursive: true, force: true });
}
