// The téléexpertise request on the professional's page: the new-request
// form (expert, question, urgency, the patient's part, the consent
// attestation, documents), the document picker with its checks before any
// byte leaves, and the uploads one by one with their progress. Also the
// small helpers the page shares (elements, dates, sizes, delays). No
// import of pro.js: the page hands in what it owns as `ctx`:
//
//   ctx = { t(key, vars), lang(), api(method, path, body), notice(key, vars),
//           apiError({code, status}) -> sentence, whoami(), showView(id, focusId),
//           openDetail(actId) }
import { sanitizeName } from "/exchange.js";

/** The largest document the server keeps (DESIGN.md: 50 MiB per file). */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;
/** The most an act may hold (500 MiB, the same document once). */
export const MAX_ACT_BYTES = 500 * 1024 * 1024;
/** The longest question, in UTF-8 bytes (ExpertiseRequest::MAX_QUESTION_BYTES). */
export const MAX_QUESTION_BYTES = 8 * 1024;
/** The longest decline reason or request for more (ExpertAnswer::MAX_TEXT_BYTES). */
export const MAX_ANSWER_BYTES = 4 * 1024;
/** The longest report (Conclusion::MAX_REPORT_LEN). */
export const MAX_REPORT_BYTES = 64 * 1024;
/** What the file chooser offers; the server tells the type by content anyway. */
export const ACCEPT = ".jpg,.jpeg,.png,.webp,.pdf,.dcm,image/jpeg,image/png,image/webp,application/pdf,application/dicom";
/** The urgencies, most pressing first, with their response delay (Urgency::response_delay). */
export const URGENCIES = [
  ["immediate", 3600e3],
  ["urgent", 24 * 3600e3],
  ["routine", 7 * 24 * 3600e3],
];

/**
 * The attestation a requesting professional makes for the patient: the
 * server accepts only the SHA-256 of this exact text (signaling's
 * consent_text.rs, ATTEST_FR, the one app.js's `attest_consent` sends).
 * French only: it is what the trace records, whatever the page's language.
 */
export const ATTESTATION_FR =
  "J'atteste que le patient a été informé de cette téléexpertise et y a consenti, ainsi qu'à l'hébergement de ses données.";

/** SHA-256 (hex) of the attestation text shown, as `text_sha256`. */
export async function attestationDigest(text = ATTESTATION_FR) {
  const bytes = new TextEncoder().encode(text);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ------------------------------------------------------------- helpers

/** An element with attributes (`on*` functions become listeners) and children. */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "hidden") e.hidden = true;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/** A server value that may come as a sealed-field wrapper (`{"$pii": x}`). */
export function plain(v) {
  return v && typeof v === "object" && "$pii" in v ? v.$pii : v;
}

/** UTF-8 length of a text. */
export const byteLength = (s) => new TextEncoder().encode(s).length;

/** Whether `s` passes the Luhn check RPPS numbers carry (their last digit). */
export function luhnValid(s) {
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    let d = Number(s[s.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** Why an RPPS number is not one (a string key), or null. */
export function rppsProblem(value) {
  const s = value.trim();
  if (!s) return "required_field";
  if (!/^\d{11}$/.test(s)) return "rpps_format";
  if (!luhnValid(s)) return "rpps_check";
  return null;
}

/** A size, in binary units as the limits are (50 Mo = 50 × 2²⁰ bytes). */
export function fmtSize(bytes, lang) {
  const [unit, div] = bytes >= 2 ** 20 ? ["megabyte", 2 ** 20] : bytes >= 1024 ? ["kilobyte", 1024] : ["byte", 1];
  const unitDisplay = unit === "byte" ? "long" : "short"; // « 612 octets », not « 612 o »
  return new Intl.NumberFormat(lang, { style: "unit", unit, unitDisplay, maximumFractionDigits: 1 }).format(bytes / div);
}

/** A date and time, e.g. « 4 décembre à 17:12 » (the year when not this one). */
export function fmtDate(iso, lang) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const opts = { day: "numeric", month: "long", hour: "2-digit", minute: "2-digit" };
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = "numeric";
  return new Intl.DateTimeFormat(lang, opts).format(d);
}

/** A delay, e.g. « 6 j 23 h », « 58 min ». */
export function fmtDuration(ms, t) {
  const minutes = Math.floor(ms / 60e3);
  if (minutes < 1) return t("dur_less");
  const d = Math.floor(minutes / 1440);
  const hh = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  if (d > 0) return t("dur_days", { d, h: hh });
  if (hh > 0) return t("dur_hours", { h: hh, m });
  return t("dur_minutes", { m });
}

// What re-renders itself when the language changes.
const renderers = new Set();
/** Re-renders the form's and the uploads' own texts in the page's language. */
export function retranslate() {
  for (const r of renderers) r();
}

// ------------------------------------------------------------ the picker

/**
 * A document picker: a button opening the file chooser (several files at
 * once, and again to add more), the list of chosen files with their size
 * and a « Retirer » button each. A file over 50 MiB, or one that would
 * take the whole over 500 MiB, is refused here, said at once, and never
 * sent. Returns { element, files (the chosen File objects), clear() }.
 */
export function filePicker(ctx, prefix, { already = 0 } = {}) {
  const files = [];
  const refusals = []; // { key, vars } said under the list
  const input = h("input", {
    id: `${prefix}-input`, type: "file", multiple: true, accept: ACCEPT, hidden: true,
  });
  const label = h("p", { id: `${prefix}-label`, class: "label" });
  const hint = h("p", { id: `${prefix}-hint`, class: "hint" });
  const choose = h("button", {
    id: `${prefix}-choose`, type: "button", class: "secondary", "aria-describedby": `${prefix}-hint ${prefix}-refusals`,
    onclick: () => input.click(),
  });
  const listTitle = h("p", { id: `${prefix}-list-title`, class: "list-title" });
  const list = h("ul", { id: `${prefix}-list`, class: "files", "aria-labelledby": `${prefix}-list-title` });
  const empty = h("p", { class: "hint" });
  const refusedList = h("ul", { id: `${prefix}-refusals`, class: "refusals" });
  const element = h("div", { class: "picker", role: "group", "aria-labelledby": `${prefix}-label` },
    label, hint, choose, input, listTitle, list, empty, refusedList);

  input.addEventListener("change", () => {
    const total = () => already + files.reduce((s, f) => s + f.size, 0);
    const said = [];
    for (const f of input.files) {
      const name = sanitizeName(f.name) || "document";
      const vars = { name, size: () => fmtSize(f.size, ctx.lang()) };
      if (f.size > MAX_FILE_BYTES) {
        refusals.push({ key: "file_too_big", vars });
        said.push(["file_too_big", vars]);
      } else if (files.some((g) => g.name === f.name && g.size === f.size && g.lastModified === f.lastModified)) {
        said.push(["file_duplicate", vars]);
      } else if (total() + f.size > MAX_ACT_BYTES) {
        refusals.push({ key: "files_total_too_big", vars });
        said.push(["files_total_too_big", vars]);
      } else {
        files.push(f);
        said.push(["file_added", vars]);
      }
    }
    input.value = ""; // the same file may be chosen again after « Retirer »
    render();
    if (said.length) ctx.notice(said.map(([k, v]) => [k, v]));
  });

  function render() {
    const t = ctx.t;
    label.textContent = t("files_label");
    hint.textContent = t("files_hint");
    choose.textContent = t("choose_files");
    listTitle.textContent = t("files_chosen");
    empty.textContent = t("files_none");
    empty.hidden = files.length > 0;
    list.replaceChildren(...files.map((f, i) => {
      const nameId = `${prefix}-file-${i}`;
      return h("li", {},
        h("span", { id: nameId, class: "file-name" }, sanitizeName(f.name)),
        " ",
        h("span", { class: "file-size" }, `(${fmtSize(f.size, ctx.lang())})`),
        h("button", {
          type: "button", class: "secondary small", id: `${nameId}-remove`,
          "aria-labelledby": `${nameId}-remove ${nameId}`,
          onclick: () => {
            const [gone] = files.splice(i, 1);
            render();
            ctx.notice("file_removed", { name: sanitizeName(gone.name) });
            (list.querySelector("button") ?? choose).focus();
          },
        }, t("file_remove")));
    }));
    refusedList.replaceChildren(...refusals.map((r) => h("li", { class: "field-error" }, ctx.t(r.key, r.vars))));
  }
  renderers.add(render);
  render();
  return {
    element,
    files,
    clear() {
      files.length = 0;
      refusals.length = 0;
      render();
    },
    dispose() {
      renderers.delete(render);
    },
  };
}

// ----------------------------------------------------------- the uploads

/** Sends one file as the raw body; resolves {status, data} (status 0: cut short). */
function uploadOne(act, file, name, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/acts/${encodeURIComponent(act)}/documents?name=${encodeURIComponent(name)}`);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => resolve({ status: xhr.status, data: xhr.response }));
    xhr.addEventListener("error", () => resolve({ status: 0, data: null }));
    xhr.addEventListener("abort", () => resolve({ status: 0, data: null }));
    xhr.send(file);
  });
}

/** The sentence for an upload refused with {status, code}, in the page's language. */
export function uploadError(ctx, { status, code }) {
  if (!status) return ctx.t("upload_cut");
  const said = ctx.apiError({ status, code });
  // A code this page does not know yet: say what the status means.
  if (!ctx.knowsCode(code) && (status === 413 || status === 415)) return ctx.t(`status_${status}`);
  return said;
}

/**
 * Uploads `files` to act `act` one after the other into `listEl`: each
 * with its name, size, a progress bar and, once done, « ajouté » or why it
 * was refused (the server's code, translated). A refusal does not stop the
 * others. Each outcome is announced; resolves with { ok, n }.
 */
export async function uploadFiles(ctx, act, files, listEl, prefix = "up") {
  const items = files.map((file, i) => ({ file, name: sanitizeName(file.name) || "document", state: "waiting", p: 0, error: null, i }));
  const rows = items.map((it) => {
    const nameId = `${prefix}-${it.i}-name`;
    const progress = h("progress", { max: "100", value: "0", id: `${prefix}-${it.i}-progress` });
    const status = h("span", { class: "upload-state", id: `${prefix}-${it.i}-state` });
    const li = h("li", { "data-state": "waiting" },
      h("span", { id: nameId, class: "file-name" }, it.name), " ",
      h("span", { class: "file-size" }), " ", progress, " ", status);
    return { it, li, progress, status };
  });
  const render = () => {
    for (const { it, li, progress, status } of rows) {
      li.dataset.state = it.state;
      li.querySelector(".file-size").textContent = `(${fmtSize(it.file.size, ctx.lang())})`;
      progress.value = Math.round(it.p * 100);
      progress.setAttribute("aria-label", ctx.t("upload_progress_label", { name: it.name }));
      progress.hidden = it.state === "refused";
      status.className = `upload-state ${it.state}`;
      status.textContent =
        it.state === "waiting" ? ctx.t("upload_waiting")
        : it.state === "sending" ? ctx.t("upload_sending", { p: Math.round(it.p * 100) })
        : it.state === "done" ? ctx.t("upload_done")
        : ctx.t("upload_refused", { reason: uploadError(ctx, it.error) });
    }
  };
  listEl.replaceChildren(...rows.map((r) => r.li));
  renderers.add(render);
  render();
  let ok = 0;
  for (const it of items) {
    it.state = "sending";
    render();
    const res = await uploadOne(act, it.file, it.name, (p) => {
      it.p = p;
      render();
    });
    if (res.status === 201 || res.status === 200) {
      it.state = "done";
      it.p = 1;
      ok++;
      ctx.notice("upload_one_done", { name: it.name });
    } else {
      it.state = "refused";
      it.error = { status: res.status, code: res.data?.code };
      const error = it.error;
      ctx.notice("upload_one_refused", { name: it.name, reason: () => uploadError(ctx, error) });
    }
    render();
  }
  return { ok, n: items.length };
}

// ------------------------------------------------------- the new request

/** Wires the « Nouvelle demande de téléexpertise » view; returns { open() }. */
export function requestForm(ctx) {
  const $ = (id) => document.getElementById(id);
  const form = $("request-form");
  let urgency = "routine";
  let picker = null;
  let lastAct = null;
  let attestation = ATTESTATION_FR;

  // A patient who takes part consents in the session: no attestation,
  // and documents wait for that consent.
  const presentChanged = () => {
    const present = $("patient-present").checked;
    $("consent-fields").hidden = present;
    $("present-note").hidden = !present;
    $("request-files").hidden = present;
  };
  $("patient-present").addEventListener("change", presentChanged);

  // The urgency choices, each with the delay it implies; under them, the
  // date the answer is then expected by.
  const renderUrgency = () => {
    const box = $("urgency-options");
    const checked = box.querySelector("input:checked")?.value ?? urgency;
    box.replaceChildren(...URGENCIES.map(([u]) => h("div", { class: "check" },
      h("input", { type: "radio", name: "urgency", id: `urgency-${u}`, value: u, checked: u === checked, onchange: () => {
        urgency = u;
        renderDue();
      } }),
      h("label", { for: `urgency-${u}` }, `${ctx.t(`urgencies.${u}`)} — ${ctx.t(`urgency_delays.${u}`)}`))));
    renderDue();
  };
  const renderDue = () => {
    const delay = URGENCIES.find(([u]) => u === urgency)[1];
    $("urgency-due").textContent = ctx.t("urgency_due", { date: fmtDate(new Date(Date.now() + delay).toISOString(), ctx.lang()) });
  };
  renderers.add(renderUrgency);

  // Field errors: said under the field, tied to it, the field marked.
  const fieldError = (id, key, vars) => {
    const p = $(`${id}-error`);
    const input = $(id);
    if (key) {
      p.textContent = ctx.t(key, vars);
      p.dataset.key = key;
      p.hidden = false;
      input.setAttribute("aria-invalid", "true");
    } else {
      p.textContent = "";
      delete p.dataset.key;
      p.hidden = true;
      input.removeAttribute("aria-invalid");
    }
  };
  renderers.add(() => {
    for (const p of form.querySelectorAll(".field-error[data-key]")) p.textContent = ctx.t(p.dataset.key, { max: p.dataset.max });
    const fe = $("form-error");
    if (!fe.hidden) fe.textContent = ctx.t("form_errors");
  });

  // A field corrected loses its mark as soon as it is changed.
  form.addEventListener("input", (e) => {
    const id = e.target.id;
    if (id && $(`${id}-error`) && e.target.getAttribute("aria-invalid") === "true") fieldError(id, null);
  });
  form.addEventListener("change", (e) => {
    if (e.target.id === "attest" && e.target.checked) fieldError("attest", null);
  });

  function selfKey() {
    return `teleconsult.pro.self.${ctx.whoami()?.login ?? ""}`;
  }

  function open() {
    form.reset();
    form.hidden = false;
    $("sending").hidden = true;
    $("form-error").hidden = true;
    for (const id of ["self-name", "self-rpps", "expert-name", "expert-rpps", "question", "attest"]) fieldError(id, null);
    urgency = "routine";
    attestation = ATTESTATION_FR;
    $("attest-text").textContent = attestation;
    // The text the server shows (and will check the hash of).
    ctx.api("GET", "/api/attestation").then(({ status, data }) => {
      const text = status === 200 ? data?.texts?.[0]?.text : null;
      if (text) {
        attestation = text;
        $("attest-text").textContent = text;
      }
    });
    // Who the requester is: the server's word when it gives it, else
    // what this browser remembers from the last request, else asked.
    const who = ctx.whoami() ?? {};
    let self = {};
    try {
      self = JSON.parse(localStorage.getItem(selfKey()) ?? "{}");
    } catch {
      self = {};
    }
    $("self-name").value = who.name ?? self.name ?? "";
    $("self-rpps").value = who.rpps ?? self.rpps ?? "";
    $("self-fields").hidden = Boolean(who.name && who.rpps);
    picker?.dispose();
    picker = filePicker(ctx, "new-files");
    $("request-files").replaceChildren(picker.element);
    renderUrgency();
    presentChanged();
    ctx.showView("new", "new-title");
  }

  function validate() {
    const problems = [];
    const need = (id, key, vars) => {
      fieldError(id, key, vars);
      if (key) {
        if (vars?.max) $(`${id}-error`).dataset.max = vars.max;
        problems.push(id);
      }
    };
    const text = (id, max) => {
      const v = $(id).value.trim();
      if (!v) return need(id, "required_field");
      if (byteLength(v) > max) return need(id, "text_too_long", { max: max / 1024 });
      need(id, null);
    };
    if (!$("self-fields").hidden) {
      text("self-name", 800);
      need("self-rpps", rppsProblem($("self-rpps").value));
    }
    text("expert-name", 800);
    need("expert-rpps", rppsProblem($("expert-rpps").value));
    text("question", MAX_QUESTION_BYTES);
    const present = $("patient-present").checked;
    need("attest", !present && picker.files.length > 0 && !$("attest").checked ? "attest_needed" : null);
    return problems;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const problems = validate();
    const fe = $("form-error");
    if (problems.length) {
      fe.textContent = ctx.t("form_errors");
      fe.hidden = false;
      $(problems[0]).focus();
      return;
    }
    fe.hidden = true;
    const self = { name: $("self-name").value.trim(), rpps: $("self-rpps").value.trim() };
    try {
      localStorage.setItem(selfKey(), JSON.stringify(self));
    } catch {
      // a browser that keeps nothing: asked again next time
    }
    const body = {
      kind: "teleexpertise",
      professional: self,
      expert: { name: $("expert-name").value.trim(), rpps: $("expert-rpps").value.trim() },
      patient_present: $("patient-present").checked,
      question: $("question").value.trim(),
      urgency,
    };
    if (!body.patient_present && $("attest").checked) body.attest_consent = { text_sha256: await attestationDigest(attestation) };
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    ctx.notice("creating");
    const { status, data } = await ctx.api("POST", "/api/acts", body);
    submit.disabled = false;
    if (status !== 201 && status !== 200) {
      fe.textContent = ctx.apiError({ code: data?.code, status });
      fe.hidden = false;
      ctx.notice(null);
      return;
    }
    lastAct = data.id;
    const files = body.patient_present ? [] : [...picker.files];
    // The request exists: the form gives way to its sending.
    form.hidden = true;
    $("sending").hidden = false;
    $("sending-open").hidden = true;
    $("sending-back").hidden = true;
    $("sending-state").textContent = ctx.t("created");
    $("sending-state").dataset.key = "created";
    $("sending-title").focus();
    ctx.notice("created");
    const { ok, n } = await uploadFiles(ctx, lastAct, files, $("sending-files"), "new-up");
    const summary = n ? ["upload_summary", { ok, n }] : ["upload_summary_none", {}];
    $("sending-state").dataset.key = summary[0];
    $("sending-state").dataset.vars = JSON.stringify(summary[1]);
    $("sending-state").textContent = ctx.t(...summary);
    ctx.notice(...summary);
    $("sending-open").hidden = false;
    $("sending-back").hidden = false;
  });
  renderers.add(() => {
    const s = $("sending-state");
    if (s.dataset.key) s.textContent = ctx.t(s.dataset.key, JSON.parse(s.dataset.vars ?? "{}"));
  });
  $("new-cancel").addEventListener("click", () => ctx.showList());
  $("sending-back").addEventListener("click", () => ctx.showList());
  $("sending-open").addEventListener("click", () => ctx.openDetail(lastAct));
  return { open };
}
