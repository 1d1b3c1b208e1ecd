// The page's whole behaviour: plain DOM, no framework, no build step. Everything it shows comes from the same
// server's REST API; text from the server is set with textContent only, never parsed as HTML.

const TOKEN_KEY = 'xception-token';
const $ = (id) => document.getElementById(id);

let metadata;
let objectUrl;

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

async function renderSamples(meta) {
  const list = $('samples');
  list.replaceChildren();
  for (const name of meta.samples) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sample';
    button.title = name;
    const img = document.createElement('img');
    img.alt = name;
    const caption = document.createElement('span');
    caption.textContent = name.replace(/\.[^.]+$/, '');
    button.append(img, caption);
    button.addEventListener('click', () => classifySample(name, button, img.src));
    list.append(button);
    // Through fetch, not <img src>, so the bearer token goes along when the API needs one.
    api(`/api/samples/${encodeURIComponent(name)}`)
      .then((response) => (response.ok ? response.blob() : Promise.reject(new Error(`HTTP ${response.status}`))))
      .then((blob) => { img.src = URL.createObjectURL(blob); })
      .catch(() => { img.alt = `${name} (not loaded)`; });
  }
}

function showPreview(src, caption) {
  $('preview-image').src = src;
  $('preview-caption').textContent = caption;
  $('preview').hidden = false;
}

function renderResult(result) {
  const [output] = result.output;
  const top = metadata?.top || 5;
  // ModelHub lists every label in class order; the page ranks them.
  const ranked = [...output.prediction].sort((a, b) => b.probability - a.probability).slice(0, top);
  const bars = $('bars');
  bars.replaceChildren(...ranked.map(({ label, probability }) => {
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
  $('result-empty').hidden = true;
  $('result-meta').textContent =
    `${output.shape[0]} classes · ${(result.processing_time * 1000).toFixed(0)} ms on the server · ${readableTime(result.timestamp)}`;
}

/** ModelHub's "%Y-%m-%d-%H-%M-%S-%f" (UTC) as "YYYY-MM-DD HH:MM:SS UTC". */
function readableTime(timestamp) {
  const [y, mo, d, h, mi, s] = String(timestamp).split('-');
  return s === undefined ? String(timestamp) : `${y}-${mo}-${d} ${h}:${mi}:${s} UTC`;
}

async function classify(request) {
  showStatus('');
  $('busy').hidden = false;
  try {
    renderResult(await json(await request()));
  } catch (error) {
    $('bars').replaceChildren();
    $('result-meta').textContent = '';
    showStatus(`Could not classify the image: ${error.message}`);
  } finally {
    $('busy').hidden = true;
  }
}

function classifyFile(file) {
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = URL.createObjectURL(file);
  showPreview(objectUrl, file.name);
  for (const chosen of document.querySelectorAll('.sample.chosen')) chosen.classList.remove('chosen');
  const form = new FormData();
  form.append('file', file, file.name);
  return classify(() => api('/api/predict', { method: 'POST', body: form }));
}

function classifySample(name, button, src) {
  for (const chosen of document.querySelectorAll('.sample.chosen')) chosen.classList.remove('chosen');
  button.classList.add('chosen');
  if (src) showPreview(src, name);
  return classify(() => api(`/api/predict_sample?filename=${encodeURIComponent(name)}`));
}

function wireInput() {
  $('file-input').addEventListener('change', (event) => {
    const [file] = event.target.files;
    if (file) classifyFile(file);
  });
  const zone = $('drop-zone');
  zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    const [file] = event.dataTransfer.files;
    if (file) classifyFile(file);
  });
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
    await renderSamples(metadata);
    document.body.dataset.ready = 'true';
  } catch (error) {
    showStatus(`Could not load the model's metadata: ${error.message}`);
    // 503: the model is still loading; try again shortly.
    if (error.status === 503) setTimeout(load, 1000);
  }
}

wireInput();
load();
