// Signs in through the form of `--auth token` and records an activity, in headless
// Chromium (Debian's, driven by playwright-core). Run by tests/browser.rs:
//   PLAYWRIGHT_DIR=<dir with node_modules/playwright-core> node sign_in.mjs <url> <token> <chromium>
// Exits non-zero, saying why, when any step fails or the page breaks its CSP.
import { createRequire } from "node:module";

const { chromium } = createRequire(`${process.env.PLAYWRIGHT_DIR}/`)("playwright-core");

const [url, token, executablePath] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu"],
});
const problems = [];
const page = await browser.newPage();
try {
  page.on("console", (message) => {
    // The first page is a 401 and there is no favicon; what counts is a CSP refusal.
    if (message.type() === "error" && /Content Security Policy|Refused to/.test(message.text())) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

  await page.goto(`${url}/`);
  await page.waitForSelector('form[action="/sign-in"]');
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${url}/`), page.click('main form[action="/sign-in"] button[type="submit"]')]);

  const engineer = await page.inputValue("#engineer");
  if (engineer !== "ada") throw new Error(`the form names ${JSON.stringify(engineer)}, not ada`);
  await page.fill("#customer", "Browser Co");
  await page.fill("#project", "Sign-in");
  await page.fill("#date", "2026-11-20");
  await page.fill("#hours", "1.25");
  await page.fill("#description", "Recorded from headless Chromium");
  await Promise.all([page.waitForURL(/\?recorded=/), page.click('form.record button[type="submit"]')]);
  await page.waitForSelector("text=Activity recorded");

  await page.goto(`${url}/activities`);
  const row = await page.textContent("tbody");
  if (!row.includes("Browser Co") || !row.includes("ada")) throw new Error(`not listed: ${row}`);
  if (problems.length) throw new Error(problems.join("\n"));
  console.log("signed in and recorded an activity");
} catch (error) {
  console.error(`at ${page.url()}:\n${await page.content()}`);
  throw error;
} finally {
  await browser.close();
}
