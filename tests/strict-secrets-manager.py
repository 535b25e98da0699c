#!/usr/bin/env python3
"""The real Secrets Manager's rules, in front of moto: a loopback HTTP layer every test reaches the emulator through.

moto_server emulates Secrets Manager more leniently than the service, in ways a rotation function can depend on
without knowing it. `scripts/local-servers.sh` starts this layer in front of moto and points `AWS_ENDPOINT_URL` at
it, so every suite, the demo and the benchmarks meet the service's rules, each cited below from the API reference
(https://docs.aws.amazon.com/secretsmanager/latest/apireference/):

1. PutSecretValue with the ClientRequestToken of a version that already has a value: the same value is ignored, a
   different one is refused with ResourceExistsException (moto replaces the value; with no stages given, it even
   moves AWSCURRENT to the version).
2. RotationToken: RotateSecret is where a rotation starts; this layer plays the service's side of it. It gives the
   rotation a RotationToken, and the rotation's events (from `POST /strict/event`, which the tests' harness calls
   where the service would invoke the function) carry the secret's ARN and that token. A PutSecretValue into the
   version a rotation staged must pass the rotation's token. (moto ignores RotationToken, and its events carry the
   secret's name.) The API reference says the token is required when the rotation function calls with an assumed
   role, as a Lambda function does with its execution role; what the service answers without it is not documented.
3. GetSecretValue with both VersionId and VersionStage fails unless the stage is on that version.
4. Stage moves are atomic: UpdateSecretVersionStage, and every other write, runs alone; reads run together, never
   beside a write. (UpdateSecretVersionStage: "Each staging label can be attached to only one version at a time";
   moto serves requests on threads, so a read could see a label half moved.) A label attached to another version
   moves only with that version named in RemoveFromVersionId.

A refused request is answered as the service answers: HTTP 400 with the exception's name in `__type` and
`x-amzn-ErrorType`, and written (operation, rule; never a value or token) to the log given with --log.

Usage: strict-secrets-manager.py --upstream http://127.0.0.1:PORT [--port PORT] [--log FILE]
Prints the URL it listens on once it is ready.
"""

import argparse
import http.client
import http.server
import json
import secrets
import sys
import threading
import time
import urllib.parse
import uuid

# Operations that only read: they run together. Every other Secrets Manager operation runs alone.
READS = {
    "GetSecretValue", "BatchGetSecretValue", "DescribeSecret", "ListSecretVersionIds", "ListSecrets",
    "GetResourcePolicy", "GetRandomPassword", "ValidateResourcePolicy",
}


# Requests to moto at a time.
UPSTREAM = 48


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds off new readers, so moves are not starved."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    def acquire(self, write):
        with self._cond:
            if write:
                self._writers_waiting += 1
                while self._writing or self._readers:
                    self._cond.wait()
                self._writers_waiting -= 1
                self._writing = True
            else:
                while self._writing or self._writers_waiting:
                    self._cond.wait()
                self._readers += 1

    def release(self, write):
        with self._cond:
            if write:
                self._writing = False
            else:
                self._readers -= 1
            self._cond.notify_all()


class Refusal(Exception):
    """A request the service refuses: the exception's name, its message, and which rule of this file refused it (or,
    with status 500, a request this layer could not judge: it fails rather than let moto's leniency through)."""

    def __init__(self, code, message, rule, status=400):
        super().__init__(message)
        self.code, self.message, self.rule, self.status = code, message, rule, status


def secret_name(secret_id):
    """The name a SecretId stands for: an ARN ends in `secret:NAME-xxxxxx`, six characters the service adds."""
    if secret_id.startswith("arn:"):
        name = secret_id.split(":secret:", 1)[-1]
        return name[:-7] if len(name) > 7 and name[-7] == "-" else name
    return secret_id


class Layer:
    def __init__(self, upstream, log):
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.lock = ReadWriteLock()
        # (secret name, version id) -> the RotationToken of the rotation that staged that version.
        self.rotations = {}
        self.rotations_lock = threading.Lock()
        self.log_file = open(log, "a", buffering=1) if log else None
        self.upstream_slots = threading.BoundedSemaphore(UPSTREAM)
        self.refused = 0

    def log(self, text):
        if self.log_file:
            self.log_file.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    # ---------------------------------------------------------------- talking to moto

    def forward(self, method, path, headers, body):
        """Sends one request to moto, on a connection of its own (moto closes each), and returns (status, headers,
        body). At most UPSTREAM requests at a time, so that a fleet's burst does not overflow moto's accept queue; a
        connection moto refuses is tried again (nothing was sent on it), a relayed request never (a write moto
        applied must not be sent twice)."""
        with self.upstream_slots:
            for attempt in range(20):
                conn = http.client.HTTPConnection(*self.upstream, timeout=120)
                try:
                    conn.connect()
                except OSError:
                    conn.close()
                    time.sleep(0.05 * (attempt + 1))
                    continue
                try:
                    conn.request(method, path, body=body, headers=headers)
                    reply = conn.getresponse()
                    return reply.status, reply.getheaders(), reply.read()
                finally:
                    conn.close()
        raise OSError("moto_server accepts no connection")

    def call(self, operation, params, auth):
        """A Secrets Manager call of this layer's own (to look before deciding); returns (status, JSON)."""
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"secretsmanager.{operation}",
            "Authorization": auth,
        }
        status, _, data = self.forward("POST", "/", headers, json.dumps(params).encode())
        try:
            return status, json.loads(data or b"{}")
        except ValueError:
            return status, {}

    # ---------------------------------------------------------------- the rules

    def check_put(self, params, auth):
        """Rules 1 and 2, before a PutSecretValue reaches moto. Returns a reply to send instead, or None to relay."""
        secret_id, token = params.get("SecretId", ""), params.get("ClientRequestToken")
        if not token:
            return None
        # Rule 2. PutSecretValue, RotationToken: "A unique identifier that indicates the source of the request. Required
        # for secret rotations using an IAM assumed role or cross-account rotation [...] the rotation function assumes
        # an IAM role to call Secrets Manager, and then Secrets Manager validates the identity using the token." The
        # User Guide's rotation event ("Rotation by Lambda function"): "SecretId – The ARN of the secret to rotate", and
        # RotationToken. The service's answer to a missing or wrong token is not documented: this layer answers
        # AccessDeniedException, which every operation may return.
        with self.rotations_lock:
            expected = self.rotations.get((secret_name(secret_id), token))
        given = params.get("RotationToken")
        if expected is not None and given != expected:
            what = "without the rotation's RotationToken" if given is None else "with another RotationToken"
            raise Refusal("AccessDeniedException",
                          f"PutSecretValue into the version a rotation staged, {what}.", "rotation-token")
        # Rule 1. PutSecretValue, ClientRequestToken: "If a version with this value already exists and the version
        # SecretString and SecretBinary values are the same as those in the request, then the request is ignored. If a
        # version with this value already exists and that version's SecretString and SecretBinary values are different
        # from those in the request, then the request fails because you can't modify a secret version. You can only
        # create new versions to store new secret values." Errors: ResourceExistsException ("A resource with the ID
        # you requested already exists"). moto skips the check while the version carries AWSPENDING.
        status, existing = self.call("GetSecretValue", {"SecretId": secret_id, "VersionId": token}, auth)
        if status != 200:
            if existing.get("__type", "").endswith("ResourceNotFoundException"):
                return None  # no such version, or one without a value yet (as RotateSecret stages it)
            raise Refusal("InternalServiceError", "the strict layer could not read the version to compare",
                          "version-value", status=500)
        same = (existing.get("SecretString") == params.get("SecretString")
                and existing.get("SecretBinary") == params.get("SecretBinary"))
        if not same:
            raise Refusal("ResourceExistsException",
                          f"You can't use ClientRequestToken {token} because that value is already in use for a "
                          "version of this secret.", "version-value")
        reply = {key: existing.get(key) for key in ("ARN", "Name", "VersionId", "VersionStages")}
        return 200, json.dumps(reply).encode()

    def check_move(self, params, auth):
        """Rule 4's precondition, before an UpdateSecretVersionStage reaches moto."""
        # UpdateSecretVersionStage, RemoveFromVersionId: "If the staging label is already attached to a different
        # version of the secret, then you must also specify the RemoveFromVersionId parameter." And RemoveFromVersionId:
        # "If the label is attached and you either do not specify this parameter, or the version ID does not match,
        # then the operation fails." (InvalidParameterException, with the message below.)
        target, source = params.get("MoveToVersionId"), params.get("RemoveFromVersionId")
        status, described = self.call("DescribeSecret", {"SecretId": params.get("SecretId", "")}, auth)
        if status != 200:
            return
        stage = params.get("VersionStage")
        holders = [v for v, stages in (described.get("VersionIdsToStages") or {}).items() if stage in stages]
        if target and holders and holders != [target] and source not in holders:
            raise Refusal("InvalidParameterException",
                          f"The parameter RemoveFromVersionId can't be empty. Staging label {stage} is currently "
                          f"attached to version {holders[0]}, so you must explicitly reference that version in "
                          "RemoveFromVersionId.", "stage-move")

    def check_read(self, params, status, data):
        """Rule 3, on moto's answer to a GetSecretValue: refuses a version that does not carry the stage asked for."""
        # GetSecretValue, VersionStage: "If you include both this parameter and VersionId, the two parameters must
        # refer to the same secret version." The service answers InvalidRequestException with the message below (moto
        # 5 does too; this rule keeps it so whatever moto does).
        stage, version = params.get("VersionStage"), params.get("VersionId")
        if status != 200 or not (stage and version):
            return
        try:
            stages = json.loads(data).get("VersionStages") or []
        except ValueError:
            return
        if stage not in stages:
            raise Refusal("InvalidRequestException",
                          "You provided a VersionStage that is not associated to the provided VersionId.", "read-stage")

    def start_rotation(self, params):
        """Rule 2: RotateSecret starts a rotation; its version gets a RotationToken. Returns the request to relay."""
        # RotateSecret, ClientRequestToken: "If you use the AWS CLI or one of the AWS SDKs to call this operation, then
        # you can leave this parameter empty. The CLI or SDK generates a random UUID for you"; the service then passes
        # it to the function as the event's ClientRequestToken, the id of the version it stages AWSPENDING.
        params.setdefault("ClientRequestToken", str(uuid.uuid4()))
        self.issue(params.get("SecretId", ""), params["ClientRequestToken"])
        return params

    def issue(self, secret_id, token):
        key = (secret_name(secret_id), token)
        with self.rotations_lock:
            # The service's tokens are opaque; the SDKs take 36 to 4096 characters.
            return self.rotations.setdefault(key, secrets.token_hex(24))

    def event(self, request):
        """What the service sends the function for one step of a rotation: the secret's ARN, the version and the
        rotation's token (`POST /strict/event` with Step, SecretId, ClientRequestToken)."""
        secret_id, token = request.get("SecretId", ""), request.get("ClientRequestToken", "")
        auth = ("AWS4-HMAC-SHA256 Credential=testing/20260101/" + request.get("Region", "us-east-1")
                + "/secretsmanager/aws4_request, SignedHeaders=host, Signature=0")
        self.lock.acquire(False)
        try:
            status, described = self.call("DescribeSecret", {"SecretId": secret_id}, auth)
        finally:
            self.lock.release(False)
        if status == 200:
            arn = described["ARN"]
        elif described.get("__type", "").endswith("ResourceNotFoundException"):
            arn = secret_id  # no such secret: no ARN either (tests of a missing secret)
        else:
            raise Refusal("InternalServiceError", "the strict layer could not describe the secret", "event", 500)
        return {"Step": request.get("Step"), "SecretId": arn, "ClientRequestToken": token,
                "RotationToken": self.issue(secret_id, token)}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The head and the body go out in two writes: with Nagle's algorithm on, the second waits for the client's
    # delayed ACK of the first (40 ms on Linux) on every reply of a kept-alive connection.
    disable_nagle_algorithm = True
    layer = None  # set in main

    def log_message(self, *args):  # no access log: paths and timings only, but nothing anyone reads
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                chunk = self.rfile.read(size + 2)
                if size == 0:
                    return data
                data += chunk[:size]
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status, headers, data):
        self.send_response(status)
        for key, value in headers:
            if key.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def refuse(self, operation, refusal):
        with self.layer.rotations_lock:
            self.layer.refused += 1
        self.layer.log(f"refused {operation} ({refusal.rule}): {refusal.code}")
        data = json.dumps({"__type": refusal.code, "message": refusal.message}).encode()
        self.reply(refusal.status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", refusal.code),
                         ("x-amzn-RequestId", str(uuid.uuid4()))], data)

    def handle_any(self):
        try:
            self.serve()
        except (OSError, http.client.HTTPException) as err:
            # moto failed under the request: a server error the client retries, never a dropped connection.
            self.layer.log(f"upstream failure: {type(err).__name__}")
            data = json.dumps({"__type": "ServiceUnavailable", "message": "moto_server did not answer"}).encode()
            self.reply(503, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", "ServiceUnavailable")],
                       data)

    def serve(self):
        layer = self.layer
        data = self.body()
        if self.path.startswith("/strict/"):
            return self.side_api(data)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive")}
        target = self.headers.get("X-Amz-Target", "")
        if not target.startswith("secretsmanager."):
            return self.reply(*layer.forward(self.command, self.path, headers, data))
        operation = target.split(".", 1)[1]
        try:
            params = json.loads(data or b"{}")
        except ValueError:
            return self.reply(*layer.forward(self.command, self.path, headers, data))
        write = operation not in READS
        auth = self.headers.get("Authorization", "")
        layer.lock.acquire(write)
        try:
            if operation == "PutSecretValue":
                instead = layer.check_put(params, auth)
                if instead:
                    return self.reply(instead[0], [("Content-Type", "application/x-amz-json-1.1")], instead[1])
            elif operation == "UpdateSecretVersionStage":
                layer.check_move(params, auth)
            elif operation == "RotateSecret":
                params = layer.start_rotation(params)
                data = json.dumps(params).encode()
            status, reply_headers, reply = layer.forward(self.command, self.path, headers, data)
            if operation == "GetSecretValue":
                layer.check_read(params, status, reply)
        except Refusal as refusal:
            return self.refuse(operation, refusal)
        finally:
            layer.lock.release(write)
        self.reply(status, reply_headers, reply)

    def side_api(self, data):
        if self.path == "/strict/event":
            try:
                event = self.layer.event(json.loads(data or b"{}"))
            except Refusal as refusal:
                return self.refuse("event", refusal)
            return self.reply(200, [("Content-Type", "application/json")], json.dumps(event).encode())
        if self.path == "/strict/tokens":  # for the suite's leak scan (scripts/leak-scan.py): none may be in a log
            with self.layer.rotations_lock:
                tokens = sorted(set(self.layer.rotations.values()))
            return self.reply(200, [("Content-Type", "application/json")], json.dumps(tokens).encode())
        if self.path == "/strict/stats":
            stats = {"refused": self.layer.refused, "rotations": len(self.layer.rotations)}
            return self.reply(200, [("Content-Type", "application/json")], json.dumps(stats).encode())
        self.reply(404, [("Content-Type", "text/plain")], b"no such path\n")

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a fleet's rotations start at once


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="moto_server's URL, http://127.0.0.1:PORT")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log")
    args = parser.parse_args()
    Handler.layer = Layer(args.upstream, args.log)
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
