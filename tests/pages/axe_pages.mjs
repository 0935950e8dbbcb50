// axe-core in Debian's Chromium, driven by playwright-core (no browser download).
//
//   node tests/pages/axe_pages.mjs SPEC.json   ->  JSON results on stdout
//
// SPEC: {"chromium": "/usr/bin/chromium", "args": [...], "tags": [...],
//        "viewports": [{"name", "width", "height", "mobile"}],
//        "pages": [{"url", "kind", "site", "file"}]}
// Each page is loaded once per viewport (one tab per viewport, the viewports side by side).
// Requests that leave loopback are blocked (this machine has no network; a page should
// not depend on one) and listed. Navigations after the first (a redirect page's
// meta refresh) are blocked too, so that axe checks the page itself, not its target.
// Same-origin responses of 400 and over, and requests that fail, are listed.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const AXE_VERSION = require('axe-core/package.json').version;

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const local = (url) => {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
};

// One tab per viewport, reused: axe comes in with every document (an init script,
// which no page CSP stops), and each check's findings go to `state.result`.
async function openTab(context) {
  const tab = await context.newPage();
  const state = { result: null, navigations: 0 };
  await tab.route('**/*', (route) => {
    const request = route.request();
    const result = state.result;
    if (!local(request.url())) {
      if (result) result.offsite.push(request.url());
      return route.abort('blockedbyclient');
    }
    if (result && request.isNavigationRequest() && request.frame() === tab.mainFrame() && ++state.navigations > 1) {
      result.blockedNavigations.push(request.url());
      return route.abort('aborted');
    }
    return route.continue();
  });
  tab.on('response', (response) => {
    const result = state.result;
    if (result && response.status() >= 400 && response.url() !== result.url && local(response.url())) {
      result.broken.push({ url: response.url(), status: response.status(), what: response.request().resourceType() });
    }
  });
  tab.on('requestfailed', (request) => {
    const result = state.result;
    if (result && local(request.url()) && !result.blockedNavigations.includes(request.url())) {
      result.broken.push({ url: request.url(), status: request.failure()?.errorText ?? 'failed', what: request.resourceType() });
    }
  });
  tab.on('console', (message) => {
    if (state.result && message.type() === 'error') state.result.consoleErrors.push(message.text());
  });
  return { tab, state };
}

const icons = new Map(); // icon URL -> status, asked once per run

async function check(context, { tab, state }, page, viewport) {
  const started = Date.now();
  const result = {
    url: page.url, kind: page.kind, site: page.site, file: page.file, viewport: viewport.name,
    status: null, violations: [], broken: [], offsite: [], blockedNavigations: [], consoleErrors: [], error: null,
  };
  state.result = result;
  state.navigations = 0;
  try {
    const response = await tab.goto(page.url, { waitUntil: 'load', timeout: 20000 });
    result.status = response ? response.status() : null;
    await tab.waitForTimeout(50); // a meta refresh fires after load: let it be blocked first
    // A browser asks for the page's icon, or for /favicon.ico when it names none:
    // headless Chromium does not, so ask as a browser would.
    const icon = await tab.evaluate(() => {
      const link = document.querySelector('link[rel~="icon" i]');
      return link ? link.href : new URL('/favicon.ico', location.href).href;
    });
    if (local(icon)) {
      if (!icons.has(icon)) {
        const answer = await context.request.get(icon, { failOnStatusCode: false, maxRedirects: 0 });
        icons.set(icon, answer.status());
      }
      if (icons.get(icon) >= 400) result.broken.push({ url: icon, status: icons.get(icon), what: 'favicon' });
    }
    const axe = await tab.evaluate(
      (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
      spec.tags,
    );
    result.violations = axe.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl, tags: v.tags,
      nodes: v.nodes.map((n) => ({ target: n.target, html: n.html.slice(0, 300), summary: n.failureSummary })),
    }));
  } catch (error) {
    result.error = String(error && error.message ? error.message : error).split('\n')[0];
  } finally {
    state.result = null;
    await tab.goto('about:blank').catch(() => {});
  }
  result.ms = Date.now() - started;
  return result;
}

const browser = await chromium.launch({ executablePath: spec.chromium, headless: true, args: spec.args });
const version = browser.version();
const results = [];
try {
  // The viewports side by side (two cores), the pages of each one after another.
  const perViewport = await Promise.all(spec.viewports.map(async (viewport) => {
    const context = await browser.newContext({
      viewport: { width: viewport.width, height: viewport.height },
      isMobile: Boolean(viewport.mobile),
      hasTouch: Boolean(viewport.mobile),
      deviceScaleFactor: 1,
      bypassCSP: true, // a page's own CSP must not stop the check
    });
    await context.addInitScript({ content: AXE_SOURCE });
    const tab = await openTab(context);
    const done = [];
    for (const page of spec.pages) done.push(await check(context, tab, page, viewport));
    await context.close();
    return done;
  }));
  for (const done of perViewport) results.push(...done);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ axe: AXE_VERSION, browser: version, results }));
