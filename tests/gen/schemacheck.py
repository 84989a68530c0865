#!/usr/bin/env python3
"""schemacheck.py SCHEMA FILE... — every line of every FILE (JSON lines) is
valid against SCHEMA (docs/schemas/*.schema.json, JSON Schema 2020-12,
checked with python3-jsonschema).  Prints the first errors and the count;
exits 1 on any invalid line or when no line was read."""
import json
import sys

import jsonschema


def main():
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    n = bad = 0
    for path in sys.argv[2:]:
        for i, line in enumerate(open(path), 1):
            if not line.strip():
                continue
            n += 1
            errs = list(v.iter_errors(json.loads(line)))
            if errs:
                bad += 1
                if bad <= 5:
                    print("%s:%d: %s (at %s)" % (path, i, errs[0].message[:300], "/".join(map(str, errs[0].absolute_path))))
    print("%d lines, %d invalid against %s" % (n, bad, sys.argv[1]))
    return 1 if bad or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
