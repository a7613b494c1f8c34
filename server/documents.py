"""Reading documents and caching their analysis per version.

Open documents come from the client; a URI the client never opened is read from disk
once (so a hover on a file outside the editor still works) and decoded as Python decodes
source (a UTF-8 BOM, a `# -*- coding: latin-1 -*-` line, else UTF-8); anything that cannot
be read or decoded becomes a clear SourceError rather than a traceback.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from urllib.parse import unquote, urlparse

from semcoder_inference.sources import SourceUnreadable, decode_python

from . import imported, pytest_setup
from .cache import files_state
from .calls import ModuleInfo, SourceError, analyse


class DocumentStore:
    def __init__(self, server) -> None:
        self.server = server
        self._analysis: dict[str, tuple[tuple, ModuleInfo | SourceError]] = {}
        # a path -> (its conftest and configuration files' state, the modules read for them, their state, why)
        self._set_up: dict[str, tuple[tuple, list, tuple, str | None]] = {}
        # a text's digest -> its `from M import f` imports, and every module it imports
        self._import_specs: dict[str, tuple[list[tuple[str, str, str]], frozenset[str]]] = {}
        # a path -> (its imports, the files read for them, their state, its imported functions)
        self._imports: dict[str, tuple[tuple, list, tuple, dict]] = {}
        self._modules = imported.ImportReader()

    def text(self, uri: str) -> str:
        """The document's current text. Raises SourceError for unknown or unreadable URIs."""
        docs = self.server.workspace.text_documents
        doc = docs.get(uri) or docs.get(unquote(uri))
        if doc is not None:
            return doc.source
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise SourceError(f"SemCoder does not know the document {uri}: it was not opened in the editor.")
        path = Path(unquote(parsed.path))
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SourceError(
                f"SemCoder cannot read {path}: {exc.strerror or exc}. Open the file in the editor first."
            ) from None
        return decode_source(data, path.name)

    def version(self, uri: str) -> int | None:
        doc = self.server.workspace.text_documents.get(uri)
        return getattr(doc, "version", None) if doc is not None else None

    def path(self, uri: str) -> str:
        parsed = urlparse(uri)
        return unquote(parsed.path) if parsed.scheme == "file" else uri

    def analysis(self, uri: str) -> ModuleInfo:
        """The analysed module (cached by text hash, and by the state of the conftest.py
        files that may set up its tests). Raises SourceError."""
        text = self.text(uri)
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        set_up = self.tests_set_up(uri)
        functions, imports = self.imported_functions(uri, text, digest)
        cached = self._analysis.get(uri)
        if cached is None or cached[0] != (digest, set_up, imports):
            try:
                result: ModuleInfo | SourceError = analyse(text, set_up, functions)
            except SourceError as exc:
                result = exc
            cached = ((digest, set_up, imports), result)
            self._analysis[uri] = cached
        if isinstance(cached[1], SourceError):
            raise cached[1]
        return cached[1]

    def imported_functions(self, uri: str, text: str, digest: str | None = None) -> tuple[dict, tuple]:
        """The functions the document imports from the workspace's own modules (see
        imported.py), and a key that changes when its imports or those modules' files do."""
        path = self.path(uri)
        if not path.startswith("/"):  # (not a file: no folder to import from)
            return {}, ()
        digest = digest or hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        specs = self._import_specs.get(digest)
        if specs is None:
            try:
                tree = ast.parse(text)
                specs = (imported.imports_of(tree), frozenset(imported.modules_imported(tree)))
            except (SyntaxError, ValueError, MemoryError, RecursionError):
                specs = ([], frozenset())  # (the analysis says what is wrong)
            if len(self._import_specs) >= 256:
                self._import_specs.clear()
            self._import_specs[digest] = specs
        roots = self.server.workspace_roots()
        froms, modules = specs
        resolved = self._modules.resolve(froms, path, roots)
        imports = (tuple(froms), modules, tuple(file for *_, file in resolved))
        # Its answer holds while the imports, the files they resolve to, and every file read
        # to answer (the modules, their packages, the workspace modules imported on the way:
        # ImportReader.consulted) stay as they were.
        known = self._imports.get(path)
        if known is None or known[0] != imports or files_state(known[1]) != known[2]:
            functions = self._modules.functions(resolved, imported.search_folders(path, roots), set(modules))
            consulted = sorted(self._modules.consulted)
            known = self._imports[path] = (imports, consulted, files_state(consulted), functions)
        return known[3], (known[0], known[2])

    def tests_set_up(self, uri: str) -> str | None:
        """Why pytest may set up the document's tests from outside it (a conftest.py: see
        pytest_setup), in words; None if nothing does. Each conftest.py is read again only
        when it changes on disk (what pytest reads)."""
        path = self.path(uri)
        if not path.startswith("/"):  # (not a file: no folder to look in)
            return None
        roots = self.server.workspace_roots()
        files = pytest_setup.conftest_files(path, roots)
        state = files_state(files)
        known = self._set_up.get(path)
        # (the answer holds while those files, and the workspace modules a conftest.py
        # imports, which were read for it, are unchanged)
        if known is None or known[0] != state or files_state(known[1]) != known[2]:
            read: list[Path] = []
            why = pytest_setup.setting_up(files, Path(path).parent, roots[:1], read)
            known = self._set_up[path] = (state, read, files_state(read), why)
        return known[3]

    def forget(self, uri: str) -> None:
        self._analysis.pop(uri, None)
        self._set_up.pop(self.path(uri), None)
        self._imports.pop(self.path(uri), None)


def decode_source(data: bytes, name: str) -> str:
    """A Python file's bytes as text, decoded as the interpreter decodes them (see
    semcoder_inference.sources: a BOM, a coding declaration, else UTF-8). Line ends are kept
    as they are (LSP positions count them). Raises SourceError naming the file."""
    try:
        return decode_python(data, name)
    except SourceUnreadable as exc:
        raise SourceError(str(exc)) from None
