// The professional's space: sign in (password + TOTP), then a small work
// list: the téléexpertise requests received and sent (state, urgency,
// response delay, overdue, documents), the acts to run (« Rejoindre »),
// each act's detail (the question, the expert's answers, the documents in
// the viewer, the expert's accept / decline / ask for more, the written
// review and report, the requester's documents) and its trace. The new
// request is request.js. The session lives in an HttpOnly cookie the
// script never sees; every read is recorded server-side in the access log.
//
// Accessibility: each view's heading takes the focus when it is shown;
// every control has a name (row buttons name their act); results are said
// once in the polite #notice region; errors in place, tied to their field;
// French first, « English » switches every shown sentence.
import { ERRORS, PRO_STRINGS, STRINGS, errorText } from "/i18n.js";
import { openViewer, viewerKind } from "/viewer.js";
import {
  MAX_ANSWER_BYTES, MAX_REPORT_BYTES, attestationDigest, byteLength, filePicker, fmtDate, fmtDuration, fmtSize, h, plain,
  requestForm, retranslate, uploadError, uploadFiles,
} from "/request.js";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

const state = {
  lang: "fr",
  who: null, // GET /api/session
  acts: null, // GET /api/acts's list
  view: null,
  detail: null, // GET /api/acts/{id}
  detailId: null,
  detailPicker: null, // the requester's picker for more documents (kept across renders)
  detailUploads: null, // its uploads' list
  actionError: null, // { where, code, status } said in the section it happened in
  trace: null, // { id, events }
  notice: null, // [[key, vars], ...]
  signinError: null,
  oidc: null, // { label } when the server offers OpenID Connect sign-in
  logKey: null, // GET /api/log-key: the log's verifier key receipts are checked with
};
try {
  const saved = localStorage.getItem("teleconsult.pro.lang");
  if (saved === "en" || saved === "fr") state.lang = saved;
} catch {
  // no storage: French
}

const lookup = (obj, key) => key.split(".").reduce((o, k) => o?.[k], obj);
/** The page's sentence for `key`, with `{vars}` (a function var is called then). */
function t(key, vars = {}) {
  const s = lookup(PRO_STRINGS[state.lang], key) ?? lookup(STRINGS[state.lang], key) ?? lookup(PRO_STRINGS.fr, key) ?? key;
  return String(s).replace(/\{(\w+)\}/g, (_, k) => {
    const v = vars[k];
    return String(typeof v === "function" ? v() : (v ?? ""));
  });
}
const apiError = (info) => errorText(state.lang, info);
const knowsCode = (code) => Boolean(code && ERRORS.fr.api[code]);

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (res.status === 401 && path !== "/api/session") signedOut({ code: data?.code, status: res.status });
  return { status: res.status, data };
}

// -------------------------------------------------------------- notices

/**
 * Says how an action ended, once, in the polite region: `key` and `vars`,
 * or a list of [key, vars] pairs; null clears it. Kept as keys, so a
 * language switch says it again in the other language.
 */
function notice(key, vars = {}) {
  state.notice = key === null ? null : Array.isArray(key) ? key : [[key, vars]];
  const region = $("notice");
  region.textContent = "";
  // Emptied first, so that the same sentence twice is said twice.
  setTimeout(renderNotice, 50);
}
function renderNotice() {
  $("notice").textContent = (state.notice ?? []).map(([k, v]) => t(k, v)).join(" ");
}

// --------------------------------------------------------------- views

const VIEWS = ["acts", "new", "detail", "trace"];
/** Shows one view (the sign-in form hides), focus on `focusId`. */
function showView(id, focusId) {
  // A result said for another view is not left standing on this one.
  if (state.view !== id) notice(null);
  $("signin").hidden = true;
  $("signout").hidden = false;
  for (const v of VIEWS) $(v).hidden = v !== id;
  state.view = id;
  const target = focusId && $(focusId);
  (target ?? $(`${id}-title`) ?? $(id)).focus();
}
function showList() {
  showView("acts", "acts-title");
  loadActs();
}
function signedOut(error = null) {
  state.who = null;
  state.acts = null;
  state.detail = null;
  for (const v of VIEWS) $(v).hidden = true;
  $("signin").hidden = false;
  $("signout").hidden = true;
  state.signinError = error;
  renderSigninError();
  // A session that ended under the page: the sign-in form says why, and
  // takes the focus, as a new screen does.
  if (error) $("signin-title").focus();
  state.view = null;
}
function renderSigninError() {
  const err = $("signin-error");
  err.hidden = !state.signinError;
  err.textContent = state.signinError ? apiError(state.signinError) : "";
  if (state.oidc) $("oidc-signin").textContent = t("oidc_signin", { label: state.oidc.label });
}

// Sign-in over OpenID Connect (Pro Santé Connect): the button when the
// server offers it, and the error it sent the browser back with
// (`?signin_error=CODE`, said in the page's language, then taken out of
// the address so a reload does not say it again).
async function loadOidc() {
  const { status, data } = await api("GET", "/api/oidc");
  if (status !== 200 || !data?.enabled) return;
  state.oidc = { label: String(data.label ?? "") };
  $("oidc").hidden = false;
  renderSigninError();
}
const sentBackCode = new URLSearchParams(location.search).get("signin_error");
const sentBack = sentBackCode && /^[a-z_]{1,40}$/.test(sentBackCode) ? { code: sentBackCode, status: 401 } : null;
if (sentBackCode) history.replaceState(null, "", location.pathname);

const ctx = {
  t,
  lang: () => state.lang,
  api,
  notice,
  apiError,
  knowsCode,
  whoami: () => state.who,
  showView,
  showList,
  openDetail: (id) => openDetail(id),
};
const form = requestForm(ctx);

// ------------------------------------------------------------ language

function translate() {
  document.documentElement.lang = state.lang;
  document.title = t("page_title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = t("switch_to");
  $("lang").setAttribute("aria-label", t("switch_label"));
  $("lang").lang = state.lang === "fr" ? "en" : "fr"; // it speaks the other language
  renderWho();
  renderSigninError();
  if (state.acts) keeping($("acts"), renderList);
  if (state.detail) keeping($("detail"), renderDetail);
  if (state.trace) renderTrace();
  retranslate();
  renderNotice();
}
$("lang").addEventListener("click", () => {
  state.lang = state.lang === "fr" ? "en" : "fr";
  try {
    localStorage.setItem("teleconsult.pro.lang", state.lang);
  } catch {
    // not kept: this page only
  }
  translate();
});

/**
 * Re-renders inside `root` keeping what was typed in its fields and where
 * the focus was (by id), so a language switch or a refresh loses nothing.
 */
function keeping(root, render) {
  const values = new Map();
  for (const el of root.querySelectorAll("textarea[id], input[id]:not([type=file])")) {
    values.set(el.id, el.type === "checkbox" || el.type === "radio" ? el.checked : el.value);
  }
  const focused = root.contains(document.activeElement) ? document.activeElement.id : null;
  render();
  for (const [id, v] of values) {
    const el = document.getElementById(id);
    if (!el) continue;
    if (typeof v === "boolean") el.checked = v;
    else el.value = v;
  }
  if (focused) document.getElementById(focused)?.focus();
}

// ----------------------------------------------------------- work list

function renderWho() {
  const w = state.who;
  $("whoami").textContent = w ? t("whoami", { login: w.login, role: t(`account_roles.${w.role}`) }) : "";
}

const TERMINAL = ["closed", "cancelled"];
const myRole = (a) => a.my_role ?? a.role ?? null;
const expertiseOf = (a) => a.expertise ?? a;
/** The expert's latest decision, from a list summary or a detail. */
function decisionOf(a) {
  const e = expertiseOf(a);
  const answers = e.answers ?? a.answers;
  if (Array.isArray(answers) && answers.length) return answerOf(answers[answers.length - 1]).decision;
  const last = e.answer ?? e.last_answer ?? e.latest_answer ?? e.decision;
  if (typeof last === "string") return last;
  if (last?.decision) return last.decision;
  return e.answered ? "answered" : "none";
}
/** One answer, whatever its wire shape: { decision, text, at }. */
function answerOf(x) {
  const a = x.answer ?? x;
  return {
    decision: a.decision,
    text: plain(a.reason ?? a.what ?? x.reason ?? x.what ?? ""),
    at: x.at ?? x.answered_at ?? a.at,
  };
}
const documentsCount = (a) =>
  typeof a.documents === "number" ? a.documents : a.document_count ?? a.documents_count ?? (Array.isArray(a.documents) ? a.documents.length : 0);
const actDate = (a) => a.requested_at ?? expertiseOf(a).requested_at;
const actTitle = (a) => t("act_of", { kind: t(`kinds.${a.kind}`), date: fmtDate(actDate(a), state.lang) });
/** Whether the signed-in professional can join the act's live session now. */
function runnable(a) {
  const role = myRole(a);
  if (!(role === "requester" || role === "expert" || a.takes_part)) return false;
  if (a.kind === "teleexpertise") return a.phase === "preparation" || a.phase === "performance";
  return !TERMINAL.includes(a.phase) && a.phase !== "conclusion";
}

/** The response-delay cell: « En retard », time left, or answered. */
function delayCell(a) {
  const e = expertiseOf(a);
  const due = e.respond_by;
  if (e.overdue) {
    return h("td", { class: "delay" },
      h("strong", { class: "late" }, h("span", { "aria-hidden": "true" }, "⚠ "), t("overdue")),
      h("br"), h("span", { class: "hint" }, t("overdue_since", { date: fmtDate(due, state.lang) })));
  }
  const decision = decisionOf(a);
  if (decision !== "none" || TERMINAL.includes(a.phase) || !due) {
    const first = e.first_answer_at;
    return h("td", { class: "delay" }, first ? t("delay_answered", { date: fmtDate(first, state.lang) }) : t("delay_none"));
  }
  const left = new Date(due).getTime() - Date.now();
  return h("td", { class: "delay" },
    t("delay_left", { left: fmtDuration(Math.max(0, left), t) }),
    h("br"), h("span", { class: "hint" }, t("delay_due", { date: fmtDate(due, state.lang) })));
}

function actButtons(a, headId) {
  const id = a.id;
  const out = [];
  const named = (bid, label, onclick, cls) =>
    h("button", { type: "button", id: bid, class: cls, "aria-labelledby": `${bid} ${headId}`, onclick }, label);
  if (a.kind === "teleexpertise") out.push(named(`open-${id}`, t("open"), () => openDetail(id)));
  if (runnable(a)) out.push(named(`join-${id}`, t("join"), () => join(id, `join-${id}`), "secondary"));
  out.push(named(`trace-${id}`, t("trace"), () => loadTrace(id), "secondary"));
  if (concluded(a)) out.push(reportLink(id, `report-${id}`, headId), receiptLink(id, `receipt-${id}`, headId));
  return h("td", { class: "row-actions" }, out);
}

/** Whether the act's compte rendu is written (the act is concluded; a cancelled one has none). */
const concluded = (a) => a.concluded ?? a.phase === "closed";
/**
 * « Télécharger le compte rendu (PDF) »: a real link to the PDF the server
 * renders (GET /api/acts/{id}/report.pdf, downloaded), named with its act
 * by `labelId` when given.
 */
function reportLink(id, linkId, labelId) {
  return h("a", {
    href: `/api/acts/${enc(id)}/report.pdf`,
    download: `compte-rendu-${id}.pdf`,
    class: "button secondary",
    id: linkId,
    "aria-labelledby": labelId ? `${linkId} ${labelId}` : undefined,
  }, t("report_pdf"));
}

/**
 * « Télécharger le reçu de trace »: the act's receipt (GET
 * /api/acts/{id}/receipt, a text file), which `teleconsult receipt verify`
 * checks offline with the log's key (see `renderLogKey`).
 */
function receiptLink(id, linkId, labelId) {
  return h("a", {
    href: `/api/acts/${enc(id)}/receipt`,
    download: `receipt-${id}.txt`,
    class: "button secondary",
    id: linkId,
    "aria-labelledby": labelId ? `${linkId} ${labelId}` : undefined,
  }, t("receipt_link"));
}

/**
 * The log's verifier key under the work list (and in a concluded act's
 * detail): what a receipt is checked with, offline. The key is public; the
 * page shows it so that a professional can hand it over with a receipt.
 */
function logKeyLine(id) {
  if (!state.logKey) return null;
  return h("p", { class: "hint", id }, t("log_key"), " ", h("code", { class: "log-key" }, state.logKey));
}

function renderLogKey() {
  const line = logKeyLine("log-key-line");
  $("log-key").replaceChildren(...(line ? [line] : []));
}

function expertiseTable(acts, kind) {
  if (!acts.length) return h("p", { class: "hint" }, t(`none_${kind}`));
  const head = h("tr", {}, ["col_act", "col_state", "col_urgency", "col_delay", "col_docs", "col_actions"].map((k) => h("th", { scope: "col" }, t(k))));
  const rows = acts.map((a) => {
    const headId = `row-${a.id}`;
    const e = expertiseOf(a);
    return h("tr", { class: e.overdue ? "is-overdue" : undefined, "data-act": a.id },
      h("th", { scope: "row", id: headId }, actTitle(a)),
      h("td", {}, t("state_line", { phase: t(`phases.${a.phase}`), answer: t(`answers.${decisionOf(a)}`) })),
      h("td", {}, e.urgency ? t(`urgencies.${e.urgency}`) : t("delay_none")),
      delayCell(a),
      h("td", { class: "num" }, String(documentsCount(a))),
      actButtons(a, headId));
  });
  return h("div", { class: "table-wrap" }, h("table", { class: "worklist-table", "aria-labelledby": `${kind}-title` }, h("thead", {}, head), h("tbody", {}, rows)));
}

function othersTable(acts) {
  if (!acts.length) return h("p", { class: "hint" }, t("none_others"));
  const head = h("tr", {}, ["col_act", "col_state", "col_actions"].map((k) => h("th", { scope: "col" }, t(k))));
  const rows = acts.map((a) => {
    const headId = `row-${a.id}`;
    return h("tr", { "data-act": a.id },
      h("th", { scope: "row", id: headId }, actTitle(a)),
      h("td", {}, t(`phases.${a.phase}`)),
      actButtons(a, headId));
  });
  return h("div", { class: "table-wrap" }, h("table", { class: "worklist-table", "aria-labelledby": "others-title" }, h("thead", {}, head), h("tbody", {}, rows)));
}

// Most pressing first: overdue, then by due date; ended acts last, newest first.
function byUrgency(a, b) {
  const ea = expertiseOf(a);
  const eb = expertiseOf(b);
  const rank = (x, e) => (TERMINAL.includes(x.phase) ? 2 : e.overdue ? 0 : 1);
  const d = rank(a, ea) - rank(b, eb);
  if (d) return d;
  if (rank(a, ea) === 2) return String(actDate(b)).localeCompare(String(actDate(a)));
  return String(ea.respond_by ?? actDate(a)).localeCompare(String(eb.respond_by ?? actDate(b)));
}

function renderList() {
  const acts = state.acts ?? [];
  const tx = acts.filter((a) => a.kind === "teleexpertise");
  const received = tx.filter((a) => myRole(a) === "expert").sort(byUrgency);
  const sent = tx.filter((a) => myRole(a) !== "expert").sort(byUrgency);
  const others = acts.filter((a) => a.kind !== "teleexpertise").sort(byUrgency);
  $("received").replaceChildren(expertiseTable(received, "received"));
  $("sent").replaceChildren(expertiseTable(sent, "sent"));
  $("others").replaceChildren(othersTable(others));
  renderLogKey();
}

async function loadActs({ announce = false } = {}) {
  const who = await api("GET", "/api/session");
  if (who.status !== 200) {
    signedOut();
    return false;
  }
  state.who = who.data;
  renderWho();
  const { status, data } = await api("GET", "/api/acts");
  if (status !== 200) {
    notice("action_refused", { reason: () => apiError({ code: data?.code, status }) });
    return true;
  }
  state.acts = data.acts ?? [];
  if (!state.logKey) {
    const res = await fetch("/api/log-key").catch(() => null);
    if (res?.ok) state.logKey = (await res.text()).trim();
  }
  keeping($("acts"), renderList);
  if (announce) notice("list_updated", { n: state.acts.length });
  return true;
}

/** « Rejoindre »: the professional's own link, then the call page. */
async function join(id, buttonId) {
  const { status, data } = await api("GET", `/api/acts/${enc(id)}/link`);
  if (status === 200 && data?.link) {
    location.assign(data.link);
    return;
  }
  notice("action_refused", { reason: () => apiError({ code: data?.code, status }) });
  $(buttonId)?.focus();
}

// --------------------------------------------------------------- trace

async function loadTrace(id) {
  const { status, data } = await api("GET", `/api/acts/${enc(id)}/trace`);
  if (status !== 200) {
    notice("action_refused", { reason: () => apiError({ code: data?.code, status }) });
    return;
  }
  state.trace = { id, events: data.events ?? [] };
  renderTrace();
  showView("trace", "trace-title");
}
function renderTrace() {
  const { id, events } = state.trace;
  $("trace-title").textContent = t("trace_title", { id });
  const ol = $("trace-events");
  ol.replaceChildren(...events.map((e) => h("li", {}, h("time", { datetime: e.at }, fmtDate(e.at, state.lang)), ` ${e.kind}`)));
  if (!events.length) ol.replaceChildren(h("li", {}, t("no_events")));
}

// -------------------------------------------------------------- detail

async function openDetail(id, focusId) {
  if (state.detailId !== id) {
    state.detailPicker?.dispose();
    state.detailPicker = null;
    state.detailUploads = null;
    state.actionError = null;
  }
  state.detailId = id;
  const { status, data } = await api("GET", `/api/acts/${enc(id)}`);
  if (status !== 200) {
    notice("action_refused", { reason: () => apiError({ code: data?.code, status }) });
    return;
  }
  state.detail = data;
  if (state.view === "detail") keeping($("detail"), renderDetail);
  else renderDetail();
  showView("detail", focusId ?? "detail-title");
}

/**
 * Opens a stored document in the viewer: an image by its URL (the page may
 * show same-origin images); a PDF as a Blob fetched first, shown in a frame
 * of its blob: URL as DESIGN.md's viewer does (the document's own answer
 * is sandboxed and may not be framed).
 */
async function openDocument(href, type, name, buttonId) {
  if (viewerKind(type) !== "pdf") {
    openViewer(href, { type, name, lang: state.lang });
    return;
  }
  const res = await fetch(href, { credentials: "same-origin" });
  if (!res.ok) {
    let code;
    try {
      code = (await res.json()).code;
    } catch {
      code = undefined;
    }
    notice("action_refused", { reason: () => apiError({ code, status: res.status }) });
    $(buttonId)?.focus();
    return;
  }
  const blob = new Blob([await res.arrayBuffer()], { type: "application/pdf" });
  openViewer(blob, { type: "application/pdf", name, lang: state.lang });
}

const section = (id, titleKey, ...children) =>
  h("section", { class: "part", "aria-labelledby": `${id}-title` }, h("h2", { id: `${id}-title`, tabindex: "-1" }, t(titleKey)), ...children);

/** An error said in the section where its action was tried. */
function actionErrorIn(where) {
  const e = state.actionError;
  if (!e || e.where !== where) return null;
  return h("p", { class: "alert", role: "alert", id: `${where}-error` }, e.key ? t(e.key, e.vars) : apiError(e));
}

/** A labelled text area with its error line, for the expert's and the report's forms. */
function textField(id, labelKey, rows = 4) {
  return [
    h("label", { for: id }, t(labelKey)),
    h("textarea", { id, rows: String(rows), "aria-describedby": `${id}-error` }),
    h("p", { id: `${id}-error`, class: "field-error", hidden: true }),
  ];
}
/** Checks a required text against its byte limit; marks the field. */
function checkText(id, max) {
  const el = $(id);
  const err = $(`${id}-error`);
  const v = el.value.trim();
  const key = !v ? "required_field" : byteLength(v) > max ? "text_too_long" : null;
  if (key) {
    err.textContent = t(key, { max: max / 1024 });
    err.hidden = false;
    el.setAttribute("aria-invalid", "true");
    el.focus();
    return null;
  }
  err.hidden = true;
  el.removeAttribute("aria-invalid");
  return v;
}

/** Runs an act command; on success says `doneKey` and reopens the detail on `focusId`. */
async function command(where, method, path, body, doneKey, focusId) {
  const { status, data } = await api(method, path, body);
  if (status >= 200 && status < 300) {
    state.actionError = null;
    notice(doneKey);
    await openDetail(state.detailId, focusId);
    return true;
  }
  state.actionError = { where, code: data?.code, status };
  keeping($("detail"), renderDetail);
  $(`${where}-error`)?.scrollIntoView({ block: "nearest" });
  return false;
}

function renderDetail() {
  const d = state.detail;
  const id = state.detailId;
  const role = myRole(d);
  const e = expertiseOf(d);
  const phase = d.phase;
  const answers = (e.answers ?? d.answers ?? []).map(answerOf);
  const accepted = answers.some((a) => a.decision === "accepted");
  const docs = Array.isArray(d.documents) ? d.documents : [];
  const open = !TERMINAL.includes(phase) && phase !== "conclusion";
  const url = (sha) => `/api/acts/${enc(id)}/documents/${enc(sha)}`;

  $("detail-title").textContent = actTitle(d);
  $("detail").dataset.act = id;

  // The facts.
  const facts = [
    ["my_role_label", t(`my_roles.${role ?? "none"}`)],
    ["phase_label", d.kind === "teleexpertise" ? t("state_line", { phase: t(`phases.${phase}`), answer: t(`answers.${decisionOf(d)}`) }) : t(`phases.${phase}`)],
  ];
  const named = (r) => plain((d.participants ?? []).find((p) => p.role === r)?.name);
  const requester = named("requester");
  const expert = named("expert");
  if (typeof requester === "string") facts.push(["requester_label", requester]);
  if (typeof expert === "string") facts.push(["expert_label", expert]);
  if (e.urgency) facts.push(["urgency_label", `${t(`urgencies.${e.urgency}`)} — ${t(`urgency_delays.${e.urgency}`)}`]);
  if (e.respond_by) {
    const due = fmtDate(e.respond_by, state.lang);
    let cell;
    if (e.overdue) {
      cell = h("span", { id: "detail-due" }, h("strong", { class: "late" }, h("span", { "aria-hidden": "true" }, "⚠ "), t("overdue")), ` — ${t("overdue_since", { date: due })}`);
    } else if (decisionOf(d) === "none" && open) {
      cell = h("span", { id: "detail-due" }, `${t("delay_due", { date: due })} (${t("delay_left", { left: fmtDuration(Math.max(0, new Date(e.respond_by) - Date.now()), t) })})`);
    } else {
      cell = h("span", { id: "detail-due" }, t("delay_due", { date: due }));
    }
    facts.push(["respond_by_label", cell]);
  }
  if (typeof d.patient_present === "boolean") facts.push(["patient_label", t(d.patient_present ? "patient_yes" : "patient_no")]);
  const consent = d.consent ?? d.consent_given ?? d.consent_recorded;
  if (typeof consent === "boolean") facts.push(["consent_label", t(consent ? "consent_yes" : "consent_no")]);
  const dl = h("dl", { class: "facts" });
  for (const [k, v] of facts) dl.append(h("dt", {}, t(k)), h("dd", {}, v));

  const parts = [dl];

  // The question and the answers.
  const question = plain(e.question ?? d.question);
  if (question) parts.push(section("question", "question_title", h("p", { class: "question" }, question)));
  // The documents come next (read before answering); filled in below.
  const documentsAt = parts.push(null) - 1;
  if (d.kind === "teleexpertise") {
    const items = answers.map((a) => {
      const date = fmtDate(a.at, state.lang);
      const key = a.decision === "accepted" ? "answer_accepted" : a.decision === "declined" ? "answer_declined" : "answer_more";
      return h("li", { class: `answer ${a.decision}` }, t(key, { date, text: a.text }));
    });
    parts.push(section("answers", "answers_title", items.length ? h("ol", { class: "answers" }, items) : h("p", { class: "hint" }, t("no_answer"))));
  }

  // The expert: accept, decline with a reason, ask for more.
  if (role === "expert" && d.kind === "teleexpertise" && phase === "request" && !accepted) {
    const accept = h("button", {
      type: "button", id: "accept",
      onclick: () => command("decide", "POST", `/api/acts/${enc(id)}/answer`, { decision: "accept" }, "done_accept", "review-title"),
    }, t("accept"));
    const decline = h("form", { id: "decline-form", class: "subform", novalidate: true, onsubmit: (ev) => {
      ev.preventDefault();
      const reason = checkText("decline-reason", MAX_ANSWER_BYTES);
      if (reason) command("decide", "POST", `/api/acts/${enc(id)}/answer`, { decision: "decline", reason }, "done_decline", "answers-title");
    } }, ...textField("decline-reason", "decline_reason", 3), h("button", { type: "submit", class: "danger" }, t("decline")));
    const more = h("form", { id: "more-form", class: "subform", novalidate: true, onsubmit: (ev) => {
      ev.preventDefault();
      const what = checkText("more-what", MAX_ANSWER_BYTES);
      if (what) command("decide", "POST", `/api/acts/${enc(id)}/answer`, { decision: "more", reason: what }, "done_more", "answers-title");
    } }, ...textField("more-what", "more_what", 3), h("button", { type: "submit", class: "secondary" }, t("more")));
    parts.push(section("decide", "decide_title", actionErrorIn("decide"), h("div", { class: "actions" }, accept), decline, more));
  }

  // The expert, once accepted: the asynchronous review, or the live session.
  if (role === "expert" && d.kind === "teleexpertise" && phase === "preparation" && accepted) {
    parts.push(section("review", "review_title", actionErrorIn("review"),
      h("p", { class: "hint" }, t("review_hint")),
      h("div", { class: "actions" },
        h("button", { type: "button", id: "start-review", onclick: () => command("review", "POST", `/api/acts/${enc(id)}/review`, null, "done_review", "report-form-title") }, t("start_review")),
        h("button", { type: "button", id: "detail-join", class: "secondary", onclick: () => join(id, "detail-join") }, t("join")))));
  }

  // The expert, reviewing: the written answer (report and prescriptions).
  if (role === "expert" && phase === "performance") {
    const reportForm = h("form", { id: "report-form", class: "subform", novalidate: true, onsubmit: (ev) => {
      ev.preventDefault();
      const report = checkText("report", MAX_REPORT_BYTES);
      if (!report) return;
      const lines = (fid, kind) => $(fid).value.split("\n").map((s) => s.trim()).filter(Boolean).map((text) => ({ kind, text }));
      const prescriptions = [...lines("prescr-meds", "medication"), ...lines("prescr-exams", "examination")];
      command("report-form", "POST", `/api/acts/${enc(id)}/report`, { report, prescriptions }, "done_report", "report-title");
    } },
    ...textField("report", "report_label", 8),
    h("label", { for: "prescr-meds" }, t("prescr_meds")), h("textarea", { id: "prescr-meds", rows: "3" }),
    h("label", { for: "prescr-exams" }, t("prescr_exams")), h("textarea", { id: "prescr-exams", rows: "3" }),
    h("div", { class: "actions" },
      h("button", { type: "submit", id: "send-report" }, t("send_report")),
      h("button", { type: "button", id: "detail-join", class: "secondary", onclick: () => join(id, "detail-join") }, t("join"))));
    parts.push(section("report-form", "report_title", actionErrorIn("report-form"), reportForm));
  }

  // The expert's written answer, for both, once there.
  const conclusion = d.report ?? d.conclusion;
  const reportText = plain(conclusion?.report ?? conclusion);
  if (typeof reportText === "string" && reportText) {
    const prescriptions = (conclusion?.prescriptions ?? d.prescriptions ?? []).map((p) =>
      h("li", {}, t("prescription_line", { kind: t(`prescription_kinds.${p.kind}`), text: plain(p.text) })));
    parts.push(section("report", "report_received_title",
      h("p", { class: "report" }, reportText),
      prescriptions.length ? [h("h3", {}, t("prescriptions_title")), h("ul", {}, prescriptions)] : null));
  } else if (role === "requester" && d.kind === "teleexpertise" && !TERMINAL.includes(phase)) {
    parts.push(section("report", "report_received_title", h("p", { class: "hint" }, t("report_none"))));
  }

  // The documents: images and PDFs in the viewer, DICOM to download.
  const docItems = docs.map((doc, i) => {
    const type = doc.media_type;
    const name = plain(doc.name) || doc.sha256.slice(0, 12);
    const nameId = `doc-${i}-name`;
    const kind = viewerKind(type);
    const action = kind === "download"
      ? h("a", { href: url(doc.sha256), download: name, class: "button secondary", id: `doc-${i}-open`, "aria-labelledby": `doc-${i}-open ${nameId}` }, t("doc_download"))
      : h("button", {
        type: "button", class: "secondary", id: `doc-${i}-open`, "aria-labelledby": `doc-${i}-open ${nameId}`,
        onclick: () => openDocument(url(doc.sha256), type, name, `doc-${i}-open`),
      }, t("doc_open"));
    return h("li", { class: "document" },
      h("span", { id: nameId, class: "file-name" }, name), " ",
      h("span", { class: "hint" }, `(${t(`doc_types.${type}`)}, ${fmtSize(doc.size, state.lang)})`), " ", action);
  });
  const docParts = [docItems.length ? h("ul", { class: "documents" }, docItems) : h("p", { class: "hint" }, t("no_documents"))];
  if (role === "requester" && open) {
    const attestBox = [];
    const text = d.attestation_texts?.[0]?.text;
    if (consent === false && !d.patient_present && text) {
      // The attestation, with the text it records, before any document.
      attestBox.push(h("p", { class: "hint", id: "attest-later-intro" }, t("attest_text_intro")),
        h("blockquote", { lang: "fr", class: "quote", id: "attest-later-text" }, text),
        h("div", { class: "actions" }, h("button", {
          type: "button", id: "attest-later", "aria-describedby": "attest-later-text",
          onclick: async () => command("add-docs", "POST", `/api/acts/${enc(id)}/consent`, { text_sha256: await attestationDigest(text) }, "done_consent", "documents-title"),
        }, t("attest_later"))));
    }
    if (!state.detailPicker) {
      state.detailPicker = filePicker(ctx, "more-files", { already: docs.reduce((s, x) => s + (x.size ?? 0), 0) });
      state.detailUploads = h("ul", { class: "uploads", id: "more-uploads" });
    }
    const picker = state.detailPicker;
    const send = h("button", { type: "button", id: "upload-more", onclick: async () => {
      if (!picker.files.length) {
        picker.element.querySelector("button")?.focus();
        return;
      }
      const files = [...picker.files];
      picker.clear();
      const { ok, n } = await uploadFiles(ctx, id, files, state.detailUploads, `more-up-${Date.now()}`);
      notice("uploads_summary", { ok, n });
      await openDetail(id, "upload-more");
    } }, t("upload_button"));
    // No consent yet: the attestation (or, the patient taking part, what
    // they will give in the session) comes before any document.
    if (consent === false && !attestBox.length) attestBox.push(h("p", { class: "hint" }, t("attest_patient_present")));
    const canAttach = consent !== false;
    docParts.push(h("h3", {}, t("add_documents")), ...attestBox, actionErrorIn("add-docs"),
      canAttach ? [picker.element, h("div", { class: "actions" }, send)] : null, state.detailUploads);
  }
  parts[documentsAt] = section("documents", "documents_title", ...docParts);

  // Joining and the trace.
  const more = [];
  if (runnable(d) && !(role === "expert" && (phase === "performance" || (phase === "preparation" && accepted)))) {
    more.push(h("button", { type: "button", id: "detail-join", class: "secondary", onclick: () => join(id, "detail-join") }, t("join")));
  }
  more.push(h("button", { type: "button", id: "detail-trace", class: "secondary", onclick: () => loadTrace(id) }, t("trace")));
  if (concluded(d)) more.push(reportLink(id, "detail-report-pdf", null), receiptLink(id, "detail-receipt", null));
  $("detail-more").replaceChildren(...more);

  if (concluded(d)) parts.push(logKeyLine("detail-log-key"));
  $("detail-body").replaceChildren(...parts.flat().filter(Boolean));
}

// ------------------------------------------------------------- sign-in

$("signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  state.signinError = null;
  renderSigninError();
  const { status, data } = await api("POST", "/api/session", {
    login: $("login").value,
    password: $("password").value,
    totp: $("totp").value,
  });
  $("password").value = "";
  $("totp").value = "";
  if (status === 200) {
    if (await loadActs()) showView("acts", "acts-title");
    return;
  }
  // The server's code, in the page's language (its sentence is English).
  state.signinError = { code: data?.code, status };
  renderSigninError();
});

$("signout").addEventListener("click", async () => {
  await api("DELETE", "/api/session");
  signedOut();
  $("signin-title").focus();
});
$("new-request").addEventListener("click", () => form.open());
$("refresh").addEventListener("click", () => loadActs({ announce: true }));
$("detail-back").addEventListener("click", showList);
// In the detail's forms too, a corrected field loses its error mark.
$("detail-body").addEventListener("input", (e) => {
  const el = e.target;
  if (el.getAttribute("aria-invalid") !== "true") return;
  el.removeAttribute("aria-invalid");
  const err = $(`${el.id}-error`);
  if (err) err.hidden = true;
});
$("trace-back").addEventListener("click", showList);

translate();
loadOidc();
loadActs().then((signed) => {
  if (signed) showView("acts", "acts-title");
  else if (sentBack) {
    state.signinError = sentBack;
    renderSigninError();
    $("signin-title").focus();
  }
});
