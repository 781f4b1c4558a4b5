// The console in a real browser (Debian's chromium, driven by playwright-core): bob's page
// shows a hire as it happens, and after its socket drops it reconnects and shows the hire
// it missed exactly once. Run by `make test` against a local gateway of its own:
//   API=http://127.0.0.1:3000 node infra/scripts/console-test.mjs
import { chromium } from "playwright-core";

const api = process.env.API;
if (!api) throw new Error("API must name the local gateway, e.g. http://127.0.0.1:3000");
const WAIT = 10_000;

async function call(token, method, path, body) {
  const response = await fetch(api + path, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

async function token(user) {
  const response = await fetch(`${api}/_local/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user }),
  });
  return (await response.json()).token;
}

const alice = await token("alice");
const bob = await token("bob");

/** Alice posts a job, bob applies, alice hires him; answers when the hire answered. */
async function aliceHiresBob(title) {
  const job = await call(alice, "POST", "/jobs", { title, budget_cents: 10_000 });
  const application = await call(bob, "POST", `/jobs/${job.job_id}/applications`, { bid_cents: 9_000 });
  await call(alice, "POST", `/jobs/${job.job_id}/hire`, { application_id: application.application_id });
  return Date.now();
}

const hiredShown = (page) =>
  page.$$eval('#notifications li[data-type="hired"]', (items) => items.length);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
let failed = false;
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => { failed = true; console.error("console: page error:", e); });
  await page.goto(`${api}/_local/console?user=bob`);
  await page.waitForSelector('#status[data-state="open"]', { timeout: WAIT });

  const hiredAt = await aliceHiresBob("Console test, first hire");
  await page.waitForSelector('#notifications li[data-type="hired"]', { timeout: WAIT });
  console.log(`console: bob's page showed the hire ${Date.now() - hiredAt} ms after it answered`);

  // The socket drops; the hire happens while the page reconnects.
  await page.click("#drop");
  await aliceHiresBob("Console test, second hire");
  await page.waitForFunction(
    () => document.querySelectorAll('#notifications li[data-type="hired"]').length >= 2,
    null,
    { timeout: WAIT },
  );
  await page.waitForSelector('#status[data-state="open"]', { timeout: WAIT });
  // Anything shown twice would show by now: a push and a sync of the same position.
  await page.waitForTimeout(1_500);
  const positions = await page.$$eval("#notifications li", (items) => items.map((li) => li.dataset.position));
  const hired = await hiredShown(page);
  if (hired !== 2 || new Set(positions).size !== positions.length) {
    failed = true;
    console.error(`console: expected two hires shown once each, saw ${hired} hires at positions ${positions}`);
  } else {
    console.log(`console: after the drop the page reconnected and showed the missed hire once (positions ${positions})`);
  }
} catch (e) {
  failed = true;
  console.error("console:", e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
