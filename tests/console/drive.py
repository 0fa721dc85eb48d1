"""Drives the hookfence console in headless Chromium (Debian's chromium and
chromium-driver, through selenium) and asserts what a person would see.

Run by tests/console.rs with one JSON argument:
  admin     the admin listener's base URL
  token     the admin token
  signed / forged / stale / query   {seq, title} of deliveries the test sent
            (title: the delivery id, or #seq where it has none)
  dead      the queue id of a dead letter, to replay from the page
  late      {url, id}: a delivery this script sends while the page is open
  forbidden strings that must appear on no page (secrets, signatures, tokens)
  shots     directory for the screenshots

Exits non-zero with the failed expectation on stderr.
"""

import json
import re
import sys
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 15

args = json.loads(sys.argv[1])


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,800", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


driver = browser()


def wait_for(what, condition):
    def attempt(_):
        try:
            return condition()
        except StaleElementReferenceException:
            return False  # the list was redrawn under us: look again

    try:
        return WebDriverWait(driver, WAIT).until(attempt)
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what}") from None


def by_id(element_id):
    return driver.find_element(By.ID, element_id)


def delivery_row(delivery):
    rows = driver.find_elements(By.CSS_SELECTOR, f"#deliveries tbody tr[data-seq='{delivery['seq']}']")
    return rows[0] if rows else None


def row_with_id(delivery_id):
    for row in driver.find_elements(By.CSS_SELECTOR, "#deliveries tbody tr"):
        cells = row.find_elements(By.TAG_NAME, "td")
        if len(cells) > 3 and cells[3].text == delivery_id:
            return row
    return None


def send_late_delivery():
    late = args["late"]
    request = urllib.request.Request(late["url"], data=b'{"late":true}', method="POST", headers={
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": late["id"],
        "X-Hub-Signature-256": "sha256=" + "0" * 64,
    })
    try:
        urllib.request.urlopen(request, timeout=WAIT)
        raise AssertionError("a delivery with a made-up signature was accepted")
    except urllib.error.HTTPError as refused:
        assert refused.code == 401, refused.code


def cells_of(delivery):
    row = delivery_row(delivery)
    return [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]


def open_detail(delivery):
    wait_for(f"a click on the row of {delivery['title']}", lambda: delivery_row(delivery).click() or True)
    wait_for("the delivery panel", lambda: by_id("detail").is_displayed()
             and (by_id("detail-title").text == "Delivery " + delivery["title"]
                  or "admin token" in by_id("detail-reason").text))


def header_value(name):
    for row in driver.find_elements(By.CSS_SELECTOR, "#detail-headers tbody tr"):
        cells = row.find_elements(By.TAG_NAME, "td")
        if cells[0].text.lower() == name.lower():
            return cells[1].text
    raise AssertionError(f"header {name} not shown")


def fact(name):
    return driver.find_element(
        By.XPATH, f"//dl[@id='detail-facts']/dt[text()='{name}']/following-sibling::dd[1]").text


def no_secret_on_the_page(where):
    source = driver.page_source
    for secret in args["forbidden"]:
        assert secret not in source, f"{secret!r} appears on the page ({where})"


def close_detail():
    by_id("detail").send_keys(Keys.ESCAPE)
    wait_for("the panel to close", lambda: not by_id("detail").is_displayed())


try:
    # 1280×800 exactly (a window's size would include the browser's own bars).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    driver.get(args["admin"] + "/")
    assert driver.title == "hookfence — deliveries", driver.title

    # The list, as anyone on the admin listener sees it.
    for key in ("signed", "forged", "stale", "query"):
        wait_for(f"the {key} delivery in the list", lambda k=key: delivery_row(args[k]))
    signed = wait_for("the signed row", lambda: cells_of(args["signed"]))
    assert signed[1] == "github" and signed[2] == "push" and signed[3] == args["signed"]["title"], signed
    assert signed[4] == "valid" and signed[5] == "forwarded" and signed[6] == "200", signed
    forged = wait_for("the forged row", lambda: cells_of(args["forged"]))
    assert forged[4] == "invalid" and forged[5] == "rejected: bad signature" and forged[6] == "401", forged
    stale = wait_for("the stale row", lambda: cells_of(args["stale"]))
    assert stale[4] == "stale" and stale[5] == "rejected: stale timestamp" and stale[6] == "401", stale
    dead = wait_for("the dead row", lambda: cells_of(args["dead_row"]))
    assert dead[5] == "queued" and dead[9] == "token needed", dead

    def read_routes():
        rows = driver.find_elements(By.CSS_SELECTOR, "#routes tbody tr")
        cells = [[c.text for c in row.find_elements(By.TAG_NAME, "td")] for row in rows]
        return {row[0]: row for row in cells}

    routes = wait_for("the routes table", read_routes)
    assert set(routes) >= {"github", "stripe", "tokened", "queued"}, routes
    assert routes["github"][1] == "github" and routes["github"][2] == "enforcing, direct", routes["github"]
    assert "bad signature" in routes["github"][5], routes["github"]
    assert routes["queued"][2] == "enforcing, queued", routes["queued"]
    wait_for("accepted and rejected bars in the chart", lambda: {
        b.get_attribute("class") for b in driver.find_elements(By.CSS_SELECTOR, "#chart rect")
    } >= {"accepted", "rejected"})

    # Live: a delivery sent while the page is open shows up without a reload.
    send_late_delivery()
    wait_for("the late delivery to appear", lambda: row_with_id(args["late"]["id"]))
    assert driver.execute_script("return performance.getEntriesByType('navigation').length") == 1
    driver.save_screenshot(args["shots"] + "/console.png")
    # The rest reads a still page: the list redraws on each action only.
    by_id("live").click()
    assert not by_id("live").is_selected()

    # Filters: by outcome class, then by delivery id.
    driver.find_element(By.CSS_SELECTOR, "#f-outcome option[value='class:rejected']").click()
    by_id("filters").submit()
    wait_for("only rejections listed", lambda: delivery_row(args["signed"]) is None and delivery_row(args["forged"]))
    by_id("f-outcome").find_element(By.CSS_SELECTOR, "option[value='']").click()
    by_id("f-id").send_keys(args["signed"]["title"])
    by_id("filters").submit()
    wait_for("only the signed delivery listed",
             lambda: len(driver.find_elements(By.CSS_SELECTOR, "#deliveries tbody tr")) == 1 and delivery_row(args["signed"]))
    driver.find_element(By.CSS_SELECTOR, "#filters button[type='reset']").click()
    wait_for("the full list again", lambda: delivery_row(args["forged"]))

    # Without the token, a delivery's head is not shown.
    open_detail(args["forged"])
    wait_for("the token request", lambda: "admin token" in by_id("detail-reason").text)
    close_detail()

    by_id("token").send_keys(args["token"])
    by_id("token-form").submit()
    wait_for("the attempts of the dead letter", lambda: cells_of(args["dead_row"])[9] == "1 (dead)")

    open_detail(args["forged"])
    wait_for("the forged delivery's reason", lambda: by_id("detail-reason").text)
    reason = by_id("detail-reason").text
    assert reason == "Signature does not match any of the 2 secrets", reason
    assert header_value("X-Hub-Signature-256") == "…"
    assert header_value("X-GitHub-Event") == "push"
    no_secret_on_the_page("a forged delivery")
    driver.save_screenshot(args["shots"] + "/console-delivery.png")
    close_detail()

    open_detail(args["stale"])
    wait_for("the stale delivery's reason", lambda: by_id("detail-reason").text)
    reason = by_id("detail-reason").text
    assert re.fullmatch(r"Timestamp \d+ s old, window 300 s", reason), reason
    assert header_value("Stripe-Signature") == "…"
    no_secret_on_the_page("a stale delivery")
    close_detail()

    open_detail(args["signed"])
    wait_for("the body preview", lambda: by_id("detail-body").is_displayed())
    body = by_id("detail-body").text
    assert body.startswith("{\n  \"action\": \"opened\""), body
    assert fact("Matched secret") == "#2 (env:GH_NEW)", fact("Matched secret")
    no_secret_on_the_page("a signed delivery")
    close_detail()

    open_detail(args["query"])
    wait_for("the query delivery's target", lambda: by_id("detail-target").text)
    target = by_id("detail-target").text
    assert target.startswith("POST /hooks/tokened?key=…"), target
    no_secret_on_the_page("a delivery with a query token")
    close_detail()

    # By keyboard: focus a row, Enter opens it, Escape closes it and gives
    # the focus back to the row.
    row = delivery_row(args["stale"])
    driver.execute_script("arguments[0].focus()", row)
    row.send_keys(Keys.ENTER)
    seq = str(args["stale"]["seq"])
    wait_for("the panel opened by keyboard", lambda: by_id("detail").is_displayed())
    assert driver.switch_to.active_element.get_attribute("id") == "detail"
    driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for("the panel closed by keyboard", lambda: not by_id("detail").is_displayed())
    assert driver.switch_to.active_element.get_attribute("data-seq") == seq

    # Dark mode follows the system setting.
    light = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    dark = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert light == "rgb(255, 255, 255)" and dark == "rgb(17, 20, 24)", (light, dark)
    driver.save_screenshot(args["shots"] + "/console-dark.png")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

    # A phone-sized screen: no page-wide sideways scrolling (wide tables
    # scroll in their own box).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    wait_for("the phone layout", lambda: driver.execute_script("return innerWidth") == 390)
    overflow = driver.execute_script("return document.documentElement.scrollWidth")
    assert overflow <= 390, f"the page is {overflow} px wide on a 390 px screen"
    driver.save_screenshot(args["shots"] + "/console-phone.png")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})

    # The dead letter, replayed from the page.
    def dead_row():
        for row in driver.find_elements(By.CSS_SELECTOR, "#dead tbody tr"):
            if args["dead"] in row.text:
                return row
        return None

    wait_for("the dead letter", dead_row)
    dead_row().find_element(By.XPATH, ".//button[text()='Replay']").click()
    wait_for("the replay to be confirmed", lambda: by_id("notice").text == "Replayed " + args["dead"])
    no_secret_on_the_page("the dead letters")
    print(json.dumps({"ok": True}))
finally:
    driver.quit()
