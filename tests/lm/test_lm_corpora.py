"""The language models' English corpora read where pip put gensim's test data: the Wikipedia
extract (markup stripped by zoo.data.wiki) and the Lee news corpus, one document per item."""
import bz2
import importlib.util

import pytest

from zoo.cli import main
from zoo.data import ZooDataError, available_corpora, corpus_info, load_corpus, load_paragraphs
from zoo.data import corpora
from zoo.data.corpora import corpus_documents, split_paragraphs
from zoo.data.wiki import iter_articles, iter_pages, wikitext_to_paragraphs

MARKUP = ("[[", "]]", "{{", "}}", "<ref", "</", "'''", "''", "|-", "{|", "&nbsp;", "&amp;", "[http",
          "__TOC__", "thumb|")
WIKI_ARTICLES = 106  # 206 pages: 100 redirects (one of them in the Wikipedia: namespace)
LEE_DOCUMENTS = 343  # 300 + 50 lines, less 7 exact duplicates inside lee_background.cor


def test_wikitext_markup_to_paragraphs():
    text = """{{Infobox thing
| name = X
| image = {{nested|a}}
}}
'''Foo''' ({{IPA|fuː}}; born 1900) is a [[bar|baz]] of [[qux]]s.<ref name="a">{{cite web|url=http://x|title=T}}</ref> It is [http://example.com an example]<ref name=b/> of {{convert|5|km|mi}}.<!-- hidden -->
[[File:Foo.jpg|thumb|A caption with [[link]] and [http://x.org ext] [above]]]

== History ==
The '''first''' ''line''
continues here &amp; ends&nbsp;here.
{| class="wikitable"
|-
| cell || {{x}}
|}
* item [[a|one]]
# item <small>two</small>

=== Empty ===
== Second ==
{{lang|fr|Bonjour}} le [[wikt:monde|monde]].<math>x^2</math> ''Foo''{{'}}s end.
== References ==
{{reflist}}
* A reference line
[[Category:Things]]
[[fr:Foo]]
"""
    assert wikitext_to_paragraphs(text) == [
        "Foo (born 1900) is a baz of quxs. It is an example of 5 km.",
        "History",  # a heading is a one-line paragraph; "Empty" has no text and is dropped
        "The first line continues here & ends here.",
        "item one\nitem two",
        "Second",
        "Bonjour le monde. Foo's end.",  # the References section is dropped with its list
    ]


def test_dump_reader_skips_redirects_and_other_namespaces(tmp_path):
    page = "<page><title>{}</title><ns>{}</ns><id>1</id>{}<revision><text>{}</text></revision></page>"
    xml = ('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">'
           + page.format("Kept", 0, "", "'''Kept''' is an article &amp;lt;b&amp;gt;.")
           + page.format("Moved", 0, '<redirect title="Kept" />', "#REDIRECT [[Kept]]")
           + page.format("Old", 0, "", "#redirect [[Kept]]")
           + page.format("Talk:Kept", 1, "", "A talk page.")
           + page.format("Empty", 0, "", "{{stub}}")
           + "</mediawiki>")
    dump = tmp_path / "dump.xml.bz2"
    dump.write_bytes(bz2.compress(xml.encode()))
    assert [(p.title, p.namespace, p.redirect) for p in iter_pages(dump)] == [
        ("Kept", 0, False), ("Moved", 0, True), ("Old", 0, True), ("Talk:Kept", 1, False), ("Empty", 0, False)]
    # Entities are decoded once by XML and once as HTML: "&amp;lt;" in the dump is a literal "<".
    assert list(iter_articles(dump)) == [("Kept", ["Kept is an article <b>."])]


def test_wikipedia_corpus_is_clean_text_one_article_per_item():
    items = load_corpus("wikipedia")
    documents = corpus_documents("wikipedia")
    assert len(items) == len(documents) == WIKI_ARTICLES
    assert [text for _, text in documents] == items and len(set(items)) == len(items)
    titles = [title for title, _ in documents]
    assert titles[:3] == ["Anarchism", "Autism", "Albedo"]
    assert "AccessibleComputing" not in titles  # a redirect
    assert not any(t.startswith("Wikipedia:") for t in titles)
    for title, text in documents:
        decoded = text.decode("utf-8")
        assert decoded == decoded.strip() and "\n\n\n" not in decoded, title
        for token in MARKUP:
            assert token not in decoded, (title, token)
    aardvark = dict(documents)["Aardvark"].decode()
    assert aardvark.startswith("The aardvark (Orycteropus afer) is a medium-sized, burrowing, nocturnal "
                               "mammal native to Africa. It is the only living species of the order "
                               "Tubulidentata")
    assert "\n\nNaming and taxonomy\n\nNaming\n\nThe aardvark is sometimes colloquially called" in aardvark
    assert "\n\nReferences\n\n" not in aardvark and "Category" not in aardvark
    info = corpus_info("wikipedia")
    assert info["documents"] == WIKI_ARTICLES and info["bytes"] == sum(map(len, items))
    # ~5.7 M characters of wikitext in the articles; the plain text is about half of it.
    assert 2_700_000 < info["characters"] < 2_950_000
    assert info["sources"] == [str(corpora._gensim_data_file(corpora._WIKI_DUMP))]


def test_lee_corpus():
    documents = corpus_documents("lee")
    items = load_corpus("lee")
    assert len(documents) == LEE_DOCUMENTS and [t for _, t in documents] == items
    ids = dict(documents)
    assert ids["lee-1"].startswith(b"Hundreds of people have been forced to vacate their homes in the "
                                   b"Southern Highlands of New South Wales")
    assert ids["lee50-1"].startswith(b"The national executive of the strife-torn Democrats last night")
    assert "lee-113" not in ids and ids["lee-105"] in items  # line 113 repeats line 105
    assert len([i for i in ids if i.startswith("lee50-")]) == 50
    assert "£".encode() in ids["lee50-41"]  # lee.cor is Latin-1: its b"\xa3" is read as £
    for text in items:
        text.decode("utf-8")
        assert text == text.strip() and b"\n" not in text
    assert corpus_info("lee")["sources"][0].endswith("lee_background.cor")


@pytest.mark.parametrize("name, test_documents", [("wikipedia", 18), ("lee", 34)])
def test_split_by_document_is_deterministic_and_disjoint(name, test_documents):
    items = load_corpus(name)
    train, test = split_paragraphs(items)
    assert len(test) == test_documents and len(train) == len(items) - test_documents
    assert not set(train) & set(test) and sorted(train + test) == sorted(items)
    # A document's side depends on its text alone, not on where it is in the corpus.
    assert split_paragraphs(items[::-1]) == (train[::-1], test[::-1])
    # Items are whole documents: a test document's paragraphs are in no train item.
    test_paragraphs = {p for text in test for p in text.split(b"\n\n") if len(p) > 200}
    train_paragraphs = {p for text in train for p in text.split(b"\n\n")}
    assert test_paragraphs and not test_paragraphs & train_paragraphs
    assert load_paragraphs(name) == items


def test_a_second_load_gives_the_same_documents():
    path = corpora._gensim_data_file(corpora._WIKI_DUMP)
    fresh = [(title, "\n\n".join(p).encode()) for title, p in iter_articles(path)]
    assert fresh == corpus_documents("wikipedia")
    corpora._lee_documents.cache_clear()
    first = corpus_documents("lee")
    corpora._lee_documents.cache_clear()
    assert corpus_documents("lee") == first


def test_registered_names_errors_and_missing_gensim(monkeypatch):
    assert {"wikipedia", "lee"} <= set(available_corpora())
    with pytest.raises(ZooDataError, match="corpus 'english' has no document ids.*wikipedia, lee"):
        corpus_documents("english")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gensim" else real(name, *a))
    with pytest.raises(ZooDataError, match="needs the 'gensim' package"):
        corpora._wikipedia_documents.__wrapped__()
    with pytest.raises(ZooDataError, match="needs the 'gensim' package"):
        corpora._lee_documents.__wrapped__()


def test_cli_lists_the_corpora(capsys):
    code = main(["corpora", "wikipedia", "lee"])
    out, _ = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2
    for line, name in zip(lines, ("wikipedia", "lee")):
        info = corpus_info(name)
        assert line.split()[:5] == [name, str(info["paragraphs"]), "paragraphs", str(info["bytes"]), "bytes"]
        assert info["description"] in line
