"""What holding a local stream back for the escape hatch costs: time to the first chunk vs time until
``server.escape.ready`` lets the check run, on the embedded base model (docs/independence.md).

    python bench/independence_holdback.py [--rounds 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

PROMPTS = ["Write a Python function that adds two numbers.", "Explain what a list comprehension is.",
           "Write a function to reverse a string in Python.", "How do I read a CSV file in Python?"]


def main() -> None:
    from edgelearn.serve.backends import GenerateRequest, Target
    from edgelearn.serve.base import default_base_gguf
    from edgelearn.serve.llamacpp import EmbeddedBackend
    from edgelearn.server.escape import ready

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4, help="rounds over the prompts; the first loads the model")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    backend = EmbeddedBackend(cache_size=1, n_threads=args.threads, n_ctx=1024)
    target = Target("base", model_path=str(default_base_gguf()))
    first, check = [], []
    for rnd in range(args.rounds):
        for prompt in PROMPTS:
            request = GenerateRequest(messages=[{"role": "user", "content": prompt}], max_tokens=64,
                                      temperature=0.0, seed=0)
            start = time.perf_counter()
            held, t_first, t_check = [], None, None
            for chunk in backend.stream(target, request):
                held.append(chunk)
                if t_first is None and (chunk.text or chunk.tool_calls):
                    t_first = time.perf_counter() - start
                if t_check is None and ready(held):
                    t_check = time.perf_counter() - start
            if rnd and t_first is not None and t_check is not None:
                first.append(t_first * 1000)
                check.append(t_check * 1000)
    added = [c - f for c, f in zip(check, first)]
    print(f"n={len(first)} first chunk p50 {statistics.median(first):.0f} ms, check ready p50 "
          f"{statistics.median(check):.0f} ms, added p50 {statistics.median(added):.0f} ms, max {max(added):.0f} ms")


if __name__ == "__main__":
    main()
