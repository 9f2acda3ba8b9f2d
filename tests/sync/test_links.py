from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conveyor.sync.links import parse_link_header


def test_github_style_header() -> None:
    header = (
        '<https://api.github.com/repos/x/y/issues?page=2>; rel="next", '
        '<https://api.github.com/repos/x/y/issues?page=5>; rel="last"'
    )
    assert parse_link_header(header) == {
        "next": "https://api.github.com/repos/x/y/issues?page=2",
        "last": "https://api.github.com/repos/x/y/issues?page=5",
    }


def test_urls_may_hold_commas_and_semicolons_and_params_any_order() -> None:
    header = '<https://a.test/x?ids=1,2;3>; title="a, b; c"; rel=next, </y>; REL="prev first"'
    assert parse_link_header(header) == {
        "next": "https://a.test/x?ids=1,2;3",
        "prev": "/y",
        "first": "/y",
    }


def test_first_link_of_a_relation_wins_and_junk_is_ignored() -> None:
    assert parse_link_header('<a>; rel="next", <b>; rel="next"') == {"next": "a"}
    assert parse_link_header("") == {}
    assert parse_link_header(None) == {}
    assert parse_link_header("garbage, <unterminated") == {}
    assert parse_link_header("<a>; rel") == {}


@given(
    st.lists(
        st.tuples(
            st.text(
                st.characters(blacklist_characters="<>", blacklist_categories=["Cs"]), min_size=1
            ),
            st.sampled_from(["next", "prev", "last", "first"]),
            st.booleans(),
        ),
        max_size=5,
    )
)
def test_every_written_link_is_read_back(links: list[tuple[str, str, bool]]) -> None:
    header = ", ".join(
        f'<{url}>; rel="{rel}"' if quoted else f"<{url}>; rel={rel}" for url, rel, quoted in links
    )
    expected: dict[str, str] = {}
    for url, rel, _ in links:
        expected.setdefault(rel, url.strip())
    assert parse_link_header(header) == expected
