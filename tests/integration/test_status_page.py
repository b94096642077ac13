"""The HTML status page (issue 13): worker/status.html, served by the
workers at GET / on the metrics listener.

- Static: the page names no other origin (no http:// or https://, no
  protocol-relative src/href/url()), fetches only /metrics and says so in
  its Content-Security-Policy (connect-src 'self', default-src 'none').
- Against a canned /metrics (a tiny Python server, so the page is tested
  without krxd): headless Chromium runs the page; the DOM shows the
  virtual cluster, its topics with the served counts (escaped: a topic
  name with quotes and angle brackets stays text), connections, KMS
  calls and failures, the DEK cache hit rate, the processes, "–" where a
  family is missing, and it follows counters that grow between scrapes
  (rates appear, the counts are the last ones served).
- Against krxd with metrics = { listen = ...; }: after records are
  produced to an encrypted and a plain topic, GET / is the page, and
  its DOM holds the virtual cluster's name, both topics and their counts
  as /metrics reports them; a screenshot is saved in the test's tmp dir
  (its path printed).
"""

import html
import http.server
import os
import re
import shutil
import subprocess
import threading
import urllib.request

import pytest

import enctest
import keytest
import krxtest
import tools

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(HERE, "..", "..", "worker", "status.html")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

needs_chromium = pytest.mark.skipif(CHROMIUM is None,
                                    reason="chromium is not installed")


def page_text():
    with open(PAGE, encoding="utf-8") as f:
        return f.read()


def chromium(url, tmp_path, *mode):
    """Run headless Chromium on url for 8 s of virtual time; stdout."""
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    r = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--disable-extensions",
         f"--user-data-dir={profile}", "--window-size=1280,1600",
         "--virtual-time-budget=8000", *mode, url],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    return r.stdout.decode(errors="replace")


def dump_dom(url, tmp_path):
    return chromium(url, tmp_path, "--dump-dom")


def screenshot(url, tmp_path, name):
    path = tmp_path / name
    chromium(url, tmp_path, f"--screenshot={path}")
    assert path.exists() and path.stat().st_size > 10000, path
    print(f"status page screenshot: {path}")
    return path


# -- reading the DOM -------------------------------------------------------

def vc_section(dom, vc):
    m = re.search(r'<section class="vc" data-vc="%s">(.*?)</section>'
                  % re.escape(html.escape(vc, quote=True)), dom, re.S)
    assert m, f"no section for virtual cluster {vc!r} in the DOM:\n" \
        f"{dom[:4000]}"
    return m.group(1)


def topic_counts(section):
    """{topic: (encrypted, plain)} from a virtual cluster's table; None
    where the page shows no number."""
    out = {}
    for m in re.finditer(r'<tr class="topic" data-topic="([^"]*)">(.*?)'
                         r'</tr>', section, re.S):
        row = m.group(2)

        def val(cls):
            c = re.search(r'<td class="%s"(?: data-value="([^"]*)")?>'
                          r'([^<]*)</td>' % cls, row)
            assert c, row
            return float(c.group(1)) if c.group(1) else None
        out[html.unescape(m.group(1))] = (val("enc"), val("plain"))
    return out


def stat_value(section, cls):
    m = re.search(r'<div class="stat %s"(?: data-value="([^"]*)")?>'
                  r'<div class="v">([^<]*)</div>' % re.escape(cls), section)
    assert m, f"no stat {cls}"
    return (float(m.group(1)) if m.group(1) else None), m.group(2)


# -- static ----------------------------------------------------------------

def test_page_names_no_other_origin():
    text = page_text()
    assert not re.search(r"https?://", text, re.I), \
        re.search(r".{0,60}https?://.{0,60}", text, re.I).group(0)
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*//""", text,
                         re.I)
    assert not re.search(r"url\(\s*['\"]?\s*(?://|[a-z]+:)", text, re.I)
    assert not re.search(r"@import|<link\b|<iframe\b|<img\b|<object\b",
                         text, re.I)
    # the page's one request: /metrics on its own origin
    assert re.findall(r"fetch\(([^,)]*)", text) == ['"/metrics"']
    assert not re.search(r"XMLHttpRequest|WebSocket|EventSource|"
                         r"sendBeacon|import\(", text)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"',
                    text)
    assert csp, "no Content-Security-Policy"
    assert "default-src 'none'" in csp.group(1)
    assert "connect-src 'self'" in csp.group(1)
    # read-only: no form; the one button is the pause toggle
    assert "<form" not in text.lower()
    assert re.findall(r"<button[^>]*>", text) == [
        '<button id="pause" type="button" aria-pressed="false">']


# -- canned /metrics -------------------------------------------------------

CANNED = """\
# HELP kroxylicious_filter_record_encryption_encrypted_records_total x
# TYPE kroxylicious_filter_record_encryption_encrypted_records_total counter
kroxylicious_filter_record_encryption_encrypted_records_total\
{virtual_cluster="demo",topic_name="secret-topic"} %(enc)d
kroxylicious_filter_record_encryption_encrypted_records_total\
{virtual_cluster="other-vc",topic_name="secret-topic"} 1000
kroxylicious_filter_record_encryption_plain_records_total\
{virtual_cluster="demo",topic_name="open-topic",worker="0"} 10
kroxylicious_filter_record_encryption_plain_records_total\
{virtual_cluster="demo",topic_name="open-topic",worker="1"} 7
kroxylicious_filter_record_encryption_plain_records_total\
{virtual_cluster="demo",topic_name="odd\\"<b>x</b>"} 3
kroxylicious_kms_operation_attempt_total{operation="generate_dek_pair"} 5
kroxylicious_kms_operation_outcome_total\
{operation="generate_dek_pair",outcome="SUCCESS"} 4
kroxylicious_kms_operation_outcome_total\
{operation="generate_dek_pair",outcome="EXCEPTION"} 1
kroxylicious_client_to_proxy_active_connections\
{virtual_cluster="demo",node_id="1"} 2
kroxylicious_client_to_proxy_active_connections\
{virtual_cluster="demo",node_id="bootstrap"} 1
kroxylicious_client_to_proxy_connections_total\
{virtual_cluster="demo",node_id="1"} 9
krx_client_bytes_total{virtual_cluster="demo",direction="in"} %(bin)d
krx_client_bytes_total{virtual_cluster="demo",direction="out"} 654321
krx_dek_cache_hits_total{cache="worker"} 30
krx_dek_cache_misses_total{cache="worker"} 10
krx_dek_cache_hits_total{cache="lmdb"} 1
krx_dek_cache_misses_total{cache="lmdb"} 3
krx_process_info{kind="worker",slot="0",generation="3",pid="4242"} 1
krx_process_info{kind="keysvc",slot="0",generation="3",pid="4250"} 1
krx_process_restarts_total{kind="worker",slot="0",generation="3"} 2
krx_process_restarts_total{kind="worker",slot="1",generation="3"} 5
krx_process_restarts_total{kind="keysvc",slot="0",generation="3"} 0
krx_generation 3
krx_reloads_total{outcome="success"} 2
krx_build_info{version="9.8.7-test"} 1
"""


class CannedServer:
    """GET / -> the page file, GET /metrics -> CANNED with counters that
    grow by a step at each scrape."""

    def __init__(self, template=CANNED):
        self.page = page_text().encode()
        self.template = template
        self.scrapes = 0
        self.served = []        # encrypted count of each scrape
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/":
                    body, ctype = srv.page, "text/html; charset=utf-8"
                elif self.path == "/metrics":
                    srv.scrapes += 1
                    enc = 40 + 2 * srv.scrapes
                    srv.served.append(enc)
                    body = (srv.template % {"enc": enc,
                                      "bin": 1000 * srv.scrapes}).encode()
                    ctype = "text/plain; version=0.0.4; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def canned():
    s = CannedServer()
    yield s
    s.close()


@needs_chromium
def test_page_canned_metrics(canned, tmp_path):
    dom = dump_dom(canned.url, tmp_path)
    assert canned.scrapes >= 3, f"only {canned.scrapes} scrapes in 8 s"
    assert "9.8.7-test" in dom
    assert re.search(r'id="generation">3<', dom)
    sec = vc_section(dom, "demo")
    assert 'class="vc-name">demo<' in sec
    counts = topic_counts(sec)
    assert set(counts) == {"secret-topic", "open-topic", 'odd"<b>x</b>'}, \
        counts
    # the count of the last scrape rendered (or of the one before, if
    # the budget ended with a fetch in flight), not the first one
    enc = counts["secret-topic"][0]
    assert enc in canned.served[-2:] and enc > canned.served[0], \
        (enc, canned.served)
    assert counts["secret-topic"][1] is None        # no plain samples
    assert counts["open-topic"] == (None, 17)       # summed over workers
    assert counts['odd"<b>x</b>'] == (None, 3)
    assert "<b>x</b>" not in dom                    # escaped, not markup
    assert stat_value(sec, "active")[0] == 3
    assert stat_value(sec, "conns")[0] == 9
    # bytes in grow 1000 per 2 s scrape: a rate, not a dash
    rate_in = stat_value(sec, "in")[1]
    assert re.match(r"^\d+(\.\d)? (B|KiB)/s$", rate_in), rate_in
    assert stat_value(sec, "out")[1] == "0 B/s"
    assert "<polyline" in sec
    other = topic_counts(vc_section(dom, "other-vc"))
    assert other == {"secret-topic": (1000, None)}
    # families present, no sample of this virtual cluster: dashes
    osec = vc_section(dom, "other-vc")
    assert stat_value(osec, "active") == (None, "\u2013")
    assert stat_value(osec, "plain-total") == (None, "\u2013")
    kms = re.search(r'<tr class="kms-op" data-op="generate_dek_pair">(.*?)'
                    r'</tr>', dom, re.S).group(1)
    # attempts, success, not found (family present, no sample: 0), failures
    assert re.findall(r'data-value="(\d+)"', kms) == ["5", "4", "0", "1"]
    assert '<td class="failures bad" data-value="1">' in kms
    caches = dict(re.findall(r'<tr class="cache" data-cache="(\w+)">.*?'
                             r'<td class="rate">([^<]*)</td>', dom))
    assert caches == {"worker": "75.0 %", "lmdb": "25.0 %"}, caches
    procs = re.findall(r'<tr class="proc" data-kind="(\w+)">(.*?)</tr>', dom)
    assert [p[0] for p in procs] == ["keysvc", "worker", "worker"]
    assert "4250" in procs[0][1] and ">running<" in procs[0][1]
    assert "4242" in procs[1][1] and ">3<" in procs[1][1]
    assert 'data-value="2"' in procs[1][1] and ">running<" in procs[1][1]
    # restarted, not running now: no pid, its restarts
    assert ">not running<" in procs[2][1] and 'data-value="5"' in procs[2][1]
    assert "<td>\u2013</td>" in procs[2][1]
    assert re.search(r'id="reloads">success 2<', dom)
    screenshot(canned.url, tmp_path, "status-canned.png")


@needs_chromium
def test_page_without_metrics(tmp_path):
    """An empty /metrics (no family at all): dashes, no error."""
    s = CannedServer(template="")
    try:
        dom = dump_dom(s.url, tmp_path)
    finally:
        s.close()
    assert s.scrapes >= 1
    assert re.search(r'id="version">\u2013<', dom)
    assert re.search(r'id="generation">\u2013<', dom)
    assert "none reported" in dom
    assert "no KMS calls reported" in dom
    assert "no processes reported" in dom
    assert "no DEK cache reported" in dom
    assert re.search(r'id="conn-state">live<', dom)


# -- against krxd ----------------------------------------------------------

def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def scrape_sum(text, name, **want):
    total, seen = 0.0, False
    for m in re.finditer(r"^%s\{([^}]*)\} (\S+)$" % re.escape(name), text,
                         re.M):
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
        if all(labels.get(k) == v for k, v in want.items()):
            total += float(m.group(2))
            seen = True
    return total if seen else None


ENC = "kroxylicious_filter_record_encryption_encrypted_records_total"
PLAIN = "kroxylicious_filter_record_encryption_plain_records_total"


@needs_chromium
def test_page_krxd(kafka, krxd_factory, topic_name, tmp_path):
    mport = krxtest.free_port_range(1, "127.0.0.1")
    krxd = enctest.enc_krxd(
        krxd_factory, name="pagevc", workers=2,
        extra=f'metrics = {{ listen = "127.0.0.1:{mport}"; }};\n')
    base = f"http://127.0.0.1:{mport}/"
    enc, plain = f"{topic_name}-enc", f"{topic_name}-plain"
    tools.create_topics(kafka.bootstrap, {enc: 1, plain: 1})
    enctest.kek(krxd, "create", f"KEK-{enc}")
    keytest.produce(krxd.bootstrap, enc, [b"secret-%d" % i for i in range(7)])
    keytest.produce(krxd.bootstrap, plain, [b"open-%d" % i for i in range(5)])

    status, ctype, body = http_get(base)
    assert status == 200 and ctype.startswith("text/html"), ctype
    assert body == page_text().encode()

    def counted():
        text = http_get(base + "metrics")[2].decode()
        return (scrape_sum(text, ENC, virtual_cluster="pagevc",
                           topic_name=enc) == 7 and
                scrape_sum(text, PLAIN, virtual_cluster="pagevc",
                           topic_name=plain) == 5)
    krxtest.wait_for(counted, 30, "/metrics to count 7 encrypted and 5 "
                     "plain records")

    dom = dump_dom(base, tmp_path)
    sec = vc_section(dom, "pagevc")
    counts = topic_counts(sec)
    assert counts.get(enc, (None,))[0] == 7, counts
    assert counts.get(plain, (None, None))[1] == 5, counts
    assert counts[enc][1] in (None, 0) and counts[plain][0] in (None, 0)
    assert stat_value(sec, "enc-total")[0] == 7
    assert stat_value(sec, "conns")[0] >= 2
    running = re.findall(r'<tr class="proc" data-kind="(\w+)">(?:(?!</tr>)'
                         r'.)*<td class="state">running</td>', dom)
    assert sorted(running) == ["keysvc", "worker", "worker"], running
    for pid in krxd.worker_pids():
        assert f"<td>{pid}</td>" in dom
    screenshot(base, tmp_path, "status-krxd.png")
