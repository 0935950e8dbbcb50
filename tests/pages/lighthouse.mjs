// Lighthouse (mobile default: an emulated phone, simulated throttling) in Debian's Chromium.
//
//   node tests/pages/lighthouse.mjs SPEC.json   ->  JSON on stdout
//
// SPEC: {"chromium": "/usr/bin/chromium", "args": [...], "pages": [{"name", "url"}]}
// One Chromium (chrome-launcher gives it a fresh profile) for all pages, one run each.
// For each page: the four category scores and every audit that scored below 1.
import * as chromeLauncher from 'chrome-launcher';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import lighthouse from 'lighthouse';

const require = createRequire(import.meta.url);
const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];

const chrome = await chromeLauncher.launch({
  chromePath: spec.chromium,
  chromeFlags: ['--headless=new', ...spec.args],
  logLevel: 'silent',
});
const pages = [];
try {
  for (const page of spec.pages) {
    const result = await lighthouse(page.url, { port: chrome.port, logLevel: 'error', onlyCategories: CATEGORIES });
    const lhr = result.lhr;
    const scores = Object.fromEntries(CATEGORIES.map((c) => [c, lhr.categories[c].score]));
    const failing = [];
    for (const category of CATEGORIES) {
      for (const ref of lhr.categories[category].auditRefs) {
        const audit = lhr.audits[ref.id];
        if (ref.weight > 0 && audit.score !== null && audit.score < 1) {
          const items = (audit.details && audit.details.items) || [];
          const examples = items.slice(0, 3).map((item) =>
            [item.description, item.url, item.source?.url, item.sourceLocation?.url, item.node?.snippet]
              .filter((part) => typeof part === 'string' && part)
              .join(' ')
              .slice(0, 200));
          failing.push({ category, id: audit.id, title: audit.title, score: audit.score, value: audit.displayValue ?? '', examples });
        }
      }
    }
    pages.push({
      ...page,
      finalUrl: lhr.finalDisplayedUrl,
      scores,
      failing,
      runtimeError: lhr.runtimeError ? lhr.runtimeError.message : null,
      warnings: lhr.runWarnings,
    });
  }
} finally {
  await chrome.kill();
}
process.stdout.write(
  JSON.stringify({ lighthouse: require('lighthouse/package.json').version, formFactor: 'mobile', pages }),
);
