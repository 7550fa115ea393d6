"""The secret formats the output inspection knows (docs/output-inspection.md#what-is-detected).

Each kind is a google-re2 pattern (linear time, whatever a hostile server sends). A pattern with a
group named `secret` redacts only that group (the `Bearer ` or `aws_secret_access_key=` before
it stays readable); otherwise the whole match goes.

Only formats with a fixed, distinctive shape are built in (a vendor prefix, a PEM armour, a JWT's
`eyJ` header, a keyword next to the value): the false-positive rate on real text is measured by
bench/output_false_positives.py. Generic high-entropy detection is deliberately left out: it is
what makes secret scanners noisy (docs/output-inspection.md#choosing-a-detector).
"""

from __future__ import annotations

from typing import Any

import re2

# kind -> pattern. Kinds are stable names: they appear in redaction markers, errors and the audit.
BUILTIN: dict[str, str] = {
    # The armour, its body and the END line; a key cut short (or split over two content items)
    # still loses everything from the BEGIN line up to the first character that is not base64.
    "private_key": (
        r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[A-Za-z0-9+/=\s:,.\-]*?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s]*)"
    ),
    "aws_access_key": r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b",
    "aws_secret_key": (
        r"(?i:aws.{0,24}?(?:secret|private).{0,24}?)[\"']?\s*[:=]\s*[\"']?(?P<secret>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"
    ),
    "github_token": r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    "gitlab_token": r"\bglpat-[A-Za-z0-9_\-]{20,}",
    "slack_token": r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
    "stripe_key": r"\b[rs]k_live_[A-Za-z0-9]{20,}",
    "google_api_key": r"\bAIza[0-9A-Za-z_\-]{35}\b",
    "openai_key": r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}",
    "anthropic_key": r"\bsk-ant-[a-z0-9]{2,10}-[A-Za-z0-9_\-]{40,}",
    "npm_token": r"\bnpm_[A-Za-z0-9]{36}\b",
    "pypi_token": r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}",
    "jwt": r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    "bearer_token": r"(?i:\bbearer)\s+(?P<secret>[A-Za-z0-9\-._~+/]{20,}=*)",
    "url_password": r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s:/@\"'<>]{1,128}:(?P<secret>[^\s:/@\"'<>]{3,128})@",
}

# The sanitizer's instruction rules (proxy/sanitizer.py SUSPICIOUS_PATTERNS), the same rules,
# written for re2 so that a large result is scanned in linear time.
_FILLER = r"(?:(?:all|any|the|your|of|these|those)\s+)*"
INSTRUCTIONS: dict[str, tuple[str, ...]] = {
    "instruction_override": (
        rf"(?i:\b(?:ignore|disregard|forget|override)\s+{_FILLER}(?:previous|prior|above|earlier|preceding)\s+"
        r"(?:instructions?|directions?|prompts?|rules|guidelines|context)\b)",
        rf"(?i:\bdisregard\s+{_FILLER}(?:instructions?|directions?|prompts?|rules|guidelines)\b)",
    ),
    "role_assumption": (
        r"(?i:\byou\s+are\s+now\b)",
        r"(?i:\bact\s+as\b)",
        r"(?i:\bpretend\s+(?:to\s+be|you\s+are)\b)",
    ),
    "system_prompt": (
        r"(?i:\bsystem\s+prompt\b)",
        r"(?i:<\s*/?\s*system\s*>)",
        r"(?i:\[/?INST\])",
        r"(?im:^[ \t]*#+\s*system\b)",
        r"(?i:<\|im_(?:start|end)\|>)",
    ),
}

_OPTIONS: Any = re2.Options()  # the stubs know few of its attributes
_OPTIONS.max_mem = 64 << 20  # room for the combined automaton of every pattern


def compile_pattern(pattern: str) -> Any:
    """A pattern compiled with the inspection's options; raises re2.error if it is not valid."""
    return re2.compile(pattern, options=_OPTIONS)
