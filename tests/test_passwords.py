"""Generated passwords: the asked length, only the alphabet's characters, every character reachable."""

from collections import Counter

from radbill.passwords import _ALPHABET, generate


def test_generate_gives_the_length_and_alphabet_asked_for():
    assert [len(generate(n)) for n in (1, 10, 32, 200)] == [1, 10, 32, 200]
    assert set(generate(500, "ab")) == {"a", "b"}
    assert len({generate(10) for _ in range(1000)}) == 1000


def test_generate_draws_every_character_about_equally():
    counts = Counter("".join(generate(62) for _ in range(2000)))  # 2,000 expected per character
    assert set(counts) == set(_ALPHABET)
    assert 1600 < min(counts.values()) and max(counts.values()) < 2400, counts.most_common(3)
