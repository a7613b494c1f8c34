"""The calls recorded by running a file are calls of the file's own function: a script
whose `normalize` shares its name with the standard library's `locale.normalize` (which
argparse reaches through gettext as the parser is built) showed `normalize('C.UTF-8')`,
recorded from `__main__`, on its hover and code lens, a call the script never makes."""

from __future__ import annotations

from lsprotocol import types

from lsp_helpers import EXEC_ON, hover, line_of, open_document, running_server

WORDS = '''import argparse


def normalize(word):
    return word.strip(".,!?").lower()


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("words", nargs="*", default=["Hello,", "World!"])
    args = parser.parse_args(argv)
    print([normalize(w) for w in args.words])
    return 0


if __name__ == "__main__":
    main()
'''


async def test_a_recorded_call_is_of_the_files_own_function_not_the_standard_librarys(tmp_path):
    path = tmp_path / "words.py"
    path.write_text(WORDS)
    async with running_server(tmp_path, init_options=EXEC_ON) as client:
        uri = open_document(client, path)
        def_line = line_of(WORDS, "def normalize")
        text = await hover(client, uri, def_line, 4)
        assert text.startswith("**SemCoder** · `normalize('Hello,')` (recorded from `__main__`)"), text
        assert "returned `'hello'`" in text, text
        assert "UTF-8" not in text and "normalize('C" not in text, text
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        title = next(lens for lens in lenses if lens.range.start.line == def_line).command.title
        assert title == "SemCoder: normalize('Hello,')", title


def test_a_call_traced_where_it_runs_is_of_the_files_own_function(tmp_path):
    """(Tracer.watch_call, the trace of a call whose values no literal rebuilds, already
    took only the file's code: argparse's `locale.normalize` runs first, and is passed by.)"""
    from semcoder_inference.tracer import Tracer

    path = tmp_path / "words.py"
    path.write_text(WORDS)
    with Tracer(workers=1) as tracer:
        trace = tracer.watch_call(WORDS, target="normalize", filename=str(path))
    assert trace["status"] == "ok", trace
    assert trace["call"] == "normalize('Hello,')", trace["call"]
    assert trace["return"]["repr"] == "'hello'"
