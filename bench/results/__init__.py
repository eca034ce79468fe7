"""Benchmark records (one JSON file per benchmark run, written by ``alvh bench`` in a source checkout).

Installed as the package data ``gpu_alvh.bench_records`` (only the ``run_alvh-*.json``
records), so that ``alvh sweep plan`` finds a device-time estimate in any install; see
:func:`gpu_alvh.benchmarks.records.search_dirs`.
"""
