"""
test_k8s_manifests.py: packaging/kubernetes, checked offline.

Every manifest validates against the schemas of one Kubernetes version
shipped inside PyPI's kubernetes-validate (strict: unknown fields are
errors; no network). Then the manifests are checked against each other
and against krxd itself: the krxd.conf of the ConfigMap passes
`krxd -t` (credential paths pointed at dummy files), the Services and
container ports are exactly the ports that file binds, the Deployment
mounts the ConfigMap and the Secret where the file and the command look
for them, runs krxd in the foreground with that file, probes and stops
it through the control socket of that file, and waits long enough for a
graceful stop. No Kafka broker is needed.
"""
import glob
import os
import re
import subprocess

import pytest
import yaml

from krxtest import KRXD, TOP

try:
    import kubernetes_validate as kv
except ImportError as e:  # a failure, not a skip: CI must run this
    raise ImportError("pip install kubernetes-validate (tests/setup.sh "
                      "installs it)") from e

K8S_VERSION = "1.33.0"  # schemas shipped by kubernetes-validate >= 1.33
DIR = os.path.join(TOP, "packaging", "kubernetes")


# -- a small libconfig reader (the subset krxd.conf uses) -------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<num>-?(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?)L?)
  | (?P<name>[A-Za-z*][-A-Za-z0-9_*]*)
  | (?P<punct>[=:;,{}()\[\]])
""", re.S | re.X)


def _tokens(text):
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"libconfig: cannot read {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.lastgroup != "ws":
            yield m.lastgroup, m.group()


def _value(toks, i):
    kind, tok = toks[i]
    if tok == "{":
        return _group(toks, i + 1, "}")
    if tok in "([":
        items, i = [], i + 1
        while toks[i][1] not in ")]":
            v, i = _value(toks, i)
            items.append(v)
            if toks[i][1] == ",":
                i += 1
        return items, i + 1
    if kind == "str":
        return bytes(tok[1:-1], "utf-8").decode("unicode_escape"), i + 1
    if kind == "num":
        t = tok.rstrip("L")
        return (float(t) if "." in t else int(t, 0)), i + 1
    if tok.lower() in ("true", "false"):
        return tok.lower() == "true", i + 1
    raise ValueError(f"libconfig: unexpected {tok!r}")


def _group(toks, i, end):
    out = {}
    while i < len(toks) and toks[i][1] != end:
        name = toks[i][1]
        assert toks[i + 1][1] in "=:", f"libconfig: no '=' after {name}"
        out[name], i = _value(toks, i + 2)
        if i < len(toks) and toks[i][1] in ";,":
            i += 1
    return out, i + 1


def libconfig_loads(text):
    return _group(list(_tokens(text)), 0, None)[0]


def _password_files(node, found):
    """Every passwordFile path, anywhere in the tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "passwordFile":
                found.append(v)
            else:
                _password_files(v, found)
    elif isinstance(node, list):
        for v in node:
            _password_files(v, found)
    return found


# -- the manifests -----------------------------------------------------------

def _load_all():
    docs = []
    for path in sorted(glob.glob(os.path.join(DIR, "*.yaml"))):
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                if d is not None:
                    docs.append((os.path.basename(path), d))
    return docs


DOCS = _load_all()


def _one(kind, name=None):
    found = [d for _, d in DOCS if d["kind"] == kind and
             (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got " \
        f"{len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def deploy():
    return _one("Deployment", "krxd")


@pytest.fixture(scope="module")
def container(deploy):
    cs = deploy["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1
    return cs[0]


@pytest.fixture(scope="module")
def conf_path(container):
    """The -c argument of the container's krxd command."""
    argv = container.get("command", []) + container.get("args", [])
    assert os.path.basename(argv[0]) == "krxd", argv
    assert "-g" in argv[1:], f"krxd must run in the foreground: {argv}"
    assert argv.count("-c") == 1, argv
    return argv[argv.index("-c") + 1]


@pytest.fixture(scope="module")
def conf_text(deploy, container, conf_path):
    """krxd.conf as the container sees it: the ConfigMap key mounted at
    the directory of the -c path."""
    mount = _mount_of(deploy, container, os.path.dirname(conf_path))
    assert mount["vol"].get("configMap"), f"{conf_path} is not a ConfigMap"
    cm = _one("ConfigMap", mount["vol"]["configMap"]["name"])
    key = _key_for(mount["vol"]["configMap"], os.path.basename(conf_path))
    assert key in cm["data"], f"ConfigMap has no key {key}"
    return cm["data"][key]


@pytest.fixture(scope="module")
def conf(conf_text):
    return libconfig_loads(conf_text)


def _mount_of(deploy, container, directory):
    """The volume mounted exactly at directory, with its mount."""
    vols = {v["name"]: v for v in deploy["spec"]["template"]["spec"]
            ["volumes"]}
    ms = [m for m in container["volumeMounts"]
          if m["mountPath"].rstrip("/") == directory.rstrip("/")]
    assert len(ms) == 1, f"no volume mounted at {directory}"
    assert "subPath" not in ms[0], "subPath mounts never see updates"
    return {"mount": ms[0], "vol": vols[ms[0]["name"]]}


def _key_for(source, filename):
    """The key of a ConfigMap/Secret volume that appears as filename."""
    for item in source.get("items", []):
        if item["path"] == filename:
            return item["key"]
    assert not source.get("items"), f"{filename} not among the items"
    return filename


def _int_or_octal(v):
    return v if isinstance(v, int) else int(str(v), 8)


def _vcluster_ports(conf):
    ports = set()
    for vc in conf["virtual_clusters"]:
        boot = int(vc["bootstrap"].rsplit(":", 1)[1])
        start = vc.get("node_start_port", boot + 1)
        ports.add(boot)
        ports.update(range(start, start + vc.get("max_node_id", 2) + 1))
    return ports


# -- tests -------------------------------------------------------------------

def test_every_manifest_validates_offline():
    kinds = sorted(d["kind"] for _, d in DOCS)
    assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget",
                     "Secret", "Service", "Service"], kinds
    errors = []
    for fname, d in DOCS:
        try:
            kv.validate(d, K8S_VERSION, strict=True)
        except kv.ValidationError as e:
            errors.append(f"{fname}: {'.'.join(map(str, e.path))}: "
                          f"{e.message}")
    assert not errors, "\n".join(errors)


def test_validation_is_strict(deploy):
    """The check above can fail: a misspelt field is refused."""
    import copy
    bad = copy.deepcopy(deploy)
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, K8S_VERSION, strict=True)


def test_configmap_conf_passes_krxd_t(tmp_path, conf, conf_text):
    if not os.access(KRXD, os.X_OK):
        pytest.fail(f"krxd binary not found at {KRXD} (run make)")
    secrets = _password_files(conf, [])
    assert secrets, "the record encryption credentials come from files"
    text = conf_text
    for i, path in enumerate(secrets):
        dummy = tmp_path / f"secret{i}"
        dummy.write_text("AKIADUMMYDUMMYDUMMY0\n")
        dummy.chmod(0o600)
        assert text.count(f'"{path}"') == 1, path
        text = text.replace(f'"{path}"', f'"{dummy}"')
    cf = tmp_path / "krxd.conf"
    cf.write_text(text)
    r = subprocess.run([KRXD, "-t", "-c", str(cf)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "is valid" in r.stdout, r.stdout
    # one encrypting virtual cluster, credentials from files, no root
    # escape hatch: the privilege separation of deployment.yaml holds
    assert len(conf["virtual_clusters"]) == 1
    assert "record_encryption" in conf["virtual_clusters"][0]
    assert conf["user"] != conf["keysvc_user"]
    assert not conf.get("allow_root", False)


def test_krxd_t_catches_a_broken_conf(tmp_path, conf_text):
    """The check above can fail: the same file with a misspelt key."""
    cf = tmp_path / "krxd.conf"
    text, n = re.subn(r"\bmax_node_id\s*=", "max_node_ids =", conf_text)
    assert n == 1
    cf.write_text(text)
    r = subprocess.run([KRXD, "-t", "-c", str(cf)], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0


def test_service_ports_are_the_conf_ports(conf, container):
    want = _vcluster_ports(conf)
    vc = conf["virtual_clusters"][0]
    assert 9192 in want and 9193 in want, want
    assert len(want) == vc["max_node_id"] + 2
    cports = {p["name"]: p["containerPort"] for p in container["ports"]}
    # The metrics listener is a port of the pod, not of the Service.
    mport = cports.pop("metrics")
    assert conf["metrics"]["listen"] == f"0.0.0.0:{mport}"
    assert set(cports.values()) == want, (sorted(cports.values()),
                                          sorted(want))
    svc = _one("Service", "krxd")
    seen = set()
    for p in svc["spec"]["ports"]:
        tp = p.get("targetPort", p["port"])
        tp = cports[tp] if isinstance(tp, str) else tp
        assert tp == p["port"], f"{p['name']}: clients are told the " \
            f"pod's port ({tp}), the Service must expose that same one"
        seen.add(tp)
    assert seen == want, (sorted(seen), sorted(want))
    assert vc["advertised_host"] not in ("localhost", "0.0.0.0")


def test_selectors_match_the_pods(deploy):
    labels = deploy["spec"]["template"]["metadata"]["labels"]
    sel = deploy["spec"]["selector"]["matchLabels"]
    assert sel.items() <= labels.items()
    for kind, name in (("Service", "krxd"), ("Service", "krxd-sni"),
                       ("PodDisruptionBudget", "krxd")):
        d = _one(kind, name)
        s = d["spec"]["selector"]
        s = s.get("matchLabels", s)
        assert s and s.items() <= labels.items(), f"{kind} {name}"
    sni = _one("Service", "krxd-sni")
    assert len(sni["spec"]["ports"]) == 1


def test_secret_mounted_where_conf_reads_it(deploy, container, conf):
    secret = _one("Secret")
    keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    files = _password_files(conf, [])
    for path in files:
        m = _mount_of(deploy, container, os.path.dirname(path))
        src = m["vol"].get("secret")
        assert src and src["secretName"] == secret["metadata"]["name"], \
            f"{path} is not in the Secret's volume"
        assert _key_for(src, os.path.basename(path)) in keys, path
        # readable by the key service's group, never by others
        mode = _int_or_octal(src.get("defaultMode", 0o644))
        assert mode & 0o007 == 0, oct(mode)
        assert m["mount"].get("readOnly") is True
    assert deploy["spec"]["template"]["spec"]["securityContext"].get(
        "fsGroup") is not None, "the key service reads the files by group"


def test_writable_paths_are_on_a_volume(deploy, container, conf):
    """Read-only root: the pid file, control socket and DEK cache must
    lie on a writable volume; the cache on memory."""
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    for p in (conf["pid_file"], conf["control_socket"],
              conf["cache"]["path"]):
        m = _mount_of(deploy, container, os.path.dirname(p))
        assert not m["mount"].get("readOnly"), p
        assert m["vol"].get("emptyDir", {}).get("medium") == "Memory", p


def test_probes_and_stop_use_the_control_socket(deploy, container, conf):
    sock = conf["control_socket"]
    for what in ("readinessProbe", "livenessProbe"):
        argv = container[what]["exec"]["command"]
        assert argv[0] == "krx-ctl" and argv[1:3] == ["-s", sock], argv
    ready = container["readinessProbe"]["exec"]["command"]
    assert ready[3:] == ["cache", "stats"], "ready needs the key service"
    stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert stop == ["krx-ctl", "-s", sock, "stop", "--graceful"], stop
    grace = deploy["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"]
    # krxd(8): workers are killed drain_timeout + 5 s after SIGQUIT
    assert grace > conf.get("drain_timeout", 30) + 5


def test_workers_match_cpu_limit(container, conf):
    """workers = "auto" would count the node's CPUs, not the limit."""
    assert isinstance(conf["workers"], int)
    assert conf["workers"] == int(container["resources"]["limits"]["cpu"])


def test_security_context(container):
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(sc["capabilities"]["add"]) <= {
        "CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID"}


def test_libconfig_reader():
    """The reader above, on the shapes it must get right."""
    c = libconfig_loads('a = 1; b = "x\\"y"; # c\n g = { h = (1, 2); };'
                        ' l = ( { n = "v"; } ); t = true; z = 0x10;')
    assert c == {"a": 1, "b": 'x"y', "g": {"h": [1, 2]},
                 "l": [{"n": "v"}], "t": True, "z": 16}
