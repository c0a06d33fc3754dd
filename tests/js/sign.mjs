// With the AWS SDK for JavaScript v3 against the endpoint in HSMKMS_ENDPOINT: an ECC_NIST_P256
// signing key signs a message (ECDSA_SHA_256) and verifies it with KMS Verify, RAW and as a
// SHA-256 digest, and refuses another message; Node's own crypto verifies the signature with
// the DER public key from GetPublicKey. An ECC_NIST_P256 key-agreement key derives a shared
// secret with a key pair made by Node, which computes the same secret locally. Prints one JSON
// line (tests/e2e/test_kms_thirdparty_js.py).
import { createHash, createPublicKey, diffieHellman, generateKeyPairSync, verify } from "node:crypto";
import {
  CreateKeyCommand, DeriveSharedSecretCommand, GetPublicKeyCommand, KMSClient, SignCommand,
  VerifyCommand,
} from "@aws-sdk/client-kms";

const kms = new KMSClient({
  endpoint: process.env.HSMKMS_ENDPOINT,
  region: process.env.AWS_REGION ?? "us-east-1",
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
  },
  maxAttempts: 1,
});
const publicKeyOf = async (keyId) => createPublicKey({
  key: Buffer.from((await kms.send(new GetPublicKeyCommand({ KeyId: keyId }))).PublicKey),
  format: "der",
  type: "spki",
});
const errorName = async (promise) => {
  try {
    await promise;
    return null;
  } catch (err) {
    return err.name;
  }
};

const signing = (await kms.send(new CreateKeyCommand({
  KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY", Description: "JS SDK signing",
}))).KeyMetadata;
const message = Buffer.from("signed through the AWS SDK for JavaScript v3");
const other = Buffer.from("a message nobody signed");
const signed = await kms.send(new SignCommand({
  KeyId: signing.KeyId, Message: message, MessageType: "RAW", SigningAlgorithm: "ECDSA_SHA_256",
}));
const signature = Buffer.from(signed.Signature);
const verifyWith = (msg, messageType) => kms.send(new VerifyCommand({
  KeyId: signing.KeyId, Message: msg, MessageType: messageType, Signature: signature,
  SigningAlgorithm: "ECDSA_SHA_256",
}));
const verified = await verifyWith(message, "RAW");
const verifiedDigest = await verifyWith(createHash("sha256").update(message).digest(), "DIGEST");
const signingPublic = await publicKeyOf(signing.KeyId);

const agreeing = (await kms.send(new CreateKeyCommand({
  KeySpec: "ECC_NIST_P256", KeyUsage: "KEY_AGREEMENT", Description: "JS SDK key agreement",
}))).KeyMetadata;
const peer = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const derived = await kms.send(new DeriveSharedSecretCommand({
  KeyId: agreeing.KeyId, KeyAgreementAlgorithm: "ECDH",
  PublicKey: peer.publicKey.export({ format: "der", type: "spki" }),
}));
const local = diffieHellman({ privateKey: peer.privateKey, publicKey: await publicKeyOf(agreeing.KeyId) });

console.log(JSON.stringify({
  signingArn: signing.Arn,
  sign: { KeyId: signed.KeyId, SigningAlgorithm: signed.SigningAlgorithm },
  verify: {
    KeyId: verified.KeyId, SignatureValid: verified.SignatureValid,
    SigningAlgorithm: verified.SigningAlgorithm,
  },
  verifyDigest: verifiedDigest.SignatureValid,
  otherMessageError: await errorName(verifyWith(other, "RAW")),
  nodeVerifies: verify("sha256", message, signingPublic, signature),
  nodeVerifiesOther: verify("sha256", other, signingPublic, signature),
  agreeingArn: agreeing.Arn,
  derive: {
    KeyId: derived.KeyId, KeyAgreementAlgorithm: derived.KeyAgreementAlgorithm,
    KeyOrigin: derived.KeyOrigin,
  },
  secretLength: derived.SharedSecret.length,
  secretsEqual: Buffer.from(derived.SharedSecret).equals(local),
}));
