#!/usr/bin/env python3
"""Drives the reviewer console in headless Chromium, as a finance reviewer would.

Against a running `arbiter serve` (see Scripts/console-test.sh, which starts one): creates keys,
an account and three credit requests through the API, then in the browser signs in (a wrong key
first), opens the credits queue, claims and approves one item, rejects another (first without
a comment, which the console refuses), signs in as a reviewer with a 100.00 approval limit,
is refused over the limit, approves a lower amount as the first of two approvals, and signs
out. Then an operator: the dashboard (decisions per hour as a chart, queues, actions by target),
a dead letter (the ERP stand-in refused the action) retried from the console and delivered. Then
an auditor: the trail filtered by kind, a case's story as a timeline, and an export started from
the console, downloaded and verified with `arbiter audit verify-export`. Then finance (maker-checker
on): a new version of credit_thresholds with a failing test (the failing case shown), then a compile
error (shown at its line), then fixed and published; its diff against the active version; proposed by
one policy admin, refused to approve by the same, approved by a second; the next credit is decided by
the new version. Every step checks what
the page says and saves a screenshot, at 1280 and at 800 pixels wide. Exits non-zero on the first
failure, naming it.

Needs: chromium and chromium-driver (Debian), selenium (PyPI).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import Select, WebDriverWait


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

    def shot(self, name, narrow=False):
        self.step += 1
        path = os.path.join(self.screenshots, f"{self.step:02d}-{name}.png")
        self.driver.save_screenshot(path)
        print(f"  screenshot {path}")
        if narrow:
            # The same page at 800 pixels: nothing may need a horizontal scroll of the page itself.
            self.driver.set_window_size(800, 1400)
            wide = self.driver.execute_script("return document.documentElement.scrollWidth")
            self.expect(wide <= 800, f"{name} fits 800 pixels (scroll width {wide})")
            narrow_path = os.path.join(self.screenshots, f"{self.step:02d}-{name}-800.png")
            self.driver.save_screenshot(narrow_path)
            print(f"  screenshot {narrow_path}")
            self.driver.set_window_size(1280, 1400)

    def download(self, path, to):
        """Fetches a page with the browser's session cookie (a download the browser would save)."""
        cookie = "; ".join(f"{c['name']}={c['value']}" for c in self.driver.get_cookies())
        request = urllib.request.Request(self.base + path, headers={"Cookie": cookie})
        with urllib.request.urlopen(request) as response, open(to, "wb") as out:
            out.write(response.read())

    def open(self, path):
        self.driver.get(self.base + path)

    def text(self, css):
        try:
            return self.driver.find_element(By.CSS_SELECTOR, css).text
        except WebDriverException:
            self.shot("FAILED")
            raise AssertionError(f"no {css} on the page\n  page: {self.driver.current_url}\n  text: {self.driver.find_element(By.TAG_NAME, 'body').text[:1500]}")

    def set_value(self, css, value):
        """Puts a whole text in a field at once (a pasted source)."""
        self.driver.execute_script("arguments[0].value = arguments[1]", self.driver.find_element(By.CSS_SELECTOR, css), value)

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
    parser.add_argument("--erp-url", required=True, help="Scripts/erp-receiver.py, the service's ERP")
    parser.add_argument("--arbiter", required=True, help="the arbiter binary (verify-export)")
    args = parser.parse_args()
    base, admin = args.base_url.rstrip("/"), args.admin_key
    os.makedirs(args.screenshots, exist_ok=True)

    submitter = api(base, admin, "POST", "/v1/keys", {"name": "Zendesk", "role": "submitter"})["secret"]
    ana = api(base, admin, "POST", "/v1/keys", {"name": "Ana Lopez", "role": "reviewer"})["secret"]
    bo = api(base, admin, "POST", "/v1/keys", {"name": "Bo Chen", "role": "reviewer", "approval_limits": {"USD": 10000}})["secret"]
    sync = api(base, admin, "POST", "/v1/keys", {"name": "Billing sync", "role": "sync"})["secret"]
    omar = api(base, admin, "POST", "/v1/keys", {"name": "Omar Diallo", "role": "operator"})["secret"]
    ines = api(base, admin, "POST", "/v1/keys", {"name": "Ines Park", "role": "auditor"})["secret"]
    fatima = api(base, admin, "POST", "/v1/keys", {"name": "Fatima Noor", "role": "policy_admin"})["secret"]
    gus = api(base, admin, "POST", "/v1/keys", {"name": "Gus Moreau", "role": "policy_admin"})["secret"]
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
        queued = c.text("#queued")
        c.expect("pending" in queued or "delivered" in queued, "the approved credit memo is queued for the ERP (or already delivered)")
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
        c.click("#sign-out")

        # An operator: the ERP refuses the next action (400), which becomes a dead letter.
        control = urllib.request.Request(args.erp_url + "/_control", method="POST",
                                         data=json.dumps({"fail_status": 400, "fail_count": 1}).encode())
        urllib.request.urlopen(control).read()
        api(base, sync, "PUT", "/v1/accounts/acct_77", {"status": "active", "tier": "standard", "currency": "USD", "mrr_minor": 19900})
        small = api(base, submitter, "POST", "/v1/events", {
            "id": "console-small", "type": "credit.requested", "source": "zendesk", "occurred_at": "2026-11-22T09:30:00Z",
            "account_id": "acct_77", "correlation_id": "case-small",
            "payload": {"amount_minor": 2500, "currency": "USD", "reason": "late delivery", "severity": "sev3"}})
        assert small["decision"]["outcome"] == "approve", small
        action = small["decision"]["actions"][0]["id"]
        deadline = time.time() + 20
        while api(base, admin, "GET", f"/v1/actions/{action}")["status"] != "dead":
            assert time.time() < deadline, "the refused action did not become a dead letter"
            time.sleep(0.1)
        c.sign_in(omar)
        c.expect("/console/operations" in c.driver.current_url and c.text("#signed-in-as") == "Omar Diallo",
                 "an operator starts on the operations dashboard")
        c.expect(len(c.driver.find_elements(By.CSS_SELECTOR, "#decisions-chart rect")) > 0, "decisions per hour are drawn as a chart")
        totals = c.text("#outcome-totals")
        c.expect("approve" in totals and "review" in totals, "the chart's numbers are in a table beside it")
        c.expect("credits" in c.text("#queues-summary"), "the review queues are listed with their ages")
        c.expect("erp" in c.text("#targets"), "actions are counted by target")
        row = c.text(f"tr.dead-letter[data-id='{action}']")
        c.expect("Credit memo" in row and "25.00 USD" in row and "400" in row, "the dead letter shows its amount and the ERP's refusal")
        c.shot("operations", narrow=True)
        c.click(f"#cancel-{action}")
        c.expect("say why" in c.text("#error").lower() or "comment" in c.text("#error").lower(),
                 "cancelling without saying why is refused in plain words")
        c.fill(f"#retry-comment-{action}", "the ERP's customer record is fixed")
        c.click(f"#retry-{action}")
        c.expect("back in line" in c.text("#notice"), "retrying is confirmed")
        deadline = time.time() + 20
        while api(base, admin, "GET", f"/v1/actions/{action}")["status"] != "delivered":
            assert time.time() < deadline, "the retried action was not delivered"
            time.sleep(0.1)
        c.open("/console/operations")
        c.expect("No dead letters" in c.text("#dead-letters"), "once delivered, the dead letter is gone from the dashboard")
        c.shot("operations-after-retry")
        c.open("/console/audit")
        c.expect("for the auditor role" in c.text("#message"), "an operator is told the audit pages are for auditors")
        c.click("#sign-out")

        # An auditor: the trail, a case's story, an export verified offline.
        c.sign_in(ines)
        c.expect("/console/audit" in c.driver.current_url, "an auditor starts on the audit trail")
        c.fill("#filter-kind", "review.approved")
        c.click("#filter")
        entries = c.text("#entries")
        c.expect("Approved by a reviewer" in entries and "Ana Lopez" in entries, "the trail filtered by kind names the reviewer")
        c.shot("audit-trail", narrow=True)
        c.click("a.story-link")
        story = c.text("#story")
        c.expect("case-goodwill" in c.driver.current_url, "the story link follows the case's correlation id")
        for step in ["Event received", "Decided", "Claimed for review", "Approved by a reviewer", "Delivered"]:
            c.expect(step in story, f"the story of case-goodwill shows: {step}")
        c.expect(story.index("Event received") < story.index("Approved by a reviewer") < story.index("Delivered"),
                 "the story reads oldest first, from the event to the ERP")
        c.expect("ERP reference: ERP-" in story, "the story ends with the ERP's reference")
        c.shot("story")
        c.open("/console/audit?verify=1")
        c.expect("Intact" in c.text("#chain-status"), "the chain verifies on the server")
        c.expect(c.text("#checkpoint-seq").isdigit(), "the newest signed checkpoint is shown to keep")
        c.open("/console/audit/exports")
        c.shot("exports-form", narrow=True)
        c.fill("#from", "2026-01-01T00:00:00Z")
        c.fill("#to", "2026-01-01T00:00:00Z")
        c.click("#start-export")
        c.expect("To: must be after from" in c.text("#error"), "an empty range is refused in plain words, naming the field")
        c.fill("#to", "2030-01-01T00:00:00Z")
        c.click("#start-export")
        deadline = time.time() + 20
        while "Done" not in c.text("#export-status"):
            assert time.time() < deadline, "the export did not finish"
            time.sleep(0.5)
            c.driver.refresh()
        c.expect("rows" in c.text("#export-status"), "the export says how many rows it wrote")
        c.shot("export")
        folder = tempfile.mkdtemp()
        export_id = c.driver.current_url.rstrip("/").split("/")[-1]
        c.download(f"/console/audit/exports/{export_id}/manifest", os.path.join(folder, "manifest.json"))
        with open(os.path.join(folder, "manifest.json")) as manifest:
            name = json.load(manifest)["file"]
        c.expect(name == "decisions.jsonl", "the export is of decisions, as JSON lines (the form's defaults)")
        c.download(f"/console/audit/exports/{export_id}/file", os.path.join(folder, name))
        key = os.path.join(tempfile.mkdtemp(), "arbiter-export.pub")
        with open(key, "w") as out:
            out.write(c.text("#public-key"))
        verified = subprocess.run([args.arbiter, "audit", "verify-export", folder, "--public-key", key], capture_output=True, text=True)
        c.expect(verified.returncode == 0 and "export verified" in verified.stdout,
                 f"the downloaded export verifies offline: {verified.stdout.strip()} {verified.stderr.strip()}")
        c.click("#sign-out")

        # Finance: a new version of credit_thresholds, through the gate, then maker-checker.
        api(base, sync, "PUT", "/v1/accounts/acct_99", {"status": "active", "tier": "standard", "currency": "USD"})
        waiting = api(base, submitter, "POST", "/v1/events", {
            "id": "console-55", "type": "credit.requested", "source": "zendesk", "occurred_at": "2026-11-22T09:45:00Z",
            "account_id": "acct_99", "correlation_id": "case-55", "payload": {"amount_minor": 5500, "currency": "USD", "reason": "outage"}})
        assert waiting["decision"]["outcome"] == "review", waiting
        c.sign_in(fatima)
        c.expect("/console/policies" in c.driver.current_url, "a policy admin starts on the policies")
        c.expect("credit_thresholds" in c.text("#policies"), "the policies are listed with their active versions")
        c.shot("policies")
        c.click("a[href='/console/policies/credit_thresholds']")
        old_version = c.text("#active-version")
        c.shot("policy", narrow=True)
        c.click("a.version-link")
        c.expect("14 of 14 pass" in c.text("#tests"), "the active version's tests run and pass")
        c.click("#edit")
        source = c.driver.find_element(By.CSS_SELECTOR, "#source").get_attribute("value")
        tests = json.loads(c.driver.find_element(By.CSS_SELECTOR, "#tests").get_attribute("value"))
        c.expect("standard = 5000" in source and len(tests["cases"]) == 14, "publishing starts from the active version's source and tests")
        tests["cases"].append({
            "name": "a 55.00 credit for a standard account is approved",
            "event": {"type": "credit.requested", "account_id": "acct_1", "payload": {"amount_minor": 5500, "currency": "USD", "reason": "outage"}},
            "context": {"account": {"status": "active", "tier": "standard", "currency": "USD"}, "history": {"credits_90d_minor": 0}},
            "expect": {"outcome": "approve"}})
        c.set_value("#tests", json.dumps(tests, indent=1))
        c.click("#publish")
        c.expect("1 of 15 test cases fail" in c.text("#error"), "a failing test refuses the version")
        c.expect("a 55.00 credit for a standard account is approved" in c.text("#failing-tests")
                 and "expected" in c.text("#failing-tests"), "the failing case is named with what it expected and got")
        c.shot("publish-failing-test")
        broken = source.replace("standard = 5000,", "standard = 6000 +,")
        c.set_value("#source", broken)
        c.click("#publish")
        c.expect("does not compile" in c.text("#error"), "a compile error refuses the version")
        line = broken.split("\n").index(next(l for l in broken.split("\n") if "standard = 6000 +," in l)) + 1
        c.expect(len(c.driver.find_elements(By.CSS_SELECTOR, f"tr#line-{line}.error-line")) == 1
                 and len(c.driver.find_elements(By.CSS_SELECTOR, "tr.error-line")) == 1, f"the compile error is shown at its line ({line})")
        c.shot("publish-compile-error")
        # The fix is uploaded as a file, as finance keeps policies in files.
        upload = os.path.join(tempfile.mkdtemp(), "credit_thresholds.lua")
        with open(upload, "w") as out:
            out.write(source.replace("standard = 5000,", "standard = 6000,"))
        c.driver.find_element(By.CSS_SELECTOR, "#source_file").send_keys(upload)
        c.click("#publish")
        c.expect("standard = 6000," in c.driver.find_element(By.CSS_SELECTOR, "#source").get_attribute("value"),
                 "the uploaded file is the source published")
        c.expect("2 of 15 test cases fail" in c.text("#error") and "limit of 60.00 USD" in c.text("#failing-tests"),
                 "the raised limit shows in the two cases that quote the old one")
        fixed = c.driver.find_element(By.CSS_SELECTOR, "#tests").get_attribute("value")
        c.set_value("#tests", fixed.replace("limit of 50.00 USD", "limit of 60.00 USD").replace("limit of 5000 JPY", "limit of 6000 JPY"))
        c.click("#publish")
        c.expect("Published as a draft" in c.text("#notice") and c.text("#version-status") == "draft", "the fixed version is published as a draft")
        c.expect("15 of 15 pass" in c.text("#tests"), "all 15 test cases pass")
        diff = c.text("#diff")
        c.expect("standard = 6000" in diff and "standard = 5000" in diff and old_version in diff, "the diff against the active version shows the change")
        c.shot("version-draft")
        new_version_url = c.driver.current_url.split("?")[0]
        new_version = new_version_url.rstrip("/").split("/")[-1]

        # Backtest: the recorded events replayed through the draft; 55.00 for acct_99 would be approved.
        c.fill("#backtest-from", "2026-01-01T00:00:00Z")
        c.fill("#backtest-to", "2030-01-01T00:00:00Z")
        c.click("#start-backtest")
        deadline = time.time() + 30
        while "Running" in c.text("#backtest-status"):
            assert time.time() < deadline, "the backtest did not finish"
            time.sleep(0.5)
            c.driver.refresh()
        c.expect(int(c.text("#evaluated")) >= 5 and c.text("#outcome-changes") == "1", "the backtest replays the recorded credits: one outcome changes")
        c.expect("review→approve" in c.text("#transitions").replace(" ", ""), "the transition table shows review → approve")
        c.expect("55.00 USD" in c.text("#money"), "the money moved per currency: 55.00 USD would be approved without a reviewer")
        c.expect("over the standard auto-approval limit of 50.00 USD" in c.text("#sample") and "within the standard limit" in c.text("#sample"),
                 "the sample shows both sets of reasons")
        c.expect(len(c.driver.find_elements(By.CSS_SELECTOR, "#backtest-chart rect")) > 0, "outcomes before and after are charted")
        c.shot("backtest", narrow=True)
        c.open(new_version_url.replace(base, ""))

        # Shadow: the draft decides beside the active version; a new 55.00 credit shows as a difference.
        c.click("#shadow")
        c.expect("Running in shadow" in c.text("#notice") and c.text("#version-status") == "shadow", "the draft runs in shadow")
        api(base, sync, "PUT", "/v1/accounts/acct_98", {"status": "active", "tier": "standard", "currency": "USD"})
        api(base, submitter, "POST", "/v1/events", {
            "id": "console-55-shadow", "type": "credit.requested", "source": "zendesk", "occurred_at": "2026-11-22T09:50:00Z",
            "account_id": "acct_98", "correlation_id": "case-55-shadow", "payload": {"amount_minor": 5500, "currency": "USD", "reason": "outage"}})
        c.open("/console/policies/credit_thresholds/shadow")
        deadline = time.time() + 20
        while c.text("#shadow-evaluated") == "0":
            assert time.time() < deadline, "the shadow run decided nothing"
            time.sleep(0.3)
            c.driver.refresh()
        c.expect("Running" in c.text("h1 + p") and int(c.text("#shadow-evaluated")) >= 1, "the shadow report counts what it decided")
        c.expect("review→approve" in c.text("#shadow-transitions").replace(" ", "") and
                 len(c.driver.find_elements(By.CSS_SELECTOR, "#shadow-chart rect")) > 0, "its difference is in the transitions and charted over time")
        c.shot("shadow")
        c.open(new_version_url.replace(base, ""))

        # Simulate: a stored event of acct_42 loaded, then a 55.00 credit for acct_88 with the draft swapped in.
        c.open("/console/policies/simulate")
        c.fill("#account_id", "acct_42")
        c.click("#list-events")
        c.expect("Credit request" in c.text("#recent"), "an account's recent events are listed to pick from")
        c.click("#recent a")
        c.expect('"account_id": "acct_42"' in c.driver.find_element(By.CSS_SELECTOR, "#event").get_attribute("value"),
                 "picking one loads the stored event")
        api(base, sync, "PUT", "/v1/accounts/acct_88", {"status": "active", "tier": "standard", "currency": "USD"})
        c.set_value("#event", json.dumps({"id": "sim-1", "type": "credit.requested", "source": "console", "occurred_at": "2026-11-22T10:00:00Z",
                                          "account_id": "acct_88", "correlation_id": "sim", "payload": {"amount_minor": 5500, "currency": "USD",
                                                                                                       "reason": "outage"}}, indent=1))
        Select(c.driver.find_element(By.CSS_SELECTOR, "#swap")).select_by_value(f"credit_thresholds@{new_version}")
        c.click("#simulate")
        results = c.driver.find_elements(By.CSS_SELECTOR, "#results section.result")
        c.expect(len(results) == 2 and "review" in results[0].text and "over the standard auto-approval limit of 50.00 USD" in results[0].text,
                 "the active policies send 55.00 to review, saying why")
        c.expect("approve" in results[1].text and "Credit memo 55.00 USD" in results[1].text, "with the draft swapped in, 55.00 is approved")
        c.shot("simulate", narrow=True)
        c.open(new_version_url.replace(base, ""))
        c.click("#activate")
        c.expect("Proposed" in c.text("#notice") and "Fatima Noor proposed" in c.text("#proposal"), "with maker-checker on, activating proposes")
        c.expect(len(c.driver.find_elements(By.CSS_SELECTOR, "#approve")) == 0, "the proposer is offered no approve button")
        c.click("#sign-out")
        c.sign_in(gus)
        c.open(new_version_url.replace(base, ""))
        c.expect("Fatima Noor proposed to activate" in c.text("#proposal"), "the second policy admin sees who proposed it")
        c.shot("proposal")
        c.click("#approve")
        c.expect("Approved and carried out" in c.text("#notice") and c.text("#version-status") == "active", "the second policy admin's approval activates it")
        decided = api(base, submitter, "POST", "/v1/events", {
            "id": "console-after-policy", "type": "credit.requested", "source": "zendesk", "occurred_at": "2026-11-22T10:00:00Z",
            "account_id": "acct_88", "correlation_id": "case-after-policy",
            "payload": {"amount_minor": 5500, "currency": "USD", "reason": "outage"}})
        used = {p["name"]: p["version"] for p in decided["decision"]["policies"]}
        c.expect(decided["decision"]["outcome"] == "approve" and used.get("credit_thresholds") == new_version,
                 "the next credit of 55.00 is approved by the new version")
        c.shot("version-active")
    finally:
        console.driver.quit()
    print("console test passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        sys.exit(1)
