"""2010 skeleton key (DC downgrades AS-REP encryption)."""

from __future__ import annotations

from tests.detectors.netutil import ids_of, recording, run, wire
from tests.helpers import user

from dcwatch.model.activity import ActivityKind as K

SLUG = "skeleton-key"


def asx(seconds: float, who: str, reply: int, src: str = "10.0.0.21"):
    return wire(K.KERBEROS_AS, seconds, src=src, actor=user(who), outcome="success", status=0,
                fields={"etypes": [18, 17, 23], "pa_types": [2], "preauth_etype": 18,
                        "reply_etype": reply})


def test_dc_answers_rc4_to_aes_preauth() -> None:
    alerts = run(SLUG, [asx(0, "bob", 18), asx(3600, "bob", 23)])
    assert len(alerts) == 1
    assert "can mean a Skeleton Key on 10.0.0.10" in alerts[0].description
    # without history: two accounts needed
    assert run(SLUG, [asx(0, "a", 23)]) == []
    assert len(run(SLUG, [asx(0, "a", 23), asx(1, "b", 23)])) == 1


def test_client_choice_is_not_downgrade() -> None:
    rc4 = wire(K.KERBEROS_AS, 0, actor=user("a"), outcome="success", status=0,
               fields={"etypes": [23], "pa_types": [2], "preauth_etype": 23, "reply_etype": 23})
    assert run(SLUG, [rc4]) == []


def test_lab_quiet() -> None:
    for s in ("benign_baseline", "overpass_the_hash", "killchain"):
        assert 2010 not in ids_of(recording(s)), s
