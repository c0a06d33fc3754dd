"""CloudHSM entities as the store keeps them: documents of older versions still load."""

from __future__ import annotations

from dataclasses import replace

from hsmkms.cloudhsm.model import NO_KEY, Cluster, ClusterState, Hsm, HsmState
from hsmkms.store.codec import Codec, Secret

CODEC = Codec(lambda b: "sealed:" + b.hex(), lambda t: bytes.fromhex(t.removeprefix("sealed:")))


def _cluster() -> Cluster:
    hsm = Hsm("hsm-ted36yp5b2x", "us-east-1a", "subnet-0123456789abcdef0", HsmState.ACTIVE,
              csr_key=Secret(b"-----BEGIN PRIVATE KEY-----"))
    return Cluster("cluster-igklspoyj5v", ClusterState.UNINITIALIZED, "hsm1.medium", 1.0,
                   {"us-east-1a": "subnet-0123456789abcdef0"}, "vpc-0123456789abcdef0",
                   "sg-0123456789abcdef0", hsms=(hsm,), cluster_csr="-----BEGIN CSR-----")


def test_the_csr_key_is_sealed_on_the_hsm() -> None:
    doc = CODEC.dump(_cluster())
    assert "csr_key" not in doc
    assert doc["hsms"][0]["csr_key"] == "sealed:" + b"-----BEGIN PRIVATE KEY-----".hex()
    assert CODEC.load(Cluster, doc) == _cluster()


def test_documents_of_earlier_versions_load() -> None:
    """Before, the cluster held the CSR key and HSMs had no csr_key field: such a document
    loads, the cluster-level key is dropped and the HSM has none."""
    doc = CODEC.dump(_cluster())
    doc["csr_key"] = CODEC.seal(b"old key")
    del doc["hsms"][0]["csr_key"]
    expected = _cluster()
    expected = replace(expected, hsms=(replace(expected.hsms[0], csr_key=NO_KEY),))
    assert CODEC.load(Cluster, doc) == expected
