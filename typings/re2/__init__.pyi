# The few names of google-re2 that mcp-acp uses (the package ships no type information).
# pyright reads this folder (its default stubPath, "typings").

class Options:
    dot_nl: bool
    case_sensitive: bool

class _Match: ...

class _Regexp:
    def fullmatch(self, text: str, /) -> _Match | None: ...

def compile(pattern: str, options: Options | None = None) -> _Regexp: ...
