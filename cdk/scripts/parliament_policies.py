"""Runs parliament (https://github.com/duo-labs/parliament) on IAM policy documents.

Usage: parliament_policies.py POLICIES.json
POLICIES.json maps a name to an identity policy document (intrinsics already
resolved to example ARNs). Prints a JSON list of findings, every severity from
INFO up, after parliament's own default ignore rules; the caller decides
which are accepted (cdk/test/scanners.test.ts).
"""
import json
import sys

from parliament import analyze_policy_string, enhance_finding
from parliament.cli import is_finding_filtered


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        policies = json.load(f)
    out = []
    for name, document in policies.items():
        policy = analyze_policy_string(json.dumps(document), name)
        for finding in policy.findings:
            finding = enhance_finding(finding)
            if is_finding_filtered(finding, "INFO"):
                continue
            out.append(
                {
                    "policy": name,
                    "issue": finding.issue,
                    "severity": finding.severity,
                    "title": finding.title,
                    "detail": finding.detail,
                    "location": finding.location,
                }
            )
    json.dump(out, sys.stdout, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
