// ottd's preview page: starts hls.js and dash.js on the event's CloudFront URLs (from the
// page's data- attributes), shows each player's position and live latency, and polls the
// daemon for the stream probe's word. What it saw is also kept in window.ottdPreview, which
// the browser test reads.
'use strict';

(function () {
  const root = document.getElementById('preview');
  if (!root) return;

  const seen = {
    hls: { status: 'starting', manifestParsed: false, live: null, playing: false, latency: null, errors: [] },
    dash: { status: 'starting', playing: false, latency: null, errors: [] },
    probe: null,
    phase: null,
  };
  window.ottdPreview = seen;

  function part(id) {
    const el = document.getElementById(id);
    return {
      el: el,
      video: el.querySelector('video'),
      set: function (cls, text) {
        const dd = el.querySelector('.' + cls);
        if (dd) dd.textContent = text;
      },
    };
  }

  function status(name, p, text, level) {
    seen[name].status = text;
    p.set('status', text);
    p.el.dataset.level = level || 'ok';
  }

  function error(name, p, text) {
    seen[name].errors.push(text);
    if (seen[name].errors.length > 20) seen[name].errors.shift();
    status(name, p, text, 'error');
  }

  function startHls() {
    const p = part('hls');
    const src = p.el.dataset.src;
    if (p.el.dataset.player === 'missing' || typeof window.Hls === 'undefined') {
      return error('hls', p, 'hls.js player unavailable (the daemon has no hls.light.min.js: see README "Preview page")');
    }
    if (!src) return status('hls', p, 'no playback URL', 'warn');
    if (!window.Hls.isSupported()) return error('hls', p, 'this browser has no Media Source Extensions');
    const Hls = window.Hls;
    const hls = new Hls({ lowLatencyMode: false });
    seen.hls.player = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, function () {
      seen.hls.manifestParsed = true;
      status('hls', p, 'manifest parsed');
      p.video.play().catch(function (e) { error('hls', p, 'play() refused: ' + e.message); });
    });
    hls.on(Hls.Events.LEVEL_LOADED, function (_e, data) {
      seen.hls.live = !!(data && data.details && data.details.live);
    });
    hls.on(Hls.Events.ERROR, function (_e, data) {
      if (!data.fatal) return;
      error('hls', p, 'error: ' + data.type + ' ' + data.details);
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR && !seen.hls.manifestParsed) {
        // No manifest yet (opened before the first segments, or a gap): ask for it again;
        // startLoad() alone never reloads a manifest that failed.
        setTimeout(function () { hls.loadSource(src); }, 2000);
      } else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        setTimeout(function () { hls.startLoad(); }, 2000);
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      }
    });
    p.video.addEventListener('playing', function () {
      seen.hls.playing = true;
      status('hls', p, seen.hls.live === false ? 'playing (not live)' : 'playing');
    });
    hls.loadSource(src);
    hls.attachMedia(p.video);
  }

  function startDash() {
    const p = part('dash');
    const src = p.el.dataset.src;
    if (p.el.dataset.player === 'missing' || typeof window.dashjs === 'undefined') {
      return error('dash', p, 'dash.js player unavailable (the daemon has no dash.all.min.js: see README "Preview page")');
    }
    if (!src) return status('dash', p, 'no playback URL', 'warn');
    const dashjs = window.dashjs;
    const player = dashjs.MediaPlayer().create();
    seen.dash.player = player;
    // Time from the daemon (dash.js's default is a public time server: not allowed here).
    player.updateSettings({
      streaming: {
        utcSynchronization: {
          defaultTimingSource: { scheme: 'urn:mpeg:dash:utc:http-iso:2014', value: new URL('assets/now', location.href).href },
        },
      },
    });
    const events = dashjs.MediaPlayer.events;
    player.on(events.PLAYBACK_PLAYING, function () {
      seen.dash.playing = true;
      status('dash', p, 'playing');
    });
    player.on(events.MANIFEST_LOADED, function () {
      if (!seen.dash.playing) status('dash', p, 'manifest loaded');
    });
    player.on(events.ERROR, function (e) {
      const err = e && e.error;
      error('dash', p, 'error: ' + (err ? (err.code + ' ' + (err.message || '')) : 'unknown'));
    });
    player.initialize(p.video, src, true);
    // dash.js may stay stuck on a manifest read before its first segment: until it plays,
    // it is given the source again every few seconds.
    const again = setInterval(function () {
      if (seen.dash.playing) return clearInterval(again);
      status('dash', p, 'not playing yet: loading the manifest again', 'warn');
      player.attachSource(src);
    }, 8000);
  }

  function seconds(v) {
    return typeof v === 'number' && isFinite(v) ? v.toFixed(1) + ' s' : '–';
  }

  function tick() {
    const h = part('hls');
    const d = part('dash');
    h.set('time', seconds(h.video.currentTime));
    d.set('time', seconds(d.video.currentTime));
    if (seen.hls.player) {
      const l = seen.hls.player.latency;
      seen.hls.latency = typeof l === 'number' && isFinite(l) ? l : null;
      h.set('latency', seconds(seen.hls.latency));
    }
    if (seen.dash.player && seen.dash.player.isReady()) {
      const l = seen.dash.player.getCurrentLiveLatency();
      seen.dash.latency = typeof l === 'number' && isFinite(l) && l > 0 ? l : null;
      d.set('latency', seconds(seen.dash.latency));
    }
  }

  function showProbe(v) {
    const st = document.getElementById('probe-state');
    const diag = document.getElementById('probe-diagnosis');
    const at = document.getElementById('probe-at');
    const phase = document.getElementById('phase');
    seen.phase = v.phase;
    seen.probe = v.probe;
    phase.textContent = v.phase ? 'phase: ' + v.phase : 'not deployed';
    if (v.probe) {
      st.textContent = v.probe.state;
      st.dataset.state = v.probe.state.replace(' ', '-');
      diag.textContent = v.probe.diagnosis;
      at.textContent = '(looked ' + v.probe.at + (v.probe.since ? ', wrong since ' + v.probe.since : '') + ')';
    } else {
      st.textContent = 'no word yet';
      st.dataset.state = 'none';
      diag.textContent = v.phase === 'running' ? 'the probe has not looked yet, or is off' : '';
      at.textContent = '';
    }
    // Deployed anew on another distribution: the page's policy and players are for the old one.
    if ((v.domain || '') !== (root.dataset.domain || '')) location.reload();
  }

  function poll() {
    fetch(root.dataset.state, { cache: 'no-store', credentials: 'omit' })
      .then(function (r) {
        if (!r.ok) throw new Error('the daemon answered ' + r.status);
        return r.json();
      })
      .then(showProbe)
      .catch(function (e) {
        document.getElementById('probe-state').textContent = 'unknown';
        document.getElementById('probe-diagnosis').textContent = e.message;
      })
      .finally(function () { setTimeout(poll, 2000); });
  }

  // The players start once the probe says the stream is live (a page opened before the first
  // segments would start on 404s), or after 10 s without a word from it (the probe is off).
  let started = false;
  function start() {
    if (started) return;
    started = true;
    startHls();
    startDash();
  }
  const waiting = setInterval(function () {
    if (seen.probe && seen.probe.state === 'live') {
      clearInterval(waiting);
      start();
    }
  }, 250);
  setTimeout(function () {
    if (!seen.probe) {
      clearInterval(waiting);
      start();
    }
  }, 10000);
  for (const name of ['hls', 'dash']) status(name, part(name), 'waiting for the stream to be live');
  setInterval(tick, 500);
  poll();
})();
