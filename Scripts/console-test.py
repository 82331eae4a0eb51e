#!/usr/bin/env python3
"""Drives the reviewer console in headless Chromium, as a finance reviewer would.

Against a running `arbiter serve` (see Scripts/console-test.sh, which starts one): creates keys,
an account and three credit requests through the API, then in the browser signs in (a wrong key
first), opens the credits queue, claims and approves one item, rejects another (first without
a comment, which the console refuses), signs in as a reviewer with a 100.00 approval limit,
is refused over the limit, approves a lower amount as the first of two approvals, and signs
out. Every step checks what the page says and saves a screenshot. Exits non-zero on the first
failure, naming it.

Needs: chromium and chromium-driver (Debian), selenium (PyPI).
"""
import argparse
import json
import os
import sys
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import WebDriverWait


def api(base, key, method, path, body=None):
    request = urllib.request.Request(base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"null")


class Console:
    def __init__(self, base, screenshots):
        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400"]:
            options.add_argument(argument)
        self.driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
        self.driver.implicitly_wait(5)
        self.base = base
        self.screenshots = screenshots
        self.step = 0

    def shot(self, name):
        self.step += 1
        path = os.path.join(self.screenshots, f"{self.step:02d}-{name}.png")
        self.driver.save_screenshot(path)
        print(f"  screenshot {path}")

    def open(self, path):
        self.driver.get(self.base + path)

    def text(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css).text

    def fill(self, css, value):
        field = self.driver.find_element(By.CSS_SELECTOR, css)
        field.clear()
        field.send_keys(value)

    def click(self, css):
        """Clicks a button or link and waits for the next page (every console action loads one)."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.CSS_SELECTOR, css).click()

        def left(driver):
            # Mid-navigation Chromium may answer "does not belong to the document" instead of
            # "stale element": either means the old page is gone.
            try:
                page.is_enabled()
                return False
            except WebDriverException:
                return True

        WebDriverWait(self.driver, 10).until(left)
        WebDriverWait(self.driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")

    def expect(self, condition, message):
        if not condition:
            self.shot("FAILED")
            raise AssertionError(message + f"\n  page: {self.driver.current_url}\n  text: {self.driver.find_element(By.TAG_NAME, 'body').text[:1500]}")
        print(f"ok  {message}")

    def sign_in(self, key):
        self.open("/console")
        self.expect("/console/sign-in" in self.driver.current_url, "an unsigned visitor is sent to the sign-in page")
        self.fill("#key", key)
        self.click("#sign-in")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--admin-key", required=True)
    parser.add_argument("--screenshots", required=True)
    args = parser.parse_args()
    base, admin = args.base_url.rstrip("/"), args.admin_key
    os.makedirs(args.screenshots, exist_ok=True)

    submitter = api(base, admin, "POST", "/v1/keys", {"name": "Zendesk", "role": "submitter"})["secret"]
    ana = api(base, admin, "POST", "/v1/keys", {"name": "Ana Lopez", "role": "reviewer"})["secret"]
    bo = api(base, admin, "POST", "/v1/keys", {"name": "Bo Chen", "role": "reviewer", "approval_limits": {"USD": 10000}})["secret"]
    sync = api(base, admin, "POST", "/v1/keys", {"name": "Billing sync", "role": "sync"})["secret"]
    api(base, sync, "PUT", "/v1/accounts/acct_42", {"status": "active", "tier": "standard", "currency": "USD", "mrr_minor": 49900})
    reviews = {}
    for name, amount, reason in [("goodwill", 15000, "three-day outage"), ("duplicate", 20000, "asked twice"),
                                 ("large", 150000, "annual contract credit")]:
        decided = api(base, submitter, "POST", "/v1/events", {
            "id": "console-" + name, "type": "credit.requested", "source": "zendesk", "occurred_at": "2026-11-22T09:00:00Z",
            "account_id": "acct_42", "correlation_id": "case-" + name,
            "payload": {"amount_minor": amount, "currency": "USD", "reason": reason, "severity": "sev2"}})
        assert decided["decision"]["outcome"] == "review", decided
        reviews[name] = decided["decision"]["review_id"]

    console = Console(base, args.screenshots)
    try:
        c = console
        c.sign_in("not-a-key")
        c.expect("not valid" in c.text("#error"), "a wrong key is refused in plain words")
        c.shot("sign-in-refused")
        c.fill("#key", ana)
        c.click("#sign-in")
        c.expect(c.text("#signed-in-as") == "Ana Lopez", "Ana is signed in")
        c.expect("credits" in c.text("#queues"), "the queue list shows the credits queue")
        c.shot("queues")

        c.click("a[href='/console/queues/credits']")
        c.expect("acct_42" in c.text("#items") and "1,500.00 USD" in c.text("#items"), "the credits queue lists the items with amounts")
        c.shot("credits-queue")

        c.open(f"/console/reviews/{reviews['goodwill']}")
        c.expect("three-day outage" in c.text("#request"), "the item shows the request's reason")
        c.expect("standard" in c.text("#account"), "the item shows the account as it was decided")
        c.expect("over the standard auto-approval limit" in c.text("#reasons"), "the item shows the policy's reasons")
        c.expect("Credit memo" in c.text("#proposed") and "150.00 USD" in c.text("#proposed"), "the item shows the proposed credit memo")
        c.click("#claim")
        c.expect("You claimed this item" in c.text("#notice"), "claiming is confirmed")
        c.fill("#approve-comment", "Goodwill for the outage on 20 Nov")
        c.click("#approve")
        c.expect("Approved" in c.text("#notice") and c.text("#state") == "Approved", "approving is confirmed and the item is approved")
        c.expect("pending" in c.text("#queued"), "the approved credit memo is queued for the ERP")
        c.expect("Goodwill for the outage" in c.text("#history"), "the history shows the approval with its comment")
        c.shot("approved")
        item = api(base, admin, "GET", f"/v1/reviews/{reviews['goodwill']}")
        c.expect(item["state"] == "approved" and item["queued_actions"][0]["amount_minor"] == 15000,
                 "the API agrees: approved, 150.00 in the outbox")

        c.open(f"/console/reviews/{reviews['duplicate']}")
        c.click("#reject")
        c.expect("write why" in c.text("#error"), "rejecting without a comment is refused in plain words")
        c.shot("reject-needs-comment")
        c.fill("#reject-comment", "Duplicate of case-goodwill")
        c.click("#reject")
        c.expect(c.text("#state") == "Rejected", "the item is rejected")
        c.shot("rejected")

        c.click("#sign-out")
        c.expect("/console/sign-in" in c.driver.current_url, "signing out returns to the sign-in page")
        c.open("/console/queues")
        c.expect("/console/sign-in" in c.driver.current_url, "after signing out the queues need a new sign-in")

        c.sign_in(bo)
        c.expect(c.text("#signed-in-as") == "Bo Chen", "Bo is signed in")
        c.open(f"/console/reviews/{reviews['large']}")
        c.expect("0 of 2 approvals" in c.text("#approvals"), "the large credit needs two approvals")
        c.click("#approve")
        c.expect("over your approval limit" in c.text("#error"), "approving over Bo's limit is refused in plain words")
        c.shot("over-limit")
        c.fill("#amount", "90.00")
        c.fill("#lower-comment", "Only the outage days")
        c.click("#approve-lower")
        c.expect("needs another approval" in c.text("#notice"), "a lower amount is the first of two approvals")
        c.expect("1 of 2 approvals" in c.text("#approvals"), "one approval is counted")
        c.click("#approve")
        c.expect("Bo Chen has already approved" in c.text("#error"), "the same reviewer cannot give the second approval")
        c.expect("key_" not in c.text("#error"), "reviewers are named, not shown as key ids")
        c.expect("policy error" not in c.text("#verdicts"), "a policy that answered is not shown as an error")
        c.shot("first-approval")
    finally:
        console.driver.quit()
    print("console test passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        sys.exit(1)
