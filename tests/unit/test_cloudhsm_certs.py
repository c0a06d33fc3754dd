"""CSR generation and the InitializeCluster certificate checks, with CAs made here."""

from __future__ import annotations

import datetime
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from hsmkms.cloudhsm import certs
from hsmkms.cloudhsm.certs import CertificateProblem


def _ca(key: object, name: str = "Root", *, extensions: bool = True,
        issuer_key: object = None) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
               .public_key(key.public_key()).serial_number(1)  # type: ignore[attr-defined]
               .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)))
    if extensions:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    return builder.sign(issuer_key or key, hashes.SHA256())  # type: ignore[arg-type]


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _sign(csr_pem: str, ca_key: rsa.RSAPrivateKey, ca: x509.Certificate) -> str:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.subject)
            .public_key(csr.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(ca_key, hashes.SHA256()))
    return _pem(cert)


@pytest.fixture(scope="module")
def identity() -> certs.HsmIdentity:
    return certs.new_hsm_identity("hsm-ted36yp5b2x", time.time())


@pytest.fixture(scope="module")
def ca_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_csr_is_real_pkcs10_for_the_hsm_key(identity: certs.HsmIdentity) -> None:
    csr = x509.load_pem_x509_csr(identity.csr.encode())
    assert csr.is_signature_valid
    key = serialization.load_pem_private_key(identity.key_pem, None)
    assert csr.public_key() == key.public_key()
    cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "HSM:HSM-TED36YP5B2X:PARTN:0, for FIPS mode"
    hsm_cert = x509.load_pem_x509_certificate(identity.hsm_certificate.encode())
    assert hsm_cert.public_key() == csr.public_key()


def test_accepts_certificate_signed_by_anchor(identity: certs.HsmIdentity,
                                              ca_key: rsa.RSAPrivateKey) -> None:
    ca = _ca(ca_key)
    certs.check_signed_certificate(identity.csr, _sign(identity.csr, ca_key, ca), _pem(ca))


def test_refuses_wrong_ca(identity: certs.HsmIdentity, ca_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signed = _sign(identity.csr, other, _ca(other))
    with pytest.raises(CertificateProblem, match="not signed by the trust anchor"):
        certs.check_signed_certificate(identity.csr, signed, _pem(_ca(ca_key)))


def test_refuses_certificate_for_another_key(ca_key: rsa.RSAPrivateKey) -> None:
    ca = _ca(ca_key)
    a = certs.new_hsm_identity("hsm-aaaaaaaaaaa", time.time())
    b = certs.new_hsm_identity("hsm-bbbbbbbbbbb", time.time())
    with pytest.raises(CertificateProblem, match="public key differs"):
        certs.check_signed_certificate(a.csr, _sign(b.csr, ca_key, ca), _pem(ca))


def test_trust_anchor_rules(ca_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(CertificateProblem, match="not a valid PEM"):
        certs.check_trust_anchor("garbage")
    with pytest.raises(CertificateProblem, match="RSA 2048 or RSA 4096"):
        certs.check_trust_anchor(_pem(_ca(ec.generate_private_key(ec.SECP256R1()))))
    with pytest.raises(CertificateProblem, match="RSA 2048 or RSA 4096"):
        certs.check_trust_anchor(_pem(_ca(rsa.generate_private_key(65537, 3072))))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(CertificateProblem, match="self-signed"):
        certs.check_trust_anchor(_pem(_ca(ca_key, issuer_key=other)))
    certs.check_trust_anchor(_pem(_ca(ca_key, extensions=False)))
