/**
 * NEEDS CHROMIUM (Debian's `chromium`; `./tcplab test` installs it), no Docker.
 *
 * Every recorded catalog run's report, and `lab explain`'s report of every
 * capture in tests/testdata and of a capture of many connections
 * (tests/explain/_captures.ts), read as a person reads it on a ticket:
 * the Markdown turned into HTML by marked with GitHub's alerts, the Mermaid
 * diagrams rendered by mermaid, in a real headless Chromium, in a column as
 * wide as a GitHub comment's (846 px) styled like GitHub's. Every diagram
 * parses and renders, the verdict is within the top 1,000 px, no code line
 * (with every folded block opened) is wider than the column, and a packet
 * in the timeline stays on one line. The page loads nothing from the network:
 * mermaid is read from the local npm cache.
 *
 * Set TCPLAB_RENDERED to a folder to keep the pages there, with a screenshot
 * of each report's first screen (folds closed) and of the whole of it (folds
 * opened), to look at them.
 */
// The browser driver, marked and mermaid are the tests' alone: they are named here, not in deno.json, so
// that the lab's start-up does not read them (tests/cli/tasks_test.ts).
// deno-lint-ignore-file no-import-prefix
import assert from "node:assert/strict";
import { chromium } from "npm:playwright-core@1.65.1";
import type { BrowserContext } from "npm:playwright-core@1.65.1";
import { marked } from "npm:marked@18.2.1";
import markedAlert from "npm:marked-alert@2.1.2";
import "npm:mermaid@12.3.0/package.json" with { type: "json" };
import { analyseRun } from "../../lab/verdict/analyse_run.ts";
import { explainCapture } from "../../lab/explain/explain_capture.ts";
import { renderCaptureReport } from "../../lab/report/capture_report.ts";
import { renderReport } from "../../lab/report/run_report.ts";
import { recordedRun } from "../_fixtures.ts";
import { manyConnections } from "../explain/_captures.ts";

/** A GitHub comment's column. */
const COLUMN_PX = 846;

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

/** GitHub's Markdown styles that decide widths: fonts, paddings, tables that scroll, code that wraps. */
const _GITHUB_CSS = `
body { margin: 0; background: #fff; color: #1f2328; }
.markdown-body { box-sizing: border-box; width: ${COLUMN_PX}px; padding: 0; font-size: 16px; line-height: 1.5;
  font-family: -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; word-wrap: break-word; }
.markdown-body h1 { font-size: 2em; border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; margin: .67em 0; }
.markdown-body h2 { font-size: 1.5em; border-bottom: 1px solid #d1d9e0; padding-bottom: .3em;
  margin: 24px 0 16px; }
.markdown-body h3 { font-size: 1.25em; margin: 24px 0 16px; }
.markdown-body p, .markdown-body ul, .markdown-body table, .markdown-body pre, .markdown-body details,
.markdown-body .markdown-alert { margin: 0 0 16px; }
.markdown-body code, .markdown-body pre { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas,
  "Liberation Mono", monospace; font-size: 85%; }
.markdown-body code { padding: .2em .4em; background: #818b981f; border-radius: 6px; white-space: break-spaces; }
.markdown-body pre { padding: 16px; overflow: auto; line-height: 1.45; background: #f6f8fa; border-radius: 6px; }
.markdown-body pre code { font-size: 100%; padding: 0; background: transparent; white-space: pre; }
.markdown-body table { display: block; width: max-content; max-width: 100%; overflow: auto;
  border-spacing: 0; border-collapse: collapse; }
.markdown-body td, .markdown-body th { padding: 6px 13px; border: 1px solid #d1d9e0; }
.markdown-body .markdown-alert { padding: .5rem 1rem; border-left: .25em solid #d1242f; }
.markdown-body .markdown-alert-title { font-weight: 500; display: flex; align-items: center; }
.markdown-body .markdown-alert-title svg { margin-right: .5rem; fill: currentColor; }
.markdown-body blockquote { padding: 0 1em; border-left: .25em solid #d1d9e0; color: #59636e; margin: 0 0 16px; }
.markdown-body .mermaid svg { max-width: 100%; height: auto; }
`;

/** The page: the report's HTML in the column, and a script that renders each Mermaid block in place. */
function _page(markdown: string): string {
  const html = marked.use(markedAlert()).parse(markdown, { async: false, gfm: true });
  return `<!doctype html><html><head><meta charset="utf-8"><style>${_GITHUB_CSS}</style>
<script src="mermaid.min.js"></script></head><body><article class="markdown-body">${html}</article>
<script>
window.diagrams = (async () => {
  mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
  const out = [];
  const blocks = [...document.querySelectorAll("pre > code.language-mermaid")];
  for (const [i, code] of blocks.entries()) {
    const text = code.textContent;
    try {
      await mermaid.parse(text);
      const { svg } = await mermaid.render("diagram" + i, text);
      const div = document.createElement("div");
      div.className = "mermaid";
      div.innerHTML = svg;
      code.parentElement.replaceWith(div);
      out.push({ ok: div.querySelector("svg") !== null && !/Syntax error/i.test(div.textContent) });
    } catch (e) {
      out.push({ ok: false, error: String(e && e.message || e) });
    }
  }
  return out;
})();
</script></body></html>`;
}

/** What the browser measured in one report. */
interface Measured {
  diagrams: Array<{ ok: boolean; error?: string }>;
  verdictBottom: number | null;
  wideCode: string[];
  wrappedPackets: string[];
  /** Links that lead nowhere once the report is attached alone: relative ones. */
  localLinks: string[];
}

const RECORDED = [...Deno.readDirSync(new URL("../testdata/runs/", import.meta.url))]
  .filter((e) => e.isDirectory)
  .map((e) => e.name)
  .sort();

/** The captures explain's report is rendered for: every one in tests/testdata. */
const CAPTURES = [...Deno.readDirSync(new URL("../testdata/", import.meta.url))]
  .filter((e) => e.isFile && /\.pcap(ng)?$/.test(e.name))
  .map((e) => e.name)
  .sort();

Deno.test({
  name:
    "every recorded catalog report and explain's report of every test capture, rendered as GitHub shows it " +
    "in headless Chromium, reads well (needs chromium)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    if (CHROMIUM === undefined) throw new Error("install chromium (./tcplab test installs it)");
    const keep = Deno.env.get("TCPLAB_RENDERED");
    const dir = keep ?? await Deno.makeTempDir({ prefix: "tcplab-rendered-" });
    const profile = await Deno.makeTempDir({ prefix: "tcplab-chromium-" });
    await Deno.copyFile(
      new URL(import.meta.resolve("npm:mermaid@12.3.0/dist/mermaid.min.js")),
      `${dir}/mermaid.min.js`,
    );
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      chromiumSandbox: false,
      args: [
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
      viewport: { width: COLUMN_PX, height: 1000 },
    });
    const fetched: string[] = [];
    await context.route(/^(?!file:)/, (route) => {
      fetched.push(route.request().url());
      return route.abort();
    });
    try {
      assert.ok(RECORDED.length >= 11);
      for (const name of RECORDED) {
        await t.step(name, async () => {
          const report = renderReport(analyseRun(await recordedRun(name)));
          await _checkRendered(context, dir, name, report, { diagram: true }, keep !== undefined);
        });
      }
      assert.ok(CAPTURES.length >= 30);
      const captures: Array<[string, Uint8Array]> = [
        ...CAPTURES.map((name): [string, Uint8Array] => [
          name,
          Deno.readFileSync(new URL(`../testdata/${name}`, import.meta.url)),
        ]),
        ["many_connections.pcap", manyConnections(1000)],
      ];
      for (const [name, bytes] of captures) {
        await t.step(`lab explain ${name}`, async () => {
          const x = explainCapture(bytes, name);
          const report = renderCaptureReport(x);
          const page = `explain-${name.replaceAll(".", "_")}`;
          await _checkRendered(
            context,
            dir,
            page,
            report,
            { diagram: x.details.length > 0 },
            keep !== undefined,
          );
        });
      }
      assert.deepEqual(fetched, [], "the pages fetched nothing from the network");
    } finally {
      await context.close();
      if (!keep) await Deno.remove(dir, { recursive: true });
      await Deno.remove(profile, { recursive: true });
    }
  },
});

/**
 * Render one report in a new page of `context` (kept in `dir` as NAME.html,
 * with screenshots when `keep`) and assert that it reads well: every
 * Mermaid diagram parses (and there is one, where `expect.diagram`), the
 * verdict is a GitHub alert within the top 1,000 px, no code line is wider
 * than the column, no timeline packet wraps, and no link is relative.
 */
async function _checkRendered(
  context: BrowserContext,
  dir: string,
  name: string,
  markdown: string,
  expect: { diagram: boolean },
  keep: boolean,
): Promise<void> {
  await Deno.writeTextFile(`${dir}/${name}.html`, _page(markdown));
  const page = await context.newPage();
  try {
    await page.goto(`file://${dir}/${name}.html`);
    if (keep) {
      await page.evaluate(() => (globalThis as unknown as { diagrams: Promise<unknown> }).diagrams);
      await page.screenshot({ path: `${dir}/${name}-top.png` });
    }
    const measured: Measured = await page.evaluate(_measure);
    if (keep) await page.screenshot({ path: `${dir}/${name}-all.png`, fullPage: true });
    if (expect.diagram) assert.ok(measured.diagrams.length > 0, "the report has a sequence diagram");
    assert.deepEqual(
      measured.diagrams.filter((d) => !d.ok),
      [],
      "every Mermaid diagram parses and renders",
    );
    assert.ok(measured.verdictBottom !== null, "the verdict is a GitHub alert");
    assert.ok(
      measured.verdictBottom <= 1000,
      `the verdict ends ${measured.verdictBottom} px down, past the top 1,000 px`,
    );
    assert.deepEqual(measured.wideCode, [], `code wider than the ${COLUMN_PX} px column`);
    assert.deepEqual(measured.wrappedPackets, [], "timeline packet cells that wrap");
    assert.deepEqual(measured.localLinks, [], "links that break outside the report's folder");
  } finally {
    await page.close();
  }
}

/** Runs in the page: waits for the diagrams, measures the verdict, opens every fold, measures code and packets. */
async function _measure(): Promise<Measured> {
  // deno-lint-ignore no-explicit-any
  const w = globalThis as any;
  const doc = w.document;
  const diagrams = await w.diagrams;
  const alert = doc.querySelector(".markdown-alert");
  const verdictBottom = alert ? alert.getBoundingClientRect().bottom + w.scrollY : null;
  for (const d of doc.querySelectorAll("details")) d.open = true;
  const column = doc.querySelector(".markdown-body").getBoundingClientRect();
  const wideCode: string[] = [];
  for (const pre of doc.querySelectorAll("pre")) {
    if (pre.scrollWidth > pre.clientWidth) {
      wideCode.push(`pre ${pre.scrollWidth} px: ${pre.textContent.slice(0, 80)}`);
    }
  }
  for (const code of doc.querySelectorAll(":not(pre) > code")) {
    const right = code.getBoundingClientRect().right;
    if (right > column.right + 0.5) {
      wideCode.push(`code ends at ${Math.round(right)} px: ${code.textContent}`);
    }
  }
  for (const table of doc.querySelectorAll("table")) {
    if (table.scrollWidth > table.clientWidth + 1) {
      wideCode.push(`table ${table.scrollWidth} px: ${table.rows[0].textContent.trim().slice(0, 80)}`);
    }
  }
  const wrappedPackets: string[] = [];
  for (const table of doc.querySelectorAll("table")) {
    const head = [...table.rows[0].cells].map((c) => c.textContent.trim());
    const at = head.indexOf("packet");
    if (at < 0) continue;
    for (const row of [...table.rows].slice(1)) {
      const cell = row.cells[at];
      if (!cell || cell.textContent.trim() === "") continue;
      const range = doc.createRange();
      range.selectNodeContents(cell);
      const rects = [...range.getClientRects()];
      const apart = rects.some((a) => rects.some((b) => a.bottom <= b.top + 1));
      if (apart) wrappedPackets.push(cell.textContent);
    }
  }
  const localLinks: string[] = [];
  for (const a of doc.querySelectorAll("a[href]")) {
    const href = a.getAttribute("href");
    if (!/^(https?:|mailto:|#)/.test(href)) localLinks.push(href);
  }
  return { diagrams, verdictBottom, wideCode, wrappedPackets, localLinks };
}
