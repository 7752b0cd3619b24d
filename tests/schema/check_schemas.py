#!/usr/bin/env python3
"""Checks that the JSON Schemas of schema/messages/ and the C request decoder agree.

    check_schemas.py DECODE_SAMPLE [SCHEMA_DIR]

DECODE_SAMPLE is the built tests/schema/decode_sample driver; SCHEMA_DIR defaults to
schema/messages next to this file's repository. For every sample in SCHEMA_DIR/samples:

  * <schema>-<case>.valid.json must pass its schema, <schema>.invalid-<case>.json must fail it,
    except the request samples that expected-errors.json marks "schema": "valid" (problems
    only the decoder can see: Luhn, expiry against the clock, calendar dates);
  * request samples also go through the C decoder, which must agree with the schema
    (valid <-> decode returns 0) and, for invalid ones, report at least the fields listed in
    expected-errors.json;
  * the reply the C code renders for each request sample (every status for a valid one,
    "invalid" for an invalid one) must pass the worker's reply schema.

It also checks that each schema is a valid draft 2020-12 schema and that the $defs shared by
the four request schemas have not drifted apart. Needs python3-jsonschema >= 4 (Debian 12's
4.10 is enough). Exit status 0 when everything agrees, 1 otherwise.
"""
import json
import os
import subprocess
import sys

try:
    from jsonschema import Draft202012Validator
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("check_schemas.py: needs python3-jsonschema >= 4 (apt-get install python3-jsonschema)")

WORKERS = ("auth", "deposit", "reversal", "svc")
STATUSES = ("approved", "declined", "review", "rejected", "error", "timeout", "invalid")
NOW = "1795665662"  # 2026-11-26T04:01:02Z: the clock the expiry samples are written for


def strict_json(data):
    """Parses bytes as RFC 8259 JSON, as json-c's strict mode does: UTF-8, no NaN/Infinity."""

    def no_constants(name):
        raise ValueError("not JSON: " + name)

    return json.loads(data.decode("utf-8"), parse_constant=no_constants)


def load_schemas(schema_dir):
    schemas = {}
    for name in sorted(os.listdir(schema_dir)):
        if name.endswith(".schema.json"):
            with open(os.path.join(schema_dir, name), "rb") as f:
                schema = strict_json(f.read())
            Draft202012Validator.check_schema(schema)
            schemas[name[: -len(".schema.json")]] = Draft202012Validator(schema)
    return schemas


def schema_of(sample, schemas):
    """The schema a sample belongs to: the longest schema name it starts with."""
    best = None
    for name in schemas:
        if sample.startswith(name + "-") or sample.startswith(name + "."):
            if best is None or len(name) > len(best):
                best = name
    return best


def schema_errors(validator, data):
    """A list of schema error texts for the sample bytes (empty when valid)."""
    try:
        doc = strict_json(data)
    except ValueError as e:
        return ["not JSON: %s" % e]
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(root)", e.message)
            for e in validator.iter_errors(doc)]


class Driver:
    """decode_sample --batch: one process for every sample (under ASan, a process per sample
    was most of this check's time), asked one line at a time."""

    def __init__(self, path):
        self.path = path
        self.p = subprocess.Popen([path, "--now", NOW, "--batch"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    def run(self, worker, sample, status=None):
        """(exit status of a single run: 0 valid, 1 invalid; output line)."""
        fields = [worker, sample] + ([status] if status else [])
        if any("\t" in f or "\n" in f for f in fields):
            raise RuntimeError("a tab or newline in %r" % (fields,))
        self.p.stdin.write("\t".join(fields) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("%s --batch stopped (exit %s) at %s" % (self.path, self.p.wait(), fields))
        code, _, out = line.rstrip("\n").partition("\t")
        if code not in ("0", "1"):
            raise RuntimeError("%s %s failed (%s): %s" % (self.path, " ".join(fields), code, out))
        return int(code), out

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait()
        if rc != 0:
            raise RuntimeError("%s --batch exited with %d" % (self.path, rc))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    driver = Driver(os.path.abspath(sys.argv[1]))
    here = os.path.dirname(os.path.abspath(__file__))
    schema_dir = sys.argv[2] if len(sys.argv) == 3 else os.path.join(here, "..", "..", "schema", "messages")
    sample_dir = os.path.join(schema_dir, "samples")

    failures = []
    schemas = load_schemas(schema_dir)
    for w in WORKERS:
        for kind in ("request", "reply"):
            if "%s-%s" % (w, kind) not in schemas:
                failures.append("missing schema %s-%s.schema.json" % (w, kind))
    if "dm-decision" not in schemas:
        failures.append("missing schema dm-decision.schema.json")

    # The request schemas repeat the same $defs so each file stands alone; keep them identical.
    defs = {}
    for w in WORKERS:
        v = schemas.get("%s-request" % w)
        if v is not None:
            defs[w] = v.schema.get("$defs")
    for w in WORKERS[1:]:
        if w in defs and defs[w] != defs.get("auth"):
            failures.append("%s-request.schema.json: $defs differ from auth-request.schema.json" % w)

    with open(os.path.join(sample_dir, "expected-errors.json"), "rb") as f:
        expected = strict_json(f.read())["samples"]

    counts = {"samples": 0, "decoded": 0, "replies": 0}
    for sample in sorted(os.listdir(sample_dir)):
        if sample == "expected-errors.json" or not sample.endswith(".json"):
            continue
        path = os.path.join(sample_dir, sample)
        name = schema_of(sample, schemas)
        if name is None:
            failures.append("%s: no schema for this sample name" % sample)
            continue
        want_valid = sample.endswith(".valid.json")
        if not want_valid and ".invalid-" not in sample:
            failures.append("%s: name must end in .valid.json or contain .invalid-" % sample)
            continue
        counts["samples"] += 1
        with open(path, "rb") as f:
            data = f.read()

        exp = expected.get(sample, {})
        schema_should_pass = want_valid or exp.get("schema") == "valid"
        errs = schema_errors(schemas[name], data)
        if schema_should_pass and errs:
            failures.append("%s: schema refuses it: %s" % (sample, "; ".join(errs)))
        if not schema_should_pass and not errs:
            failures.append("%s: schema accepts an invalid sample" % sample)

        if not name.endswith("-request"):
            continue
        worker = name[: -len("-request")]
        if not want_valid and sample not in expected:
            failures.append("%s: no entry in expected-errors.json" % sample)
        rc, out = driver.run(worker, path)
        counts["decoded"] += 1
        if want_valid and rc != 0:
            failures.append("%s: decoder refuses it: %s" % (sample, out))
        if not want_valid:
            if rc == 0:
                failures.append("%s: decoder accepts an invalid sample" % sample)
            else:
                got = {e["field"] for e in json.loads(out)["errors"]}
                missing = [fld for fld in exp.get("fields", []) if fld not in got]
                if missing:
                    failures.append("%s: decoder did not report %s (it reported %s)"
                                    % (sample, missing, sorted(got)))
        # The agreement itself, stated once more for the reader of a failure.
        if (rc == 0) != (not errs) and exp.get("schema") != "valid":
            failures.append("%s: schema says %s, decoder says %s" % (
                sample, "valid" if not errs else "invalid", "valid" if rc == 0 else "invalid"))

        reply_schema = schemas.get("%s-reply" % worker)
        if reply_schema is None:
            continue
        for status in (STATUSES if rc == 0 else ("invalid",)):
            _, reply = driver.run(worker, path, status)
            counts["replies"] += 1
            rerrs = schema_errors(reply_schema, reply.encode("utf-8"))
            if rerrs:
                failures.append("%s: the %s reply fails %s-reply: %s; reply: %s"
                                % (sample, status, worker, "; ".join(rerrs), reply))

    driver.close()
    for sample in expected:
        if not os.path.exists(os.path.join(sample_dir, sample)):
            failures.append("expected-errors.json names a missing sample %s" % sample)

    for f in failures:
        print("FAIL", f)
    print("%d samples, %d decoded by the C driver, %d rendered replies validated, %d failures"
          % (counts["samples"], counts["decoded"], counts["replies"], len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
