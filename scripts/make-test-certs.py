"""Throwaway certificates for the local servers' TLS, written to the directory given as the only argument.

    ca.pem                          a CA ("rds-rotator test CA") the tests trust through DB_EXTRA_CA_BUNDLE
    server.pem, server.key          for DNS name "localhost" only, so 127.0.0.1 is a hostname mismatch
    expired.pem, expired.key        the same name, valid only during 2020

Uses the `cryptography` package, which moto (the Secrets Manager emulator) depends on, so the Python that runs
moto_server has it. Nothing here is secret: the keys exist for the lifetime of one set of test servers.
"""

import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def write(path, data, mode=0o644):
    with open(path, "wb") as out:
        out.write(data)
    os.chmod(path, mode)


def main(directory):
    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("rds-rotator test CA"))
        .issuer_name(name("rds-rotator test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - day)
        .not_valid_after(now + 3650 * day)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write(os.path.join(directory, "ca.pem"), ca.public_bytes(serialization.Encoding.PEM))

    def server(stem, not_before, not_after):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name("localhost"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        write(os.path.join(directory, stem + ".pem"), cert.public_bytes(serialization.Encoding.PEM))
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write(os.path.join(directory, stem + ".key"), key_pem, 0o600)

    server("server", now - day, now + 365 * day)
    utc = datetime.timezone.utc
    server("expired", datetime.datetime(2020, 1, 1, tzinfo=utc), datetime.datetime(2021, 1, 1, tzinfo=utc))


if __name__ == "__main__":
    main(sys.argv[1])
