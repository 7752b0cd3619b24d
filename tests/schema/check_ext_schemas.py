#!/usr/bin/env python3
"""Checks the External Payment Service (EXT) JSON Schemas of schema/ext/, their samples, and
optionally the request bodies paylink's EXT adapter builds.

    check_ext_schemas.py [SCHEMA_DIR [EXT_BODIES]]

SCHEMA_DIR defaults to schema/ext next to this file's repository. The checks:

  * every *.schema.json is a valid draft 2020-12 schema whose $id is
    https://paylink.invalid/schema/ext/<file name>, every "$ref" in it resolves (the schemas
    refer to common.schema.json by relative references, resolved through a store of all the
    files), and every property it declares has a description;
  * the schemas of the contract are all there: <endpoint>-request for the nine endpoints,
    answer, oauth-token, oauth-error, common;
  * every request schema refuses additional properties and requires the common header; every
    request schema but getToken's refuses a card number: a valid sample with card.number (or
    a top-level number / cardNumber) added must fail it (message version 3.0: tokens only);
  * every sample in SCHEMA_DIR/samples is named for its schema (the longest schema name
    followed by "-" or "."): <schema>[-<case>].valid.json must pass it, <schema>.invalid-<case>.json
    must fail it; every request schema and answer has at least one valid and one invalid sample;
  * no sample holds a card number (13-19 digits passing Luhn) other than the test card
    4111111111111111.

With EXT_BODIES (the built tests/schema/ext_bodies driver), it runs the driver, which prints one
JSON object per line, {"endpoint": "<endpoint>", "body": {...}}: each body must pass
<endpoint>-request.schema.json, no body but getToken's may hold a card number anywhere (13-19
digits passing Luhn, in any string), and each of the nine endpoints must appear at least once.

Needs python3-jsonschema >= 4 (Debian 12's 4.10 is enough). Exit status 0 when everything
holds, 1 otherwise.
"""
import copy
import json
import os
import re
import subprocess
import sys
import urllib.parse
import warnings

try:
    from jsonschema import Draft202012Validator, RefResolver
    from jsonschema.exceptions import RefResolutionError
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("check_ext_schemas.py: needs python3-jsonschema >= 4 (apt-get install python3-jsonschema)")

# Newer jsonschema releases deprecate RefResolver in favour of the referencing package; the
# resolver still works there, and Debian 12's 4.10 has nothing else.
warnings.filterwarnings("ignore", category=DeprecationWarning)

ID_BASE = "https://paylink.invalid/schema/ext/"
ENDPOINTS = ("getToken", "authorization", "deposit", "return", "reversal", "balanceInquiry",
             "generateGift", "activateGift", "rechargeGift")
OTHER_SCHEMAS = ("answer", "oauth-token", "oauth-error", "common")
HEADER = ("messageVersion", "requestID", "merchantID", "company", "orderNumber", "paySeq",
          "paymentType")
TEST_CARDS = {"4111111111111111"}
TEST_PAN = "4111111111111111"


def strict_json(data):
    """Parses bytes as RFC 8259 JSON (UTF-8, no NaN/Infinity), as the C side's json-c does."""

    def no_constants(name):
        raise ValueError("not JSON: " + name)

    return json.loads(data.decode("utf-8"), parse_constant=no_constants)


def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def strings_of(doc):
    """Every string (values and member names) in a JSON document."""
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for k, v in doc.items():
            yield k
            yield from strings_of(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from strings_of(v)


def card_numbers_in(doc):
    """Card numbers in a document: runs of 13-19 ASCII digits, alone or in groups joined by
    single spaces, dashes or dots, that pass Luhn."""
    found = []
    for s in strings_of(doc):
        for m in re.finditer(r"(?<![0-9])[0-9](?:[ .-]?[0-9]){12,18}(?![0-9])", s):
            digits = re.sub(r"[^0-9]", "", m.group(0))
            if 13 <= len(digits) <= 19 and luhn_ok(digits):
                found.append(digits)
    return found


def walk(node, path=""):
    """Yields (path, node) for every schema object in a schema document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            if k in ("properties", "$defs", "dependentSchemas", "patternProperties"):
                if isinstance(v, dict):
                    for name, sub in v.items():
                        yield from walk(sub, "%s/%s/%s" % (path, k, name))
            elif k in ("allOf", "anyOf", "oneOf", "prefixItems"):
                for i, sub in enumerate(v):
                    yield from walk(sub, "%s/%s/%d" % (path, k, i))
            elif k in ("if", "then", "else", "not", "items", "contains", "additionalProperties",
                       "unevaluatedProperties", "propertyNames"):
                yield from walk(v, "%s/%s" % (path, k))


class Schemas:
    def __init__(self, schema_dir, failures):
        self.docs = {}
        for name in sorted(os.listdir(schema_dir)):
            if not name.endswith(".schema.json"):
                continue
            key = name[: -len(".schema.json")]
            try:
                with open(os.path.join(schema_dir, name), "rb") as f:
                    doc = strict_json(f.read())
                Draft202012Validator.check_schema(doc)
            except Exception as e:  # a broken schema is one failure, not a crash
                failures.append("%s: not a valid draft 2020-12 schema: %s" % (name, e))
                continue
            if doc.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
                failures.append("%s: $schema is not draft 2020-12" % name)
            if doc.get("$id") != ID_BASE + name:
                failures.append("%s: $id must be %s%s" % (name, ID_BASE, name))
            self.docs[key] = doc
        self.store = {d["$id"]: d for d in self.docs.values() if "$id" in d}
        self.failures = failures
        self.validators = {}
        for key, doc in self.docs.items():
            self.validators[key] = Draft202012Validator(doc, resolver=self.resolver(doc))

    def resolver(self, doc):
        """References resolve within the store only: nothing is fetched from the network."""

        def offline(uri):
            raise LookupError("%s is not one of the schemas of this folder" % uri)

        return RefResolver.from_schema(doc, store=self.store,
                                       handlers={"http": offline, "https": offline})

    def errors(self, key, doc):
        """Schema error texts for doc (empty when valid). A reference that does not resolve is
        a failure of its own, and an error so that nothing passes by accident."""
        try:
            return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(root)", e.message)
                    for e in self.validators[key].iter_errors(doc)]
        except RefResolutionError as e:
            msg = "%s.schema.json: a $ref does not resolve: %s" % (key, e)
            if msg not in self.failures:
                self.failures.append(msg)
            return [msg]

    def check_refs_and_descriptions(self, failures):
        for key, doc in self.docs.items():
            base = doc.get("$id", ID_BASE + key + ".schema.json")
            resolver = self.resolver(doc)
            for path, node in walk(doc):
                ref = node.get("$ref")
                if isinstance(ref, str):
                    url = urllib.parse.urljoin(base, ref)
                    try:
                        resolver.resolve(url)
                    except (RefResolutionError, LookupError, ValueError) as e:
                        failures.append("%s.schema.json%s: $ref %s does not resolve: %s"
                                        % (key, path, ref, e))
                props = node.get("properties")
                # Properties declared under if/then/else, not or dependentSchemas only narrow
                # ones declared (and described) elsewhere.
                conditional = {"if", "then", "else", "not", "dependentSchemas"}
                if isinstance(props, dict) and not conditional & set(path.split("/")):
                    for name, sub in props.items():
                        if isinstance(sub, dict) and not sub.get("description"):
                            failures.append("%s.schema.json%s/properties/%s: no description"
                                            % (key, path, name))


def schema_of(sample, keys):
    best = None
    for name in keys:
        if sample.startswith(name + "-") or sample.startswith(name + "."):
            if best is None or len(name) > len(best):
                best = name
    return best


def check_requests(schemas, valid_samples, failures):
    for ep in ENDPOINTS:
        key = ep + "-request"
        doc = schemas.docs.get(key)
        if doc is None:
            continue
        if doc.get("additionalProperties") is not False:
            failures.append("%s.schema.json: additionalProperties must be false" % key)
        missing = [h for h in HEADER if h not in doc.get("required", [])]
        if missing:
            failures.append("%s.schema.json: the common header %s is not required" % (key, missing))
        for h in HEADER + ("payType",):
            prop = doc.get("properties", {}).get(h, {})
            if not str(prop.get("$ref", "")).startswith("common.schema.json#/$defs/" + h):
                failures.append("%s.schema.json: %s must refer to common.schema.json#/$defs/%s"
                                % (key, h, h))
        if ep == "getToken":
            continue
        # Message version 3.0: no card number outside getToken, whatever the sample.
        for sample, body in valid_samples.get(key, []):
            probes = []
            p = copy.deepcopy(body)
            p.setdefault("card", {})["number"] = TEST_PAN
            probes.append(("card.number", p))
            for top in ("number", "cardNumber"):
                p = copy.deepcopy(body)
                p[top] = TEST_PAN
                probes.append((top, p))
            p = copy.deepcopy(body)
            p.setdefault("card", {})["cvv"] = "123"
            probes.append(("card.cvv", p))
            for what, probe in probes:
                if not schemas.errors(key, probe):
                    failures.append("%s: the schema accepts it with %s added" % (sample, what))


def check_samples(schemas, sample_dir, failures):
    counts = {"valid": 0, "invalid": 0}
    seen = {}
    valid_samples = {}
    for sample in sorted(os.listdir(sample_dir)):
        if not sample.endswith(".json"):
            continue
        key = schema_of(sample, schemas.docs.keys())
        if key is None or key == "common":
            failures.append("%s: no schema for this sample name" % sample)
            continue
        want_valid = sample.endswith(".valid.json")
        if not want_valid and not sample.startswith(key + ".invalid-"):
            failures.append("%s: name must end in .valid.json or be %s.invalid-<case>.json"
                            % (sample, key))
            continue
        with open(os.path.join(sample_dir, sample), "rb") as f:
            data = f.read()
        try:
            doc = strict_json(data)
        except ValueError as e:
            failures.append("%s: not JSON: %s" % (sample, e))
            continue
        kind = "valid" if want_valid else "invalid"
        counts[kind] += 1
        seen.setdefault(key, set()).add(kind)
        errs = schemas.errors(key, doc)
        if want_valid and errs:
            failures.append("%s: %s refuses it: %s" % (sample, key, "; ".join(errs)))
        if not want_valid and not errs:
            failures.append("%s: %s accepts an invalid sample" % (sample, key))
        if want_valid and isinstance(doc, dict):
            valid_samples.setdefault(key, []).append((sample, doc))
        others = [n for n in card_numbers_in(doc) if n not in TEST_CARDS]
        if others:
            failures.append("%s: holds a card number that is not a test card (use %s)"
                            % (sample, TEST_PAN))
    for key in [e + "-request" for e in ENDPOINTS] + ["answer", "oauth-token", "oauth-error"]:
        if key in schemas.docs:
            for kind in ("valid", "invalid"):
                if kind not in seen.get(key, ()):
                    failures.append("no %s sample for %s.schema.json" % (kind, key))
    return counts, valid_samples


def check_bodies(schemas, driver, failures):
    try:
        p = subprocess.run([driver], capture_output=True)
    except OSError as e:
        failures.append("cannot run %s (build the ext_bodies target): %s" % (driver, e))
        return 0
    if p.returncode != 0:
        failures.append("%s exited with %d: %s" % (driver, p.returncode,
                                                   p.stderr.decode("utf-8", "replace").strip()))
    per_endpoint = {}
    for n, line in enumerate(p.stdout.split(b"\n"), 1):
        if not line.strip():
            continue
        where = "ext_bodies line %d" % n
        try:
            item = strict_json(line)
        except ValueError as e:
            failures.append("%s: not JSON: %s" % (where, e))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("endpoint"), str) \
                or "body" not in item:
            failures.append('%s: not {"endpoint": ..., "body": {...}}' % where)
            continue
        ep = item["endpoint"]
        if ep not in ENDPOINTS:
            failures.append("%s: unknown endpoint %r" % (where, ep))
            continue
        where = "ext_bodies line %d (%s)" % (n, ep)
        per_endpoint[ep] = per_endpoint.get(ep, 0) + 1
        key = ep + "-request"
        if key not in schemas.validators:
            continue
        errs = schemas.errors(key, item["body"])
        if errs:
            failures.append("%s: %s refuses it: %s" % (where, key, "; ".join(errs)))
        if ep != "getToken" and card_numbers_in(item["body"]):
            failures.append("%s: carries a card number (message version 3.0: only getToken may)"
                            % where)
    for ep in ENDPOINTS:
        if ep not in per_endpoint:
            failures.append("ext_bodies printed no %s body" % ep)
    return sum(per_endpoint.values())


def main():
    if len(sys.argv) > 3 or (len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help")):
        sys.exit(__doc__)
    here = os.path.dirname(os.path.abspath(__file__))
    schema_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "schema", "ext")
    driver = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else None

    failures = []
    schemas = Schemas(schema_dir, failures)
    for key in [e + "-request" for e in ENDPOINTS] + list(OTHER_SCHEMAS):
        if key not in schemas.docs:
            failures.append("missing schema %s.schema.json" % key)
    schemas.check_refs_and_descriptions(failures)

    counts, valid_samples = check_samples(schemas, os.path.join(schema_dir, "samples"), failures)
    check_requests(schemas, valid_samples, failures)

    bodies = None
    if driver:
        bodies = check_bodies(schemas, driver, failures)

    for f in failures:
        print("FAIL", f)
    print("%d schemas, %d valid and %d invalid samples%s, %d failures"
          % (len(schemas.docs), counts["valid"], counts["invalid"],
             "" if bodies is None else ", %d adapter bodies" % bodies, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
