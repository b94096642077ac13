"""Helpers of the reload tests (test_reload*.py): reloading a krxd by
krx-ctl or SIGHUP, waiting for a generation, and small clients."""

import os
import re
import signal

from confluent_kafka import Producer

import krxtest


def ctl_reload(krxd, timeout=90):
    """krx-ctl reload; the CompletedProcess (not checked)."""
    return krxd.ctl("reload", check=False, timeout=timeout)


def generations(krxd):
    return krxd.status()["generations"]


def wait_serving(krxd, gen, timeout=60):
    """Until generation gen serves alone (the old one is gone)."""
    def done():
        gs = generations(krxd)
        return len(gs) == 1 and gs[0]["generation"] == gen and \
            gs[0]["state"] == "serving" and \
            all(c["state"] == "running" for c in krxd.status()["children"])
    krxtest.wait_for(done, timeout, f"generation {gen} serving alone",
                     interval=0.05)


def reload_ok(krxd, how="ctl"):
    """Reload by krx-ctl or SIGHUP and wait until the new generation
    serves alone; returns its number (the next one after a SIGHUP:
    numbers of aborted generations are not reused, krx-ctl says which)."""
    gen = krxd.status()["generation"] + 1
    if how == "ctl":
        r = ctl_reload(krxd)
        assert r.returncode == 0, f"krx-ctl reload: {r.stdout}{r.stderr}"
        m = re.search(r"generation (\d+) serving", r.stdout)
        assert m and int(m.group(1)) >= gen, r.stdout
        gen = int(m.group(1))
    else:
        os.kill(krxd.pid, signal.SIGHUP)
    wait_serving(krxd, gen)
    return gen


def produce(bootstrap, topic, values, idempotent=True, timeout=60):
    """Send values to partition 0; the delivery errors."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5,
                  "enable.idempotence": idempotent, "log_level": 3,
                  "message.timeout.ms": 30000})
    errors = []
    for v in values:
        p.produce(topic, value=v, partition=0,
                  on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(timeout) == 0, "undelivered"
    return errors
