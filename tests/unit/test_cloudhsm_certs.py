"""CSR generation and the InitializeCluster certificate checks, with CAs made here."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from hsmkms.cloudhsm import certs
from hsmkms.cloudhsm.certs import CertificateProblem

NOW = time.time()
DAY = 86400.0


def _ca(key: object, name: str = "Root", *, extensions: bool = True,
        issuer_key: object = None, start: float = NOW, days: float = 1, ca: bool = True,
        key_usage: x509.KeyUsage | None = None) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    begin = dt.datetime.fromtimestamp(start, dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
               .public_key(key.public_key()).serial_number(1)  # type: ignore[attr-defined]
               .not_valid_before(begin).not_valid_after(begin + dt.timedelta(days=days)))
    if extensions:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                                        critical=True)
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    return builder.sign(issuer_key or key, hashes.SHA256())  # type: ignore[arg-type]


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=cert_sign, crl_sign=True, encipher_only=False,
                         decipher_only=False)


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _sign(csr_pem: str, ca_key: rsa.RSAPrivateKey, ca: x509.Certificate,
          start: float = NOW, days: float = 1) -> str:
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    begin = dt.datetime.fromtimestamp(start, dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.subject)
            .public_key(csr.public_key()).serial_number(2).not_valid_before(begin)
            .not_valid_after(begin + dt.timedelta(days=days))
            .sign(ca_key, hashes.SHA256()))
    return _pem(cert)


@pytest.fixture(scope="module")
def identity() -> certs.HsmIdentity:
    return certs.new_hsm_identity("hsm-ted36yp5b2x", NOW)


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
    certs.check_signed_certificate(identity.csr, _sign(identity.csr, ca_key, ca), _pem(ca), NOW)


def test_refuses_wrong_ca(identity: certs.HsmIdentity, ca_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signed = _sign(identity.csr, other, _ca(other))
    with pytest.raises(CertificateProblem, match="not signed by the trust anchor"):
        certs.check_signed_certificate(identity.csr, signed, _pem(_ca(ca_key)), NOW)


def test_refuses_certificate_for_another_key(ca_key: rsa.RSAPrivateKey) -> None:
    ca = _ca(ca_key)
    a = certs.new_hsm_identity("hsm-aaaaaaaaaaa", NOW)
    b = certs.new_hsm_identity("hsm-bbbbbbbbbbb", NOW)
    with pytest.raises(CertificateProblem, match="public key differs"):
        certs.check_signed_certificate(a.csr, _sign(b.csr, ca_key, ca), _pem(ca), NOW)


def test_trust_anchor_rules(ca_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(CertificateProblem, match="not a valid PEM"):
        certs.check_trust_anchor("garbage", NOW)
    with pytest.raises(CertificateProblem, match="RSA 2048 or RSA 4096"):
        certs.check_trust_anchor(_pem(_ca(ec.generate_private_key(ec.SECP256R1()))), NOW)
    with pytest.raises(CertificateProblem, match="RSA 2048 or RSA 4096"):
        certs.check_trust_anchor(_pem(_ca(rsa.generate_private_key(65537, 3072))), NOW)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(CertificateProblem, match="self-signed"):
        certs.check_trust_anchor(_pem(_ca(ca_key, issuer_key=other)), NOW)
    # No extension at all: an X.509 v1-style root, a CA by convention ("if X509v3 extensions
    # are used, Basic Constraints must be present").
    certs.check_trust_anchor(_pem(_ca(ca_key, extensions=False)), NOW)
    certs.check_trust_anchor(_pem(_ca(ca_key, key_usage=_usage(cert_sign=True))), NOW)


@pytest.mark.parametrize(("options", "problem"), [
    ({"ca": False}, ("The trust anchor is not a CA certificate: its Basic Constraints "
                     "extension says CA:FALSE.")),
    ({"extensions": False, "key_usage": _usage(cert_sign=True)},
     "The trust anchor uses X509v3 extensions but has no Basic Constraints extension."),
    ({"key_usage": _usage(cert_sign=False)},
     ("The trust anchor's Key Usage extension does not allow signing certificates "
      "(keyCertSign).")),
    ({"start": 1_700_000_000.0, "days": 10},
     "The trust anchor has expired: its validity ended at 2023-11-24T22:13:20Z."),
    ({"start": 4_000_000_000.0},
     "The trust anchor is not valid yet: its validity starts at 2096-10-02T07:06:40Z."),
])
def test_trust_anchor_must_be_a_valid_ca(ca_key: rsa.RSAPrivateKey, options: dict[str, Any],
                                         problem: str) -> None:
    with pytest.raises(CertificateProblem) as exc:
        certs.check_trust_anchor(_pem(_ca(ca_key, **options)), NOW)
    assert str(exc.value) == problem


def test_signed_certificate_must_be_valid_now(identity: certs.HsmIdentity,
                                              ca_key: rsa.RSAPrivateKey) -> None:
    ca = _ca(ca_key, start=1_600_000_000.0, days=36500)
    expired = _sign(identity.csr, ca_key, ca, start=1_700_000_000.0, days=10)
    with pytest.raises(CertificateProblem) as exc:
        certs.check_signed_certificate(identity.csr, expired, _pem(ca), NOW)
    assert str(exc.value) == ("The signed certificate has expired: its validity ended at "
                              "2023-11-24T22:13:20Z.")
    early = _sign(identity.csr, ca_key, ca, start=NOW + DAY)
    with pytest.raises(CertificateProblem, match=r"^The signed certificate is not valid yet"):
        certs.check_signed_certificate(identity.csr, early, _pem(ca), NOW)
    # The clock decides, not the wall clock: the same pair is fine at its own time.
    certs.check_signed_certificate(identity.csr, expired, _pem(ca), 1_700_000_000.0 + DAY)
