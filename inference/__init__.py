"""SemCoder inference: prompt formats, parsers, engines and the sandboxed tracer.

Imported by the language server (semcoder_lsp) and by training (semcoder_training);
it imports neither, and never imports torch.
"""

__version__ = "0.1.0"
