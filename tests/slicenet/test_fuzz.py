"""Property-based tests (hypothesis) of the placeholder protection of SliceNet translation
(`zoo/models/slicenet/placeholders.py`) and of cutting long sources.

Everything runs at the numpy / eager level or in one traced function: no graph is traced per example."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- placeholder protection --------------------------------------------------------------------
_PLACEHOLDERS = ["%(name)s", "%s", "%d", "{0}", "{}", "{count}", "<a href=\"https://x.org/a?b=1\">",
                 "</a>", "<br/>", "https://example.com/path", "http://x.y/%s"]
message = st.lists(st.one_of(st.sampled_from(_PLACEHOLDERS), st.text(max_size=12),
                             st.sampled_from(["⟦", "⟧", "%", "{", "<", ">", " ", "(", "é", "数"])),
                   max_size=30).map("".join)


@pytest.fixture(scope="module")
def protection():
    """protect + restore traced once (eager ops cost ~60 ms an example)."""
    import tensorflow as tf

    from zoo.models.slicenet.placeholders import protect, restore

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string)])
    def run(texts, reordered_slots):
        masked, values = protect(texts)
        return masked, values, restore(masked, values), restore(reordered_slots, values)
    return run


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(message, min_size=1, max_size=4))
def test_protection_round_trips_exactly(protection, texts):
    import re

    from zoo.models.slicenet.placeholders import SLOTS

    # Exact, except what is documented: NUL is removed, and text that already holds a slot
    # token is restored like a slot.
    expected = [t.replace("\0", "") for t in texts]
    masked = [m.decode("utf-8") for m in protection(texts, texts)[0].numpy()]
    # A translation that reorders the slots gets each one's exact source text back.
    reordered = [" ".join(re.findall(r"⟦\d+⟧", m)[::-1]) for m in masked]
    _, values, restored, moved = protection(texts, reordered)
    values = [[x.decode("utf-8") for x in v] for v in values.to_list()]
    if not any(re.search(r"⟦\d{1,4}⟧", t) for t in expected):
        assert [t.decode("utf-8") for t in restored.numpy()] == expected
    for m, v, r, got in zip(masked, values, reordered, moved.numpy()):
        assert "\0" not in m
        # Each distinct placeholder (up to SLOTS) has one slot, numbered by its first occurrence.
        firsts = {v.index(x) for x in v}
        if "⟦" not in "".join(expected):
            assert set(map(int, re.findall(r"⟦(\d+)⟧", m))) == {k for k in firsts if k < SLOTS}
        assert got.decode("utf-8") == " ".join(v[int(k)] if int(k) < len(v) else ""
                                               for k in re.findall(r"⟦(\d+)⟧", r))


# -- cutting translation sources that are longer than the model reads ---------------------------
def _count(texts):
    """Tokens as the byte tokenizer with placeholder protection counts them: a placeholder
    becomes a 7-byte slot token, everything else one token per UTF-8 byte."""
    import re

    from zoo.models.slicenet.placeholders import PATTERN

    return [len(re.sub(PATTERN, "⟦0⟧", t, flags=re.ASCII).encode()) for t in texts]


source = st.lists(st.one_of(st.sampled_from(_PLACEHOLDERS + [". ", "! ", "? ", "\n", " ", "  ", "。", "word",
                                                             "Sätze", "数据", "x" * 30]),
                            st.text(max_size=8)), max_size=40).map("".join)


@FUZZ
@given(source, st.integers(8, 80))
def test_split_source_pieces_fit_rejoin_and_keep_placeholders_whole(text, limit):
    import re

    from zoo.models.slicenet.data import split_source
    from zoo.models.slicenet.placeholders import PATTERN

    pieces = split_source(text, _count, limit)  # limit >= 8: every character and placeholder fits
    assert "".join(p + sep for p, sep in pieces) == text
    assert pieces[-1][1] == "" and all(p for p, _ in pieces[:-1])
    assert all(n <= limit for n in _count([p for p, _ in pieces]))
    if _count([text])[0] <= limit:
        assert pieces == [(text, "")]
    cuts, at = set(), 0
    for p, sep in pieces[:-1]:
        at += len(p)
        cuts.update(range(at, at + len(sep) + 1))
        at += len(sep)
    for m in re.finditer(PATTERN, text, re.ASCII):
        assert not cuts & set(range(m.start() + 1, m.end())), (m.group(), pieces)


def test_split_source_prefers_sentences_then_words():
    from zoo.data.errors import ZooDataError
    from zoo.models.slicenet.data import split_source

    text = 'Delete the items? See <a href="https://x.org/a. b">the docs</a>. Done!\nNext line here'
    assert split_source(text, _count, 40) == [
        ("Delete the items?", " "), ('See <a href="https://x.org/a. b">the docs</a>.', " "),
        ("Done!", "\n"), ("Next line here", "")]
    words = split_source("one two three four five six seven", _count, 10)
    assert words == [("one two", " "), ("three four", " "), ("five six", " "), ("seven", "")]
    assert split_source("abcdefghij", _count, 4) == [("abcd", ""), ("efgh", ""), ("ij", "")]
    # A placeholder alone over the limit is cut like any text (the 7-token slot cannot fit in
    # 6); only a single character over the limit is an error.
    assert split_source("see %s", _count, 6) == [("see", " "), ("%", ""), ("s", "")]
    with pytest.raises(ZooDataError, match="at most 2 source tokens"):
        split_source("数据", _count, 2)   # one character is 3 bytes


def test_split_source_cuts_a_long_unprotected_placeholder():
    """A vocabulary without placeholder protection spells a link out byte by byte: Django's
    59-token `<a href=...%(version)s...>` tag must still translate in pieces (it once stopped
    every SliceNet Table 2 run at its final BLEU)."""
    from zoo.models.slicenet.data import split_source

    link = '<a href="https://docs.djangoproject.com/en/%(version)s/ref/settings/">settings</a>'
    text = f"Read {link} first."
    pieces = split_source(text, lambda ts: [len(t.encode()) for t in ts], 39)
    assert "".join(p + sep for p, sep in pieces) == text
    assert all(len(p.encode()) <= 39 for p, _ in pieces) and len(pieces) >= 3
