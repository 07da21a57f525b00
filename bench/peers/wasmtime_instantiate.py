"""bench/peers/wasmtime_instantiate.py — Wasmtime (wasmtime-py, the reference
engine's own build) instantiating the same core module once per iteration,
inside one process:

    .deps/python/bin/python bench/peers/wasmtime_instantiate.py WASM ITERATIONS

Each iteration is a fresh Store, `Linker.instantiate` of the precompiled module
and its `_initialize`, timed with perf_counter_ns. Python's own share is
measured by the same loop around a no-op of the same shape (a Python call,
the timer reads) and its median subtracted. Only instantiation is measured:
a whole request would run the imports as Python functions, whose cost says
nothing about the engine. Prints:

    WASMTIME case=instantiate iters=N median_us=… p99_us=… python_overhead_us=…
"""
import sys
import time

import wasmtime


def timed(iters, fn):
    for _ in range(max(1, iters // 10)):
        fn()
    samples = []
    for _ in range(iters):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


def main():
    path, iters = sys.argv[1], int(sys.argv[2])
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, path)
    linker = wasmtime.Linker(engine)
    for imp in module.imports:  # stubs: instantiation calls none of them
        ty = imp.type
        linker.define_func(imp.module, imp.name, ty, lambda *a, _r=len(ty.results): 0 if _r else None)
    store_box = []

    def instantiate():
        store = wasmtime.Store(engine)
        inst = linker.instantiate(store, module)
        inst.exports(store)["_initialize"](store)
        store_box.append(store)
        store_box.clear()

    def noop():
        store_box.append(None)
        store_box.clear()

    med, p99 = timed(iters, instantiate)
    over, _ = timed(iters, noop)
    print(f"WASMTIME case=instantiate iters={iters} median_us={med - over:.2f} "
          f"p99_us={p99 - over:.2f} python_overhead_us={over:.2f} raw_median_us={med:.2f}")


if __name__ == "__main__":
    main()
