"""Cluster certificates: the HSM's CSR and the InitializeCluster checks (the only module of the
package that touches ``cryptography``).

* The first HSM of an uninitialised cluster holds an RSA key and issues a PKCS #10 CSR for it,
  with the subject layout of AWS's example (spec cloudhsm.md 1.2 C3), plus the HSM certificate
  (signed by a per-cluster "manufacturer" CA) and the two hardware certificates.
* InitializeCluster must receive the certificate issued for that CSR's public key, signed by a
  self-signed trust anchor whose key is RSA 2048 or 4096; if the anchor has X509v3 extensions,
  Basic Constraints must be among them (AWS user guide, initialize-cluster / sign the CSR).
  The anchor must be a CA: Basic Constraints CA:TRUE, and a Key Usage extension, if present,
  must allow keyCertSign (RFC 5280 4.2.1.3/4.2.1.9; "extensions must not conflict"). An anchor
  without any extension (an X.509 v1-style root) is a CA by convention (OpenSSL) and AWS's
  rule only asks for Basic Constraints "if X509v3 extensions are used", so it is accepted.
  Both certificates must be valid at the request's time (``now``, from the clock).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

#: RSA key sizes AWS accepts for the issuing CA (initialize-cluster).
TRUST_ANCHOR_KEY_SIZES = (2048, 4096)
_TEN_YEARS = dt.timedelta(days=3650)


class CertificateProblem(Exception):
    """A SignedCert/TrustAnchor pair InitializeCluster must refuse (message for the user)."""


@dataclass(frozen=True, slots=True)
class HsmIdentity:
    key_pem: bytes
    csr: str
    hsm_certificate: str
    aws_hardware_certificate: str
    manufacturer_hardware_certificate: str


def _name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _certificate(subject: x509.Name, public: rsa.RSAPublicKey, issuer: x509.Name,
                 signer: rsa.RSAPrivateKey, now: float, *, ca: bool) -> x509.Certificate:
    start = dt.datetime.fromtimestamp(now, dt.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + _TEN_YEARS)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256()))


def new_hsm_identity(hsm_id: str, now: float, *, fips: bool = True) -> HsmIdentity:
    """The key, CSR and certificates the first HSM of a new cluster produces."""
    key = _key()
    mode = "for FIPS mode" if fips else "for non-FIPS mode"
    # AWS's example subject: C=US/ST=CA/O=Cavium/OU=N3FIPS/L=SanJose/CN=HSM:<id>:PARTN:<n>, ...
    subject = _name((NameOID.COUNTRY_NAME, "US"), (NameOID.STATE_OR_PROVINCE_NAME, "CA"),
                    (NameOID.ORGANIZATION_NAME, "Cavium"),
                    (NameOID.ORGANIZATIONAL_UNIT_NAME, "N3FIPS"),
                    (NameOID.LOCALITY_NAME, "SanJose"),
                    (NameOID.COMMON_NAME, f"HSM:{hsm_id.upper()}:PARTN:0, {mode}"))
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    maker_key, aws_key = _key(), _key()
    maker = _name((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "Cavium"),
                  (NameOID.COMMON_NAME, "HSM manufacturer root (hsmkms)"))
    aws = _name((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "AWS CloudHSM"),
                (NameOID.COMMON_NAME, "AWS hardware root (hsmkms)"))
    maker_cert = _certificate(maker, maker_key.public_key(), maker, maker_key, now, ca=True)
    aws_cert = _certificate(aws, aws_key.public_key(), aws, aws_key, now, ca=True)
    hsm_cert = _certificate(subject, key.public_key(), maker, maker_key, now, ca=False)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return HsmIdentity(key_pem, _pem(csr), _pem(hsm_cert), _pem(aws_cert), _pem(maker_cert))


def _load(pem: str, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.strip().encode())
    except ValueError:
        raise CertificateProblem(f"The {what} is not a valid PEM-encoded X.509 certificate.") \
            from None


def _signed_by(cert: x509.Certificate, key: object) -> bool:
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                   cert.signature_hash_algorithm or hashes.SHA256())
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


def check_trust_anchor(anchor_pem: str, now: float) -> x509.Certificate:
    anchor = _load(anchor_pem, "trust anchor")
    key = anchor.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size not in TRUST_ANCHOR_KEY_SIZES:
        raise CertificateProblem("The trust anchor must have an RSA 2048 or RSA 4096 key.")
    if anchor.issuer != anchor.subject or not _signed_by(anchor, key):
        raise CertificateProblem("The trust anchor must be a self-signed (root) certificate.")
    if len(anchor.extensions) > 0:
        _check_ca_extensions(anchor)
    _check_validity(anchor, "trust anchor", now)
    return anchor


def _check_ca_extensions(anchor: x509.Certificate) -> None:
    try:
        basic = anchor.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise CertificateProblem("The trust anchor uses X509v3 extensions but has no "
                                 "Basic Constraints extension.") from None
    if not basic.ca:
        raise CertificateProblem("The trust anchor is not a CA certificate: its Basic "
                                 "Constraints extension says CA:FALSE.")
    try:
        usage = anchor.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.key_cert_sign:
        raise CertificateProblem("The trust anchor's Key Usage extension does not allow "
                                 "signing certificates (keyCertSign).")


def _check_validity(cert: x509.Certificate, what: str, now: float) -> None:
    at = dt.datetime.fromtimestamp(now, dt.UTC)
    if at < cert.not_valid_before_utc:
        raise CertificateProblem(f"The {what} is not valid yet: its validity starts at "
                                 f"{_when(cert.not_valid_before_utc)}.")
    if at > cert.not_valid_after_utc:
        raise CertificateProblem(f"The {what} has expired: its validity ended at "
                                 f"{_when(cert.not_valid_after_utc)}.")


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_signed_certificate(csr_pem: str, signed_pem: str, anchor_pem: str,
                             now: float) -> None:
    """Raise :class:`CertificateProblem` unless ``signed_pem`` certifies the CSR's key, was
    signed by the self-signed CA ``anchor_pem``, and both are valid at ``now``."""
    anchor = check_trust_anchor(anchor_pem, now)
    signed = _load(signed_pem, "signed certificate")
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    if signed.public_key() != csr.public_key():
        raise CertificateProblem("The signed certificate was not issued for the cluster's "
                                 "certificate signing request (CSR): its public key differs.")
    if signed.issuer != anchor.subject or not _signed_by(signed, anchor.public_key()):
        raise CertificateProblem("The signed certificate was not signed by the trust anchor.")
    _check_validity(signed, "signed certificate", now)


def same_public_key(cert_pem_a: str, cert_pem_b: str) -> bool:
    """Whether two PEM certificates carry the same public key (False if either is unreadable)."""
    try:
        a = x509.load_pem_x509_certificate(cert_pem_a.strip().encode())
        b = x509.load_pem_x509_certificate(cert_pem_b.strip().encode())
    except ValueError:
        return False
    return a.public_key() == b.public_key()
