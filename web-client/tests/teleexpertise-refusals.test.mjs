// Bad input on the professional's page, and the delay running out:
// - a file over 50 MiB is refused as soon as it is chosen (the page's own
//   check: nothing is sent), and, sent anyway with fetch, by the server
//   (413, with a code the page translates);
// - a renamed executable (« cliche-genou.jpg ») is refused by the server
//   (415), the page says why in French, and the next file still goes;
// - an immediate request shows its one-hour delay; then, with the server
//   restarted two hours ahead (libfaketime: the server's own clock, which
//   decides `overdue`), both sides see « En retard »; the expert's decline
//   needs a reason, and once given the request is refused for both.
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, ftruncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ERRORS } from "../i18n.js";
import { checkA11y, launchChromium, shots, startDemo, stopDemo, verifiedEvents, waitHealthy } from "./helpers.mjs";
import { EXPERT, REQUESTER, addProfessional, chooseFiles, fillRequest, makeJpeg, noticeSays, proPage, signIn } from "./pro-helpers.mjs";

const FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const AHEAD_MS = 2 * 3600e3;

/** The server's clock, from its Date header (seconds). */
async function serverSkew(port) {
  const res = await fetch(`https://127.0.0.1:${port}/healthz`);
  return new Date(res.headers.get("date")).getTime() - Date.now();
}

test("oversized and wrong files are refused with clear messages; an unanswered request turns overdue", { timeout: 300000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), "tc-e2e-"));
  const requester = addProfessional(data, REQUESTER);
  const expert = addProfessional(data, EXPERT);
  const port = 26443 + Math.floor(Math.random() * 1000);
  let { child } = await startDemo(data, port);
  await waitHealthy(port);
  // A file one byte over 50 MiB (sparse: nothing is written), and a
  // program renamed as an image.
  const big = join(data, "scanner-complet.pdf");
  const fd = openSync(big, "w");
  ftruncateSync(fd, 50 * 1024 * 1024 + 1);
  closeSync(fd);
  const program = readFileSync("/bin/true");
  const browserA = await launchChromium();
  const browserB = await launchChromium();
  try {
    const a = await proPage(browserA, port, requester, "requester");
    await a.getByRole("button", { name: "Nouvelle demande de téléexpertise" }).click();

    // Over 50 MiB: refused at once, said, not listed.
    await chooseFiles(a, [big]);
    await noticeSays(a, /scanner-complet\.pdf \(50\sMo\) dépasse 50 Mo : il n'est pas joint\./);
    await a.locator("#new-files-refusals li").filter({ hasText: "dépasse 50 Mo" }).waitFor();
    assert.equal(await a.locator("#new-files-list li").count(), 0);
    await a.getByText("Aucun document choisi.").waitFor();
    await checkA11y(a, "pro: oversized file refused by the page");

    // Immediate: the delay it implies.
    await fillRequest(a, { question: "Plaie du genou avec suspicion d'arthrite septique : avis urgent.", urgency: "Immédiate" });
    assert.match(await a.getByRole("radio", { name: /^Immédiate/ }).evaluate((r) => r.labels[0].textContent), /sous 1 heure/);
    const dueText = await a.locator("#urgency-due").textContent();
    const inAnHour = new Intl.DateTimeFormat("fr", { hour: "2-digit", minute: "2-digit" }).format(new Date(Date.now() + 3600e3));
    assert.ok(dueText.includes(inAnHour) || dueText.includes(new Intl.DateTimeFormat("fr", { hour: "2-digit", minute: "2-digit" }).format(new Date(Date.now() + 3540e3))), `${dueText} vs ${inAnHour}`);

    // The renamed program first, then a real image: the first is refused, the second goes.
    const jpeg = await makeJpeg(a, { width: 400, height: 300 });
    await chooseFiles(a, [
      { name: "cliche-genou.jpg", mimeType: "image/jpeg", buffer: program },
      { name: "plaie.jpg", mimeType: "image/jpeg", buffer: jpeg },
    ]);
    await a.getByRole("button", { name: "Envoyer la demande" }).click();
    await noticeSays(a, "Demande envoyée : 1 document(s) ajouté(s) sur 2.");
    const rows = a.locator("#sending-files li");
    assert.deepEqual(await rows.evaluateAll((lis) => lis.map((li) => li.dataset.state)), ["refused", "done"]);
    const refusedText = await rows.first().locator(".upload-state").textContent();
    // The server's code, translated: a French sentence, not the server's English one.
    const known = Object.values(ERRORS.fr.api);
    const reason = refusedText.replace(/^refusé : /, "");
    assert.ok(known.includes(reason), `« ${refusedText} » is one of the page's French sentences`);
    assert.match(reason, /JPEG|PNG|PDF|DICOM/);
    await checkA11y(a, "pro: a file refused by the server");
    await a.screenshot({ path: join(shots, "worklist-10-refused.png"), fullPage: true });

    // Over 50 MiB sent anyway (the page's check bypassed): the server says 413, with a code the page knows.
    await a.getByRole("button", { name: "Ouvrir la demande" }).click();
    await a.waitForFunction(() => document.activeElement?.id === "detail-title");
    const act = await a.locator("#detail").getAttribute("data-act");
    const server413 = await a.evaluate(async (act) => {
      const body = new Blob([new Uint8Array(50 * 1024 * 1024 + 1)]);
      try {
        const res = await fetch(`/api/acts/${act}/documents?name=trop-gros.pdf`, { method: "POST", body });
        return { status: res.status, body: await res.json().catch(() => null) };
      } catch (e) {
        return { status: 0, error: String(e) };
      }
    }, act);
    assert.equal(server413.status, 413, JSON.stringify(server413));
    assert.ok(ERRORS.fr.api[server413.body.code], `the page translates ${server413.body.code}`);
    assert.match(ERRORS.fr.api[server413.body.code], /50 Mo/);

    // The delay: one hour, nearly all left.
    await a.getByRole("button", { name: "Retour à la liste" }).click();
    const sent = a.locator("#sent tbody tr").first();
    await sent.waitFor();
    const cells = await sent.locator("th, td").allTextContents();
    assert.equal(cells[2], "Immédiate");
    assert.match(cells[3], /^reste (59 min|5\d min|1 h 0 min)avant le /, cells[3]);
    assert.equal(cells[4], "1");

    if (!existsSync(FAKETIME)) {
      console.log("libfaketime is not installed: overdue not checked (the one-hour delay was)");
      return;
    }
    // The server, two hours later: restarted on the same data with its
    // clock ahead (the monotonic clock left alone, for its timers).
    await stopDemo(child);
    Object.assign(process.env, { LD_PRELOAD: FAKETIME, FAKETIME: "+2h", FAKETIME_DONT_FAKE_MONOTONIC: "1" });
    try {
      ({ child } = await startDemo(data, port));
    } finally {
      for (const k of ["LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_FAKE_MONOTONIC"]) delete process.env[k];
    }
    await waitHealthy(port);
    const skew = await serverSkew(port);
    assert.ok(Math.abs(skew - AHEAD_MS) < 60e3, `the server runs two hours ahead (${skew} ms)`);

    // Both sides: « En retard », marked.
    await signIn(a, port, requester, { skewMs: AHEAD_MS });
    const late = a.locator("#sent tbody tr.is-overdue");
    await late.waitFor();
    assert.match(await late.locator("td.delay").textContent(), /^⚠ En retardéchéance dépassée le /);
    await checkA11y(a, "pro: overdue (requester)");
    await a.screenshot({ path: join(shots, "worklist-11-overdue-requester.png"), fullPage: true });

    const b = await proPage(browserB, port, expert, "expert", { skewMs: AHEAD_MS });
    const lateB = b.locator("#received tbody tr.is-overdue");
    await lateB.waitFor();
    assert.match(await lateB.locator("td.delay").textContent(), /En retard/);
    await checkA11y(b, "pro: overdue (expert)");
    await b.screenshot({ path: join(shots, "worklist-12-overdue-expert.png"), fullPage: true });
    await b.getByRole("button", { name: /^Ouvrir Téléexpertise du / }).click();
    assert.match(await b.locator("#detail-due").textContent(), /En retard/);

    // Declining needs a reason.
    await b.getByRole("button", { name: "Refuser" }).click();
    await b.locator("#decline-reason-error").filter({ hasText: "Ce champ est obligatoire." }).waitFor();
    assert.equal(await b.getByLabel("Motif du refus").getAttribute("aria-invalid"), "true");
    await checkA11y(b, "pro: decline without a reason");
    await b.getByLabel("Motif du refus").fill("Hors de ma spécialité : adresser aux urgences orthopédiques.");
    await b.getByRole("button", { name: "Refuser" }).click();
    await noticeSays(b, "Demande refusée.");
    await b.getByRole("listitem").filter({ hasText: "demande refusée. Motif : Hors de ma spécialité" }).waitFor();

    await a.getByRole("button", { name: "Actualiser la liste" }).click();
    await noticeSays(a, /Liste à jour/);
    const ended = a.locator("#sent tbody tr").first();
    assert.equal(await ended.locator("td").first().textContent(), "annulé, refusée");
    assert.equal(await ended.getAttribute("class"), null, "no longer marked overdue once answered");

    const kinds = verifiedEvents(data, act).map((e) => e.kind);
    assert.deepEqual(kinds.filter((k) => k === "attachment_added").length, 1, "only the real image");
    assert.ok(kinds.includes("expert_answered"));
  } finally {
    await browserA.close();
    await browserB.close();
    await stopDemo(child);
  }
});
