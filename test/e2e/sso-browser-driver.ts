// $BROWSER for the SSO end-to-end test: headless Chromium (Debian's /usr/bin/chromium) driven by
// playwright-core opens the authorize URL, types the person's user name and password into the IdP's
// page, and waits for the CLI's loopback page. argv: <result file> <username> <password> <url>
import { writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [resultFile, username, password, url] = process.argv.slice(2) as [string, string, string, string];
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await page.click('button[type="submit"]');
  // The gateway sends the browser back to the CLI's loopback listener, which answers with its page.
  await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/, { timeout: 60_000 });
  await page.waitForSelector('h1', { timeout: 60_000 });
  writeFileSync(resultFile, JSON.stringify({ url: page.url(), title: await page.title(), text: await page.innerText('body') }));
} catch (err) {
  writeFileSync(resultFile, JSON.stringify({ error: String(err) }));
} finally {
  await browser.close();
}
