"""murmur2 and the partition against values printed once by Kafka's Java client (Utils.murmur2,
Utils.toPositive): pure, no JVM and no cluster, so the mutation run (./dev mutants) can use them.
test_partitioner.py keeps asking the Java client itself for many more keys."""

from __future__ import annotations

import pytest

from republish.partitioner import murmur2, partition_for_key

# key, Utils.murmur2(key), Utils.toPositive(Utils.murmur2(key)) % 1000
JAVA = [
    (b"", 275646681, 681),
    (b"a", -1563381124, 524),
    (b"ab", 316155434, 434),
    (b"abc", 479470107, 107),
    (b"abcd", -1323649548, 100),
    (b"abcde", 461995741, 741),
    (b"abcdef", 1870650108, 108),
    (b"abcdefg", -346467175, 473),
    (b"acc_42", -1318559819, 829),
    (b"acc_1000000", 510501763, 763),
    ("kontø-ü".encode(), 2087829981, 981),
    (bytes(range(256)), -1948347274, 374),
    (b"\xff" * 7, -71293549, 99),
    (b"\x80", 857690492, 492),
    (b"\xff\xfe", 1717632651, 651),
    (b"\x80\x81\x82", -1975640061, 587),
    (b"\xff" * 4, 644171429, 429),
    (b"\x00" * 5, 263274959, 959),
    (b"21", -973932308, 340),
    (b"z" * 9, 1253000844, 844),
]


@pytest.mark.parametrize(("key", "expected", "_"), JAVA)
def test_murmur2_is_javas_signed_32_bit_value(key, expected, _):
    assert murmur2(key) == expected


@pytest.mark.parametrize(("key", "_", "expected"), JAVA)
def test_the_partition_is_javas_for_a_thousand_partitions(key, _, expected):
    partition_for_key.cache_clear()
    assert partition_for_key(key, 1000) == expected


def test_a_negative_hash_is_made_positive_by_masking_not_by_abs():
    # toPositive(-1563381124) = -1563381124 & 0x7fffffff; abs() would give another partition.
    partition_for_key.cache_clear()
    assert partition_for_key(b"a", 7) == (-1563381124 & 0x7FFFFFFF) % 7 != abs(-1563381124) % 7


def test_one_partition_always_gets_partition_0():
    partition_for_key.cache_clear()
    assert {partition_for_key(key, 1) for key, _, _ in JAVA} == {0}
