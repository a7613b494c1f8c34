"""Training: the weights chain (tiny models, GGUF export, quantisation, LoRA merge),
data from real execution, fine-tuning and evaluation. Imports semcoder_inference, never
semcoder_lsp."""
