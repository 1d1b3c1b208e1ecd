// The page's whole behaviour: plain DOM, no framework, no build step. Everything it shows comes from the same
// server's REST API; text from the server is set with textContent only, never parsed as HTML.

const TOKEN_KEY = 'xception-token';
const $ = (id) => document.getElementById(id);

let metadata;
/** The object URL of the uploaded, dropped or pasted image on show; revoked when another replaces it. */
let fileUrl;
/** Numbers each classification, so that an answer arriving after a newer request is dropped. */
let latestRequest = 0;

/** fetch with the bearer token, if the visitor gave one; a 401 asks for it. */
async function api(path, init = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401) {
    $('token-form').hidden = false;
    throw new Error(token ? 'the token was refused' : 'this server needs a token');
  }
  return response;
}

async function json(response) {
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw Object.assign(new Error(body.error ?? `HTTP ${response.status}`), { status: response.status });
  return body;
}

function showStatus(message) {
  $('status').textContent = message;
  $('status').hidden = !message;
}

function fact(list, name, value, className) {
  const dt = document.createElement('dt');
  dt.textContent = name;
  const dd = document.createElement('dd');
  dd.textContent = value;
  if (className) dd.className = className;
  list.append(dt, dd);
}

function renderMetadata(meta) {
  document.title = `${meta.name} · ${meta.taskExtended || meta.task}`;
  $('model-name').textContent = meta.name;
  $('model-task').textContent = meta.description || meta.taskExtended || meta.task;
  const facts = $('model-facts');
  facts.replaceChildren();
  fact(facts, 'Task', meta.taskExtended || meta.task);
  fact(facts, 'Engine', meta.engine);
  fact(facts, 'Backend', `${meta.backend}, ${meta.threads} thread${meta.threads === 1 ? '' : 's'}`);
  fact(facts, 'Weights', meta.pretrained ? `pretrained (${meta.weights.format})` : `NOT pretrained (seed ${meta.weights.seed})`,
    meta.pretrained ? 'yes' : 'no');
  fact(facts, 'Version', `${meta.version} · ${meta.instance}`);
  $('not-pretrained').hidden = meta.pretrained;
}

function renderSamples(meta) {
  const list = $('samples');
  list.replaceChildren();
  for (const name of meta.samples) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sample';
    button.title = `Classify ${name}`;
    button.setAttribute('aria-pressed', 'false');
    const img = document.createElement('img');
    img.alt = '';
    const caption = document.createElement('span');
    caption.textContent = name.replace(/\.[^.]+$/, '');
    button.append(img, caption);
    button.addEventListener('click', () => classifySample(name, button, img.src));
    list.append(button);
    // Through fetch, not <img src>, so the bearer token goes along when the API needs one.
    api(`/api/samples/${encodeURIComponent(name)}`)
      .then((response) => (response.ok ? response.blob() : Promise.reject(new Error(`HTTP ${response.status}`))))
      .then((blob) => { img.src = URL.createObjectURL(blob); })
      .catch(() => { button.classList.add('unloaded'); });
  }
}

/** Marks the sample being classified (none for a file of the visitor's). */
function markChosen(chosen) {
  for (const button of document.querySelectorAll('.sample')) {
    button.classList.toggle('chosen', button === chosen);
    button.setAttribute('aria-pressed', String(button === chosen));
  }
}

/** Shows the image once it has decoded: an image the browser cannot draw never leaves a broken-image icon. */
function showPreview(src, caption) {
  const figure = $('preview');
  const img = $('preview-image');
  figure.hidden = true;
  $('preview-caption').textContent = caption;
  img.onload = () => { figure.hidden = false; };
  img.onerror = () => { figure.hidden = true; };
  img.src = src;
}

function hidePreview() {
  $('preview').hidden = true;
  $('preview-image').removeAttribute('src');
}

function clearResult() {
  $('bars').replaceChildren();
  $('latency').hidden = true;
  $('result-meta').textContent = '';
}

/** 412 → "412 ms", 1234 → "1.23 s". */
function duration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function renderResult(result, roundTripMs) {
  const [output] = result.output;
  const top = metadata?.top || 5;
  // ModelHub lists every label in class order; the page ranks them.
  const ranked = [...output.prediction].sort((a, b) => b.probability - a.probability).slice(0, top);
  $('bars').replaceChildren(...ranked.map(({ label, probability }) => {
    const row = document.createElement('li');
    row.className = 'bar-row';
    const name = document.createElement('span');
    name.className = 'bar-label';
    name.textContent = label;
    const value = document.createElement('span');
    value.className = 'bar-value';
    value.textContent = `${(probability * 100).toFixed(probability >= 0.001 ? 1 : 3)}%`;
    const track = document.createElement('div');
    track.className = 'bar-track';
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = `${Math.max(0, Math.min(1, probability)) * 100}%`;
    bar.setAttribute('role', 'img');
    bar.setAttribute('aria-label', `${label}: ${value.textContent}`);
    track.append(bar);
    row.append(name, value, track);
    return row;
  }));
  $('latency-total').textContent = duration(roundTripMs);
  $('latency-server').textContent = duration(result.processing_time * 1000);
  $('latency').hidden = false;
  $('result-meta').textContent = `${output.shape[0]} classes · ${readableTime(result.timestamp)}`;
}

/** ModelHub's "%Y-%m-%d-%H-%M-%S-%f" (UTC) as "YYYY-MM-DD HH:MM:SS UTC". */
function readableTime(timestamp) {
  const [y, mo, d, h, mi, s] = String(timestamp).split('-');
  return s === undefined ? String(timestamp) : `${y}-${mo}-${d} ${h}:${mi}:${s} UTC`;
}

/** One classification: the image on show, a busy state, then the bars and the latency — or the server's refusal. */
async function classify({ caption, preview, request }) {
  const id = ++latestRequest;
  showStatus('');
  clearResult();
  showPreview(preview, caption);
  $('result-empty').hidden = true;
  $('busy').hidden = false;
  $('result').setAttribute('aria-busy', 'true');
  const started = performance.now();
  try {
    const result = await json(await request());
    if (id === latestRequest) renderResult(result, performance.now() - started);
  } catch (error) {
    if (id !== latestRequest) return;
    hidePreview();
    showStatus(`Could not classify ${caption}: ${error.message}`);
  } finally {
    if (id === latestRequest) {
      $('busy').hidden = true;
      $('result').removeAttribute('aria-busy');
    }
  }
}

function classifyFile(file, caption = file.name) {
  markChosen(undefined);
  if (fileUrl) URL.revokeObjectURL(fileUrl);
  fileUrl = URL.createObjectURL(file);
  const form = new FormData();
  form.append('file', file, file.name || 'image');
  return classify({ caption, preview: fileUrl, request: () => api('/api/predict', { method: 'POST', body: form }) });
}

function classifySample(name, button, src) {
  markChosen(button);
  return classify({ caption: name, preview: src, request: () => api(`/api/predict_sample?filename=${encodeURIComponent(name)}`) });
}

/** The first file of a drop or a paste, if it holds one. */
function firstFile(dataTransfer) {
  return dataTransfer?.files?.[0];
}

function wireFileInput() {
  const input = $('file-input');
  $('choose-file').addEventListener('click', () => input.click());
  $('drop-zone').addEventListener('click', (event) => {
    if (event.target === event.currentTarget || event.target.closest('svg, .drop-title')) input.click();
  });
  input.addEventListener('change', () => {
    const [file] = input.files;
    // Emptied at once: choosing the same file again classifies it again, and no stale name lingers anywhere.
    input.value = '';
    if (file) classifyFile(file);
  });
}

/** A file dragged anywhere over the page can be dropped anywhere on it; the drop zone lights up meanwhile. */
function wireDragAndDrop() {
  const zone = $('drop-zone');
  let depth = 0;
  const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
  window.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth++;
    zone.classList.add('over');
  });
  window.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  window.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.classList.remove('over');
  });
  window.addEventListener('drop', (event) => {
    event.preventDefault();
    depth = 0;
    zone.classList.remove('over');
    const file = firstFile(event.dataTransfer);
    if (file) classifyFile(file);
    else showStatus('Drop an image file (PNG or JPEG).');
  });
}

/** Ctrl+V (⌘+V) anywhere but a text field classifies the image on the clipboard. */
function wirePaste() {
  document.addEventListener('paste', (event) => {
    if (event.target.closest?.('input, textarea')) return;
    const file = firstFile(event.clipboardData);
    if (!file) {
      showStatus('The clipboard holds no image: copy one (or an image file), then paste it here.');
      return;
    }
    event.preventDefault();
    classifyFile(file, file.name && file.name !== 'image.png' ? file.name : 'pasted image');
  });
}

function wireTokenForm() {
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token-form').hidden = true;
    load();
  });
}

async function load() {
  showStatus('');
  try {
    metadata = await json(await api('/api/metadata'));
    renderMetadata(metadata);
    renderSamples(metadata);
    document.body.dataset.ready = 'true';
  } catch (error) {
    showStatus(`Could not load the model's metadata: ${error.message}`);
    // 503: the model is still loading; try again shortly.
    if (error.status === 503) setTimeout(load, 1000);
  }
}

wireFileInput();
wireDragAndDrop();
wirePaste();
wireTokenForm();
load();
