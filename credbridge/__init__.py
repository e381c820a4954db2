"""credbridge: Moodle evidence in, EU micro-credentials out.

The code is split by layer, and imports point one way: ``lti`` (web) -> ``connector`` (I/O, store,
sync, issuance, command line) -> ``mappings`` (the pure domain). ``emulator`` is a stand-in Moodle
for tests, the demo and the benchmarks; nothing in the product imports it.
"""

__version__ = "0.1.0"
