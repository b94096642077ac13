"""Key rotation by reload (issue 11): `krx-ctl kek rotate KEK-t` and one
reload, and every record produced after it carries an EDEK of the new
KEK version (the new generation's workers start with no DEK), while the
records from before still decrypt, through krxd and with the test's own
decryption of the keystore's two versions.
"""

import enctest
import reloadtest
import tools


def test_reload_rotates_keys(kafka, krxd_factory, topic_name):
    krxd = enctest.enc_krxd(krxd_factory, workers=2)
    topic = topic_name
    tools.create_topics(kafka.bootstrap, {topic: 1})
    enctest.kek(krxd, "create", f"KEK-{topic}")
    before = [b"before-%d" % i for i in range(30)]
    after = [b"after-%d" % i for i in range(30)]
    assert reloadtest.produce(krxd.bootstrap, topic, before) == []
    assert "rotate done" in enctest.kek(krxd, "rotate", f"KEK-{topic}")
    assert reloadtest.reload_ok(krxd) == 2
    assert reloadtest.produce(krxd.bootstrap, topic, after) == []

    dec = enctest.Decryptor(krxd.keystore)
    direct = enctest.read_topics(kafka.bootstrap, [topic])[topic][0]
    assert len(direct) == len(before) + len(after)
    versions = [dec.check(rec, None, v, None, what=topic)["version"]
                for rec, v in zip(direct, before + after)]
    assert set(versions[:len(before)]) == {1}, versions
    assert set(versions[len(before):]) == {2}, versions
    via = enctest.read_topics(krxd.bootstrap, [topic])[topic][0]
    assert [r[4] for r in via] == before + after
