// The browser end-to-end test of the demo page (issue 3), driven by playwright-core with Debian's
// chromium. scripts/e2e.sh starts api-app and demo-app (proxying to it) and passes:
//   DEMO_URL      demo-app's address, e.g. http://127.0.0.1:41234
//   API_URL       api-app's address, used to act as "another client"
//   DOWN_URL      a second demo-app whose API_URL points at a closed port
//   E2E_API_KEY   the API key api-app was started with
//   ARTIFACTS     where screenshots go (CI keeps the folder)
// Each step prints "ok N - …"; the first failure saves a screenshot and exits non-zero.
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

const require = createRequire(new URL("../tools/package.json", import.meta.url));
const { chromium } = require("playwright-core");

const DEMO_URL = must("DEMO_URL");
const API_URL = must("API_URL");
const DOWN_URL = must("DOWN_URL");
const API_KEY = must("E2E_API_KEY");
const ARTIFACTS = process.env.ARTIFACTS || "artifacts/e2e";
const STEP_TIMEOUT_MS = 15_000;

// The flags these machines need, plus a fresh profile for every run.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

function must(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`e2e: ${name} is not set (run scripts/e2e.sh)`);
    process.exit(2);
  }
  return value;
}

let stepNo = 0;
async function step(name, fn) {
  stepNo += 1;
  await fn();
  console.log(`ok ${stepNo} - ${name}`);
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Waits until the element's text contains every fragment. */
async function waitForText(page, selector, ...fragments) {
  await page.waitForFunction(
    ([sel, parts]) => {
      const el = document.querySelector(sel);
      return !!el && !el.hidden && parts.every((p) => el.textContent.includes(p));
    },
    [selector, fragments],
    { timeout: STEP_TIMEOUT_MS },
  );
}

async function apiTasks() {
  const res = await fetch(`${API_URL}/api/tasks?limit=1000`);
  assert(res.ok, `GET /api/tasks answered ${res.status}`);
  return (await res.json()).items;
}

mkdirSync(ARTIFACTS, { recursive: true });
const profile = mkdtempSync(path.join(tmpdir(), "demo-e2e-profile-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: CHROMIUM_ARGS,
  viewport: { width: 1280, height: 900 },
});
const page = context.pages()[0] || (await context.newPage());
page.setDefaultTimeout(STEP_TIMEOUT_MS);

// Anything the page logs as an error (a CSP violation, a failed script) or any request to another
// origin fails the run.
const problems = [];
const origins = new Set([new URL(DEMO_URL).origin, new URL(DOWN_URL).origin]);
context.on("console", (msg) => {
  // Chromium logs every 4xx the page provokes on purpose (422, 401) as "Failed to load resource".
  if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) {
    problems.push(`console: ${msg.text()}`);
  }
});
context.on("weberror", (err) => problems.push(`page error: ${err.error().message}`));
// The console line above is dropped for 4xx the page provokes; its own files must never fail.
context.on("response", (res) => {
  const url = new URL(res.url());
  if (url.pathname.startsWith("/static/") && !res.ok()) problems.push(`${res.status()} for ${res.url()}`);
});
context.on("request", (req) => {
  const url = new URL(req.url());
  if (url.protocol !== "data:" && !origins.has(url.origin)) problems.push(`request to another origin: ${req.url()}`);
});

const title = `e2e task ${Date.now()}`;
let failed = false;
try {
  await step("page loads and shows the local environment badge", async () => {
    const res = await page.goto(DEMO_URL, { waitUntil: "load" });
    assert(res && res.ok(), `GET / answered ${res && res.status()}`);
    const csp = res.headers()["content-security-policy"] || "";
    const directives = new Map(
      csp.split(";").map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([name, ...v]) => [name, v.join(" ")]),
    );
    assert(directives.get("script-src") === "'self'", `CSP: script-src must be 'self' alone: ${csp}`);
    assert(directives.get("default-src") === "'self'", `CSP: default-src must be 'self': ${csp}`);
    assert(!csp.includes("unsafe-"), `CSP allows something unsafe: ${csp}`);
    await waitForText(page, "#env-badge", "local");
    const env = await page.locator("body").getAttribute("data-env");
    assert(env === "local", `body data-env is ${env}`);
    await waitForText(page, "#ui-version", ".");
  });

  await step("API status shows healthy with its version and environment", async () => {
    await waitForText(page, "#api-health", "healthy");
    await waitForText(page, "#api-env", "local");
  });

  await step("adding a task through the form lists it", async () => {
    await page.fill("#task-title", title);
    await page.click("#task-form button[type=submit]");
    await page.locator("#task-list li", { hasText: title }).waitFor();
    const stored = (await apiTasks()).find((t) => t.title === title);
    assert(stored && stored.completed === false, "the API did not store the new task");
  });

  await step("toggling the task marks it completed in the API", async () => {
    const item = page.locator("#task-list li", { hasText: title });
    await item.locator("input[type=checkbox]").check();
    await page.waitForFunction(
      (t) => [...document.querySelectorAll("#task-list li.done")].some((li) => li.textContent.includes(t)),
      title,
    );
    const stored = (await apiTasks()).find((t) => t.title === title);
    assert(stored && stored.completed === true, "the API still has the task open");
  });

  await step("a blank title shows the API's validation error", async () => {
    await page.fill("#task-title", "");
    await page.click("#task-form button[type=submit]");
    await waitForText(page, "#task-error", "validation_failed", "422");
    const text = await page.textContent("#task-error");
    assert(/title/i.test(text), `error does not explain the title: ${text}`);
  });

  await step("a task created by another client appears without a reload", async () => {
    const other = `created elsewhere ${Date.now()}`;
    const res = await fetch(`${API_URL}/api/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: other, completed: false }),
    });
    assert(res.status === 201, `POST /api/tasks answered ${res.status}`);
    const { id } = await res.json();
    await page.locator("#task-list li", { hasText: other }).waitFor();
    // And deleting it from the page removes it from the API.
    await page.locator("#task-list li", { hasText: other }).getByRole("button", { name: /delete/i }).click();
    await page.locator("#task-list li", { hasText: other }).waitFor({ state: "detached" });
    assert(!(await apiTasks()).some((t) => t.id === id), "the deleted task is still in the API");
  });

  await step("past a page of tasks, Next and Previous page by the API's cursors", async () => {
    // Enough tasks for a second page of the page's 100; the last one created is on it.
    const stored = (await apiTasks()).length;
    let last = "";
    for (let i = stored; i <= 100; i++) {
      last = `paging ${i} ${Date.now()}`;
      const res = await fetch(`${API_URL}/api/tasks`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ title: last, completed: false }),
      });
      assert(res.status === 201, `POST /api/tasks answered ${res.status}`);
    }
    const cursors = [];
    page.on("request", (req) => {
      const url = new URL(req.url());
      if (url.pathname === "/api/tasks" && url.searchParams.has("cursor")) cursors.push(url.search);
    });
    await page.locator("#task-next:not([disabled])").click();
    await page.locator("#task-list li", { hasText: last }).waitFor();
    await waitForText(page, "#task-page", "Page 2");
    assert(cursors.length > 0, "the second page was not asked for by cursor");
    await page.locator("#task-prev").click();
    await waitForText(page, "#task-page", "Page 1");
    await page.locator("#task-list li", { hasText: last }).waitFor({ state: "detached" });
  });

  await step("past the first page, a new task's place is announced", async () => {
    const late = `added late ${Date.now()}`;
    await page.fill("#task-title", late);
    await page.click("#task-form button[type=submit]");
    await waitForText(page, "#task-status", late, "last page");
    assert(!(await page.locator("#task-list li", { hasText: late }).count()), "it is not on page 1");
  });

  await step("a double click on Next turns one page", async () => {
    await page.locator("#task-next:not([disabled])").dblclick();
    await waitForText(page, "#task-page", "Page ");
    await page.waitForFunction(() => document.querySelector("#task-page").textContent !== "Page 1");
    await page.waitForTimeout(500); // a second turn would have drawn by now
    const label = await page.textContent("#task-page");
    assert(label === "Page 2", `after a double click: ${label}`);
    // And one Previous is back at the start (Page 3 would need two).
    await page.locator("#task-prev:not([disabled])").click();
    await page.waitForFunction(() => document.querySelector("#task-page").textContent === "Page 1");
  });

  await step("a create whose answer is lost, tried again, is stored once", async () => {
    const once = `stored once ${Date.now()}`;
    const keys = [];
    let lose = true;
    await page.route("**/api/tasks", async (route) => {
      const req = route.request();
      if (req.method() !== "POST") return route.fallback();
      keys.push(req.headers()["idempotency-key"]);
      if (!lose) return route.fallback();
      lose = false;
      await route.fetch(); // the API stores it; the answer never reaches the page
      await route.abort("connectionreset");
    });
    await page.fill("#task-title", once);
    await page.click("#task-form button[type=submit]");
    await waitForText(page, "#task-error", "could not reach");
    await page.click("#task-form button[type=submit]");
    await page.locator("#task-error").waitFor({ state: "hidden" });
    await page.unroute("**/api/tasks");
    assert(keys.length === 2 && keys[0] && keys[0] === keys[1], `one key for both tries: ${keys}`);
    const stored = (await apiTasks()).filter((t) => t.title === once);
    assert(stored.length === 1, `${stored.length} tasks titled ${once}`);
  });

  await step("toggling a task with the keyboard keeps the focus on it", async () => {
    const box = page.locator("#task-list li input[type=checkbox]").first();
    await box.focus();
    const before = await box.isChecked();
    await page.keyboard.press("Space");
    await page.waitForFunction(
      (was) => document.querySelector("#task-list li input[type=checkbox]").checked !== was
        && !document.querySelector("#task-list li input[type=checkbox]").disabled,
      before,
    );
    const focused = await page.evaluate(() => document.activeElement === document.querySelector("#task-list li input[type=checkbox]"));
    assert(focused, "the focus left the checkbox");
  });

  await step("a toggle or delete of a task another client changed meanwhile writes nothing", async () => {
    const id = await page.locator("#task-list li").first().getAttribute("data-id");
    const item = page.locator(`#task-list li[data-id="${id}"]`);
    for (const act of ["toggle", "delete"]) {
      // The page's list refreshes are held, so it still shows the version it read.
      let release;
      const held = new Promise((resolve) => (release = resolve));
      const lists = (url) => url.pathname === "/api/tasks";
      await page.route(lists, async (route) => {
        if (route.request().method() === "GET") await held;
        await route.fallback();
      });
      const renamed = `renamed elsewhere (${act}) ${Date.now()}`;
      const res = await fetch(`${API_URL}/api/tasks/${id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ title: renamed }),
      });
      assert(res.status === 200, `PATCH /api/tasks/${id} answered ${res.status}`);
      const before = await res.json();
      if (act === "toggle") await item.locator("input[type=checkbox]").click();
      else await item.getByRole("button", { name: /delete/i }).click();
      await waitForText(page, "#task-error", "changed this task first", "nothing was written");
      release();
      await page.unroute(lists);
      await item.locator("label", { hasText: renamed }).waitFor();
      const checked = await item.locator("input[type=checkbox]").isChecked();
      assert(checked === before.completed, `after the refused ${act} the box shows ${checked}`);
      const stored = (await apiTasks()).find((t) => t.id === id);
      assert(stored && stored.version === before.version && stored.completed === before.completed,
        `the refused ${act} changed the task: ${JSON.stringify(stored)}`);
    }
  });

  await step("a list answer older than the task's last change does not draw it back", async () => {
    const drawn = await page.evaluate(() => {
      const li = document.querySelector("#task-list li");
      const version = Number(li.dataset.version);
      const label = li.querySelector("label").textContent;
      // As a list answer that left the API before the change this page just made would carry it.
      updateTaskItem(li, { id: li.dataset.id, title: "an older title", completed: false, created_at: "", version: version - 1 });
      return { before: [version, label], after: [Number(li.dataset.version), li.querySelector("label").textContent] };
    });
    assert(JSON.stringify(drawn.after) === JSON.stringify(drawn.before), `a stale answer was drawn: ${JSON.stringify(drawn)}`);
  });

  await step("echo shows the API's answer", async () => {
    await page.fill("#echo-input", "hello from the browser");
    await page.click("#echo-form button[type=submit]");
    await waitForText(page, "#echo-result", "hello from the browser");
  });

  await step("a key the browser cannot send is explained, not called a network failure", async () => {
    await page.fill("#stats-key", "ключ-not-ascii");
    await page.click("#stats-form button[type=submit]");
    await waitForText(page, "#stats-error", "visible ASCII");
  });

  await step("a wrong API key shows 401 in the stats panel", async () => {
    await page.fill("#stats-key", "definitely-not-the-key");
    await page.click("#stats-form button[type=submit]");
    await waitForText(page, "#stats-error", "401");
    assert(await page.locator("#stats-result").isHidden(), "stats shown despite a wrong key");
  });

  await step("the right API key shows the stats", async () => {
    await page.fill("#stats-key", API_KEY);
    await page.click("#stats-form button[type=submit]");
    await page.locator("#stats-result").waitFor({ state: "visible" });
    await page.locator("#stats-error").waitFor({ state: "hidden" });
    const total = Number(await page.textContent("#stats-total"));
    assert(Number.isInteger(total) && total >= 1, `stats total is ${total}`);
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert(!stored.includes(API_KEY), "the API key was stored in web storage");
  });

  await step("screenshots saved", async () => {
    await page.screenshot({ path: path.join(ARTIFACTS, "demo.png"), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(ARTIFACTS, "demo-narrow.png"), fullPage: true });
  });

  await step("with the API down, the page says so", async () => {
    const down = await context.newPage();
    await down.goto(DOWN_URL, { waitUntil: "load" });
    await waitForText(down, "#api-health", "502");
    await waitForText(down, "#api-problem", "unreachable", "upstream_unavailable");
    await down.fill("#task-title", "never stored");
    await down.click("#task-form button[type=submit]");
    await waitForText(down, "#task-error", "upstream_unavailable");
    await down.screenshot({ path: path.join(ARTIFACTS, "demo-api-down.png"), fullPage: true });
    await down.close();
  });

  await step("no console errors, CSP violations or requests to other origins", async () => {
    assert(problems.length === 0, problems.join("\n"));
  });
} catch (err) {
  failed = true;
  console.error(`not ok ${stepNo} - ${err.message}`); // stepNo counts the step that failed
  await page.screenshot({ path: path.join(ARTIFACTS, "failure.png"), fullPage: true }).catch(() => {});
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
