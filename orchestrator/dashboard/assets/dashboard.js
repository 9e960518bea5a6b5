// podfleet dashboard: the one client script. The pages are rendered on the server and work as
// plain forms; this adds live updates (server-sent events re-read the page's `data-live`
// regions), actions without leaving the page, uploads, and the transcript player.
const csrf = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
const flash = document.getElementById("flash");
const liveStatus = document.getElementById("live-status");

/** What the browser tests read: every live update with the time from the state event to the page showing it. */
const live = { updates: [], events: 0, connected: 0 };
window.podfleetLive = live;

function say(message, kind = "error") {
  if (!flash) return;
  flash.textContent = message;
  flash.dataset.kind = kind;
  flash.hidden = false;
}

// ---- live regions ----
let refreshing = false;
let pending = null; // the oldest event not yet shown, or {at: null} for "re-read anyway"

function scheduleRefresh(event) {
  if (!pending) pending = event;
  if (!refreshing) void refresh();
}

async function refresh() {
  refreshing = true;
  try {
    while (pending) {
      const cause = pending;
      pending = null;
      const res = await fetch(location.href, { headers: { accept: "text/html" }, redirect: "manual" });
      if (res.type === "opaqueredirect" || res.status === 401) {
        location.assign("/ui/login");
        return;
      }
      if (!res.ok) continue;
      swapRegions(new DOMParser().parseFromString(await res.text(), "text/html"));
      if (cause.at) live.updates.push({ type: cause.type, latencyMs: Date.now() - cause.at });
      document.documentElement.dataset.liveUpdates = String(live.updates.length);
      afterSwap();
    }
  } catch {
    // the orchestrator is restarting: the event stream reconnects and re-reads everything
  } finally {
    refreshing = false;
  }
}

function swapRegions(doc) {
  for (const region of document.querySelectorAll("[data-live][id]")) {
    const next = doc.getElementById(region.id);
    if (!next) continue;
    const focusedId = region.contains(document.activeElement) ? document.activeElement.id : "";
    const openDetails = new Set([...region.querySelectorAll("details[id][open]")].map((d) => d.id));
    region.replaceWith(next);
    for (const d of next.querySelectorAll("details[id]")) if (openDetails.has(d.id)) d.open = true;
    if (focusedId) document.getElementById(focusedId)?.focus();
  }
}

function connect() {
  const source = new EventSource("/ui/events");
  source.addEventListener("hello", () => {
    live.connected += 1;
    setLive("live", "live");
    // after a reconnect (an orchestrator restart) events may have been missed: re-read now
    if (live.connected > 1) scheduleRefresh({ type: "reconnect", at: null });
  });
  source.addEventListener("change", (m) => {
    live.events += 1;
    try {
      scheduleRefresh(JSON.parse(m.data));
    } catch {
      scheduleRefresh({ type: "change", at: null });
    }
  });
  source.addEventListener("error", () => {
    setLive("reconnecting", "reconnecting…");
    if (source.readyState === EventSource.CLOSED) {
      // the browser gave up (the server answered with an error): check the session, then start again
      setTimeout(async () => {
        try {
          const res = await fetch(location.href, { redirect: "manual" });
          if (res.type === "opaqueredirect") return location.assign("/ui/login");
        } catch {
          // still down
        }
        connect();
      }, 2000);
    }
  });
}

function setLive(state, text) {
  if (!liveStatus) return;
  liveStatus.dataset.state = state;
  liveStatus.textContent = text;
}

// ---- actions ----
document.addEventListener("submit", async (e) => {
  const form = e.target;
  if (!(form instanceof HTMLFormElement)) return;
  if (form.classList.contains("upload")) {
    e.preventDefault();
    return upload(form);
  }
  if (!form.classList.contains("action")) return;
  e.preventDefault();
  if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  try {
    const res = await fetch(form.action, {
      method: "POST",
      headers: { accept: "application/json", "x-csrf-token": csrf },
      body: new URLSearchParams(new FormData(form)),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) return say(body.error?.message ?? `failed (${res.status})`);
    say(okMessage(form, body), "ok");
    if (form.dataset.reset) form.reset();
    scheduleRefresh({ type: "action", at: null });
  } catch (err) {
    say(`could not reach the orchestrator: ${err.message}`);
  } finally {
    if (button) button.disabled = false;
  }
});

function okMessage(form, body) {
  if (body.changed) return body.changed.length ? `Saved: ${body.changed.join(", ")}` : "Nothing changed";
  if (body.status) return `Submitted ${body.id}`;
  return "Done";
}

async function upload(form) {
  const file = form.querySelector("input[type=file]").files[0];
  if (!file) return say("choose a file first");
  const title = form.querySelector("input[name=title]").value.trim();
  const url = `/ui/episodes/upload${title ? `?title=${encodeURIComponent(title)}` : ""}`;
  say(`Uploading ${file.name}…`, "ok");
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { accept: "application/json", "x-csrf-token": csrf, "content-type": file.type || "application/octet-stream" },
      body: file,
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) return say(body.error?.message ?? `upload failed (${res.status})`);
    say(`Submitted ${body.id}`, "ok");
    form.reset();
    scheduleRefresh({ type: "action", at: null });
  } catch (err) {
    say(`could not reach the orchestrator: ${err.message}`);
  }
}

for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form?.requestSubmit());
}

// ---- transcript and player ----
const section = document.getElementById("transcript");
const player = document.getElementById("player");
const cueList = document.getElementById("cues");
const transcriptState = document.getElementById("transcript-state");
let cues = [];
let loadedFinal = false;

function clock(sec) {
  const s = Math.floor(sec);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function renderCues(segments, partial) {
  cues = segments.map((s) => ({ start: s.startTime, end: s.endTime }));
  cueList.replaceChildren(
    ...segments.map((s, i) => {
      const li = document.createElement("li");
      if (partial && i === segments.length - 1) li.className = "partial";
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.start = String(s.startTime);
      b.setAttribute("aria-label", `${clock(s.startTime)}: ${s.body}`);
      const t = document.createElement("span");
      t.className = "t";
      t.textContent = clock(s.startTime);
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = s.body;
      b.append(t, text);
      li.append(b);
      return li;
    }),
  );
  cueList.dataset.count = String(segments.length);
  cueList.dataset.partial = partial ? "true" : "false";
  highlight();
}

async function loadTranscript() {
  if (!section || loadedFinal) return;
  const status = document.getElementById("facts")?.dataset.status;
  const id = section.dataset.episode;
  const partialUrl = section.dataset.partialUrl;
  const url = status === "done" ? `/v1/episodes/${id}/transcript.json` : partialUrl;
  if (!url) return;
  try {
    const res = await fetch(url, { headers: { accept: "application/json" } });
    if (!res.ok) return;
    const doc = await res.json();
    const partial = status !== "done";
    renderCues(doc.segments ?? [], partial);
    loadedFinal = !partial;
    const count = `${cues.length} ${cues.length === 1 ? "cue" : "cues"}`;
    transcriptState.textContent = partial
      ? `Partial transcript: ${count} so far (${doc.chunksDone} of ${doc.chunkCount ?? "?"} chunks).`
      : `${count}. Select one to play from there.`;
  } catch {
    // shown on the next update
  }
}

function highlight() {
  if (!player || cues.length === 0) return;
  const t = player.currentTime;
  let current = -1;
  for (let i = 0; i < cues.length; i++) if (cues[i].start <= t + 0.01) current = i;
  const buttons = cueList.querySelectorAll("button");
  buttons.forEach((b, i) => {
    const on = i === current && t < cues[i].end + 0.5;
    if (on && b.getAttribute("aria-current") !== "true") b.scrollIntoView({ block: "nearest" });
    if (on) b.setAttribute("aria-current", "true");
    else b.removeAttribute("aria-current");
  });
}

if (cueList) {
  cueList.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-start]");
    if (!b || !player) return;
    player.currentTime = Number(b.dataset.start);
    void player.play().catch(() => undefined);
    highlight();
  });
  player?.addEventListener("timeupdate", highlight);
  player?.addEventListener("seeked", highlight);
}

function afterSwap() {
  void loadTranscript();
}

void loadTranscript();
connect();
