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
    # No word boundaries for these three: a hostile server could glue a token to other letters.
    "aws_access_key": r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}",
    "aws_secret_key": (
        r"(?i:aws.{0,24}?(?:secret|private).{0,24}?)[\"']?\s*[:=]\s*[\"']?(?P<secret>[A-Za-z0-9/+]{40})"
    ),
    "github_token": r"(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})",
    "gitlab_token": r"\bglpat-[A-Za-z0-9_\-]{20,}",
    "slack_token": r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
    "stripe_key": r"\b[rs]k_live_[A-Za-z0-9]{20,}",
    "google_api_key": r"\bAIza[0-9A-Za-z_\-]{35}\b",
    "openai_key": r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,}",
    "anthropic_key": r"\bsk-ant-[a-z0-9]{2,10}-[A-Za-z0-9_\-]{40,}",
    "npm_token": r"\bnpm_[A-Za-z0-9]{36}\b",
    "pypi_token": r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}",
    "jwt": r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
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

# The characters the model does not see (Unicode Cc, Cf; surrogates cannot reach here) other
# than line breaks and tabs, as ranges: a zero-width character inside a token must not hide it.
# tests/proxy/test_secret_patterns.py checks the list against the running unicodedata.
INVISIBLE_RANGES = (
    (0x00, 0x08), (0x0B, 0x0C), (0x0E, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C),
    (0x6DD, 0x6DD), (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x180E, 0x180E), (0x200B, 0x200F),
    (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)  # fmt: skip
INVISIBLE_CLASS = "[" + "".join(rf"\x{{{a:x}}}-\x{{{b:x}}}" for a, b in INVISIBLE_RANGES) + "]"

# The trigger: searched once over the whole answer as JSON (orjson's encoding: quotes, backslashes
# and control characters escaped, everything else as it is). It fires on everything any pattern
# could find, and on what needs a closer look (a blob to decode, a credential key, an escaped or
# invisible character); only then is each text searched kind by kind. Each secret kind has a
# literal every match contains; the instruction rules are used whole, with JSON's escaped line
# breaks counted as spaces.
_JSON_SPACE = r"(?:\s|\\[nrt])"
# Patterns whose classes hold no quote, backslash or control character match the JSON as they
# match the text, so they are their own trigger, less a leading word boundary (in JSON a line
# break before a token is `\n`, a letter).
_AS_THEY_ARE = ("aws_access_key", "github_token", "gitlab_token", "slack_token", "stripe_key", "google_api_key")
_AS_THEY_ARE += ("openai_key", "anthropic_key", "npm_token", "pypi_token", "jwt", "url_password")
SECRET_TRIGGERS = (
    r"PRIVATE KEY",
    r"(?i:aws.{0,24}?(?:secret|private))",
    *(BUILTIN[kind].replace("?P<secret>", "").removeprefix(r"\b") for kind in _AS_THEY_ARE),
    rf"(?i:bearer){_JSON_SPACE}+[A-Za-z0-9\-._~+/]{{20,}}",
    r'(?i:"[^"]{0,80}(?:secret|private|passw|token|credential|api_?key)[^"]{0,80}":)',
    r'"blob":',
    r"\\[bfu]",  # an escaped control character
    INVISIBLE_CLASS,
)
INSTRUCTION_TRIGGERS = tuple(
    p.replace(r"\s", _JSON_SPACE).replace(r"(?im:^[ \t]*#+", "(?i:#+") for ps in INSTRUCTIONS.values() for p in ps
)

_OPTIONS: Any = re2.Options()  # the stubs know few of its attributes
_OPTIONS.max_mem = 64 << 20  # room for the combined automaton of every pattern


def compile_pattern(pattern: str) -> Any:
    """A pattern compiled with the inspection's options; raises re2.error if it is not valid."""
    return re2.compile(pattern, options=_OPTIONS)


def pattern_set(patterns: list[str]) -> Any:
    """A re2 Set of `patterns`: one pass over a text tells which of them match."""
    found = getattr(re2, "Set").SearchSet(_OPTIONS)  # noqa: B009 - the stubs do not name re2.Set
    for pattern in patterns:
        found.Add(pattern)
    found.Compile()
    return found
