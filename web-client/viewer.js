// The document viewer, for stored documents and files shared in the session
// alike: JPEG, PNG and WebP images with zoom (wheel, buttons, keys + − 0)
// and pan (drag, arrow keys); PDF inline in an <iframe> of its URL; DICOM
// and anything else offered as a download link. A modal <dialog>: focus
// moves into it, Escape or « Fermer » closes it and gives focus back to
// what had it.
//
//   import { openViewer } from "/viewer.js";
//   const v = openViewer(blob, { name: "genou.png", lang: state.lang });
//   // or a stored document: openViewer(`/api/acts/${act}/documents/${sha}`, { type, name })
//   await v.ready; v.close();
import { STRINGS } from "/i18n.js";
import { sanitizeName } from "/exchange.js";

/** The image types shown inline (DESIGN.md's DocumentType, less DICOM). */
export const INLINE_IMAGES = ["image/jpeg", "image/png", "image/webp"];
/** One zoom step (buttons, keys) multiplies or divides the scale by this. */
export const ZOOM_STEP = 1.25;
/** One arrow key moves the view by this many CSS pixels. */
export const PAN_STEP = 48;
/** The largest scale, relative to the image's own size. */
export const MAX_SCALE = 16;
// How much of the image stays in view however far it is moved.
const KEEP_VISIBLE = 48;

/** How the viewer shows a media type: "image", "pdf" or "download". */
export function viewerKind(type) {
  const t = String(type ?? "").split(";")[0].trim().toLowerCase();
  if (INLINE_IMAGES.includes(t)) return "image";
  if (t === "application/pdf") return "pdf";
  return "download";
}

let opened = 0;

/**
 * Opens `source` (a Blob, or the URL of a same-origin document) in a modal
 * viewer appended to `parent`. `type` defaults to the Blob's type; `name`
 * titles it and names the download; `lang` is "fr" or "en"; `onClose` is
 * called once it is closed. Returns { element, kind, ready (resolves once
 * shown), close(), zoomIn(), zoomOut(), fit(), pan(dx, dy), view ({scale,
 * x, y, fit}: scale 1 = the image's own size, x/y its centre's offset) }.
 */
export function openViewer(source, { type, name = "document", lang = "fr", parent = document.body, onClose } = {}) {
  const t = (key, vars = {}) =>
    (STRINGS[lang]?.[key] ?? STRINGS.fr[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");
  const isBlob = source instanceof Blob;
  const url = isBlob ? URL.createObjectURL(source) : safeUrl(source);
  const kind = viewerKind(type ?? (isBlob ? source.type : ""));
  const returnTo = document.activeElement;
  name = sanitizeName(name);
  const n = ++opened;

  const dialog = el("dialog", { class: `viewer viewer-${kind}`, "aria-labelledby": `viewer-title-${n}` });
  const bar = el("div", { class: "viewer-bar" });
  bar.append(el("h2", { id: `viewer-title-${n}`, class: "viewer-title" }, name));
  const tools = el("div", { class: "viewer-tools" });
  bar.append(tools);
  const closeButton = button(t("viewer_close"), "×");
  dialog.append(bar);

  let focusTarget = closeButton;
  let ready = Promise.resolve();
  // The image's view: scale relative to its own size, and its centre's
  // offset from the stage's centre, in CSS pixels.
  const view = { scale: 1, x: 0, y: 0, fit: 1 };
  let img = null;
  let stage = null;
  let zoomLabel = null;

  if (kind === "image") {
    const help = el("p", { id: `viewer-help-${n}`, class: "viewer-help" }, t("viewer_help"));
    stage = el("div", {
      class: "viewer-stage", tabindex: "0", role: "group",
      "aria-label": t("viewer_image_area", { name }), "aria-describedby": help.id,
    });
    img = el("img", { alt: name, draggable: "false" });
    stage.append(img);
    const zoomOut = button(t("viewer_zoom_out"), "−");
    const zoomIn = button(t("viewer_zoom_in"), "+");
    const fitButton = button(t("viewer_fit"), "⤢");
    zoomLabel = el("output", { class: "viewer-zoom", "aria-live": "polite" });
    zoomOut.addEventListener("click", () => zoomAt(1 / ZOOM_STEP));
    zoomIn.addEventListener("click", () => zoomAt(ZOOM_STEP));
    fitButton.addEventListener("click", () => fit());
    tools.append(zoomOut, zoomLabel, zoomIn, fitButton);
    dialog.append(stage, help);
    focusTarget = stage;
    img.src = url;
    ready = img.decode().then(
      () => fit(),
      () => {
        stage.replaceChildren(el("p", { class: "alert", role: "alert" }, t("viewer_broken")));
      },
    );
    stage.addEventListener("wheel", onWheel, { passive: false });
    stage.addEventListener("pointerdown", onPointerDown);
  } else if (kind === "pdf") {
    const frame = el("iframe", { class: "viewer-frame", src: url, title: t("viewer_pdf", { name }) });
    dialog.append(frame);
    focusTarget = frame;
  } else {
    const isDicom = String(type ?? (isBlob ? source.type : "")).toLowerCase().startsWith("application/dicom");
    const box = el("div", { class: "viewer-download" });
    box.append(el("p", {}, t(isDicom ? "viewer_dicom_note" : "viewer_other_note")));
    const size = isBlob ? formatSize(source.size, lang) : "";
    const link = el("a", { href: url, download: name, class: "button" }, t("viewer_download", { name, size }).replace(" ()", ""));
    box.append(link);
    dialog.append(box);
    focusTarget = link;
  }
  tools.append(closeButton);
  closeButton.addEventListener("click", () => close());

  // Escape: the dialog's own `cancel`, turned into a full close.
  dialog.addEventListener("cancel", (e) => {
    e.preventDefault();
    close();
  });
  dialog.addEventListener("keydown", onKey);
  parent.append(dialog);
  dialog.showModal();
  focusTarget.focus();

  let closed = false;
  function close() {
    if (closed) return;
    closed = true;
    dialog.close();
    dialog.remove();
    if (isBlob) URL.revokeObjectURL(url);
    if (returnTo && returnTo !== document.body && returnTo.isConnected) returnTo.focus();
    onClose?.();
  }

  // ------------------------------------------------------------ image view
  function apply() {
    img.style.transform = `translate(-50%, -50%) translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
    const text = t("viewer_zoom", { p: Math.round(view.scale * 100) });
    if (zoomLabel.textContent !== text) zoomLabel.textContent = text;
    dialog.dataset.scale = view.scale.toFixed(4);
    dialog.dataset.x = String(Math.round(view.x));
    dialog.dataset.y = String(Math.round(view.y));
  }
  function fit() {
    if (!img?.naturalWidth) return;
    const w = stage.clientWidth || img.naturalWidth;
    const h = stage.clientHeight || img.naturalHeight;
    view.fit = Math.min(1, w / img.naturalWidth, h / img.naturalHeight);
    view.scale = view.fit;
    view.x = 0;
    view.y = 0;
    apply();
  }
  // Zooms by `factor` keeping the point (px, py) — from the stage's centre —
  // where it is on screen.
  function zoomAt(factor, px = 0, py = 0) {
    if (!img?.naturalWidth) return;
    const min = Math.min(view.fit, 1) / 4;
    const scale = Math.min(MAX_SCALE, Math.max(min, view.scale * factor));
    const k = scale / view.scale;
    view.x = px - (px - view.x) * k;
    view.y = py - (py - view.y) * k;
    view.scale = scale;
    clampPan();
    apply();
  }
  function pan(dx, dy) {
    if (!img?.naturalWidth) return;
    view.x += dx;
    view.y += dy;
    clampPan();
    apply();
  }
  function clampPan() {
    const limX = (img.naturalWidth * view.scale + stage.clientWidth) / 2 - KEEP_VISIBLE;
    const limY = (img.naturalHeight * view.scale + stage.clientHeight) / 2 - KEEP_VISIBLE;
    view.x = Math.max(-limX, Math.min(limX, view.x));
    view.y = Math.max(-limY, Math.min(limY, view.y));
  }
  function onWheel(e) {
    e.preventDefault();
    const r = stage.getBoundingClientRect();
    const factor = Math.min(2, Math.max(0.5, Math.exp(-e.deltaY * 0.0015)));
    zoomAt(factor, e.clientX - (r.left + r.width / 2), e.clientY - (r.top + r.height / 2));
  }
  function onPointerDown(e) {
    if (e.button !== 0) return;
    stage.setPointerCapture(e.pointerId);
    stage.classList.add("dragging");
    let last = { x: e.clientX, y: e.clientY };
    const move = (m) => {
      pan(m.clientX - last.x, m.clientY - last.y);
      last = { x: m.clientX, y: m.clientY };
    };
    const up = () => {
      stage.classList.remove("dragging");
      stage.removeEventListener("pointermove", move);
      stage.removeEventListener("pointerup", up);
      stage.removeEventListener("pointercancel", up);
    };
    stage.addEventListener("pointermove", move);
    stage.addEventListener("pointerup", up);
    stage.addEventListener("pointercancel", up);
  }
  function onKey(e) {
    if (kind !== "image" || e.ctrlKey || e.metaKey || e.altKey) return;
    // The arrows move the view, as scrolling does: → shows what is right.
    const keys = {
      "+": () => zoomAt(ZOOM_STEP), "=": () => zoomAt(ZOOM_STEP), Add: () => zoomAt(ZOOM_STEP),
      "-": () => zoomAt(1 / ZOOM_STEP), Subtract: () => zoomAt(1 / ZOOM_STEP),
      0: () => fit(),
      ArrowLeft: () => pan(PAN_STEP, 0), ArrowRight: () => pan(-PAN_STEP, 0),
      ArrowUp: () => pan(0, PAN_STEP), ArrowDown: () => pan(0, -PAN_STEP),
    };
    const action = keys[e.key];
    if (!action) return;
    e.preventDefault();
    action();
  }

  return {
    element: dialog,
    kind,
    ready,
    close,
    zoomIn: () => zoomAt(ZOOM_STEP),
    zoomOut: () => zoomAt(1 / ZOOM_STEP),
    fit: () => fit(),
    pan: (dx, dy) => pan(dx, dy),
    get view() {
      return { ...view };
    },
  };
}

// Only blob:, same-origin or http(s) URLs: never javascript: or data:.
function safeUrl(source) {
  const u = new URL(String(source), location.href);
  if (!["blob:", "https:", "http:"].includes(u.protocol)) throw new TypeError(`viewer: refused URL scheme ${u.protocol}`);
  return u.href;
}

function formatSize(bytes, lang) {
  const [unit, div] = bytes >= 1e6 ? ["megabyte", 1e6] : bytes >= 1e3 ? ["kilobyte", 1e3] : ["byte", 1];
  return new Intl.NumberFormat(lang, { style: "unit", unit, maximumFractionDigits: 1 }).format(bytes / div);
}

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// A button whose name is its visible label; the symbol is decoration.
function button(label, symbol) {
  const b = el("button", { type: "button", class: "secondary" });
  b.append(el("span", { "aria-hidden": "true", class: "viewer-symbol" }, symbol), document.createTextNode(label));
  return b;
}
