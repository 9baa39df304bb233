"""GGUF export of LoRA adapters with the ``gguf`` package alone, and the parity gate.

    names   per-architecture tensor names and the llama q/k row permutation
    meta    reading GGUF metadata (shape of the base, key-value fields as exact bytes)
    adapter load_peft_adapter(dir) -> PeftAdapter; write_adapter_gguf(adapter, base_gguf, out)
    merge   merge_gguf(base_gguf, adapter, out, quant="q8_0"|"f16") -> MergeReport
    parity  LlamaRunner (llama.cpp greedy / teacher-forced), check_parity(...) -> ParityResult
"""
