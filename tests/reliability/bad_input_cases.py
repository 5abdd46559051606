"""Hypothesis strategies for the bad-input harness: data files and pipeline definitions."""

from __future__ import annotations

import json

from hypothesis import strategies as st

ODD_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                          blacklist_characters="\n\r"), max_size=12)
SPECIAL_CELLS = ["NaN", "nan", "inf", "-Infinity", "1e309", "-0", "", " ", '"q,uoted"',
                 '"say ""hi"""', "\u00e9t\u00e9", "\U0001f600", "\u202etxt", "\x00", "TRUE",
                 "9223372036854775808", "0x1F", "1,5"]


@st.composite
def csv_files(draw) -> tuple[bytes, str]:
    """``(file bytes, description)``: a CSV with a header and a mix of good and bad rows."""
    columns = draw(st.integers(1, 5))
    header = [f"c{i}" for i in range(columns)]
    if draw(st.integers(0, 9)) == 0:  # odd or duplicate header names
        header[-1] = draw(st.sampled_from(["c0", "", "\u00fcber", "a b", '"x,y"']))
    rows, kinds = [], []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["int", "float", "text", "special", "short", "long",
                                     "wrong_type", "huge", "blank"]))
        kinds.append(kind)
        rows.append(_row(draw, kind, columns))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ending.join([",".join(header), *rows])
    if draw(st.booleans()):
        text += ending
    data = text.encode("utf-8", errors="surrogatepass")
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["bom", "latin-1 bytes", "utf-16",
                                                     "empty", "truncated"]))
    data = _encode(data, encoding, draw)
    return data, f"{columns} columns, rows {kinds}, {encoding}"


def _row(draw, kind: str, columns: int) -> str:
    if kind == "int":
        cells = [str(draw(st.integers(-10**6, 10**6))) for _ in range(columns)]
    elif kind == "float":
        cells = [repr(draw(st.floats(allow_nan=True, allow_infinity=True)))
                 for _ in range(columns)]
    elif kind == "text":
        cells = [_quote(draw(ODD_TEXT)) for _ in range(columns)]
    elif kind == "special":
        cells = [draw(st.sampled_from(SPECIAL_CELLS)) for _ in range(columns)]
    elif kind == "short":
        cells = ["1"] * max(0, columns - 1) if columns > 1 else ["1", "2"]
    elif kind == "long":
        cells = ["1"] * (columns + draw(st.integers(1, 3)))
    elif kind == "wrong_type":
        cells = [draw(st.sampled_from(["abc", "1.5.5", "--", "true"])) for _ in range(columns)]
    elif kind == "huge":
        cells = ["x" * draw(st.sampled_from([10_000, 200_000]))] * columns
    else:
        cells = [""] * columns
    return ",".join(cells)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _encode(data: bytes, encoding: str, draw) -> bytes:
    if encoding == "bom":
        return b"\xef\xbb\xbf" + data
    if encoding == "latin-1 bytes":
        cut = draw(st.integers(0, len(data)))
        return data[:cut] + "\u00e9\u00e0".encode("latin-1") + data[cut:]
    if encoding == "utf-16":
        return data.decode("utf-8", errors="replace").encode("utf-16")
    if encoding == "empty":
        return b""
    if encoding == "truncated":
        return data[: draw(st.integers(0, len(data)))]
    return data


@st.composite
def json_lines_files(draw) -> tuple[bytes, str]:
    """JSON-lines files with some malformed or oddly typed lines."""
    lines, kinds = [], []
    for _ in range(draw(st.integers(0, 20))):
        kind = draw(st.sampled_from(["good", "good", "bad_json", "array", "wrong_type",
                                     "nested", "nan", "unicode"]))
        kinds.append(kind)
        lines.append({
            "good": lambda: json.dumps({"a": draw(st.integers(-5, 5)), "b": "x"}),
            "bad_json": lambda: '{"a": 1, "b": ',
            "array": lambda: "[1, 2, 3]",
            "wrong_type": lambda: json.dumps({"a": "not a number", "b": 3}),
            "nested": lambda: json.dumps({"a": {"deep": [1, {"x": None}]}, "b": "y"}),
            "nan": lambda: '{"a": NaN, "b": "z"}',
            "unicode": lambda: json.dumps({"a": 1, "b": draw(ODD_TEXT)}, ensure_ascii=False),
        }[kind]())
    return ("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass"), f"lines {kinds}"


SCHEMA_TEXTS = st.one_of(
    st.text(max_size=200),
    st.sampled_from(["features: 3", "features: [{name: 1}]", "- - -", "{", "!!binary xx",
                     "features:\n  - name: a\n    type: complex128",
                     "!!python/object/apply:os.system ['true']", "features: null",
                     "\ufeff" + "features: []", "a: &x [*x]"]),
    st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=4)
    .map(json.dumps),
)

_COMPONENTS = '''
from gristmill.components import InputArtifact, OutputArtifact, Parameter, component
from gristmill.metadata.standard_artifacts import Examples, Model
from gristmill.orchestrator import Pipeline


@component
def Make(examples: OutputArtifact[Examples], rows: Parameter[int] = 3) -> dict:
    return {{}}


@component
def Step(examples: InputArtifact[Examples], out: OutputArtifact[Examples]) -> dict:
    return {{}}


@component
def Train(examples: InputArtifact[Examples], model: OutputArtifact[Model]) -> dict:
    return {{}}


def create_pipeline(root=None, metadata_url=None, rows: int = 3):
    make = Make(rows=rows)
{body}
'''

DEFINITION_KINDS = {
    "unknown parameter": "    Make({name}=1)\n    return Pipeline('p', [make], root=root)",
    "wrong parameter type": "    Make(rows={value!r})\n    return Pipeline('p', [make], root=root)",
    "type mismatch": ("    train = Train(examples=make.outputs['examples'])\n"
                      "    step = Step(examples=train.outputs['model'])\n"
                      "    return Pipeline('p', [make, train, step], root=root)"),
    "not a channel": "    Step(examples={value!r})\n    return Pipeline('p', [make], root=root)",
    "cycle": ("    a = Step(examples=make.outputs['examples']).with_id('a')\n"
              "    b = Step(examples=a.outputs['out']).with_id('b')\n"
              "    a.inputs['examples'] = b.outputs['out']\n"
              "    return Pipeline('p', [make, a, b], root=root)"),
    "duplicate id": ("    a = Step(examples=make.outputs['examples'])\n"
                     "    b = Step(examples=make.outputs['examples'])\n"
                     "    return Pipeline('p', [make, a, b], root=root)"),
    "bad node id": ("    a = Step(examples=make.outputs['examples']).with_id({value!r})\n"
                    "    return Pipeline('p', [make, a], root=root)"),
    "bad pipeline name": "    return Pipeline({value!r}, [make], root=root)",
    "missing producer": ("    a = Step(examples=make.outputs['examples'])\n"
                         "    return Pipeline('p', [a], root=root)"),
    "not a component": "    return Pipeline('p', [make, {value!r}], root=root)",
    "user exception": "    raise ValueError({value!r})",
    "name error": "    return Pipeline('p', [mkae], root=root)",
    "returns nothing": "    return None",
    "missing input": "    Step()\n    return Pipeline('p', [make], root=root)",
}


@st.composite
def pipeline_definitions(draw) -> tuple[str, list[str], str]:
    """``(file text, extra CLI args, description)`` of a broken pipeline definition."""
    kind = draw(st.sampled_from([*DEFINITION_KINDS, "syntax error", "no create_pipeline",
                                 "bad --param"]))
    value = draw(st.one_of(ODD_TEXT, st.sampled_from(["../x", "/abs", "a/b", "..", "1e400",
                                                      "-1", "None"])))
    name = draw(st.sampled_from(["row", "rowss", "Rows", "seed", "x"]))
    args: list[str] = []
    if kind == "syntax error":
        text = "def create_pipeline(:\n    pass\n"
    elif kind == "no create_pipeline":
        text = "PIPELINE = 1\n"
    else:
        body = DEFINITION_KINDS.get(kind, "    return Pipeline('p', [make], root=root)")
        text = _COMPONENTS.format(body=body.format(name=name, value=value))
        if kind == "bad --param":
            args = [draw(st.sampled_from([f"--param=rows={value}", "--param=rows",
                                          f"--param={name}=1", "--param==1"]))]
    return text, args, f"{kind} (value {value!r})"
