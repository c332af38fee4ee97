// Opens each page in headless Chromium as a user would, takes a screenshot, and fails on
// console errors, page errors, images that did not load, and elements wider than the page.
//
//   node scripts/browser/check.js SCREENSHOT_DIR PAGE...   (PAGE: an .html or .png file)
//
// Chromium: $CHROMIUM, else /usr/bin/chromium (Debian's `apt-get install chromium`).
const { chromium } = require("playwright-core");
const fs = require("fs");
const os = require("os");
const path = require("path");

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

async function checkPage(context, file, shots) {
  const page = await context.newPage();
  const problems = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("requestfailed", (req) => problems.push(`failed to load ${req.url().slice(0, 120)}`));
  const url = "file://" + path.resolve(file);
  await page.goto(url, { waitUntil: "load" });
  const found = await page.evaluate(() => {
    const out = [];
    const images = Array.from(document.images);
    for (const img of images) {
      if (!img.complete || img.naturalWidth === 0) {
        out.push(`image not shown: ${img.alt || img.src.slice(0, 80)}`);
      }
    }
    const width = document.documentElement.clientWidth;
    if (document.documentElement.scrollWidth > width + 1) {
      out.push(`page scrolls sideways: ${document.documentElement.scrollWidth}px content in ${width}px`);
    }
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > width + 1) {
        const name = el.tagName.toLowerCase() + (el.className ? "." + el.className : "");
        out.push(`wider than the page: <${name}> ends at ${Math.round(r.right)}px of ${width}px`);
        if (out.length > 20) break;
      }
    }
    return { problems: out, images: images.length, height: document.documentElement.scrollHeight };
  });
  problems.push(...found.problems);
  // <run>-<folder>-<page>: unique across the runs of one check
  const parts = path.resolve(file).split(path.sep).slice(-3);
  parts[2] = parts[2].replace(/\.[a-z]+$/, "");
  const base = parts.join("-").replace(/^\.+/, "");
  const shot = path.join(shots, base + ".png");
  await page.screenshot({ path: shot, fullPage: true });
  await page.close();
  return { file, shot, problems, images: found.images, height: found.height };
}

async function main() {
  const [shots, ...pages] = process.argv.slice(2);
  if (!shots || pages.length === 0) {
    console.error("usage: node check.js SCREENSHOT_DIR PAGE...");
    process.exit(2);
  }
  fs.mkdirSync(shots, { recursive: true });
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  if (!fs.existsSync(executablePath)) {
    console.error(`no Chromium at ${executablePath}: apt-get install -y chromium, or set CHROMIUM`);
    process.exit(2);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "loratune-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  let failed = 0;
  try {
    for (const file of pages) {
      if (!fs.existsSync(file)) {
        console.error(`FAIL ${file}: missing`);
        failed++;
        continue;
      }
      const r = await checkPage(context, file, shots);
      const status = r.problems.length ? "FAIL" : "ok";
      console.log(`${status} ${file}: ${r.images} images, ${r.height}px tall, screenshot ${r.shot}`);
      for (const p of r.problems) console.log(`    ${p}`);
      if (r.problems.length) failed++;
    }
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(failed ? `${failed} of ${pages.length} pages failed` : `all ${pages.length} pages passed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
