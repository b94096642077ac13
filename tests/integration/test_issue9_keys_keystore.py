"""Issue 9, findings 9, 13 and 14 (keysvc side): the LocalKms keystore.

- Finding 9: a keystore that goes missing after start makes key requests
  UNAVAILABLE, never "no KEK". krxd encrypts with the default policy
  PASSTHROUGH_UNENCRYPTED (the dangerous one) and two KEKs; a producer
  uses topic A; the keystore file is deleted; a produce to topic B
  (whose KEK no worker has resolved yet, so the request must reach
  keysvc) fails at the client, and the broker holds no record of B
  without the encryption header. keysvc logs the missing keystore at
  error level once, however many requests fail. Once the file is back,
  produce to B works, encrypted.
- krxd -t warns about a keystore that does not exist and refuses a
  relative keystore path (finding 14).
- Finding 13: with a keystore path over 250 characters, a failing
  `kek create` answers a clean line (no stack bytes): the reply is
  printable text of the expected shape.
"""

import os
import re
import subprocess

from confluent_kafka import Producer

import enctest
import keytest
import krxtest
import tools


def produce_outcome(bootstrap, topic, values, timeout_ms=6000):
    """(delivered, errors) for values produced to partition 0."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "linger.ms": 5, "log_level": 3,
                  "message.timeout.ms": timeout_ms})
    ok, errors = [], []

    def dr(err, msg):
        (errors if err is not None else ok).append(err or msg.offset())
    for v in values:
        p.produce(topic, value=v, key=b"k", partition=0, on_delivery=dr)
    p.flush(timeout_ms / 1000 + 30)
    return ok, errors


def header_on_every_record(kafka, topic):
    recs = keytest.records(kafka.bootstrap, topic)
    for r in recs:
        hdrs = r[5] or []
        assert (enctest.ENC_HEADER, b"\x02") in hdrs, \
            f"{topic} offset {r[2]}: a record in clear at the broker"
    return recs


def test_missing_keystore_is_unavailable(kafka, krxd_factory, tmp_path,
                                         topic_name):
    krxd, keystore, _ = keytest.make_encrypting(krxd_factory, tmp_path)
    a, b = f"{topic_name}-a", f"{topic_name}-b"
    tools.create_topics(kafka.bootstrap, {a: 1, b: 1})
    keytest.kek_create(krxd, f"KEK-{a}")
    keytest.kek_create(krxd, f"KEK-{b}")
    keytest.produce(krxd.bootstrap, a, [b"before-%d" % i for i in range(5)])

    with open(keystore, "rb") as f:
        saved = f.read()
    start = krxd.log_size()
    os.unlink(keystore)

    values = [b"while-missing-%d" % i for i in range(5)]
    ok, errors = produce_outcome(krxd.bootstrap, b, values)
    assert not ok and errors, \
        f"produce without a keystore: {len(ok)} delivered, {errors[:2]}"
    assert header_on_every_record(kafka, b) == []
    # A worker that still holds a DEK of A may encrypt with it: fine, as
    # long as nothing reaches the broker in clear.
    produce_outcome(krxd.bootstrap, a, [b"a-while-missing"], 4000)
    header_on_every_record(kafka, a)

    krxd.wait_log(r"keystore \S+ does not exist", start=start)
    log = krxd.log_text()[start:]
    assert len(re.findall(r"keystore \S+ does not exist", log)) == 1, \
        "the missing keystore is logged per request, not per change"
    assert re.search(r"keysvc: .*keystore \S+ does not exist", log)

    tmp = keystore + ".restore"
    with open(tmp, "wb") as f:
        f.write(saved)
    os.chmod(tmp, 0o600)
    os.rename(tmp, keystore)
    values = [b"after-%d" % i for i in range(5)]
    keytest.produce(krxd.bootstrap, b, values)
    raw = header_on_every_record(kafka, b)
    keytest.check_encrypted(raw, f"KEK-{b}", values)
    krxd.wait_log(r"keystore \S+ is readable again", start=start)


def test_krxd_t_reports_keystore(krxd_factory, tmp_path):
    missing = os.path.join(str(tmp_path), "nowhere", "keystore")
    extra, vc = enctest.enc_config(missing, os.path.join(str(tmp_path),
                                                         "cache"))
    k = krxd_factory.make(start=False, extra=extra, vc_extra=vc)
    k.write_config()
    r = subprocess.run([krxtest.KRXD, "-t", "-c", k.config_path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=20)
    assert r.returncode == 0, r
    assert f"keystore {missing}" in r.stderr and "warning" in r.stderr, r

    extra, vc = enctest.enc_config("keks/keystore", os.path.join(
        str(tmp_path), "cache"))
    k = krxd_factory.make(start=False, extra=extra, vc_extra=vc)
    k.write_config()
    r = subprocess.run([krxtest.KRXD, "-t", "-c", k.config_path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=20)
    assert r.returncode != 0 and "not an absolute path" in r.stderr, r


def test_long_keystore_path_reply_is_clean(krxd_factory, tmp_path):
    # The directories do not exist: kek create cannot write the file and
    # says so, naming the path (over 300 characters).
    keystore = os.path.join(str(tmp_path), "d" * 150, "e" * 150, "keystore")
    assert len(keystore) > 300
    krxd = enctest.enc_krxd(krxd_factory, keystore=keystore)
    keytest.wait_keysvc(krxd)
    r = subprocess.run([krxtest.KRXCTL, "-s", krxd.control_socket, "kek",
                        "create", "KEK-long"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=20)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert b"cannot write keystore /" in out, out
    text = out.decode("ascii")          # no stack bytes
    assert all(c == "\n" or " " <= c <= "~" for c in text), repr(out)
    line = next(ln for ln in text.splitlines()
                if "cannot write keystore" in ln)
    assert len(line) <= 511, len(line)
