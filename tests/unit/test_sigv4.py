"""SigV4 verification (hsmkms.auth.sigv4): botocore's signer is the oracle, plus AWS's
published "get-vanilla" vector and hand-built requests for every refusal (spec authz.md §2)."""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import time
from collections.abc import Mapping
from unittest import mock

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hsmkms.auth import sigv4
from hsmkms.auth.errors import (
    EC2,
    JSON,
    QUERY,
    AuthFailure,
    ExpiredToken,
    ExpiredTokenException,
    IncompleteSignature,
    IncompleteSignatureException,
    InvalidClientTokenId,
    InvalidSignatureException,
    RequestExpired,
    SignatureDoesNotMatch,
    UnrecognizedClientException,
    answer,
)
from hsmkms.auth.sigv4 import Failure, SigV4Error

AKID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOW = float(calendar.timegm((2026, 12, 2, 10, 0, 0)))
HOST = "127.0.0.1:4599"


def botocore_signed(body: bytes = b'{"KeyId":"alias/x"}', *, service: str = "kms",
                    region: str = "us-east-1", secret: str = SECRET, token: str | None = None,
                    at: float = NOW, url: str = f"http://{HOST}/",
                    headers: Mapping[str, str] | None = None) -> dict[str, str]:
    """The headers botocore sends for a KMS request (lower-case names, Host as urllib3 adds
    it)."""
    req = AWSRequest("POST", url, data=body, headers=dict(headers or {
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Encrypt"}))
    signer = SigV4Auth(Credentials(AKID, secret, token), service, region)
    signed_at = dt.datetime.fromtimestamp(at, dt.UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
        signer.add_auth(req)
    out = {k.lower(): v for k, v in req.headers.items()}
    out["host"] = url.split("/")[2]
    return out


def check(headers: Mapping[str, str], body: bytes = b'{"KeyId":"alias/x"}', *,
          secret: str = SECRET, query: str = "", path: str = "/", method: str = "POST",
          now: float = NOW, window: int = 300, service: str = "kms") -> sigv4.Authentication:
    auth = sigv4.parse(headers, query)
    sigv4.check_time(auth, now, window)
    sigv4.check_scope(auth, service)
    sigv4.verify(auth, secret, method, path, query, headers, body)
    return auth


def refused(headers: Mapping[str, str], **kwargs: object) -> SigV4Error:
    with pytest.raises(SigV4Error) as caught:
        check(headers, **kwargs)  # type: ignore[arg-type]
    return caught.value


# -- known answers -------------------------------------------------------------------------


def test_aws_get_vanilla_vector() -> None:
    """AWS's SigV4 test suite, get-vanilla: its canonical request, string to sign and
    signature."""
    headers = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}
    canonical = sigv4.canonical_request("GET", "/", "", headers, ("host", "x-amz-date"),
                                        sigv4.EMPTY_SHA256)
    assert canonical == ("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                         "host;x-amz-date\n" + sigv4.EMPTY_SHA256)
    to_sign = sigv4.string_to_sign("20150830T123600Z", "20150830/us-east-1/service/aws4_request",
                                   canonical)
    assert to_sign.endswith("bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63")
    auth = sigv4.Authentication("AKIDEXAMPLE", "20150830", "us-east-1", "service",
                                "aws4_request", ("host", "x-amz-date"), "", "20150830T123600Z",
                                0.0)
    assert sigv4.sign("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", auth, to_sign) == \
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"


def test_botocore_signed_request_verifies() -> None:
    auth = check(botocore_signed())
    assert (auth.access_key_id, auth.region, auth.service) == (AKID, "us-east-1", "kms")
    assert auth.signed_headers == ("content-type", "host", "x-amz-date", "x-amz-target")


def test_port_in_host_header_is_signed() -> None:
    headers = botocore_signed()
    assert headers["host"] == HOST
    assert refused({**headers, "host": "127.0.0.1"}).failure is Failure.INVALID_SIGNATURE
    # The scheme's default port is not in the Host header, nor signed.
    check(botocore_signed(url="http://localhost/"))
    assert refused(botocore_signed(url="http://localhost/") | {"host": "localhost:80"}
                   ).failure is Failure.INVALID_SIGNATURE


def test_wrong_secret_body_or_header_is_a_mismatch() -> None:
    err = refused(botocore_signed(secret="x" * 40))
    assert (err.failure, err.message) == (Failure.INVALID_SIGNATURE, sigv4.SIGNATURE_MISMATCH)
    assert err.canonical_request.startswith("POST\n/\n\ncontent-type:application/x-amz-json-1.1\n")
    assert refused(botocore_signed(), body=b"{}").failure is Failure.INVALID_SIGNATURE
    tampered = {**botocore_signed(), "x-amz-target": "TrentService.Decrypt"}
    assert refused(tampered).failure is Failure.INVALID_SIGNATURE


def test_unsigned_headers_may_change() -> None:
    headers = {**botocore_signed(), "user-agent": "other", "content-length": "19"}
    check(headers)


def test_header_values_are_trimmed_and_spaces_collapsed() -> None:
    headers = botocore_signed(headers={"Content-Type": "application/x-amz-json-1.1",
                                       "X-Amz-Target": "TrentService.Encrypt",
                                       "X-Custom": "  a   b  "})
    check(headers)
    assert "x-custom" in sigv4.parse(headers, "").signed_headers


def test_session_token_is_a_signed_header() -> None:
    headers = botocore_signed(token="FQoGZXIvYXdzEXAMPLE")  # noqa: S106
    auth = check(headers)
    assert auth.session_token == "FQoGZXIvYXdzEXAMPLE"  # noqa: S105
    assert "x-amz-security-token" in auth.signed_headers
    assert refused({**headers, "x-amz-security-token": "other"}).failure is \
        Failure.INVALID_SIGNATURE


def test_query_string_is_canonicalised() -> None:
    url = f"http://{HOST}/?Version=2016-11-15&Action=DescribeVpcs&Filter.1.Name=a%20b"
    headers = botocore_signed(b"", service="ec2", url=url, headers={})
    check(headers, b"", query=url.split("?", 1)[1], service="ec2", method="POST")


def test_presigned_query_verifies() -> None:
    req = AWSRequest("GET", f"http://{HOST}/?Action=DescribeVpcs&Version=2016-11-15")
    SigV4QueryAuth(Credentials(AKID, SECRET), "ec2", "us-east-1", expires=60).add_auth(req)
    query = req.url.split("?", 1)[1]
    headers = {"host": HOST}
    auth = sigv4.parse(headers, query)
    assert auth.presigned
    assert auth.expires == 60
    sigv4.check_time(auth, time.time(), 900)
    sigv4.verify(auth, SECRET, "GET", "/", query, headers, b"")
    with pytest.raises(SigV4Error) as caught:
        sigv4.verify(auth, "x" * 40, "GET", "/", query, headers, b"")
    assert caught.value.failure is Failure.INVALID_SIGNATURE
    with pytest.raises(SigV4Error) as caught:
        sigv4.check_time(auth, auth.timestamp + 61, 900)
    assert caught.value.message.startswith(f"Signature expired: {auth.amz_date} is now earlier")


def test_presigned_query_missing_a_parameter() -> None:
    err = refused({"host": HOST}, query="X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=x")
    assert err.failure is Failure.INCOMPLETE
    assert err.message == ("AWS query-string parameters must include 'X-Amz-Credential'. "
                           "Re-examine the query-string parameters.")


def test_payload_hash_header() -> None:
    body = b'{"KeyId":"alias/x"}'
    good = botocore_signed(headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(),
                                    "X-Amz-Target": "TrentService.Encrypt"})
    check(good)
    assert refused(good, body=b"{}").failure is Failure.INVALID_SIGNATURE



def test_unsigned_payload_is_refused() -> None:
    """UNSIGNED-PAYLOAD is S3's: for the services hsmkms serves the body is always signed, so
    a signature over "UNSIGNED-PAYLOAD" does not cover the body and does not match."""
    unsigned = botocore_signed(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
                                        "X-Amz-Target": "TrentService.Encrypt"})
    err = refused(unsigned, body=b"anything")
    assert (err.failure, err.message) == (Failure.INVALID_SIGNATURE, sigv4.SIGNATURE_MISMATCH)


def _presigned_kms(payload: str, *, sign_target: bool) -> tuple[dict[str, str], str]:
    """A presigned KMS URL, as a leaked one: signed over ``host`` (and the target when
    ``sign_target``) with ``payload`` in place of the body's hash."""
    amz_date = "20261202T100000Z"
    names = ("host", "x-amz-target") if sign_target else ("host",)
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
             f"{AKID}%2F20261202%2Fus-east-1%2Fkms%2Faws4_request&X-Amz-Date={amz_date}"
             f"&X-Amz-Expires=300&X-Amz-SignedHeaders={'%3B'.join(names)}")
    headers = {"host": HOST, "x-amz-target": "TrentService.Decrypt"}
    auth = sigv4.parse(headers, query + "&X-Amz-Signature=0")
    canonical = sigv4.canonical_request("POST", "/", query, headers, names, payload,
                                        presigned=True)
    signature = sigv4.sign(SECRET, auth,
                           sigv4.string_to_sign(auth.amz_date, auth.scope, canonical))
    return headers, f"{query}&X-Amz-Signature={signature}"


def test_presigned_unsigned_payload_is_refused() -> None:
    """A presigned KMS URL signed with UNSIGNED-PAYLOAD cannot carry any body (S3 only)."""
    headers, query = _presigned_kms("UNSIGNED-PAYLOAD", sign_target=True)
    err = refused(headers, body=b'{"CiphertextBlob":"x"}', query=query)
    assert (err.failure, err.message) == (Failure.INVALID_SIGNATURE, sigv4.SIGNATURE_MISMATCH)
    # The same URL signed over the body's hash verifies: only the unsigned body is refused.
    headers, query = _presigned_kms(
        hashlib.sha256(b'{"CiphertextBlob":"x"}').hexdigest(), sign_target=True)
    check(headers, b'{"CiphertextBlob":"x"}', query=query)


def test_an_unsigned_target_is_refused() -> None:
    """X-Amz-Target names the operation: a JSON request must sign it, or a signature for one
    operation would serve for any."""
    body = b'{"CiphertextBlob":"x"}'
    headers, query = _presigned_kms(hashlib.sha256(body).hexdigest(), sign_target=False)
    err = refused(headers, body=body, query=query)
    assert (err.failure, err.message) == (
        Failure.INVALID_SIGNATURE,
        "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
    # botocore signs it in the header: a refusal of a header request lacking it too.
    signed = botocore_signed()
    signed["authorization"] = signed["authorization"].replace(";x-amz-target", "")
    assert refused(signed).message.startswith("'X-Amz-Target' must be")


def test_duplicate_credential_is_incomplete() -> None:
    """Two Credential= (a victim's key id first, the signer's second) are refused, never read
    one way by the router and another by the verifier."""
    headers = botocore_signed()
    algorithm, _, rest = headers["authorization"].partition(" ")
    headers["authorization"] = (f"{algorithm} Credential=111122223333/20261202/us-east-1/kms/"
                                f"aws4_request, {rest}")
    err = refused(headers)
    assert err.failure is Failure.INCOMPLETE
    assert err.message.startswith("'Credential' appears more than once in Authorization "
                                  "header: (Hashed with SHA-256")


def test_uppercase_region_is_refused() -> None:
    headers = botocore_signed(region="US-EAST-1")
    err = refused(headers)
    assert (err.failure, err.message) == (
        Failure.INVALID_SIGNATURE,
        "Credential should be scoped to a valid region, not 'US-EAST-1'.")


@pytest.mark.parametrize("signature", ["\xe9" * 64, "\u0100" + "0" * 63, "A" * 64, "0" * 63])
def test_a_malformed_signature_is_a_mismatch_not_a_crash(signature: str) -> None:
    headers = botocore_signed()
    good = headers["authorization"].rsplit("Signature=", 1)[1]
    headers["authorization"] = headers["authorization"].replace(good, signature)
    err = refused(headers)
    assert (err.failure, err.message) == (Failure.INVALID_SIGNATURE, sigv4.SIGNATURE_MISMATCH)


def test_non_ascii_digits_in_expires_are_incomplete() -> None:
    query = ("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb%2Fc%2Fd%2Fe&"
             "X-Amz-Signature=0&X-Amz-Date=20261202T100000Z&X-Amz-SignedHeaders=host&"
             "X-Amz-Expires=%C2%B2")
    err = refused({"host": HOST}, query=query)
    assert (err.failure, err.message) == (
        Failure.INCOMPLETE,
        "X-Amz-Expires must be a whole number of seconds from 1 to 604800, not '\u00b2'.")


# -- refusals, in the order a Coral service checks ------------------------------------------


def test_no_authentication_is_missing() -> None:
    for headers in ({"host": HOST}, {"host": HOST, "authorization": "Basic abc"}):
        err = refused(headers)
        assert (err.failure, err.message) == (Failure.MISSING,
                                              "Request is missing Authentication Token")


def test_header_and_presigned_query_together() -> None:
    err = refused(botocore_signed(), query="X-Amz-Algorithm=AWS4-HMAC-SHA256")
    assert err.failure is Failure.INVALID_SIGNATURE
    assert err.message == ("Found both 'X-Amz-Algorithm' as a query-string param and "
                           "'Authorization' as HTTP header.")


def test_incomplete_header_names_every_missing_part_and_hides_the_header() -> None:
    header = "AWS4-HMAC-SHA256 Credential=AKIA/20261202/us-east-1/kms/aws4_request"
    err = refused({"host": HOST, "authorization": header})
    assert err.failure is Failure.INCOMPLETE
    assert err.message.startswith(
        "Authorization header requires 'Signature' parameter. Authorization header requires "
        "'SignedHeaders' parameter. Authorization header requires existence of either a "
        "'X-Amz-Date' or a 'Date' header. (Hashed with SHA-256 and encoded with Base64) "
        "Authorization=")
    assert "AKIA/" not in err.message


def test_part_without_equal_sign() -> None:
    header = ("AWS4-HMAC-SHA256 AKIA/20261202/us-east-1/kms/aws4_request, "
              "SignedHeaders=host;x-amz-date, Signature=abc")
    err = refused({"host": HOST, "authorization": header, "x-amz-date": "20261202T100000Z"})
    assert err.failure is Failure.INCOMPLETE
    assert err.message.startswith("'AKIA/20261202/us-east-1/kms/aws4_request' not a valid "
                                  "key=value pair (missing equal-sign) in Authorization header: ")


def test_bad_date() -> None:
    headers = {**botocore_signed(), "x-amz-date": "2026-12-02T10:00:00Z"}
    err = refused(headers)
    assert (err.failure, err.message) == (
        Failure.INCOMPLETE, ("Date must be in ISO-8601 'basic format'. Got "
                             "'2026-12-02T10:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"))


def test_date_header_instead_of_x_amz_date() -> None:
    headers = botocore_signed()
    headers.pop("x-amz-date")
    headers["date"] = "Wed, 02 Dec 2026 10:00:00 GMT"
    auth = sigv4.parse(headers, "")
    assert (auth.amz_date, auth.timestamp) == ("20261202T100000Z", NOW)


def test_unsupported_algorithm() -> None:
    headers = botocore_signed()
    headers["authorization"] = headers["authorization"].replace("AWS4-HMAC-SHA256",
                                                                "AWS4-ECDSA-P256-SHA256")
    err = refused(headers)
    assert (err.failure, err.message) == (
        Failure.INCOMPLETE, ("Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256' (only "
                             "AWS4-HMAC-SHA256 for now). "))


def test_host_must_be_signed() -> None:
    headers = botocore_signed()
    headers["authorization"] = headers["authorization"].replace("content-type;host;",
                                                                "content-type;")
    err = refused(headers)
    assert (err.failure, err.message) == (
        Failure.INVALID_SIGNATURE, "'Host' must be a 'SignedHeader' in the AWS Authorization.")


def test_credential_needs_five_parts() -> None:
    headers = botocore_signed()
    headers["authorization"] = headers["authorization"].replace("/aws4_request", "")
    err = refused(headers)
    assert err.failure is Failure.INCOMPLETE
    assert err.message == ("Credential must have exactly 5 slash-delimited elements, e.g. "
                           "keyid/date/region/service/term, got "
                           f"'{AKID}/20261202/us-east-1/kms'")


def test_scope_problems_are_listed_together() -> None:
    headers = botocore_signed(service="ec2")
    headers["authorization"] = headers["authorization"].replace(
        "/20261202/", "/20261201/").replace("aws4_request", "aws5_request")
    err = refused(headers)
    assert err.failure is Failure.INVALID_SIGNATURE
    assert err.message == (
        "Credential should be scoped to correct service: 'kms'. Credential should be scoped "
        "with a valid terminator: 'aws4_request', not 'aws5_request'. Date in Credential scope "
        "does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261201' != "
        "'20261202', from '20261202T100000Z'.")


def test_any_region_is_accepted_but_must_be_a_name() -> None:
    check(botocore_signed(region="eu-west-3"))
    headers = botocore_signed(region="Eu West")
    err = refused(headers)
    assert err.message == "Credential should be scoped to a valid region, not 'Eu West'."


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (-301, False), (300, True),
                                            (301, False)])
def test_skew_edges_of_the_kms_window(offset: int, ok: bool) -> None:  # noqa: FBT001
    """Signed ``offset`` seconds from now: 5 minutes either way is accepted, a second more
    is not."""
    headers = botocore_signed(at=NOW + offset)
    if ok:
        check(headers)
        return
    err = refused(headers)
    assert err.failure is Failure.SKEW
    if offset < 0:
        assert err.message == ("Signature expired: 20261202T095459Z is now earlier than "
                               "20261202T095500Z (20261202T100000Z - 5 min.)")
    else:
        assert err.message == ("Signature not yet current: 20261202T100501Z is still later "
                               "than 20261202T100500Z (20261202T100000Z + 5 min.)")


def test_fifteen_minute_window() -> None:
    headers = botocore_signed(at=NOW - 900, service="ec2")
    check(headers, window=900, service="ec2")
    err = refused(botocore_signed(at=NOW - 901, service="ec2"), window=900, service="ec2")
    assert err.message.endswith("(20261202T100000Z - 15 min.)")


# -- per-protocol answers -------------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "failure", "cls", "status"), [
    (JSON, Failure.UNKNOWN_KEY, UnrecognizedClientException, 400),
    (JSON, Failure.INVALID_SIGNATURE, InvalidSignatureException, 400),
    (JSON, Failure.SKEW, InvalidSignatureException, 400),
    (JSON, Failure.INCOMPLETE, IncompleteSignatureException, 400),
    (JSON, Failure.EXPIRED_TOKEN, ExpiredTokenException, 400),
    (QUERY, Failure.UNKNOWN_KEY, InvalidClientTokenId, 403),
    (QUERY, Failure.INVALID_SIGNATURE, SignatureDoesNotMatch, 403),
    (QUERY, Failure.INCOMPLETE, IncompleteSignature, 400),
    (QUERY, Failure.EXPIRED_TOKEN, ExpiredToken, 403),
    (EC2, Failure.UNKNOWN_KEY, AuthFailure, 401),
    (EC2, Failure.INVALID_SIGNATURE, AuthFailure, 401),
    (EC2, Failure.SKEW, RequestExpired, 400),
])
def test_answers_per_protocol(protocol: str, failure: Failure, cls: type, status: int) -> None:
    err = answer(protocol, SigV4Error(failure, "text"))
    assert type(err) is cls
    assert err.status == status


def test_query_services_say_what_they_expected() -> None:
    err = refused(botocore_signed(secret="x" * 40))
    short = answer(JSON, err)
    assert short.message == sigv4.SIGNATURE_MISMATCH
    long = answer(QUERY, err)
    assert long.message is not None
    assert long.message.startswith(sigv4.SIGNATURE_MISMATCH + "\n\nThe Canonical String for "
                                   "this request should have been\n'POST\n/\n")
    expected = ("\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261202T100000Z\n"
                "20261202/us-east-1/kms/aws4_request\n")
    assert expected in long.message
    assert answer(EC2, err).message == ("AWS was not able to validate the provided access "
                                        "credentials")


def test_client_signer_is_verified() -> None:
    headers = sigv4.sign_request("POST", "/_hsmkms/cloudhsm-cli/user-list",
                                 {"host": HOST, "content-type": "application/json"}, b"{}",
                                 access_key_id=AKID, secret=SECRET, region="eu-west-1",
                                 service="cloudhsm", now=NOW)
    auth = check(headers, b"{}", path="/_hsmkms/cloudhsm-cli/user-list", service="cloudhsm")
    assert auth.region == "eu-west-1"
