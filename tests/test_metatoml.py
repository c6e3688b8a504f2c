"""store.metatoml reads session.toml as tomllib does, or leaves it to tomllib: never a different answer."""
from __future__ import annotations

import tomllib

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from agitlog.store import metatoml

_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_KEYS = st.one_of(st.sampled_from(["id", "name", "gpt-4.1", "a b", "", "x\"y", "é", "1"]), _TEXT)
_SCALARS = st.one_of(_TEXT, st.integers(), st.booleans(),
                     st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2 ** 70), 2 ** 70))
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=4))
_TABLES = st.recursive(st.dictionaries(_KEYS, _VALUES, max_size=5),
                       lambda inner: st.dictionaries(_KEYS, st.one_of(_VALUES, inner), max_size=4), max_leaves=12)


def _tomllib(text: str) -> object:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return "error"


@settings(max_examples=300, deadline=None)
@given(_TABLES)
def test_what_tomli_w_writes_is_read_without_tomllib_and_alike(document: dict) -> None:
    text = tomli_w.dumps(document)
    assert metatoml.loads(text) == tomllib.loads(text) == document


@settings(max_examples=500, deadline=None)
@given(_TABLES, st.data())
def test_damaged_text_is_read_alike_or_left_to_tomllib(document: dict, data: st.DataObject) -> None:
    text = tomli_w.dumps(document)
    where = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 3))
    inserted = data.draw(st.sampled_from(["", " ", "\n", "\t", "\"", "\\", "[", "]", "=", ",", "#", ".", "\r",
                                          "0", "\\u", "\\ud800", "\\U00110000", "x = 1\n", "[t]\n", "\ufeff",
                                          "_", "e", "+", "inf"]))
    damaged = text[:where] + inserted + text[where + cut:]
    fast = metatoml.loads(damaged)
    if fast is not None:
        assert fast == _tomllib(damaged)


def test_layouts_it_leaves_to_tomllib() -> None:
    for text in ('a = 1 # note\n', 'a=1\n', "a = 'literal'\n", 'a.b = 1\n', 'a = {b = 1}\n', 'a = 1\na = 2\n',
                 '[a]\n[a]\n', 'a = 1979-05-27\n', 'a = 1_000\n', 'a = inf\n', 'a = ["x", "y"]\n',
                 'a = """x"""\n', '[[a]]\n', 'a = "\\e"\n', '[a.b]\n[a]\n', 'a = 1\r\n'):
        assert metatoml.loads(text) is None, text


def test_a_recorded_session_toml_is_read_without_tomllib() -> None:
    text = ('format = 1\nid = "20261129-100920-000000"\ncommand = [\n    "python",\n    "agent.py",\n]\n'
            'duration_s = 30.0\nenv_names = []\n\n[git]\nbase_commit = "31aa2460c5ff4d94d052c4d7bd82e99df469d0b1"\n\n'
            '[stats]\nevents = 5\n\n[stats.models."gpt-4.1"]\ninput_tokens = 100\n\n[stats.models."a\\"b\\u00e9"]\n'
            'calls = 1\n')
    assert metatoml.loads(text) == tomllib.loads(text)
    assert metatoml.loads(text)["stats"]["models"]["a\"bé"] == {"calls": 1}
